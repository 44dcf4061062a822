//! /proc: regenerated in the file system whenever a path under it is
//! looked up, from the kernel's state at that moment (a snapshot per open,
//! where Linux generates at read time).

use crate::fd::Object;
use crate::task::{Pid, State};
use crate::{Clock, Kernel};
use friscy_vfs::{Fs, Ino, NewNode, ROOT};

/// What the machine reports as its memory in /proc/meminfo and sysinfo
/// when no memory limit is set.
pub const MEM_TOTAL_KB: u64 = 4 << 20;

/// Memory (total, free) in bytes as the guest sees it: the container's
/// memory limit and the room under it (as LXCFS shows a container its
/// cgroup's limit), else [`MEM_TOTAL_KB`] with half of it free.
pub(crate) fn memory() -> (u64, u64) {
    match friscy_budget::limit() {
        Some(limit) => (limit, friscy_budget::room()),
        None => (MEM_TOTAL_KB << 10, MEM_TOTAL_KB << 9),
    }
}

/// Removes everything under `dir`.
fn clear(fs: &mut Fs, dir: Ino) {
    let Ok(entries) = fs.readdir(dir, 0) else {
        return;
    };
    for e in entries {
        if e.name == b"." || e.name == b".." {
            continue;
        }
        if e.kind == friscy_vfs::FileType::Dir {
            clear(fs, e.ino);
            let _ = fs.rmdir(dir, &e.name);
        } else {
            let _ = fs.unlink(dir, &e.name);
        }
    }
}

fn file(fs: &mut Fs, dir: Ino, name: &str, data: &[u8]) {
    if let Ok(ino) = fs.create(dir, name.as_bytes(), NewNode::Reg, 0o444, 0, 0) {
        let _ = fs.write(ino, 0, data);
    }
}

fn link(fs: &mut Fs, dir: Ino, name: &str, target: &[u8]) {
    let _ = fs.create(
        dir,
        name.as_bytes(),
        NewNode::Symlink(target.to_vec()),
        0o777,
        0,
        0,
    );
}

fn mkdir(fs: &mut Fs, dir: Ino, name: &str, mode: u32) -> Option<Ino> {
    fs.create(dir, name.as_bytes(), NewNode::Dir, mode, 0, 0)
        .ok()
}

impl Kernel {
    /// Rebuilds /proc if `path` (as the guest gave it) may lead into it.
    pub(crate) fn refresh_proc_for(&mut self, path: &[u8]) {
        let into_proc = path.starts_with(b"/proc")
            || path.starts_with(b"/dev/fd")
            || path.starts_with(b"/dev/std")
            || (!path.starts_with(b"/") && self.cwd_in_proc());
        if into_proc {
            self.refresh_proc();
        }
    }

    fn cwd_in_proc(&mut self) -> bool {
        let cwd = self.proc_().cwd;
        self.fs
            .borrow()
            .path_of(cwd)
            .is_some_and(|p| p.starts_with(b"/proc"))
    }

    /// Regenerates the whole of /proc.
    pub(crate) fn refresh_proc(&mut self) {
        let me = self.pid();
        let up_ns = self.now(Clock::Monotonic);
        let pids: Vec<Pid> = self
            .procs
            .iter()
            .filter(|(_, p)| p.ended.is_none())
            .map(|(&pid, _)| pid)
            .collect();
        let mut per_pid = Vec::new();
        for &pid in &pids {
            per_pid.push((pid, self.proc_files(pid)));
        }
        let hostname = self.hostname.clone();
        let mut fs = self.fs.borrow_mut();
        let proc_dir = match fs.resolve(ROOT, b"/proc", false) {
            Ok(d) => d,
            Err(_) => match mkdir(&mut fs, ROOT, "proc", 0o555) {
                Some(d) => d,
                None => return,
            },
        };
        clear(&mut fs, proc_dir);
        link(&mut fs, proc_dir, "self", me.to_string().as_bytes());
        link(
            &mut fs,
            proc_dir,
            "thread-self",
            format!("{me}/task/{}", self.cur).as_bytes(),
        );
        file(&mut fs, proc_dir, "cpuinfo", CPUINFO.as_bytes());
        let (total, free) = memory();
        let (total, free) = (total >> 10, free >> 10);
        let meminfo = format!(
            "MemTotal:       {total:8} kB\nMemFree:        {free:8} kB\nMemAvailable:   {free:8} kB\nBuffers:               0 kB\nCached:                0 kB\nSwapCached:            0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\nShmem:                 0 kB\n",
        );
        file(&mut fs, proc_dir, "meminfo", meminfo.as_bytes());
        file(&mut fs, proc_dir, "mounts", MOUNTS.as_bytes());
        let up = up_ns as f64 / 1e9;
        file(
            &mut fs,
            proc_dir,
            "uptime",
            format!("{up:.2} {up:.2}\n").as_bytes(),
        );
        file(
            &mut fs,
            proc_dir,
            "loadavg",
            format!(
                "0.00 0.00 0.00 1/{} {}\n",
                pids.len(),
                pids.iter().max().unwrap_or(&1)
            )
            .as_bytes(),
        );
        file(&mut fs, proc_dir, "version", VERSION.as_bytes());
        file(
            &mut fs,
            proc_dir,
            "filesystems",
            b"nodev\tproc\nnodev\ttmpfs\nnodev\toverlay\n",
        );
        file(
            &mut fs,
            proc_dir,
            "stat",
            b"cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\nintr 0\nctxt 0\nbtime 0\nprocesses 0\nprocs_running 1\nprocs_blocked 0\n",
        );
        if let Some(sys) = mkdir(&mut fs, proc_dir, "sys", 0o555)
            && let Some(kernel) = mkdir(&mut fs, sys, "kernel", 0o555)
        {
            let mut h = hostname.clone();
            h.push(b'\n');
            file(&mut fs, kernel, "hostname", &h);
            file(&mut fs, kernel, "ostype", b"Linux\n");
            file(&mut fs, kernel, "osrelease", b"6.1.0-friscy\n");
            file(&mut fs, kernel, "pid_max", b"4194304\n");
            file(&mut fs, kernel, "ngroups_max", b"65536\n");
            if let Some(vm) = mkdir(&mut fs, sys, "vm", 0o555) {
                file(&mut fs, vm, "overcommit_memory", b"0\n");
            }
        }
        for (pid, files) in per_pid {
            let Some(dir) = mkdir(&mut fs, proc_dir, &pid.to_string(), 0o555) else {
                continue;
            };
            let fd_dir = mkdir(&mut fs, dir, "fd", 0o500);
            let task_dir = mkdir(&mut fs, dir, "task", 0o555);
            for (name, data) in &files.files {
                file(&mut fs, dir, name, data);
            }
            for (name, target) in &files.links {
                link(&mut fs, dir, name, target);
            }
            if let Some(fd_dir) = fd_dir {
                for (fd, target) in &files.fds {
                    link(&mut fs, fd_dir, &fd.to_string(), target);
                }
            }
            if let Some(task_dir) = task_dir {
                for tid in &files.threads {
                    if let Some(t) = mkdir(&mut fs, task_dir, &tid.to_string(), 0o555) {
                        for (name, data) in &files.files {
                            if name == "stat" || name == "status" || name == "comm" {
                                file(&mut fs, t, name, data);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The files of /proc/PID.
    fn proc_files(&mut self, pid: Pid) -> ProcFiles {
        let p = &self.procs[&pid];
        let comm_len = p.comm.iter().position(|&b| b == 0).unwrap_or(p.comm.len());
        let comm = String::from_utf8_lossy(&p.comm[..comm_len]).into_owned();
        let state = match p
            .threads
            .first()
            .and_then(|t| self.tasks.get(t))
            .map(|t| t.state)
        {
            Some(State::Runnable) => "R (running)",
            Some(State::Stopped) => "T (stopped)",
            _ => "S (sleeping)",
        };
        let rss_kb = p.mm.borrow().mem.resident_pages() as u64 * 4;
        let status = format!(
            "Name:\t{comm}\nUmask:\t{:04o}\nState:\t{state}\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t{}\nTracerPid:\t0\nUid:\t{u}\t{e}\t{e}\t{e}\nGid:\t{g}\t{eg}\t{eg}\t{eg}\nFDSize:\t64\nGroups:\t{}\nVmRSS:\t{rss_kb} kB\nThreads:\t{}\nSigQ:\t0/0\nSigPnd:\t0000000000000000\nShdPnd:\t{:016x}\nCapEff:\t{}\nCpus_allowed_list:\t0\n",
            p.umask,
            p.ppid,
            p.groups
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            p.threads.len(),
            p.pending,
            if p.euid == 0 {
                "000001ffffffffff"
            } else {
                "0000000000000000"
            },
            u = p.uid,
            e = p.euid,
            g = p.gid,
            eg = p.egid,
        );
        let st_char = state.chars().next().unwrap_or('S');
        let stat = format!(
            "{pid} ({comm}) {st_char} {} {} {} 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 {} 0 0 0 {} 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
            p.ppid,
            p.pgid,
            p.sid,
            p.threads.len(),
            rss_kb / 4
        );
        let mut maps = String::new();
        {
            let m = p.mm.borrow();
            for (s, e, perm) in m.mem.regions() {
                let flag = |bit, c| if perm.contains(bit) { c } else { '-' };
                let shared = if m.mem.is_shared(s) { 's' } else { 'p' };
                let (name, offset) = match m.name_at(s) {
                    Some((path, off)) => (String::from_utf8_lossy(path).into_owned(), off),
                    None if s < crate::STACK_TOP && crate::STACK_TOP <= e => {
                        ("[stack]".to_owned(), 0)
                    }
                    None if s >= m.brk_start
                        && e <= m.brk.next_multiple_of(4096)
                        && m.brk > m.brk_start =>
                    {
                        ("[heap]".to_owned(), 0)
                    }
                    None => (String::new(), 0),
                };
                let line = format!(
                    "{s:08x}-{e:08x} {}{}{}{shared} {offset:08x} 00:00 0",
                    flag(friscy_machine::Perm::R, 'r'),
                    flag(friscy_machine::Perm::W, 'w'),
                    flag(friscy_machine::Perm::X, 'x'),
                );
                if name.is_empty() {
                    maps.push_str(&line);
                } else {
                    // Linux pads the name to column 73
                    maps.push_str(&format!("{line:<72} {name}"));
                }
                maps.push('\n');
            }
        }
        let cwd_path = self
            .fs
            .borrow()
            .path_of(p.cwd)
            .unwrap_or_else(|| b"/".to_vec());
        let mut fds = Vec::new();
        let files = p.files.clone();
        for (&fd, (d, _)) in files.borrow().fds.iter() {
            let d = d.borrow();
            let target = match &d.obj {
                Object::Node(i) | Object::Dev(_, i) => self
                    .fs
                    .borrow()
                    .path_of(*i)
                    .unwrap_or_else(|| b"/ (deleted)".to_vec()),
                Object::PipeRead(x) | Object::PipeWrite(x) => {
                    format!("pipe:[{}]", (std::rc::Rc::as_ptr(x) as u64) & 0xff_ffff).into_bytes()
                }
                Object::Host(h) => format!("/dev/friscy-host-{h}").into_bytes(),
                Object::Socket(x) => {
                    format!("socket:[{}]", (std::rc::Rc::as_ptr(x) as u64) & 0xff_ffff).into_bytes()
                }
                Object::EventFd(_) => b"anon_inode:[eventfd]".to_vec(),
                Object::TimerFd(_) => b"anon_inode:[timerfd]".to_vec(),
                Object::Epoll(_) => b"anon_inode:[eventpoll]".to_vec(),
                Object::Tty(t) => format!("/dev/pts/{}", t.borrow().index).into_bytes(),
                Object::PtyMaster(_) => b"/dev/ptmx".to_vec(),
                Object::Inet(x) => format!("socket:[{}]", x.handle).into_bytes(),
                Object::SignalFd(_) => b"anon_inode:[signalfd]".to_vec(),
            };
            fds.push((fd, target));
        }
        ProcFiles {
            files: vec![
                ("cmdline".into(), p.cmdline.clone()),
                ("environ".into(), p.environ.clone()),
                ("comm".into(), format!("{comm}\n").into_bytes()),
                ("status".into(), status.into_bytes()),
                ("stat".into(), stat.into_bytes()),
                ("maps".into(), maps.into_bytes()),
                ("mounts".into(), MOUNTS.as_bytes().to_vec()),
                ("mountinfo".into(), MOUNTINFO.as_bytes().to_vec()),
                ("oom_score_adj".into(), b"0\n".to_vec()),
            ],
            links: vec![
                ("exe".into(), p.exe.clone()),
                ("cwd".into(), cwd_path),
                ("root".into(), b"/".to_vec()),
            ],
            fds,
            threads: p.threads.clone(),
        }
    }
}

struct ProcFiles {
    files: Vec<(String, Vec<u8>)>,
    links: Vec<(String, Vec<u8>)>,
    fds: Vec<(i32, Vec<u8>)>,
    threads: Vec<Pid>,
}

const CPUINFO: &str = "processor\t: 0\nhart\t\t: 0\nisa\t\t: rv64imafdc_zicntr_zicsr_zifencei_zba_zbb_zbs_zicond\nmmu\t\t: sv39\nuarch\t\t: friscy\nmvendorid\t: 0x0\nmarchid\t\t: 0x0\nmimpid\t\t: 0x0\n\n";
const MOUNTS: &str = "overlay / overlay rw,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\ntmpfs /dev tmpfs rw,nosuid 0 0\n";
const MOUNTINFO: &str = "1 0 0:1 / / rw,relatime - overlay overlay rw\n2 1 0:2 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n3 1 0:3 / /dev rw,nosuid - tmpfs tmpfs rw\n";
const VERSION: &str = "Linux version 6.1.0-friscy (friscy) #1 SMP PREEMPT friscy\n";
