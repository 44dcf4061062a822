//! friscy's Linux riscv64 personality.
//!
//! A [`Kernel`] runs a tree of guest processes and threads in one host
//! thread: each task runs for a time slice of instructions (or until it
//! makes a system call that has to wait), then the next runnable one goes.
//! A system call that cannot finish yet leaves its task blocked with the
//! `pc` on its `ecall` and a [`task::Wait`] saying when to try again; the
//! call then simply runs again. Everything guest-visible — processes, file
//! descriptors, pipes, signals, the file system ([`friscy_vfs`]) — lives
//! here; host effects (standard streams, clocks, randomness) go through the
//! [`Host`] trait, whose native implementation is [`native`].
//!
//! Every system call it does not implement returns ENOSYS and is reported
//! once, by name.

pub mod abi;
pub mod elf;
pub mod fd;
pub mod host;
mod loader;
mod locks;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
mod procfs;
mod signal;
mod sys_event;
mod sys_fs;
mod sys_mem;
mod sys_net;
mod sys_proc;
mod sys_tty;
mod sys_unix;
pub mod task;
mod timers;
mod trace;
pub mod tty;

use abi::{errno, nr, sig};
use fd::{Description, FdTable, Object};
/// The memory budget every container runs under (`friscy run -m`).
pub use friscy_budget as budget;
use friscy_machine::{Dispatch, Exit, FaultCause, PAGE_SIZE};
use friscy_vfs::{Fs, Ino, NewNode, ROOT, Timespec};
pub use host::{Clock, Host, HostStat};
pub use loader::{LoadError, STACK_SIZE, STACK_TOP};
use signal::SigInfo;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::rc::Rc;
pub use task::Termination;
use task::{Mm, Pid, Proc, State, Task, Wait};

/// Instructions a task runs before the next one gets the CPU.
const SLICE: u64 = 1 << 20;
/// How often idle waits over host sockets look at them again (ns).
const NET_POLL_NS: u128 = 10_000_000;
/// Most bytes one read or write moves (shorter transfers are legal).
const MAX_IO: usize = 1 << 24;

/// A syscall result: a value or an errno.
type SysResult = Result<u64, i64>;
/// Returned by a system call handler that must wait (never seen by the
/// guest): the task blocks with the [`Wait`] the handler stored.
const BLOCK: i64 = -1;

/// The errno for a guest memory access a system call could not make:
/// ENOMEM when the memory limit stopped it, EFAULT for a bad address.
fn efault(f: friscy_machine::MemFault) -> i64 {
    if f.cause == FaultCause::OutOfMemory {
        errno::ENOMEM
    } else {
        errno::EFAULT
    }
}

/// Who runs the first process.
#[derive(Clone, Debug, Default)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// What the machine did that killed a process, for the person running it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fatal {
    Fault {
        addr: u64,
        pc: u64,
    },
    Illegal {
        raw: u32,
        pc: u64,
    },
    /// A page was needed past the memory limit (the OOM kill).
    OutOfMemory {
        limit: u64,
    },
}

pub struct Kernel {
    host: Box<dyn Host>,
    pub(crate) fs: Rc<RefCell<Fs>>,
    pub(crate) tasks: BTreeMap<Pid, Task>,
    pub(crate) procs: BTreeMap<Pid, Proc>,
    next_pid: Pid,
    /// Moves on every event a blocked task may be waiting for.
    pub(crate) epoch: u64,
    /// The running task.
    pub(crate) cur: Pid,
    init: Pid,
    init_end: Option<Termination>,
    reported: HashSet<u64>,
    trace: Option<Box<dyn Write>>,
    dispatch: Dispatch,
    /// Extra information for pending signals, by (task or process, signal).
    pub(crate) infos: HashMap<(Pid, i32), SigInfo>,
    /// The last fatal machine event, for the runner's message.
    pub last_fatal: Option<Fatal>,
    /// Instructions retired by every task so far.
    instret_total: u64,
    /// Hostname (uname, sethostname).
    pub(crate) hostname: Vec<u8>,
    /// The pipe behind each FIFO that is open somewhere.
    pub(crate) fifos: HashMap<Ino, Rc<RefCell<fd::Pipe>>>,
    /// Bound AF_UNIX sockets: by socket node, and abstract names.
    pub(crate) unix_sockets: HashMap<Ino, std::rc::Weak<RefCell<fd::Socket>>>,
    pub(crate) abstract_sockets: HashMap<Vec<u8>, std::rc::Weak<RefCell<fd::Socket>>>,
    /// The container's terminal, with `friscy run -t` (/dev/pts/0).
    pub(crate) tty: Option<tty::TermRef>,
    /// Pseudo-terminals made by opening /dev/ptmx, by index.
    pub(crate) ptys: BTreeMap<u32, std::rc::Weak<RefCell<tty::Term>>>,
    /// Advisory file locks.
    pub(crate) locks: locks::Locks,
    /// Interval and POSIX timers.
    pub(crate) timers: timers::Timers,
    /// How deep a readiness check is inside nested epoll sets.
    pub(crate) epoll_depth: u32,
    /// Host sockets handed out, to close once no descriptor holds them.
    pub(crate) inet: Vec<sys_net::InetEntry>,
    /// The pages of files mapped MAP_SHARED, by file and page number.
    pub(crate) shm: HashMap<Ino, std::collections::BTreeMap<u64, friscy_machine::SharedPage>>,
}

impl Kernel {
    /// A kernel over file system `fs`, with `host` behind fds 0-2. Adds
    /// the device nodes friscy implements under /dev.
    pub fn new(mut fs: Fs, host: Box<dyn Host>) -> Kernel {
        populate_dev(&mut fs);
        Kernel {
            host,
            fs: Rc::new(RefCell::new(fs)),
            tasks: BTreeMap::new(),
            procs: BTreeMap::new(),
            next_pid: 1,
            epoch: 0,
            cur: 0,
            init: 0,
            init_end: None,
            reported: HashSet::new(),
            trace: None,
            dispatch: Dispatch::default(),
            infos: HashMap::new(),
            last_fatal: None,
            instret_total: 0,
            hostname: b"friscy".to_vec(),
            fifos: HashMap::new(),
            unix_sockets: HashMap::new(),
            abstract_sockets: HashMap::new(),
            tty: None,
            ptys: BTreeMap::new(),
            locks: locks::Locks::default(),
            timers: timers::Timers::default(),
            shm: HashMap::new(),
            inet: Vec::new(),
            epoll_depth: 0,
        }
    }

    /// Prints an strace-like line for every system call to `out`.
    pub fn set_trace(&mut self, out: Box<dyn Write>) {
        self.trace = Some(out);
    }

    /// Chooses the interpreter's dispatch (for tests and benchmarks).
    pub fn set_dispatch(&mut self, dispatch: Dispatch) {
        self.dispatch = dispatch;
    }

    /// Instructions retired by every task so far.
    pub fn instret(&self) -> u64 {
        self.instret_total
    }

    /// The file system (for the embedder: e.g. to add files before start).
    pub fn fs(&self) -> std::cell::RefMut<'_, Fs> {
        self.fs.borrow_mut()
    }

    /// Starts the first process (pid 1) running `path` of the file system,
    /// looked up in `PATH` of `envp` when it has no slash, as docker does.
    pub fn spawn(
        &mut self,
        path: &[u8],
        argv: &[Vec<u8>],
        envp: &[Vec<u8>],
        cwd: &[u8],
        creds: &Creds,
    ) -> Result<Pid, LoadError> {
        let cwd_ino = self
            .fs
            .borrow()
            .resolve(ROOT, cwd, true)
            .map_err(|_| LoadError::NoWorkdir(String::from_utf8_lossy(cwd).into_owned()))?;
        let resolved = if path.contains(&b'/') {
            path.to_vec()
        } else {
            self.search_path(path, envp, cwd_ino)
                .ok_or_else(|| LoadError::NotFound(String::from_utf8_lossy(path).into_owned()))?
        };
        let pid = self.new_process(cwd_ino, creds);
        self.cur = pid;
        match self.execve_path(pid, &resolved, argv.to_vec(), envp.to_vec()) {
            Ok(()) => Ok(pid),
            Err(e) => {
                self.procs.remove(&pid);
                self.tasks.remove(&pid);
                Err(e)
            }
        }
    }

    /// Starts the first process from an ELF image that is not in the file
    /// system (`friscy exec`): `exe` is the path it reports for itself.
    pub fn spawn_image(
        &mut self,
        image: &[u8],
        exe: &[u8],
        argv: &[Vec<u8>],
        envp: &[Vec<u8>],
    ) -> Result<Pid, LoadError> {
        let pid = self.new_process(ROOT, &Creds::default());
        self.cur = pid;
        let mut random = [0u8; 16];
        let _ = self.host.random(&mut random);
        match loader::load_image(self, image, exe, argv, envp, random) {
            Ok((mm, pc, sp)) => {
                self.install_image(pid, mm, pc, sp, exe);
                Ok(pid)
            }
            Err(e) => {
                self.procs.remove(&pid);
                self.tasks.remove(&pid);
                Err(e)
            }
        }
    }

    fn search_path(&self, name: &[u8], envp: &[Vec<u8>], cwd: Ino) -> Option<Vec<u8>> {
        let path = envp
            .iter()
            .find_map(|e| e.strip_prefix(b"PATH="))
            .unwrap_or(b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        let fs = self.fs.borrow();
        for dir in path.split(|&b| b == b':') {
            let mut full = if dir.is_empty() {
                b".".to_vec()
            } else {
                dir.to_vec()
            };
            full.push(b'/');
            full.extend_from_slice(name);
            if let Ok(ino) = fs.resolve(cwd, &full, true)
                && let Ok(st) = fs.stat(ino)
                && st.kind == friscy_vfs::FileType::Reg
                && st.mode & 0o111 != 0
            {
                return Some(full);
            }
        }
        None
    }

    fn new_process(&mut self, cwd: Ino, creds: &Creds) -> Pid {
        let pid = self.alloc_pid();
        if self.init == 0 {
            self.init = pid;
        }
        let mut files = FdTable::default();
        if let Some(term) = self.tty.clone() {
            // one description of the terminal, as a shell's login gives
            let d = Description::new(Object::Tty(term.clone()), abi::open::O_RDWR);
            for fd in 0..3 {
                files.fds.insert(fd, (d.clone(), false));
            }
            let t = &mut term.borrow_mut().tty;
            t.session = pid;
            t.fg_pgrp = pid;
        } else {
            for fd in 0..3 {
                let flags = if fd == 0 {
                    abi::open::O_RDONLY
                } else {
                    abi::open::O_WRONLY
                };
                files
                    .fds
                    .insert(fd, (Description::new(Object::Host(fd), flags), false));
            }
        }
        let mm = Mm::new(
            friscy_machine::Memory::new(),
            friscy_machine::CodeCache::new(),
            0,
        );
        self.procs.insert(
            pid,
            Proc {
                pid,
                ppid: 0,
                pgid: pid,
                sid: pid,
                mm: Rc::new(RefCell::new(mm)),
                files: Rc::new(RefCell::new(files)),
                cwd,
                umask: 0o022,
                actions: Rc::new(RefCell::new([signal::SigAction::default(); 65])),
                pending: 0,
                threads: vec![pid],
                ended: None,
                group_exit: None,
                exit_signal: sig::SIGCHLD,
                exe: Vec::new(),
                cmdline: Vec::new(),
                environ: Vec::new(),
                comm: [0; abi::TASK_COMM_LEN],
                uid: creds.uid,
                gid: creds.gid,
                euid: creds.uid,
                egid: creds.gid,
                groups: creds.groups.clone(),
                vfork_parent: None,
                instret_done: 0,
                stop_report: None,
                cont_report: false,
            },
        );
        self.tasks
            .insert(pid, Task::new(pid, pid, friscy_machine::Hart::new()));
        pid
    }

    pub(crate) fn alloc_pid(&mut self) -> Pid {
        loop {
            let pid = self.next_pid;
            self.next_pid = if self.next_pid >= 4_194_303 {
                2
            } else {
                self.next_pid + 1
            };
            if !self.procs.contains_key(&pid) && !self.tasks.contains_key(&pid) {
                return pid;
            }
        }
    }

    /// Gives process `pid` a freshly loaded program.
    pub(crate) fn install_image(&mut self, pid: Pid, mut mm: Mm, pc: u64, sp: u64, exe: &[u8]) {
        mm.code.set_dispatch(self.dispatch);
        let p = self
            .procs
            .get_mut(&pid)
            .expect("installing into a live process");
        p.mm = Rc::new(RefCell::new(mm));
        p.exe = exe.to_vec();
        let base = exe.rsplit(|&b| b == b'/').next().unwrap_or(exe);
        let n = base.len().min(abi::TASK_COMM_LEN - 1);
        p.comm = [0; abi::TASK_COMM_LEN];
        p.comm[..n].copy_from_slice(&base[..n]);
        let t = self.tasks.get_mut(&pid).expect("the exec'ing task is live");
        let mut hart = friscy_machine::Hart::new();
        hart.pc = pc;
        hart.set_x(2, sp);
        hart.instret = t.hart.instret;
        t.hart = hart;
    }

    /// Runs until the first process ends (its other processes are then
    /// killed, as a container's are when its init exits) or until nothing
    /// can ever run again.
    pub fn run(&mut self) -> Termination {
        loop {
            if let Some(t) = self.init_end {
                self.kill_all();
                return t;
            }
            match self.pick() {
                Some(tid) => self.run_task(tid),
                None => {
                    if !self.idle() {
                        self.host
                            .log("every process is waiting for something that cannot happen");
                        self.kill_all();
                        return self.init_end.unwrap_or(Termination::Killed {
                            signal: sig::SIGKILL,
                            core: false,
                        });
                    }
                }
            }
        }
    }

    /// Runs until the program ends (`Some`), or until every process waits
    /// and one of them waits for terminal input — a shell at its prompt —
    /// or `limit` nanoseconds of the monotonic clock pass (`None`). Used to
    /// learn what a program reads to start.
    pub fn run_to_input(&mut self, limit: u128) -> Option<Termination> {
        let end = self.host.now(Clock::Monotonic).saturating_add(limit);
        loop {
            if let Some(t) = self.init_end {
                return Some(t);
            }
            if self.host.now(Clock::Monotonic) > end {
                return None;
            }
            match self.pick() {
                Some(tid) => self.run_task(tid),
                None => {
                    let at_input = self
                        .tasks
                        .values()
                        .any(|t| matches!(t.state, State::Blocked(w) if w.host_input));
                    if at_input || !self.idle() {
                        return None;
                    }
                }
            }
        }
    }

    fn kill_all(&mut self) {
        let pids: Vec<Pid> = self.procs.keys().copied().collect();
        for pid in pids {
            if self.procs.get(&pid).is_some_and(|p| p.ended.is_none()) {
                self.exit_group(
                    pid,
                    Termination::Killed {
                        signal: sig::SIGKILL,
                        core: false,
                    },
                );
            }
        }
    }

    /// The next task to run (round robin after the current one), waking
    /// blocked tasks whose wait may be over.
    fn pick(&mut self) -> Option<Pid> {
        if self.tty.is_some() {
            self.pump_tty();
        }
        self.fire_timers();
        self.inet_gc();
        let now = self.host.now(Clock::Monotonic);
        let epoch = self.epoch;
        let tids: Vec<Pid> = self
            .tasks
            .range(self.cur + 1..)
            .chain(self.tasks.range(..=self.cur))
            .map(|(&t, _)| t)
            .collect();
        for tid in tids {
            let deliverable = self.deliverable(tid) != 0;
            let t = self.tasks.get_mut(&tid)?;
            match t.state {
                State::Runnable => return Some(tid),
                State::Blocked(w) => {
                    // A signal ends or restarts the call (at delivery).
                    if deliverable {
                        return Some(tid);
                    }
                    let due = w.deadline.is_some_and(|d| now >= d);
                    let moved = w.epoch.is_some_and(|g| g != epoch);
                    if due || moved || t.wake.is_some() {
                        t.state = State::Runnable;
                        return Some(tid);
                    }
                    if let Some((h, write)) = w.net
                        && let Some(net) = self.host.net()
                    {
                        let (r, wr, hup) = net.net_ready(h);
                        if (if write { wr } else { r }) || hup {
                            let t = self.tasks.get_mut(&tid)?;
                            t.state = State::Runnable;
                            return Some(tid);
                        }
                    }
                    if w.host_input && self.host.input_ready(0) {
                        let t = self.tasks.get_mut(&tid)?;
                        t.state = State::Runnable;
                        return Some(tid);
                    }
                }
                State::Stopped => {
                    if deliverable {
                        // SIGCONT/SIGKILL are handled at delivery.
                        return Some(tid);
                    }
                }
            }
        }
        None
    }

    /// Nothing is runnable: wait for the host (input, time). False when
    /// nothing could ever wake anyone.
    fn idle(&mut self) -> bool {
        let mut deadline: Option<u128> = self.timers.next_deadline();
        let mut input = false;
        let mut sockets = Vec::new();
        for t in self.tasks.values() {
            if let State::Blocked(w) = t.state {
                if let Some(d) = w.deadline {
                    deadline = Some(deadline.map_or(d, |x: u128| x.min(d)));
                }
                input |= w.host_input;
                sockets.extend(w.net);
            }
        }
        // Typed signal characters (Ctrl-C) must get through while every
        // process waits for something else.
        input |= self.tty.is_some() && !self.tasks.is_empty();
        let now = self.host.now(Clock::Monotonic);
        // poll, select and epoll waits over host sockets: wake when any of
        // them has input, and look again every few milliseconds (for
        // writability and hang-ups).
        let polling = self
            .tasks
            .values()
            .any(|t| matches!(t.state, State::Blocked(w) if w.net.is_none() && w.epoch.is_some()));
        if polling && !self.inet.is_empty() {
            sockets.extend(self.inet.iter().map(|&(_, h)| (h, false)));
            let cap = now + NET_POLL_NS;
            deadline = Some(deadline.map_or(cap, |d| d.min(cap)));
        }
        if !sockets.is_empty() {
            let timeout = deadline.map(|d| d.saturating_sub(now));
            if self.host.wait_host(input, &sockets, timeout) {
                self.epoch += 1;
            }
            return true;
        }
        match (deadline, input) {
            (None, false) => false,
            (d, true) => {
                let timeout = d.map(|d| d.saturating_sub(now));
                if self.host.wait_input(0, timeout) {
                    self.epoch += 1;
                }
                true
            }
            (Some(d), false) => {
                self.host.sleep(d.saturating_sub(now));
                true
            }
        }
    }

    fn run_task(&mut self, tid: Pid) {
        self.cur = tid;
        if !self.deliver_signals(tid) {
            return;
        }
        let Some(t) = self.tasks.get_mut(&tid) else {
            return;
        };
        if !matches!(t.state, State::Runnable) {
            return;
        }
        if let Some(v) = t.wake.take() {
            // A blocked call finished while the task slept: return its
            // value instead of running the call again.
            t.hart.pc += 4;
            t.hart.set_x(10, v);
        }
        let pid = t.pid;
        let Some(mm) = self.procs.get(&pid).map(|p| p.mm.clone()) else {
            return;
        };
        let ns = self.host.now(Clock::Monotonic);
        let t = self.tasks.get_mut(&tid).expect("checked above");
        t.hart.time = (ns * u128::from(friscy_machine::TIMEBASE_HZ) / 1_000_000_000) as u64;
        let before = t.hart.instret;
        let exit = {
            let mut mm = mm.borrow_mut();
            let m = &mut *mm;
            m.code.run(&mut t.hart, &mut m.mem, SLICE)
        };
        self.instret_total += t.hart.instret - before;
        match exit {
            Exit::Budget => {}
            Exit::Ecall => self.syscall(tid),
            Exit::Fault(f) if f.cause == FaultCause::OutOfMemory => self.out_of_memory(tid),
            Exit::Fault(f) => {
                let pc = t.hart.pc;
                self.last_fatal = Some(Fatal::Fault { addr: f.addr, pc });
                let (signo, code) = match f.cause {
                    FaultCause::Misaligned => (sig::SIGBUS, sig::BUS_ADRALN),
                    FaultCause::Unmapped => (sig::SIGSEGV, sig::SEGV_MAPERR),
                    FaultCause::Protection | FaultCause::OutOfMemory => {
                        (sig::SIGSEGV, sig::SEGV_ACCERR)
                    }
                };
                self.force_signal(
                    tid,
                    SigInfo {
                        signo,
                        code,
                        addr: Some(f.addr),
                        ..SigInfo::default()
                    },
                );
            }
            Exit::Illegal(raw) => {
                let pc = t.hart.pc;
                self.last_fatal = Some(Fatal::Illegal { raw, pc });
                self.force_signal(
                    tid,
                    SigInfo {
                        signo: sig::SIGILL,
                        code: sig::ILL_ILLOPC,
                        addr: Some(pc),
                        ..SigInfo::default()
                    },
                );
            }
            Exit::Ebreak => {
                let pc = t.hart.pc;
                self.force_signal(
                    tid,
                    SigInfo {
                        signo: sig::SIGTRAP,
                        code: sig::TRAP_BRKPT,
                        addr: Some(pc),
                        ..SigInfo::default()
                    },
                );
            }
        }
    }

    /// The OOM kill: the task that needed a page past the memory limit is
    /// sent SIGKILL, as a cgroup's OOM killer kills a container's process
    /// (so the exit status is 137), and the person running it is told.
    fn out_of_memory(&mut self, tid: Pid) {
        let limit = friscy_budget::limit().unwrap_or(u64::MAX);
        self.last_fatal = Some(Fatal::OutOfMemory { limit });
        let pid = self.tasks.get(&tid).map_or(0, |t| t.pid);
        let comm = self.procs.get(&pid).map(|p| {
            let n = p.comm.iter().position(|&b| b == 0).unwrap_or(p.comm.len());
            String::from_utf8_lossy(&p.comm[..n]).into_owned()
        });
        self.host.log(&format!(
            "out of memory: process {pid} ({}) needed more than the container's memory limit of {}; killed (friscy run -m sets the limit)",
            comm.unwrap_or_default(),
            friscy_budget::describe(limit)
        ));
        self.force_signal(
            tid,
            SigInfo {
                signo: sig::SIGKILL,
                ..SigInfo::default()
            },
        );
    }

    pub(crate) fn task(&mut self) -> &mut Task {
        self.tasks
            .get_mut(&self.cur)
            .expect("the current task is live")
    }

    pub(crate) fn pid(&self) -> Pid {
        self.tasks.get(&self.cur).map_or(0, |t| t.pid)
    }

    pub(crate) fn proc_(&mut self) -> &mut Proc {
        let pid = self.pid();
        self.procs
            .get_mut(&pid)
            .expect("the current process is live")
    }

    pub(crate) fn mm(&self) -> Rc<RefCell<Mm>> {
        self.procs[&self.pid()].mm.clone()
    }

    pub(crate) fn files(&self) -> Rc<RefCell<FdTable>> {
        self.procs[&self.pid()].files.clone()
    }

    pub(crate) fn read_mem(&self, addr: u64, buf: &mut [u8]) -> Result<(), i64> {
        self.mm()
            .borrow_mut()
            .mem
            .read_bytes(addr, buf)
            .map_err(efault)
    }

    pub(crate) fn write_mem(&self, addr: u64, data: &[u8]) -> Result<(), i64> {
        self.mm()
            .borrow_mut()
            .mem
            .write_bytes(addr, data)
            .map_err(efault)
    }

    pub(crate) fn read_u64(&self, addr: u64) -> Result<u64, i64> {
        self.mm().borrow_mut().mem.read_u64(addr).map_err(efault)
    }

    pub(crate) fn read_u32(&self, addr: u64) -> Result<u32, i64> {
        self.mm().borrow_mut().mem.read_u32(addr).map_err(efault)
    }

    pub(crate) fn write_u64(&self, addr: u64, v: u64) -> Result<(), i64> {
        self.write_mem(addr, &v.to_le_bytes())
    }

    pub(crate) fn write_u32(&self, addr: u64, v: u32) -> Result<(), i64> {
        self.write_mem(addr, &v.to_le_bytes())
    }

    /// A NUL-terminated string of at most `max` bytes (ENAMETOOLONG past
    /// it).
    pub(crate) fn read_cstr(&self, addr: u64, max: usize) -> Result<Vec<u8>, i64> {
        self.mm()
            .borrow_mut()
            .mem
            .read_cstr(addr, max)
            .map_err(efault)?
            .ok_or(errno::ENAMETOOLONG)
    }

    pub(crate) fn read_path(&self, addr: u64) -> Result<Vec<u8>, i64> {
        self.read_cstr(addr, abi::PATH_MAX)
    }

    /// Writes two 64-bit words (timespec, timeval, rlimit) to the guest.
    pub(crate) fn write_pair(&self, addr: u64, first: u64, second: u64) -> Result<(), i64> {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&first.to_le_bytes());
        b[8..].copy_from_slice(&second.to_le_bytes());
        self.write_mem(addr, &b)
    }

    pub(crate) fn write_timespec(&self, addr: u64, ns: u128) -> Result<(), i64> {
        let (sec, nsec) = (ns / 1_000_000_000, ns % 1_000_000_000);
        self.write_pair(addr, sec as u64, nsec as u64)
    }

    /// Reads a timespec as nanoseconds (EINVAL for a bad one).
    pub(crate) fn read_timespec(&self, addr: u64) -> Result<u128, i64> {
        let sec = self.read_u64(addr)? as i64;
        let nsec = self.read_u64(addr + 8)? as i64;
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return Err(errno::EINVAL);
        }
        Ok(sec as u128 * 1_000_000_000 + nsec as u128)
    }

    pub(crate) fn now(&mut self, clock: Clock) -> u128 {
        self.host.now(clock)
    }

    pub(crate) fn now_ts(&mut self) -> Timespec {
        let ns = self.host.now(Clock::Realtime);
        Timespec {
            sec: (ns / 1_000_000_000) as i64,
            nsec: (ns % 1_000_000_000) as u32,
        }
    }

    pub(crate) fn host(&mut self) -> &mut dyn Host {
        &mut *self.host
    }

    /// Blocks the current call: it runs again once `wait` may be over.
    pub(crate) fn block(&mut self, mut wait: Wait) -> SysResult {
        if !wait.manual && wait.epoch.is_none() && wait.deadline.is_none() && wait.futex.is_none() {
            wait.epoch = Some(self.epoch);
        }
        if let Some(g) = wait.epoch.as_mut() {
            *g = self.epoch;
        }
        self.task().state = State::Blocked(wait);
        Err(BLOCK)
    }

    /// A call that cannot go on yet: EAGAIN for a non-blocking
    /// descriptor, else wait (restartably) until something happens.
    pub(crate) fn would_block(&mut self, nonblock: bool) -> SysResult {
        if nonblock {
            return Err(errno::EAGAIN);
        }
        self.block(Wait {
            restartable: true,
            ..Wait::default()
        })
    }

    /// `len` bytes of guest memory at `addr` (at most [`MAX_IO`]: a
    /// transfer may be short), for a write-like call.
    pub(crate) fn read_guest(&mut self, addr: u64, len: u64) -> Result<Vec<u8>, i64> {
        let mut data = vec![0u8; len.min(MAX_IO as u64) as usize];
        self.read_mem(addr, &mut data)?;
        Ok(data)
    }

    /// Something happened that blocked tasks may wait for.
    pub(crate) fn event(&mut self) {
        self.epoch += 1;
    }

    /// True the first time `key` is seen (for messages given once).
    pub(crate) fn reported_insert(&mut self, key: u64) -> bool {
        self.reported.insert(key)
    }

    pub(crate) fn enosys(&mut self, n: u64) -> SysResult {
        // Linux without CONFIG_RSEQ answers ENOSYS too, and C libraries
        // expect that: not worth a message.
        if n != nr::RSEQ && self.reported.insert(n) {
            let msg = format!(
                "system call {} ({n}) is not implemented; returning ENOSYS",
                nr::name(n)
            );
            self.host.log(&msg);
        }
        Err(errno::ENOSYS)
    }

    /// Handles the `ecall` the current task just executed.
    fn syscall(&mut self, tid: Pid) {
        let t = &self.tasks[&tid];
        let n = t.hart.x(17);
        let args = [
            t.hart.x(10),
            t.hart.x(11),
            t.hart.x(12),
            t.hart.x(13),
            t.hart.x(14),
            t.hart.x(15),
        ];
        let shown = self.trace.is_some().then(|| self.trace_args(n, &args));
        let result = self.dispatch(n, &args);
        let Some(t) = self.tasks.get_mut(&tid) else {
            // the task is gone (exit, exit_group, exec by another thread)
            self.trace_line(tid, n, shown, None);
            return;
        };
        match result {
            Err(BLOCK) => {
                // Run the ecall again when woken (traced when it ends).
                t.hart.pc = t.hart.pc.wrapping_sub(4);
            }
            Ok(v) => {
                if n != nr::RT_SIGRETURN {
                    t.hart.set_x(10, v);
                }
                self.trace_line(tid, n, shown, Some(result));
            }
            Err(e) => {
                t.hart.set_x(10, (-e) as u64);
                self.trace_line(tid, n, shown, Some(result));
            }
        }
    }

    fn trace_line(&mut self, tid: Pid, n: u64, shown: Option<String>, result: Option<SysResult>) {
        let (Some(out), Some(shown)) = (self.trace.as_mut(), shown) else {
            return;
        };
        let name = nr::name(n);
        let r = trace::result_text(n, result);
        let _ = writeln!(out, "[{tid}] {name}({shown}) = {r}");
    }

    fn dispatch(&mut self, n: u64, a: &[u64; 6]) -> SysResult {
        if let Some(r) = self.dispatch_fs(n, a) {
            return r;
        }
        if let Some(r) = self.dispatch_proc(n, a) {
            return r;
        }
        if let Some(r) = self.dispatch_mem(n, a) {
            return r;
        }
        if matches!(
            n,
            nr::BIND
                | nr::CONNECT
                | nr::LISTEN
                | nr::ACCEPT
                | nr::ACCEPT4
                | nr::SHUTDOWN
                | nr::GETSOCKNAME
                | nr::GETPEERNAME
                | nr::SETSOCKOPT
                | nr::GETSOCKOPT
                | nr::SENDTO
                | nr::RECVFROM
        ) && let Some(r) = self.dispatch_net(n, a)
        {
            return r;
        }
        if let Some(r) = self.dispatch_event(n, a) {
            return r;
        }
        if let Some(r) = self.dispatch_unix(n, a) {
            return r;
        }
        if let Some(r) = self.dispatch_timers(n, a) {
            return r;
        }
        match n {
            nr::UNAME => self.uname(a[0]),
            nr::SETHOSTNAME => {
                let len = a[1] as usize;
                if len > 64 {
                    return Err(errno::EINVAL);
                }
                let mut name = vec![0u8; len];
                self.read_mem(a[0], &mut name)?;
                self.hostname = name;
                Ok(0)
            }
            nr::GETRLIMIT | nr::PRLIMIT64 | nr::SETRLIMIT => {
                let (resource, new, old) = match n {
                    nr::GETRLIMIT => (a[0], 0, a[1]),
                    nr::SETRLIMIT => (a[0], a[1], 0),
                    _ => {
                        if a[0] != 0 && !self.procs.contains_key(&(a[0] as Pid)) {
                            return Err(errno::ESRCH);
                        }
                        (a[1], a[2], a[3])
                    }
                };
                let (cur, max) = match resource {
                    abi::RLIMIT_STACK => (STACK_SIZE, abi::RLIM_INFINITY),
                    abi::RLIMIT_NOFILE => (fd::NOFILE as u64, fd::NOFILE as u64),
                    0..=15 => (abi::RLIM_INFINITY, abi::RLIM_INFINITY),
                    _ => return Err(errno::EINVAL),
                };
                if old != 0 {
                    self.write_pair(old, cur, max)?;
                }
                if new != 0 {
                    // Lowering or keeping a limit is accepted; limits are
                    // not enforced beyond the fixed ones above.
                    let want_max = self.read_u64(new + 8)?;
                    if want_max > max {
                        return Err(errno::EPERM);
                    }
                }
                Ok(0)
            }
            nr::GETRANDOM => {
                let len = a[1].min(1 << 20) as usize;
                let mut buf = vec![0u8; len];
                self.host.random(&mut buf)?;
                self.write_mem(a[0], &buf)?;
                Ok(len as u64)
            }
            nr::CLOCK_GETTIME | nr::CLOCK_GETRES => {
                let clock = match a[0] {
                    abi::CLOCK_REALTIME | 8 | 11 => Clock::Realtime,
                    // MONOTONIC, PROCESS_CPUTIME, THREAD_CPUTIME, RAW,
                    // COARSE variants, BOOTTIME
                    1..=7 | 9 => Clock::Monotonic,
                    _ => return Err(errno::EINVAL),
                };
                let ns = if n == nr::CLOCK_GETRES {
                    1
                } else {
                    self.host.now(clock)
                };
                if a[1] != 0 {
                    self.write_timespec(a[1], ns)?;
                }
                Ok(0)
            }
            nr::GETTIMEOFDAY => {
                if a[0] != 0 {
                    let ns = self.host.now(Clock::Realtime);
                    let (sec, usec) = (ns / 1_000_000_000, ns % 1_000_000_000 / 1000);
                    self.write_pair(a[0], sec as u64, usec as u64)?;
                }
                Ok(0)
            }
            nr::NANOSLEEP | nr::CLOCK_NANOSLEEP => self.nanosleep(n, a),
            nr::SCHED_YIELD => Ok(0),
            nr::SCHED_GETAFFINITY => {
                let len = a[1] as usize;
                if len < 8 {
                    return Err(errno::EINVAL);
                }
                self.write_u64(a[2], 1)?;
                Ok(8)
            }
            nr::SCHED_SETAFFINITY | nr::SCHED_SETSCHEDULER | nr::SCHED_SETPARAM => Ok(0),
            nr::SCHED_GETSCHEDULER | nr::SCHED_GETPARAM => Ok(0),
            nr::GETCPU => {
                if a[0] != 0 {
                    self.write_u32(a[0], 0)?;
                }
                if a[1] != 0 {
                    self.write_u32(a[1], 0)?;
                }
                Ok(0)
            }
            nr::SYSINFO => self.sysinfo(a[0]),
            nr::TIMES => {
                let ticks = (self.instret_total / 10_000_000).max(1);
                if a[0] != 0 {
                    let mut b = [0u8; 32];
                    b[..8].copy_from_slice(&ticks.to_le_bytes());
                    self.write_mem(a[0], &b)?;
                }
                let up = self.host.now(Clock::Monotonic) / 10_000_000;
                Ok(up as u64)
            }
            nr::GETRUSAGE => {
                let mut b = [0u8; 144];
                let us = self.instret_total / 100;
                b[0..8].copy_from_slice(&(us / 1_000_000).to_le_bytes());
                b[8..16].copy_from_slice(&(us % 1_000_000).to_le_bytes());
                self.write_mem(a[1], &b)?;
                Ok(0)
            }
            nr::PRCTL => self.prctl(n, a),
            nr::RISCV_HWPROBE => self.hwprobe(a),
            nr::RISCV_FLUSH_ICACHE => {
                let mm = self.mm();
                let mut mm = mm.borrow_mut();
                let m = &mut *mm;
                m.code.drop_code(&mut m.mem);
                Ok(0)
            }
            nr::MEMBARRIER => Ok(0),
            // The file system keeps no extended attributes, as one mounted
            // without xattr support.
            nr::SETXATTR
            | nr::LSETXATTR
            | nr::FSETXATTR
            | nr::GETXATTR
            | nr::LGETXATTR
            | nr::FGETXATTR
            | nr::LISTXATTR
            | nr::LLISTXATTR
            | nr::FLISTXATTR
            | nr::REMOVEXATTR
            | nr::LREMOVEXATTR
            | nr::FREMOVEXATTR => Err(errno::EOPNOTSUPP),
            nr::CAPGET => {
                // header (version, pid), data: no capabilities beyond uid 0's
                if a[1] != 0 {
                    let full = if self.proc_().euid == 0 { u32::MAX } else { 0 };
                    let mut b = [0u8; 24];
                    for k in 0..2 {
                        b[k * 12..k * 12 + 4].copy_from_slice(&full.to_le_bytes());
                        b[k * 12 + 4..k * 12 + 8].copy_from_slice(&full.to_le_bytes());
                    }
                    self.write_mem(a[1], &b)?;
                }
                Ok(0)
            }
            _ => self.enosys(n),
        }
    }

    fn nanosleep(&mut self, n: u64, a: &[u64; 6]) -> SysResult {
        let ts = if n == nr::NANOSLEEP { a[0] } else { a[2] };
        let now = self.host.now(Clock::Monotonic);
        let t = self.task();
        let deadline = match t.sleep_until {
            Some(d) => d,
            None => {
                let ns = self.read_timespec(ts)?;
                let d = if n == nr::CLOCK_NANOSLEEP && a[1] & 1 != 0 {
                    // TIMER_ABSTIME
                    let clock = if a[0] == abi::CLOCK_REALTIME {
                        Clock::Realtime
                    } else {
                        Clock::Monotonic
                    };
                    let left = ns.saturating_sub(self.host.now(clock));
                    now + left
                } else {
                    now + ns
                };
                self.task().sleep_until = Some(d);
                d
            }
        };
        if now >= deadline {
            self.task().sleep_until = None;
            return Ok(0);
        }
        self.block(Wait {
            deadline: Some(deadline),
            ..Wait::default()
        })
    }

    fn uname(&mut self, addr: u64) -> SysResult {
        let host = self.hostname.clone();
        let fields: [&[u8]; 6] = [
            b"Linux",
            &host,
            b"6.1.0-friscy",
            b"#1 SMP PREEMPT friscy",
            b"riscv64",
            b"(none)",
        ];
        let mut b = [0u8; 65 * 6];
        for (i, f) in fields.iter().enumerate() {
            let n = f.len().min(64);
            b[i * 65..i * 65 + n].copy_from_slice(&f[..n]);
        }
        self.write_mem(addr, &b)?;
        Ok(0)
    }

    fn sysinfo(&mut self, addr: u64) -> SysResult {
        let mut b = [0u8; 112];
        let up = (self.host.now(Clock::Monotonic) / 1_000_000_000) as u64;
        b[0..8].copy_from_slice(&up.to_le_bytes());
        let (total, free) = procfs::memory();
        b[32..40].copy_from_slice(&total.to_le_bytes());
        b[40..48].copy_from_slice(&free.to_le_bytes());
        b[80..82].copy_from_slice(&(self.procs.len() as u16).to_le_bytes());
        b[104..108].copy_from_slice(&1u32.to_le_bytes());
        self.write_mem(addr, &b)?;
        Ok(0)
    }

    fn prctl(&mut self, n: u64, a: &[u64; 6]) -> SysResult {
        match a[0] {
            abi::PR_SET_NAME => {
                let raw = self
                    .mm()
                    .borrow_mut()
                    .mem
                    .read_cstr(a[1], abi::TASK_COMM_LEN)
                    .map_err(efault)?;
                let mut name = [0u8; abi::TASK_COMM_LEN];
                let raw = raw.unwrap_or_default();
                let len = raw.len().min(abi::TASK_COMM_LEN - 1);
                name[..len].copy_from_slice(&raw[..len]);
                self.proc_().comm = name;
                Ok(0)
            }
            abi::PR_GET_NAME => {
                let comm = self.proc_().comm;
                self.write_mem(a[1], &comm)?;
                Ok(0)
            }
            // PR_SET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE,
            // PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER
            1 | 3 | 4 | 36 | 38 | 39 => Ok(if a[0] == 3 { 1 } else { 0 }),
            // PR_CAPBSET_READ: every capability up to CAP_LAST_CAP is in
            // the bounding set
            abi::PR_CAPBSET_READ => {
                if a[1] <= abi::CAP_LAST_CAP {
                    Ok(1)
                } else {
                    Err(errno::EINVAL)
                }
            }
            _ => {
                let msg = format!(
                    "prctl option {:#x} is not implemented; returning EINVAL",
                    a[0]
                );
                if self.reported.insert((n << 32) | (a[0] & 0xffff_ffff)) {
                    self.host.log(&msg);
                }
                Err(errno::EINVAL)
            }
        }
    }

    /// riscv_hwprobe: what this hart implements.
    fn hwprobe(&mut self, a: &[u64; 6]) -> SysResult {
        use abi::hwprobe::*;
        let (pairs, count, flags) = (a[0], a[1], a[4]);
        if flags != 0 {
            return Err(errno::EINVAL);
        }
        for k in 0..count.min(1024) {
            let at = pairs + k * 16;
            let key = self.read_u64(at)? as i64;
            let value = match key {
                KEY_MVENDORID | KEY_MARCHID | KEY_MIMPID => Some(0),
                KEY_BASE_BEHAVIOR => Some(BASE_BEHAVIOR_IMA),
                KEY_IMA_EXT_0 => Some(IMA_FD | IMA_C | EXT_ZBA | EXT_ZBB | EXT_ZBS | EXT_ZICOND),
                KEY_CPUPERF_0 => Some(MISALIGNED_FAST),
                _ => None,
            };
            let (key, value) = value.map_or((-1i64, 0), |v| (key, v));
            self.write_u64(at, key as u64)?;
            self.write_u64(at + 8, value)?;
        }
        Ok(0)
    }

    /// The signals task `tid` could take now.
    pub(crate) fn deliverable(&self, tid: Pid) -> u64 {
        let Some(t) = self.tasks.get(&tid) else {
            return 0;
        };
        let proc_pending = self.procs.get(&t.pid).map_or(0, |p| p.pending);
        (t.pending | proc_pending) & !(t.sigmask & !signal::UNBLOCKABLE)
    }
}

/// Adds /dev/null, /dev/zero, ... (and /dev itself) where missing.
fn populate_dev(fs: &mut Fs) {
    let dev = match fs.resolve(ROOT, b"/dev", true) {
        Ok(d) => d,
        Err(_) => match fs.create(ROOT, b"dev", NewNode::Dir, 0o755, 0, 0) {
            Ok(d) => d,
            Err(_) => return,
        },
    };
    let nodes: [(&[u8], u64); 7] = [
        (b"null", abi::dev::NULL),
        (b"zero", abi::dev::ZERO),
        (b"full", abi::dev::FULL),
        (b"random", abi::dev::RANDOM),
        (b"urandom", abi::dev::URANDOM),
        (b"tty", abi::dev::TTY),
        (b"ptmx", abi::dev::PTMX),
    ];
    for (name, rdev) in nodes {
        if fs.lookup(dev, name).is_err() {
            let _ = fs.create(dev, name, NewNode::Chr(rdev), 0o666, 0, 0);
        }
    }
    for (name, target) in [
        (&b"fd"[..], &b"/proc/self/fd"[..]),
        (b"stdin", b"/proc/self/fd/0"),
        (b"stdout", b"/proc/self/fd/1"),
        (b"stderr", b"/proc/self/fd/2"),
    ] {
        if fs.lookup(dev, name).is_err() {
            let _ = fs.create(dev, name, NewNode::Symlink(target.to_vec()), 0o777, 0, 0);
        }
    }
    for (name, mode) in [(&b"shm"[..], 0o1777), (b"pts", 0o755)] {
        if fs.lookup(dev, name).is_err() {
            let _ = fs.create(dev, name, NewNode::Dir, mode, 0, 0);
        }
    }
    for (name, mode) in [(&b"tmp"[..], 0o1777), (b"proc", 0o555)] {
        if fs.lookup(ROOT, name).is_err() {
            let _ = fs.create(ROOT, name, NewNode::Dir, mode, 0, 0);
        }
    }
}

pub(crate) fn page_up(x: u64) -> Option<u64> {
    x.checked_next_multiple_of(PAGE_SIZE)
}
