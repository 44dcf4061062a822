//! Processes, threads, signals and futexes.

use crate::abi::{clone as cl, errno, futex as fx, nr, sig, wait as wt};
use crate::loader::{self, LoadError};
use crate::signal::{
    self, Default as Dfl, FRAME_SIZE, MC_FCSR, MC_FPREGS, SIGACTION_SIZE, SigAction, SigInfo,
    UC_MCONTEXT, UC_OFFSET, UC_SIGMASK, UC_STACK, bit,
};
use crate::task::{FutexKey, Mm, Pid, Proc, State, Task, Termination, Wait};
use crate::{Kernel, SysResult};
use friscy_machine::CodeCache;
use std::cell::RefCell;
use std::rc::Rc;

/// Where rt_sigreturn is called from when a handler returns: a page above
/// the stack holding `li a7, 139; ecall` (riscv64 Linux uses its vDSO for
/// this; friscy maps just the two instructions).
pub const SIGRETURN_TRAMPOLINE: u64 = crate::STACK_TOP;

/// Who a signal goes to.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    Process(Pid),
    Thread(Pid),
}

impl Kernel {
    pub(crate) fn dispatch_proc(&mut self, n: u64, a: &[u64; 6]) -> Option<SysResult> {
        Some(match n {
            nr::EXIT => {
                let tid = self.cur;
                self.exit_thread(tid, a[0] as i32);
                Ok(0)
            }
            nr::EXIT_GROUP => {
                let pid = self.pid();
                self.exit_group(pid, Termination::Exited(a[0] as i32));
                Ok(0)
            }
            nr::CLONE => self.clone_task(a[0], a[1], a[2], a[3], a[4]),
            nr::CLONE3 => self.clone3(a[0], a[1]),
            nr::EXECVE => self.sys_execve(crate::abi::AT_FDCWD as u64, a[0], a[1], a[2], 0),
            nr::EXECVEAT => self.sys_execve(a[0], a[1], a[2], a[3], a[4]),
            nr::WAIT4 => self.wait4(a[0] as i32, a[1], a[2], a[3]),
            nr::WAITID => self.waitid(a[0], a[1] as i32, a[2], a[3]),
            nr::KILL => self.sys_kill(a[0] as i32, a[1] as i32),
            nr::TKILL => self.sys_tgkill(None, a[0] as i32, a[1] as i32),
            nr::TGKILL => self.sys_tgkill(Some(a[0] as i32), a[1] as i32, a[2] as i32),
            nr::RT_SIGACTION => self.sigaction(a[0] as i32, a[1], a[2], a[3]),
            nr::RT_SIGPROCMASK => self.sigprocmask(a[0], a[1], a[2], a[3]),
            nr::RT_SIGPENDING => {
                let pending = self.task().pending | self.proc_().pending;
                let mask = self.task().sigmask;
                self.write_u64(a[0], pending & mask).map(|_| 0)
            }
            nr::RT_SIGRETURN => self.sigreturn(),
            nr::RT_SIGSUSPEND => self.sigsuspend(a[0], a[1]),
            nr::RT_SIGTIMEDWAIT => self.sigtimedwait(a[0], a[1], a[2], a[3]),
            nr::RT_SIGQUEUEINFO | nr::RT_TGSIGQUEUEINFO => {
                let (tgid, tid, signo, info) = if n == nr::RT_SIGQUEUEINFO {
                    (a[0] as i32, None, a[1] as i32, a[2])
                } else {
                    (a[0] as i32, Some(a[1] as i32), a[2] as i32, a[3])
                };
                self.sigqueueinfo(tgid, tid, signo, info)
            }
            nr::SIGALTSTACK => self.sigaltstack(a[0], a[1]),
            nr::GETPID => Ok(self.pid() as u64),
            nr::GETTID => Ok(self.cur as u64),
            nr::GETPPID => Ok(self.proc_().ppid as u64),
            nr::GETUID => Ok(u64::from(self.proc_().uid)),
            nr::GETEUID => Ok(u64::from(self.proc_().euid)),
            nr::GETGID => Ok(u64::from(self.proc_().gid)),
            nr::GETEGID => Ok(u64::from(self.proc_().egid)),
            nr::GETRESUID | nr::GETRESGID => {
                let p = self.proc_();
                let (r, e) = if n == nr::GETRESUID {
                    (p.uid, p.euid)
                } else {
                    (p.gid, p.egid)
                };
                self.write_u32(a[0], r)
                    .and_then(|_| self.write_u32(a[1], e))
                    .and_then(|_| self.write_u32(a[2], e))
                    .map(|_| 0)
            }
            nr::SETUID
            | nr::SETGID
            | nr::SETREUID
            | nr::SETREGID
            | nr::SETRESUID
            | nr::SETRESGID
            | nr::SETFSUID
            | nr::SETFSGID => self.set_ids(n, a),
            nr::GETGROUPS => {
                let groups = self.proc_().groups.clone();
                let size = a[0] as usize;
                if size == 0 {
                    return Some(Ok(groups.len() as u64));
                }
                if size < groups.len() {
                    return Some(Err(errno::EINVAL));
                }
                let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_le_bytes()).collect();
                self.write_mem(a[1], &bytes).map(|_| groups.len() as u64)
            }
            nr::SETGROUPS => {
                if self.proc_().euid != 0 {
                    return Some(Err(errno::EPERM));
                }
                let count = a[0] as usize;
                if count > 65536 {
                    return Some(Err(errno::EINVAL));
                }
                let mut b = vec![0u8; count * 4];
                if let Err(e) = self.read_mem(a[1], &mut b) {
                    return Some(Err(e));
                }
                self.proc_().groups = b
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Ok(0)
            }
            nr::SETPGID => self.setpgid(a[0] as i32, a[1] as i32),
            nr::GETPGID => self.with_proc(a[0] as i32, |p| p.pgid as u64),
            nr::GETSID => self.with_proc(a[0] as i32, |p| p.sid as u64),
            nr::SETSID => {
                let pid = self.pid();
                if self.procs.values().any(|p| p.pgid == pid) && self.proc_().pgid == pid {
                    return Some(Err(errno::EPERM));
                }
                let p = self.proc_();
                p.sid = pid;
                p.pgid = pid;
                Ok(pid as u64)
            }
            nr::UMASK => {
                let p = self.proc_();
                let old = p.umask;
                p.umask = (a[0] as u32) & 0o777;
                Ok(u64::from(old))
            }
            nr::SET_TID_ADDRESS => {
                self.task().clear_child_tid = a[0];
                Ok(self.cur as u64)
            }
            nr::SET_ROBUST_LIST => {
                if a[1] != 24 {
                    return Some(Err(errno::EINVAL));
                }
                self.task().robust_list = a[0];
                Ok(0)
            }
            nr::GET_ROBUST_LIST => {
                let head = self.task().robust_list;
                self.write_u64(a[1], head)
                    .and_then(|_| self.write_u64(a[2], 24))
                    .map(|_| 0)
            }
            nr::FUTEX => self.futex(a),
            nr::GETPRIORITY => Ok(20),
            nr::SETPRIORITY => Ok(0),
            _ => return None,
        })
    }

    fn with_proc(&mut self, pid: Pid, f: impl Fn(&Proc) -> u64) -> SysResult {
        let pid = if pid == 0 { self.pid() } else { pid };
        match self.procs.get(&pid) {
            Some(p) if p.ended.is_none() => Ok(f(p)),
            _ => Err(errno::ESRCH),
        }
    }

    fn set_ids(&mut self, n: u64, a: &[u64; 6]) -> SysResult {
        let p = self.proc_();
        let root = p.euid == 0;
        let keep = u32::MAX;
        let id = |v: u64| v as u32;
        match n {
            nr::SETUID | nr::SETFSUID => {
                if !root && id(a[0]) != p.uid {
                    return Err(errno::EPERM);
                }
                if n == nr::SETFSUID {
                    return Ok(u64::from(p.euid));
                }
                p.uid = id(a[0]);
                p.euid = id(a[0]);
            }
            nr::SETGID | nr::SETFSGID => {
                if !root && id(a[0]) != p.gid {
                    return Err(errno::EPERM);
                }
                if n == nr::SETFSGID {
                    return Ok(u64::from(p.egid));
                }
                p.gid = id(a[0]);
                p.egid = id(a[0]);
            }
            nr::SETREUID | nr::SETRESUID => {
                if !root {
                    return Err(errno::EPERM);
                }
                if id(a[0]) != keep {
                    p.uid = id(a[0]);
                }
                if id(a[1]) != keep {
                    p.euid = id(a[1]);
                }
            }
            _ => {
                if !root {
                    return Err(errno::EPERM);
                }
                if id(a[0]) != keep {
                    p.gid = id(a[0]);
                }
                if id(a[1]) != keep {
                    p.egid = id(a[1]);
                }
            }
        }
        Ok(0)
    }

    fn setpgid(&mut self, pid: Pid, pgid: Pid) -> SysResult {
        let me = self.pid();
        let pid = if pid == 0 { me } else { pid };
        let pgid = if pgid == 0 { pid } else { pgid };
        if pgid < 0 {
            return Err(errno::EINVAL);
        }
        let my_sid = self.proc_().sid;
        let Some(p) = self.procs.get(&pid) else {
            return Err(errno::ESRCH);
        };
        if pid != me && p.ppid != me {
            return Err(errno::ESRCH);
        }
        if p.sid != my_sid || p.sid == pid {
            return Err(errno::EPERM);
        }
        if pgid != pid
            && !self
                .procs
                .values()
                .any(|q| q.pgid == pgid && q.sid == my_sid)
        {
            return Err(errno::EPERM);
        }
        self.procs.get_mut(&pid).expect("checked").pgid = pgid;
        Ok(0)
    }

    // ---- clone, exec, exit, wait ----

    fn clone3(&mut self, args: u64, size: u64) -> SysResult {
        if size < 64 {
            return Err(errno::EINVAL);
        }
        let mut b = [0u8; 88];
        let len = (size as usize).min(88);
        self.read_mem(args, &mut b[..len])?;
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        // w(1) is the pidfd pointer, used only with CLONE_PIDFD
        let (flags, child_tid, parent_tid, exit_signal) = (w(0), w(2), w(3), w(4));
        let (stack, stack_size, tls) = (w(5), w(6), w(7));
        if flags & cl::CLONE_PIDFD != 0 {
            return self.enosys(nr::CLONE3);
        }
        if exit_signal > 64 || flags & cl::CSIGNAL != 0 {
            return Err(errno::EINVAL);
        }
        let sp = if stack != 0 { stack + stack_size } else { 0 };
        self.clone_task(flags | exit_signal, sp, parent_tid, tls, child_tid)
    }

    fn clone_task(&mut self, flags: u64, sp: u64, ptid: u64, tls: u64, ctid: u64) -> SysResult {
        if flags & cl::UNSUPPORTED != 0 || flags & cl::CLONE_PIDFD != 0 {
            return Err(errno::EINVAL);
        }
        if (flags & cl::CSIGNAL) as i32 > sig::NSIG {
            return Err(errno::EINVAL);
        }
        let thread = flags & cl::CLONE_THREAD != 0;
        if thread
            && flags & (cl::CLONE_SIGHAND | cl::CLONE_VM) != (cl::CLONE_SIGHAND | cl::CLONE_VM)
        {
            return Err(errno::EINVAL);
        }
        if flags & cl::CLONE_SIGHAND != 0 && flags & cl::CLONE_VM == 0 {
            return Err(errno::EINVAL);
        }
        let parent_tid = self.cur;
        let parent_pid = self.pid();
        let tid = self.alloc_pid();
        let parent = &self.tasks[&parent_tid];
        let mut hart = parent.hart.clone();
        hart.set_x(10, 0);
        if sp != 0 {
            hart.set_x(2, sp);
        }
        if flags & cl::CLONE_SETTLS != 0 {
            hart.set_x(4, tls);
        }
        hart.reservation = None;
        let mut task = Task::new(tid, if thread { parent_pid } else { tid }, hart);
        task.sigmask = parent.sigmask;
        if flags & cl::CLONE_CHILD_CLEARTID != 0 {
            task.clear_child_tid = ctid;
        }
        if thread {
            self.procs
                .get_mut(&parent_pid)
                .expect("live")
                .threads
                .push(tid);
        } else {
            let p = &self.procs[&parent_pid];
            let mm = if flags & cl::CLONE_VM != 0 {
                p.mm.clone()
            } else {
                let mut pm = p.mm.borrow_mut();
                let mut code = CodeCache::new();
                code.set_dispatch(self.dispatch);
                Rc::new(RefCell::new(Mm {
                    mem: pm.mem.fork(),
                    code,
                    brk_start: pm.brk_start,
                    brk: pm.brk,
                    names: pm.names.clone(),
                }))
            };
            let files = if flags & cl::CLONE_FILES != 0 {
                p.files.clone()
            } else {
                Rc::new(RefCell::new(p.files.borrow().clone()))
            };
            let actions = if flags & cl::CLONE_SIGHAND != 0 {
                p.actions.clone()
            } else {
                Rc::new(RefCell::new(*p.actions.borrow()))
            };
            let child = Proc {
                pid: tid,
                ppid: if flags & cl::CLONE_PARENT != 0 {
                    p.ppid
                } else {
                    parent_pid
                },
                pgid: p.pgid,
                sid: p.sid,
                mm,
                files,
                cwd: p.cwd,
                umask: p.umask,
                actions,
                pending: 0,
                threads: vec![tid],
                ended: None,
                group_exit: None,
                exit_signal: (flags & cl::CSIGNAL) as i32,
                exe: p.exe.clone(),
                cmdline: p.cmdline.clone(),
                environ: p.environ.clone(),
                comm: p.comm,
                uid: p.uid,
                gid: p.gid,
                euid: p.euid,
                egid: p.egid,
                groups: p.groups.clone(),
                vfork_parent: (flags & cl::CLONE_VFORK != 0).then_some(parent_tid),
                instret_done: 0,
                stop_report: None,
                cont_report: false,
            };
            self.fs.borrow_mut().hold(child.cwd);
            self.procs.insert(tid, child);
        }
        self.tasks.insert(tid, task);
        if flags & cl::CLONE_PARENT_SETTID != 0 {
            // The child exists now: a bad pointer does not undo that.
            let _ = self.write_u32(ptid, tid as u32);
        }
        if flags & cl::CLONE_CHILD_SETTID != 0 {
            let mm = self.procs[&self.tasks[&tid].pid].mm.clone();
            let _ = mm
                .borrow_mut()
                .mem
                .write_bytes(ctid, &(tid as u32).to_le_bytes());
        }
        self.event();
        // (a thread clone with CLONE_VFORK does not wait: there is no
        // exec or process exit of the child to wait for here)
        if flags & cl::CLONE_VFORK != 0 && !thread {
            // Wait (uninterruptibly here) until the child execs or exits;
            // then this call returns the child's pid.
            self.task().state = State::Blocked(Wait {
                manual: true,
                ..Wait::default()
            });
            self.task().vfork_child = Some(tid);
            return Err(crate::BLOCK);
        }
        Ok(tid as u64)
    }

    /// Releases a parent waiting in vfork for `pid`.
    fn vfork_done(&mut self, pid: Pid) {
        let Some(parent) = self.procs.get_mut(&pid).and_then(|p| p.vfork_parent.take()) else {
            return;
        };
        if let Some(t) = self.tasks.get_mut(&parent) {
            t.vfork_child = None;
            t.wake = Some(pid as u64);
        }
    }

    fn sys_execve(&mut self, dirfd: u64, path: u64, argv: u64, envp: u64, flags: u64) -> SysResult {
        let path = self.read_path(path)?;
        let argv = self.read_strv(argv)?;
        let envp = self.read_strv(envp)?;
        if flags & !(crate::abi::AT_EMPTY_PATH | crate::abi::AT_SYMLINK_NOFOLLOW) != 0 {
            return Err(errno::EINVAL);
        }
        let full = if path.first() == Some(&b'/') || dirfd as i64 == crate::abi::AT_FDCWD {
            path
        } else {
            let dir = self.dir_path(dirfd as i32)?;
            let mut p = dir;
            if !path.is_empty() {
                p.push(b'/');
                p.extend_from_slice(&path);
            }
            p
        };
        let pid = self.pid();
        match self.execve_path(pid, &full, argv, envp) {
            Ok(()) => Ok(0),
            Err(LoadError::Errno(e)) => Err(e),
            Err(other) => {
                let msg = format!("execve {}: {other}", String::from_utf8_lossy(&full));
                self.host().log(&msg);
                Err(errno::ENOEXEC)
            }
        }
    }

    /// Replaces the program of process `pid` (its calling thread stays,
    /// every other thread goes).
    pub(crate) fn execve_path(
        &mut self,
        pid: Pid,
        path: &[u8],
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
    ) -> Result<(), LoadError> {
        let mut random = [0u8; 16];
        let _ = self.host().random(&mut random);
        let join = |v: &[Vec<u8>]| {
            v.iter().fold(Vec::new(), |mut acc, s| {
                acc.extend_from_slice(s);
                acc.push(0);
                acc
            })
        };
        let (cmdline, environ) = (join(&argv), join(&envp));
        let (mm, pc, sp, exe) = loader::load_path(self, path, argv, envp, random)?;
        // Past the point of no return.
        let me = self.cur;
        let others: Vec<Pid> = self.procs[&pid]
            .threads
            .iter()
            .copied()
            .filter(|&t| t != me)
            .collect();
        for t in others {
            self.reap_thread(t);
        }
        self.install_image(pid, mm, pc, sp, &exe);
        self.timers.drop_process(pid, true);
        // Close-on-exec descriptors go; a shared table is unshared first.
        let p = self.procs.get_mut(&pid).expect("live");
        p.cmdline = cmdline;
        p.environ = environ;
        let table = p.files.borrow().clone();
        p.files = Rc::new(RefCell::new(table));
        let dropped: Vec<_> = {
            let mut files = p.files.borrow_mut();
            let cloexec: Vec<i32> = files
                .fds
                .iter()
                .filter(|(_, (_, c))| *c)
                .map(|(&fd, _)| fd)
                .collect();
            cloexec
                .into_iter()
                .filter_map(|fd| files.fds.remove(&fd))
                .collect()
        };
        drop(dropped);
        // Handled signals go back to their default action.
        let acts = *p.actions.borrow();
        let mut fresh = acts;
        for a in fresh.iter_mut() {
            if a.handler != sig::SIG_IGN {
                *a = SigAction::default();
            }
        }
        p.actions = Rc::new(RefCell::new(fresh));
        let t = self.tasks.get_mut(&me).expect("live");
        t.altstack = (0, 0, sig::SS_DISABLE);
        t.clear_child_tid = 0;
        t.robust_list = 0;
        self.vfork_done(pid);
        self.event();
        Ok(())
    }

    /// argv/envp: a NULL-terminated array of string pointers.
    fn read_strv(&mut self, addr: u64) -> Result<Vec<Vec<u8>>, i64> {
        let mut out = Vec::new();
        if addr == 0 {
            return Ok(out);
        }
        let mut total = 0usize;
        for i in 0..0x20000u64 {
            let p = self.read_u64(addr + i * 8)?;
            if p == 0 {
                return Ok(out);
            }
            let s = self.read_cstr(p, 128 * 1024).map_err(|e| {
                if e == errno::ENAMETOOLONG {
                    errno::E2BIG
                } else {
                    e
                }
            })?;
            total += s.len() + 1;
            if total > 2 << 20 {
                return Err(errno::E2BIG);
            }
            out.push(s);
        }
        Err(errno::E2BIG)
    }

    /// Removes a thread without process-exit effects (exec, group exit).
    fn reap_thread(&mut self, tid: Pid) {
        if let Some(t) = self.tasks.remove(&tid) {
            if let Some(p) = self.procs.get_mut(&t.pid) {
                p.threads.retain(|&x| x != tid);
                p.instret_done += t.hart.instret;
            }
        }
        self.infos.retain(|&(who, _), _| who != tid);
    }

    /// `exit`: one thread ends; the process ends with its last thread.
    pub(crate) fn exit_thread(&mut self, tid: Pid, code: i32) {
        let Some(t) = self.tasks.get(&tid) else {
            return;
        };
        let (pid, ctid) = (t.pid, t.clear_child_tid);
        self.exit_robust_list(tid);
        if ctid != 0 {
            let mm = self.procs[&pid].mm.clone();
            let shared = Rc::strong_count(&mm) > 1 || self.procs[&pid].threads.len() > 1;
            if shared {
                let _ = mm.borrow_mut().mem.write_bytes(ctid, &0u32.to_le_bytes());
                let key = futex_key(&mm, ctid, false);
                self.futex_wake(key, 1, u32::MAX);
            }
        }
        self.reap_thread(tid);
        let p = &self.procs[&pid];
        if p.threads.is_empty() {
            let end = p.group_exit.unwrap_or(Termination::Exited(code));
            self.process_ended(pid, end);
        }
        self.event();
    }

    /// A dying thread's robust futexes (set_robust_list): each lock it
    /// still holds gets FUTEX_OWNER_DIED and one waiter is woken, so that
    /// the next locker sees EOWNERDEAD instead of waiting forever.
    pub(crate) fn exit_robust_list(&mut self, tid: Pid) {
        let Some(t) = self.tasks.get_mut(&tid) else {
            return;
        };
        let head = std::mem::take(&mut t.robust_list);
        let pid = t.pid;
        if head == 0 {
            return;
        }
        let mm = self.procs[&pid].mm.clone();
        let read = |addr: u64| -> Option<u64> {
            let mut b = [0u8; 8];
            mm.borrow_mut().mem.read_bytes(addr, &mut b).ok()?;
            Some(u64::from_le_bytes(b))
        };
        // struct robust_list_head { list.next, futex_offset, list_op_pending }
        let (Some(mut entry), Some(offset), Some(pending)) =
            (read(head), read(head + 8), read(head + 16))
        else {
            return;
        };
        let mut locks = Vec::new();
        let mut steps = 0;
        while entry & !1 != head && entry != 0 && steps < ROBUST_LIST_LIMIT {
            let e = entry & !1;
            if e != pending & !1 {
                locks.push(e.wrapping_add(offset));
            }
            match read(e) {
                Some(next) => entry = next,
                None => break,
            }
            steps += 1;
        }
        if pending & !1 != 0 {
            locks.push((pending & !1).wrapping_add(offset));
        }
        for addr in locks {
            let mut b = [0u8; 4];
            if mm.borrow_mut().mem.read_bytes(addr, &mut b).is_err() {
                continue;
            }
            let val = u32::from_le_bytes(b);
            if val & FUTEX_TID_MASK != tid as u32 {
                continue;
            }
            let new = (val & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
            if mm
                .borrow_mut()
                .mem
                .write_bytes(addr, &new.to_le_bytes())
                .is_err()
            {
                continue;
            }
            if val & FUTEX_WAITERS != 0 {
                let key = futex_key(&mm, addr, false);
                self.futex_wake(key, 1, u32::MAX);
                let key = futex_key(&mm, addr, true);
                self.futex_wake(key, 1, u32::MAX);
            }
        }
    }

    /// `exit_group` or a fatal signal: every thread of `pid` ends.
    pub(crate) fn exit_group(&mut self, pid: Pid, end: Termination) {
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        if p.ended.is_some() {
            return;
        }
        p.group_exit.get_or_insert(end);
        let threads = p.threads.clone();
        for t in threads {
            self.exit_thread(t, 0);
        }
    }

    fn process_ended(&mut self, pid: Pid, end: Termination) {
        let init = self.init;
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        p.ended = Some(end);
        self.timers.drop_process(pid, false);
        if self.locks.release_records(pid, None) {
            self.epoch += 1;
        }
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        // Its files and memory go now (a zombie keeps only its status).
        // A table shared with others (CLONE_FILES) stays theirs.
        let files = if Rc::strong_count(&p.files) == 1 {
            std::mem::take(&mut *p.files.borrow_mut())
        } else {
            crate::fd::FdTable::default()
        };
        p.files = Rc::new(RefCell::new(crate::fd::FdTable::default()));
        let cwd = p.cwd;
        p.mm = Rc::new(RefCell::new(Mm::new(
            friscy_machine::Memory::new(),
            CodeCache::new(),
            0,
        )));
        let ppid = p.ppid;
        let exit_signal = p.exit_signal;
        drop(files);
        self.shm_gc();
        self.fs.borrow_mut().release(cwd);
        self.vfork_done(pid);
        // Orphans go to init.
        for q in self.procs.values_mut() {
            if q.ppid == pid {
                q.ppid = init;
            }
        }
        if pid == init {
            self.init_end = Some(end);
        }
        self.event();
        if ppid == 0 {
            return;
        }
        let (code, status) = match end {
            Termination::Exited(c) => (sig::CLD_EXITED, c & 0xff),
            Termination::Killed { signal, core } => (
                if core {
                    sig::CLD_DUMPED
                } else {
                    sig::CLD_KILLED
                },
                signal,
            ),
        };
        let ignored = self.procs.get(&ppid).is_some_and(|pp| {
            let a = pp.actions.borrow()[sig::SIGCHLD as usize];
            a.handler == sig::SIG_IGN || a.flags & sig::SA_NOCLDWAIT != 0
        });
        if ignored && exit_signal == sig::SIGCHLD {
            // Nobody will wait: no zombie.
            self.procs.remove(&pid);
            return;
        }
        if exit_signal > 0 {
            let uid = self.procs[&pid].uid;
            self.send_signal(
                Target::Process(ppid),
                SigInfo {
                    signo: exit_signal,
                    code,
                    pid,
                    uid,
                    status,
                    addr: None,
                    timer: None,
                },
            );
        }
    }

    /// Stops every thread of `pid` (a stop signal's default action) and
    /// tells the parent.
    fn stop_process(&mut self, pid: Pid, signo: i32) {
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        p.stop_report = Some(signo);
        p.cont_report = false;
        let (ppid, uid) = (p.ppid, p.uid);
        for t in p.threads.clone() {
            if let Some(t) = self.tasks.get_mut(&t) {
                t.state = State::Stopped;
            }
        }
        self.notify_parent(ppid, pid, uid, sig::CLD_STOPPED, signo);
        self.event();
    }

    /// SIGCHLD for a child that stopped or continued (unless the parent
    /// asked for none with SA_NOCLDSTOP).
    fn notify_parent(&mut self, ppid: Pid, pid: Pid, uid: u32, code: i32, status: i32) {
        let quiet = self.procs.get(&ppid).is_none_or(|pp| {
            pp.actions.borrow()[sig::SIGCHLD as usize].flags & sig::SA_NOCLDSTOP != 0
        });
        if !quiet {
            self.send_signal(
                Target::Process(ppid),
                SigInfo {
                    signo: sig::SIGCHLD,
                    code,
                    pid,
                    uid,
                    status,
                    addr: None,
                    timer: None,
                },
            );
        }
        self.event();
    }

    fn wait_matches(&self, me: Pid, who: i32, p: &Proc, options: u64) -> bool {
        if p.ppid != me {
            return false;
        }
        // __WCLONE: only children whose exit signal is not SIGCHLD.
        let clone_child = p.exit_signal != sig::SIGCHLD;
        if options & wt::WALL == 0 && (options & wt::WCLONE != 0) != clone_child {
            return false;
        }
        match who {
            -1 => true,
            0 => p.pgid == self.procs[&me].pgid,
            w if w > 0 => p.pid == w,
            w => p.pgid == -w,
        }
    }

    fn wait4(&mut self, who: i32, status: u64, options: u64, rusage: u64) -> SysResult {
        if options & !(wt::WNOHANG | wt::WUNTRACED | wt::WCONTINUED | wt::WALL | wt::WCLONE) != 0 {
            return Err(errno::EINVAL);
        }
        if who == i32::MIN {
            return Err(errno::ESRCH);
        }
        let me = self.pid();
        let mut any = false;
        let mut found = None;
        let mut changed = None;
        for p in self.procs.values() {
            if self.wait_matches(me, who, p, options) {
                any = true;
                if let Some(end) = p.ended {
                    found = Some((p.pid, end));
                    break;
                }
                if options & wt::WUNTRACED != 0
                    && let Some(s) = p.stop_report
                {
                    changed = Some((p.pid, ((s as u32) << 8) | 0x7f));
                    break;
                }
                if options & wt::WCONTINUED != 0 && p.cont_report {
                    changed = Some((p.pid, 0xffff));
                    break;
                }
            }
        }
        if found.is_none()
            && let Some((child, word)) = changed
        {
            // stopped or continued: reported once, the child stays
            if status != 0 {
                self.write_u32(status, word)?;
            }
            if let Some(p) = self.procs.get_mut(&child) {
                p.stop_report = None;
                p.cont_report = false;
            }
            return Ok(child as u64);
        }
        let Some((child, end)) = found else {
            if !any {
                return Err(errno::ECHILD);
            }
            if options & wt::WNOHANG != 0 {
                return Ok(0);
            }
            return self.block(Wait {
                restartable: true,
                ..Wait::default()
            });
        };
        if status != 0 {
            self.write_u32(status, end.wstatus())?;
        }
        if rusage != 0 {
            self.write_mem(rusage, &[0u8; 144])?;
        }
        self.procs.remove(&child);
        self.infos.retain(|&(w, _), _| w != child);
        Ok(child as u64)
    }

    fn waitid(&mut self, idtype: u64, id: i32, infop: u64, options: u64) -> SysResult {
        let who = match idtype {
            wt::P_ALL => -1,
            wt::P_PID if id > 0 => id,
            wt::P_PGID if id >= 0 => {
                if id == 0 {
                    0
                } else {
                    -id
                }
            }
            _ => return Err(errno::EINVAL),
        };
        if options & (wt::WEXITED | wt::WUNTRACED | wt::WCONTINUED) == 0 {
            return Err(errno::EINVAL);
        }
        let me = self.pid();
        let mut any = false;
        let mut found = None;
        for p in self.procs.values() {
            if self.wait_matches(me, who, p, options | wt::WALL) {
                any = true;
                if let (Some(end), true) = (p.ended, options & wt::WEXITED != 0) {
                    found = Some((p.pid, p.uid, end));
                    break;
                }
            }
        }
        let Some((child, uid, end)) = found else {
            if !any {
                return Err(errno::ECHILD);
            }
            if options & wt::WNOHANG != 0 {
                if infop != 0 {
                    self.write_mem(infop, &[0u8; signal::SIGINFO_SIZE])?;
                }
                return Ok(0);
            }
            return self.block(Wait {
                restartable: true,
                ..Wait::default()
            });
        };
        if infop != 0 {
            let (code, status) = match end {
                Termination::Exited(c) => (sig::CLD_EXITED, c & 0xff),
                Termination::Killed { signal, core } => (
                    if core {
                        sig::CLD_DUMPED
                    } else {
                        sig::CLD_KILLED
                    },
                    signal,
                ),
            };
            let info = SigInfo {
                signo: sig::SIGCHLD,
                code,
                pid: child,
                uid,
                status,
                addr: None,
                timer: None,
            };
            self.write_mem(infop, &info.bytes())?;
        }
        if options & wt::WNOWAIT == 0 {
            self.procs.remove(&child);
        }
        Ok(0)
    }

    // ---- signals ----

    fn sys_kill(&mut self, pid: i32, signo: i32) -> SysResult {
        if !(0..=sig::NSIG).contains(&signo) {
            return Err(errno::EINVAL);
        }
        let me = self.pid();
        let uid = self.proc_().uid;
        let targets: Vec<Pid> = match pid {
            p if p > 0 => vec![p],
            0 => {
                let g = self.proc_().pgid;
                self.procs
                    .values()
                    .filter(|p| p.pgid == g && p.ended.is_none())
                    .map(|p| p.pid)
                    .collect()
            }
            -1 => self
                .procs
                .values()
                .filter(|p| p.pid != self.init && p.pid != me && p.ended.is_none())
                .map(|p| p.pid)
                .collect(),
            g => self
                .procs
                .values()
                .filter(|p| p.pgid == -g && p.ended.is_none())
                .map(|p| p.pid)
                .collect(),
        };
        let live: Vec<Pid> = targets
            .into_iter()
            .filter(|p| self.procs.get(p).is_some_and(|q| q.ended.is_none()))
            .collect();
        if live.is_empty() {
            return Err(errno::ESRCH);
        }
        if signo == 0 {
            return Ok(0);
        }
        for p in live {
            self.send_signal(
                Target::Process(p),
                SigInfo {
                    signo,
                    code: sig::SI_USER,
                    pid: me,
                    uid,
                    ..SigInfo::default()
                },
            );
        }
        Ok(0)
    }

    fn sys_tgkill(&mut self, tgid: Option<Pid>, tid: Pid, signo: i32) -> SysResult {
        if !(0..=sig::NSIG).contains(&signo) || tid <= 0 {
            return Err(errno::EINVAL);
        }
        let Some(t) = self.tasks.get(&tid) else {
            return Err(errno::ESRCH);
        };
        if tgid.is_some_and(|g| g != t.pid) {
            return Err(errno::ESRCH);
        }
        if signo == 0 {
            return Ok(0);
        }
        let me = self.pid();
        let uid = self.proc_().uid;
        self.send_signal(
            Target::Thread(tid),
            SigInfo {
                signo,
                code: sig::SI_TKILL,
                pid: me,
                uid,
                ..SigInfo::default()
            },
        );
        Ok(0)
    }

    /// Makes signal `info.signo` pending for `target` (or acts at once for
    /// SIGKILL, SIGCONT and ignored signals).
    pub(crate) fn send_signal(&mut self, target: Target, info: SigInfo) {
        let signo = info.signo;
        if !(1..=sig::NSIG).contains(&signo) {
            return;
        }
        let pid = match target {
            Target::Process(p) => p,
            Target::Thread(t) => match self.tasks.get(&t) {
                Some(t) => t.pid,
                None => return,
            },
        };
        let Some(p) = self.procs.get(&pid) else {
            return;
        };
        if p.ended.is_some() || p.group_exit.is_some() {
            return;
        }
        if signo == sig::SIGKILL {
            self.exit_group(
                pid,
                Termination::Killed {
                    signal: sig::SIGKILL,
                    core: false,
                },
            );
            return;
        }
        if signo == sig::SIGCONT {
            // Pending stops are dropped; a stopped process goes on.
            let stop_mask =
                bit(sig::SIGSTOP) | bit(sig::SIGTSTP) | bit(sig::SIGTTIN) | bit(sig::SIGTTOU);
            let mut was_stopped = false;
            for t in p.threads.clone() {
                if let Some(t) = self.tasks.get_mut(&t) {
                    t.pending &= !stop_mask;
                    if matches!(t.state, State::Stopped) {
                        t.state = State::Runnable;
                        was_stopped = true;
                    }
                }
            }
            let p = self.procs.get_mut(&pid).expect("live");
            p.pending &= !stop_mask;
            if was_stopped {
                p.stop_report = None;
                p.cont_report = true;
                let (ppid, uid) = (p.ppid, p.uid);
                self.notify_parent(ppid, pid, uid, sig::CLD_CONTINUED, sig::SIGCONT);
            }
        } else if matches!(signal::default_action(signo), Dfl::Stop) {
            // a stop signal cancels a pending SIGCONT
            if let Some(p) = self.procs.get_mut(&pid) {
                p.pending &= !bit(sig::SIGCONT);
            }
        }
        let p = &self.procs[&pid];
        let action = p.actions.borrow()[signo as usize];
        let blocked = p.threads.iter().all(|t| {
            self.tasks
                .get(t)
                .is_some_and(|t| t.sigmask & bit(signo) != 0)
        });
        let ignored = action.handler == sig::SIG_IGN
            || (action.handler == sig::SIG_DFL
                && matches!(signal::default_action(signo), Dfl::Ignore | Dfl::Continue));
        if ignored && !blocked {
            return;
        }
        match target {
            Target::Process(_) => {
                self.procs.get_mut(&pid).expect("live").pending |= bit(signo);
                self.infos.insert((pid, signo), info);
            }
            Target::Thread(t) => {
                if let Some(task) = self.tasks.get_mut(&t) {
                    task.pending |= bit(signo);
                }
                self.infos.insert((t, signo), info);
            }
        }
        self.event();
    }

    /// A signal raised by the machine while running `tid` (fault, illegal
    /// instruction): blocked or ignored, it still kills.
    pub(crate) fn force_signal(&mut self, tid: Pid, info: SigInfo) {
        let Some(t) = self.tasks.get_mut(&tid) else {
            return;
        };
        let signo = info.signo;
        let pid = t.pid;
        let blocked = t.sigmask & bit(signo) != 0;
        t.sigmask &= !bit(signo);
        t.pending |= bit(signo);
        let p = &self.procs[&pid];
        let mut acts = p.actions.borrow_mut();
        if blocked || acts[signo as usize].handler == sig::SIG_IGN {
            acts[signo as usize] = SigAction::default();
        }
        drop(acts);
        self.infos.insert((tid, signo), info);
    }

    /// Acts on the signals `tid` can take now. False when the task must not
    /// run (it or its process is gone, or stopped).
    pub(crate) fn deliver_signals(&mut self, tid: Pid) -> bool {
        loop {
            let Some(t) = self.tasks.get(&tid) else {
                return false;
            };
            let pid = t.pid;
            let ready = self.deliverable(tid);
            if ready == 0 {
                return !matches!(t.state, State::Stopped);
            }
            let signo = ready.trailing_zeros() as i32 + 1;
            let from_thread = t.pending & bit(signo) != 0;
            let info = if from_thread {
                self.tasks.get_mut(&tid).expect("live").pending &= !bit(signo);
                self.infos.remove(&(tid, signo))
            } else {
                self.procs.get_mut(&pid).expect("live").pending &= !bit(signo);
                self.infos.remove(&(pid, signo))
            }
            .unwrap_or(SigInfo {
                signo,
                ..SigInfo::default()
            });
            let action = self.procs[&pid].actions.borrow()[signo as usize];
            if action.handler == sig::SIG_IGN {
                continue;
            }
            if action.handler == sig::SIG_DFL {
                match signal::default_action(signo) {
                    Dfl::Ignore | Dfl::Continue => continue,
                    Dfl::Stop => {
                        self.stop_process(pid, signo);
                        return false;
                    }
                    d => {
                        self.exit_group(
                            pid,
                            Termination::Killed {
                                signal: signo,
                                core: d == Dfl::Core,
                            },
                        );
                        return false;
                    }
                }
            }
            return self.setup_frame(tid, signo, action, info);
        }
    }

    /// Builds the signal frame on the stack and enters the handler.
    fn setup_frame(&mut self, tid: Pid, signo: i32, action: SigAction, info: SigInfo) -> bool {
        let t = self.tasks.get_mut(&tid).expect("live");
        let pid = t.pid;
        // A call blocked when the signal came: it is restarted after the
        // handler (SA_RESTART) or fails with EINTR.
        if let State::Blocked(w) = t.state {
            t.state = State::Runnable;
            if let Some(v) = t.wake.take() {
                t.hart.pc += 4;
                t.hart.set_x(10, v);
            } else if !(w.restartable && action.flags & sig::SA_RESTART != 0) {
                t.hart.pc += 4;
                t.hart.set_x(10, (-errno::EINTR) as u64);
                t.sleep_until = None;
            }
        }
        let old_mask = t.saved_mask.take().unwrap_or(t.sigmask);
        let (ss_sp, ss_size, ss_flags) = t.altstack;
        let sp_now = t.hart.x(2);
        let on_alt = ss_flags & sig::SS_DISABLE == 0 && sp_now > ss_sp && sp_now <= ss_sp + ss_size;
        let base =
            if action.flags & sig::SA_ONSTACK != 0 && ss_flags & sig::SS_DISABLE == 0 && !on_alt {
                ss_sp + ss_size
            } else {
                sp_now
            };
        let frame = (base.wrapping_sub(FRAME_SIZE)) & !15;
        let mut uc = vec![0u8; (FRAME_SIZE - UC_OFFSET) as usize];
        let put = |b: &mut Vec<u8>, at: u64, v: &[u8]| {
            b[at as usize..at as usize + v.len()].copy_from_slice(v);
        };
        put(&mut uc, UC_STACK, &ss_sp.to_le_bytes());
        let flags = if on_alt { sig::SS_ONSTACK } else { ss_flags };
        put(&mut uc, UC_STACK + 8, &flags.to_le_bytes());
        put(&mut uc, UC_STACK + 16, &ss_size.to_le_bytes());
        put(&mut uc, UC_SIGMASK, &old_mask.to_le_bytes());
        put(&mut uc, UC_MCONTEXT, &t.hart.pc.to_le_bytes());
        for r in 1..32 {
            put(
                &mut uc,
                UC_MCONTEXT + r as u64 * 8,
                &t.hart.x(r).to_le_bytes(),
            );
        }
        for r in 0..32 {
            put(
                &mut uc,
                UC_MCONTEXT + MC_FPREGS + r as u64 * 8,
                &t.hart.f(r).to_le_bytes(),
            );
        }
        put(&mut uc, UC_MCONTEXT + MC_FCSR, &t.hart.fcsr().to_le_bytes());
        let mm = self.procs[&pid].mm.clone();
        let ok = {
            let mut mm = mm.borrow_mut();
            mm.mem.write_bytes(frame, &info.bytes()).is_ok()
                && mm.mem.write_bytes(frame + UC_OFFSET, &uc).is_ok()
        };
        if !ok {
            self.exit_group(
                pid,
                Termination::Killed {
                    signal: sig::SIGSEGV,
                    core: true,
                },
            );
            return false;
        }
        let t = self.tasks.get_mut(&tid).expect("live");
        t.hart.set_x(1, SIGRETURN_TRAMPOLINE);
        t.hart.set_x(2, frame);
        t.hart.set_x(10, signo as u64);
        t.hart.set_x(11, frame);
        t.hart.set_x(12, frame + UC_OFFSET);
        t.hart.pc = action.handler;
        let mut mask = old_mask | action.mask;
        if action.flags & sig::SA_NODEFER == 0 {
            mask |= bit(signo);
        }
        t.sigmask = mask & !signal::UNBLOCKABLE;
        if action.flags & sig::SA_RESETHAND != 0 {
            self.procs[&pid].actions.borrow_mut()[signo as usize] = SigAction::default();
        }
        true
    }

    fn sigreturn(&mut self) -> SysResult {
        let tid = self.cur;
        let sp = self.tasks[&tid].hart.x(2);
        let mut uc = vec![0u8; (FRAME_SIZE - UC_OFFSET) as usize];
        if self.read_mem(sp + UC_OFFSET, &mut uc).is_err() {
            let pid = self.pid();
            self.exit_group(
                pid,
                Termination::Killed {
                    signal: sig::SIGSEGV,
                    core: true,
                },
            );
            return Ok(0);
        }
        let word = |at: u64| {
            u64::from_le_bytes(
                uc[at as usize..at as usize + 8]
                    .try_into()
                    .expect("8 bytes"),
            )
        };
        let t = self.tasks.get_mut(&tid).expect("live");
        t.hart.pc = word(UC_MCONTEXT);
        for r in 1..32 {
            t.hart.set_x(r, word(UC_MCONTEXT + r as u64 * 8));
        }
        for r in 0..32 {
            t.hart
                .set_f(r, word(UC_MCONTEXT + MC_FPREGS + r as u64 * 8));
        }
        let fcsr = word(UC_MCONTEXT + MC_FCSR) as u32;
        t.hart.fflags = (fcsr & 0x1f) as u8;
        t.hart.frm = ((fcsr >> 5) & 7) as u8;
        t.sigmask = word(UC_SIGMASK) & !signal::UNBLOCKABLE;
        t.hart.reservation = None;
        Ok(0)
    }

    fn sigaction(&mut self, signo: i32, act: u64, old: u64, size: u64) -> SysResult {
        if size != 8 || !(1..=sig::NSIG).contains(&signo) {
            return Err(errno::EINVAL);
        }
        let new = if act != 0 {
            let mut b = [0u8; SIGACTION_SIZE];
            self.read_mem(act, &mut b)?;
            let w = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
            Some(SigAction {
                handler: w(0),
                flags: w(8),
                mask: w(16) & !signal::UNBLOCKABLE,
            })
        } else {
            None
        };
        if new.is_some() && (signo == sig::SIGKILL || signo == sig::SIGSTOP) {
            return Err(errno::EINVAL);
        }
        let acts = self.proc_().actions.clone();
        let prev = acts.borrow()[signo as usize];
        if old != 0 {
            let mut b = [0u8; SIGACTION_SIZE];
            b[0..8].copy_from_slice(&prev.handler.to_le_bytes());
            b[8..16].copy_from_slice(&prev.flags.to_le_bytes());
            b[16..24].copy_from_slice(&prev.mask.to_le_bytes());
            self.write_mem(old, &b)?;
        }
        if let Some(new) = new {
            acts.borrow_mut()[signo as usize] = new;
            // Setting a signal to be ignored discards it where pending.
            let ignored = new.handler == sig::SIG_IGN
                || (new.handler == sig::SIG_DFL && signal::default_action(signo) == Dfl::Ignore);
            if ignored {
                let pid = self.pid();
                self.proc_().pending &= !bit(signo);
                for t in self.procs[&pid].threads.clone() {
                    if let Some(t) = self.tasks.get_mut(&t) {
                        t.pending &= !bit(signo);
                    }
                }
            }
        }
        Ok(0)
    }

    fn sigprocmask(&mut self, how: u64, set: u64, old: u64, size: u64) -> SysResult {
        if size != 8 {
            return Err(errno::EINVAL);
        }
        let cur = self.task().sigmask;
        // (read the new set first: it may be where the old one goes)
        let new_set = if set != 0 {
            Some(self.read_u64(set)?)
        } else {
            None
        };
        if old != 0 {
            self.write_u64(old, cur)?;
        }
        if let Some(s) = new_set {
            let new = match how {
                sig::SIG_BLOCK => cur | s,
                sig::SIG_UNBLOCK => cur & !s,
                sig::SIG_SETMASK => s,
                _ => return Err(errno::EINVAL),
            };
            self.task().sigmask = new & !signal::UNBLOCKABLE;
        }
        Ok(0)
    }

    fn sigsuspend(&mut self, set: u64, size: u64) -> SysResult {
        if size != 8 {
            return Err(errno::EINVAL);
        }
        let t = self.task();
        if t.saved_mask.is_none() {
            let mask = self.read_u64(set)?;
            let t = self.task();
            t.saved_mask = Some(t.sigmask);
            t.sigmask = mask & !signal::UNBLOCKABLE;
        }
        // Only a signal ends it (always with EINTR).
        self.block(Wait {
            manual: true,
            ..Wait::default()
        })
    }

    /// Takes the lowest pending signal of `set` (thread first, then
    /// process), with its information.
    pub(crate) fn take_pending(&mut self, set: u64) -> Option<SigInfo> {
        let tid = self.cur;
        let pid = self.pid();
        let t = self.tasks.get(&tid)?;
        let mine = t.pending & set;
        let theirs = self.procs.get(&pid).map_or(0, |p| p.pending) & set;
        let (bits, thread) = if mine != 0 {
            (mine, true)
        } else {
            (theirs, false)
        };
        if bits == 0 {
            return None;
        }
        let signo = bits.trailing_zeros() as i32 + 1;
        let info = if thread {
            self.tasks.get_mut(&tid)?.pending &= !bit(signo);
            self.infos.remove(&(tid, signo))
        } else {
            self.procs.get_mut(&pid)?.pending &= !bit(signo);
            self.infos.remove(&(pid, signo))
        };
        Some(info.unwrap_or(SigInfo {
            signo,
            ..SigInfo::default()
        }))
    }

    fn sigtimedwait(&mut self, set: u64, info: u64, timeout: u64, size: u64) -> SysResult {
        if size != 8 {
            return Err(errno::EINVAL);
        }
        let set = self.read_u64(set)? & !signal::UNBLOCKABLE;
        if let Some(si) = self.take_pending(set) {
            self.task().sleep_until = None;
            if info != 0 {
                self.write_mem(info, &si.bytes())?;
            }
            return Ok(si.signo as u64);
        }
        let now = self.now(crate::Clock::Monotonic);
        let deadline = match self.task().sleep_until {
            Some(d) => Some(d),
            None if timeout != 0 => {
                let d = now + self.read_timespec(timeout)?;
                self.task().sleep_until = Some(d);
                Some(d)
            }
            None => None,
        };
        if deadline.is_some_and(|d| now >= d) {
            self.task().sleep_until = None;
            return Err(errno::EAGAIN);
        }
        self.block(Wait {
            deadline,
            epoch: Some(0),
            ..Wait::default()
        })
    }

    fn sigqueueinfo(&mut self, tgid: Pid, tid: Option<Pid>, signo: i32, info: u64) -> SysResult {
        if !(1..=sig::NSIG).contains(&signo) {
            return Err(errno::EINVAL);
        }
        let mut b = [0u8; signal::SIGINFO_SIZE];
        self.read_mem(info, &mut b)?;
        let code = i32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        let me = self.pid();
        // Others may not pretend to be the kernel (si_code >= 0).
        if code >= 0 && tgid != me {
            return Err(errno::EPERM);
        }
        let value = u64::from_le_bytes(b[24..32].try_into().expect("8 bytes"));
        let si = SigInfo {
            signo,
            code,
            pid: i32::from_le_bytes(b[16..20].try_into().expect("4 bytes")),
            uid: u32::from_le_bytes(b[20..24].try_into().expect("4 bytes")),
            timer: Some((
                i32::from_le_bytes(b[16..20].try_into().expect("4 bytes")),
                i32::from_le_bytes(b[20..24].try_into().expect("4 bytes")),
                value,
            )),
            ..SigInfo::default()
        };
        match tid {
            Some(t) => {
                if self.tasks.get(&t).is_none_or(|x| x.pid != tgid) {
                    return Err(errno::ESRCH);
                }
                self.send_signal(Target::Thread(t), si);
            }
            None => {
                if self.procs.get(&tgid).is_none_or(|p| p.ended.is_some()) {
                    return Err(errno::ESRCH);
                }
                self.send_signal(Target::Process(tgid), si);
            }
        }
        Ok(0)
    }

    fn sigaltstack(&mut self, ss: u64, old: u64) -> SysResult {
        let (sp, size, flags) = self.task().altstack;
        let cur_sp = self.task().hart.x(2);
        let on = flags & sig::SS_DISABLE == 0 && cur_sp > sp && cur_sp <= sp + size;
        // (read the new stack first: it may be where the old one goes)
        let mut new = [0u8; 24];
        if ss != 0 {
            self.read_mem(ss, &mut new)?;
        }
        if old != 0 {
            let mut b = [0u8; 24];
            b[0..8].copy_from_slice(&sp.to_le_bytes());
            let f = if on { sig::SS_ONSTACK } else { flags };
            b[8..12].copy_from_slice(&f.to_le_bytes());
            b[16..24].copy_from_slice(&size.to_le_bytes());
            self.write_mem(old, &b)?;
        }
        if ss != 0 {
            if on {
                return Err(errno::EPERM);
            }
            let b = new;
            let nsp = u64::from_le_bytes(b[0..8].try_into().expect("8"));
            let nflags = u32::from_le_bytes(b[8..12].try_into().expect("4"));
            let nsize = u64::from_le_bytes(b[16..24].try_into().expect("8"));
            if nflags & !(sig::SS_DISABLE | (1 << 31)) != 0 {
                return Err(errno::EINVAL);
            }
            if nflags & sig::SS_DISABLE != 0 {
                self.task().altstack = (0, 0, sig::SS_DISABLE);
            } else {
                if nsize < sig::MINSIGSTKSZ {
                    return Err(errno::ENOMEM);
                }
                self.task().altstack = (nsp, nsize, 0);
            }
        }
        Ok(0)
    }

    // ---- futex ----

    fn futex(&mut self, a: &[u64; 6]) -> SysResult {
        let (addr, op, val) = (a[0], a[1], a[2] as u32);
        let cmd = op & fx::FUTEX_CMD_MASK;
        let mm = self.mm();
        let private = op & fx::FUTEX_PRIVATE_FLAG != 0;
        let key = futex_key(&mm, addr, private);
        match cmd {
            fx::FUTEX_WAIT | fx::FUTEX_WAIT_BITSET => {
                let bitset = if cmd == fx::FUTEX_WAIT {
                    fx::FUTEX_BITSET_MATCH_ANY
                } else {
                    a[5] as u32
                };
                if bitset == 0 || addr % 4 != 0 {
                    return Err(errno::EINVAL);
                }
                let now = self.now(crate::Clock::Monotonic);
                if let Some(d) = self.task().sleep_until
                    && now >= d
                {
                    self.task().sleep_until = None;
                    return Err(errno::ETIMEDOUT);
                }
                let cur = self.read_u32(addr)?;
                if cur != val {
                    self.task().sleep_until = None;
                    return Err(errno::EAGAIN);
                }
                if a[3] != 0 && self.task().sleep_until.is_none() {
                    let ns = self.read_timespec(a[3])?;
                    let deadline = if cmd == fx::FUTEX_WAIT {
                        now + ns
                    } else {
                        let clock = if op & fx::FUTEX_CLOCK_REALTIME != 0 {
                            crate::Clock::Realtime
                        } else {
                            crate::Clock::Monotonic
                        };
                        now + ns.saturating_sub(self.now(clock))
                    };
                    self.task().sleep_until = Some(deadline);
                }
                let deadline = self.task().sleep_until;
                self.block(Wait {
                    futex: Some((key, bitset)),
                    deadline,
                    restartable: true,
                    ..Wait::default()
                })
            }
            fx::FUTEX_WAKE | fx::FUTEX_WAKE_BITSET => {
                let bitset = if cmd == fx::FUTEX_WAKE {
                    fx::FUTEX_BITSET_MATCH_ANY
                } else {
                    a[5] as u32
                };
                if bitset == 0 {
                    return Err(errno::EINVAL);
                }
                Ok(self.futex_wake(key, val as usize, bitset) as u64)
            }
            fx::FUTEX_REQUEUE | fx::FUTEX_CMP_REQUEUE => {
                if cmd == fx::FUTEX_CMP_REQUEUE && self.read_u32(addr)? != a[5] as u32 {
                    return Err(errno::EAGAIN);
                }
                let woken = self.futex_wake(key, val as usize, u32::MAX);
                let key2 = futex_key(&mm, a[4], private);
                let mut moved = 0;
                let limit = a[3] as usize;
                for t in self.tasks.values_mut() {
                    if moved >= limit {
                        break;
                    }
                    if let State::Blocked(ref mut w) = t.state
                        && let Some((k, _)) = w.futex
                        && k == key
                        && t.wake.is_none()
                    {
                        w.futex = Some((key2, u32::MAX));
                        moved += 1;
                    }
                }
                Ok((woken + moved) as u64)
            }
            fx::FUTEX_WAKE_OP => {
                let (addr2, op3) = (a[4], a[5] as u32);
                let old = self.read_u32(addr2)?;
                let oparg = if op3 & (8 << 28) != 0 {
                    1u32 << ((op3 >> 12) & 0xfff).min(31)
                } else {
                    (op3 >> 12) & 0xfff
                };
                let new = match (op3 >> 28) & 7 {
                    0 => oparg,
                    1 => old.wrapping_add(oparg),
                    2 => old | oparg,
                    3 => old & !oparg,
                    4 => old ^ oparg,
                    _ => return Err(errno::ENOSYS),
                };
                self.write_u32(addr2, new)?;
                let cmparg = op3 & 0xfff;
                let (o, c) = (old as i32, cmparg as i32);
                let hit = match (op3 >> 24) & 15 {
                    0 => o == c,
                    1 => o != c,
                    2 => o < c,
                    3 => o <= c,
                    4 => o > c,
                    5 => o >= c,
                    _ => return Err(errno::ENOSYS),
                };
                let mut n = self.futex_wake(key, val as usize, u32::MAX);
                if hit {
                    let key2 = futex_key(&mm, addr2, private);
                    n += self.futex_wake(key2, a[3] as usize, u32::MAX);
                }
                Ok(n as u64)
            }
            _ => self.enosys(nr::FUTEX),
        }
    }

    /// Wakes up to `n` tasks waiting on futex `key`.
    pub(crate) fn futex_wake(&mut self, key: FutexKey, n: usize, bitset: u32) -> usize {
        let mut woken = 0;
        for t in self.tasks.values_mut() {
            if woken >= n {
                break;
            }
            if let State::Blocked(w) = t.state
                && let Some((k, bits)) = w.futex
                && k == key
                && bits & bitset != 0
                && t.wake.is_none()
            {
                t.wake = Some(0);
                t.sleep_until = None;
                woken += 1;
            }
        }
        woken
    }
}

/// Robust futex words: the owner's thread id, and the two flag bits.
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_WAITERS: u32 = 0x8000_0000;
/// Most robust-list entries walked (Linux: ROBUST_LIST_LIMIT).
const ROBUST_LIST_LIMIT: u32 = 2048;

/// The key of the futex at `addr`: a process-shared futex in a shared
/// mapping is the same for every process mapping its page.
fn futex_key(mm: &Rc<RefCell<Mm>>, addr: u64, private: bool) -> FutexKey {
    if !private && let Some(page) = mm.borrow().mem.shared_page_id(addr) {
        return (
            page as u64,
            (addr & (friscy_machine::PAGE_SIZE - 1)) | 1 << 63,
        );
    }
    (Rc::as_ptr(mm) as u64, addr)
}
