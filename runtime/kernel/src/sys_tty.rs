//! The terminal's system calls: reads, writes and ioctls on the container's
//! terminal, and the pump that feeds it from the host.

use crate::abi::{dev, errno, open as o, sig, tty as io};
use crate::fd::{Description, Object};
use crate::signal::SigInfo;
use crate::sys_proc::Target;
use crate::task::Wait;
use crate::tty::{PTY_BUF, TERMIOS_SIZE, Term, TermRef, Termios, Tty};
use crate::{Kernel, SysResult};
use friscy_vfs::{NewNode, ROOT};

/// TCGETS and friends (asm-generic numbers).
const TCGETS: u64 = crate::abi::TCGETS;
const TIOCGWINSZ: u64 = crate::abi::TIOCGWINSZ;
const TCXONC: u64 = 0x540a;
const TCFLSH: u64 = 0x540b;
const TIOCOUTQ: u64 = 0x5411;
const TIOCNOTTY: u64 = 0x5422;
const TIOCGSID: u64 = 0x5429;
const TIOCGPTN: u64 = 0x8004_5430;
const TIOCSPTLCK: u64 = 0x4004_5431;
const TIOCGPTLCK: u64 = 0x8004_5439;
const TIOCGPTPEER: u64 = 0x5441;
/// Device number of the terminal: /dev/pts/0.
pub const PTS0: u64 = dev::makedev(dev::PTS_MAJOR, 0);
/// Most pseudo-terminals open at once (Linux's default kernel.pty.max).
const PTY_MAX: u32 = 4096;
/// The `tty` group that owns /dev/pts/N.
const TTY_GID: u32 = 5;

impl Kernel {
    /// Gives the container a terminal (`friscy run -t`): call before
    /// `spawn`. The host's terminal should be in raw mode.
    pub fn enable_tty(&mut self) {
        let size = self.host().window_size().unwrap_or((24, 80));
        self.tty = Some(Term::new(0, true, Tty::new(1, size)));
        let mut fs = self.fs.borrow_mut();
        if let Ok(pts) = fs.resolve(ROOT, b"/dev/pts", true)
            && fs.lookup(pts, b"0").is_err()
        {
            let _ = fs.create(pts, b"0", NewNode::Chr(PTS0), 0o620, 0, TTY_GID);
        }
    }

    /// Moves typed bytes from the host into the console (echo, signals)
    /// and notices a changed window size.
    pub(crate) fn pump_tty(&mut self) {
        let Some(term) = self.tty.clone() else {
            return;
        };
        let size = self.host().window_size();
        let mut signals = Vec::new();
        {
            let tty = &mut term.borrow_mut().tty;
            if let Some(size) = size
                && size != tty.winsize
            {
                tty.winsize = size;
                signals.push(sig::SIGWINCH);
            }
        }
        let mut echo = Vec::new();
        if self.host.input_ready(0) {
            let mut buf = [0u8; 4096];
            if let Ok(n) = self.host.read(0, &mut buf)
                && n > 0
            {
                let fed = term.borrow_mut().tty.feed(&buf[..n]);
                echo = fed.echo;
                signals.extend(fed.signals);
            }
            self.event();
        }
        if !echo.is_empty() {
            let _ = self.host.write(1, &echo);
        }
        let fg = term.borrow().tty.fg_pgrp;
        for s in signals {
            self.signal_pgrp(fg, s);
        }
    }

    /// Reads the terminal's own side (the console, or a pty's slave).
    pub(crate) fn tty_read(
        &mut self,
        term: &TermRef,
        len: usize,
        nonblock: bool,
    ) -> Result<Vec<u8>, i64> {
        let console = term.borrow().console;
        if console {
            self.pump_tty();
        }
        // A background process group reading its terminal gets SIGTTIN
        // (which stops it), or EIO when it ignores or blocks that.
        let pgid = self.proc_().pgid;
        let sid = self.proc_().sid;
        let (session, fg) = {
            let t = term.borrow();
            (t.tty.session, t.tty.fg_pgrp)
        };
        if session == sid && fg != pgid {
            let ignored =
                self.proc_().actions.borrow()[sig::SIGTTIN as usize].handler == sig::SIG_IGN;
            let blocked = self.task().sigmask & crate::signal::bit(sig::SIGTTIN) != 0;
            if ignored || blocked {
                return Err(errno::EIO);
            }
            self.signal_pgrp(pgid, sig::SIGTTIN);
            return self
                .block(Wait {
                    restartable: true,
                    ..Wait::default()
                })
                .map(|_| Vec::new());
        }
        let mut t = term.borrow_mut();
        if t.tty.readable() {
            let out = t.tty.read(len);
            drop(t);
            if !console {
                // a master waiting for room to type into
                self.event();
            }
            return Ok(out);
        }
        if t.master_gone() {
            return Err(errno::EIO);
        }
        drop(t);
        if nonblock {
            return Err(errno::EAGAIN);
        }
        self.block(Wait {
            host_input: console,
            restartable: true,
            ..Wait::default()
        })
        .map(|_| Vec::new())
    }

    /// Writes to the terminal's own side: to the host for the console, to
    /// the master for a pty.
    pub(crate) fn tty_write(&mut self, term: &TermRef, data: &[u8], nonblock: bool) -> SysResult {
        let mut t = term.borrow_mut();
        if t.console {
            let out = t.tty.output(data);
            drop(t);
            self.host().write(1, &out)?;
            return Ok(data.len() as u64);
        }
        if t.master_gone() {
            return Err(errno::EIO);
        }
        let room = PTY_BUF.saturating_sub(t.to_master.len());
        if room == 0 {
            drop(t);
            return self.would_block(nonblock);
        }
        let n = data.len().min(room);
        let out = t.tty.output(&data[..n]);
        t.to_master.extend_from_slice(&out);
        drop(t);
        self.event();
        Ok(n as u64)
    }

    /// Reads what the slave side wrote, from the master.
    pub(crate) fn master_read(
        &mut self,
        term: &TermRef,
        len: usize,
        nonblock: bool,
    ) -> Result<Vec<u8>, i64> {
        let mut t = term.borrow_mut();
        if !t.to_master.is_empty() {
            let out = t.to_master.take(len);
            drop(t);
            self.event();
            return Ok(out);
        }
        if t.slave_gone() {
            return Err(errno::EIO);
        }
        drop(t);
        self.would_block(nonblock).map(|_| Vec::new())
    }

    /// Types into a pty from its master: the line discipline's input.
    pub(crate) fn master_write(
        &mut self,
        term: &TermRef,
        data: &[u8],
        nonblock: bool,
    ) -> SysResult {
        let mut t = term.borrow_mut();
        if t.tty.pending() >= PTY_BUF {
            drop(t);
            return self.would_block(nonblock);
        }
        let fed = t.tty.feed(data);
        t.to_master.extend_from_slice(&fed.echo);
        let fg = t.tty.fg_pgrp;
        drop(t);
        for s in fed.signals {
            self.signal_pgrp(fg, s);
        }
        self.event();
        Ok(data.len() as u64)
    }

    /// Poll readiness of either side of a terminal: (in, out, hang-up).
    pub(crate) fn term_ready(&mut self, term: &TermRef, master: bool) -> (bool, bool, bool) {
        if term.borrow().console {
            self.pump_tty();
        }
        let t = term.borrow();
        if master {
            let gone = t.slave_gone();
            (
                !t.to_master.is_empty() || gone,
                t.tty.pending() < PTY_BUF,
                gone,
            )
        } else if t.console {
            (t.tty.readable(), true, false)
        } else {
            let gone = t.master_gone();
            (
                t.tty.readable() || gone,
                gone || t.to_master.len() < PTY_BUF,
                gone,
            )
        }
    }

    /// The terminal of the caller's session, for /dev/tty.
    pub(crate) fn controlling_term(&mut self) -> Option<TermRef> {
        let sid = self.proc_().sid;
        let ptys = self.ptys.values().filter_map(std::rc::Weak::upgrade);
        let mut all = self.tty.clone().into_iter().chain(ptys);
        match all.find(|t| t.borrow().tty.session == sid) {
            Some(t) => Some(t),
            // the console is every session's that has none
            None => self.tty.clone(),
        }
    }

    /// Opens /dev/ptmx: a new pseudo-terminal pair and its /dev/pts node.
    pub(crate) fn open_ptmx(&mut self, flags: u64, cloexec: bool) -> SysResult {
        self.reap_ptys();
        let console = self.tty.as_ref().map(|t| t.borrow().index);
        let Some(index) = (0..PTY_MAX).find(|i| Some(*i) != console && !self.ptys.contains_key(i))
        else {
            return Err(errno::ENOSPC);
        };
        let term = Term::new(index, false, Tty::new(0, (0, 0)));
        let uid = self.proc_().euid;
        {
            let mut fs = self.fs.borrow_mut();
            if let Ok(pts) = fs.resolve(ROOT, b"/dev/pts", true) {
                let name = index.to_string();
                let _ = fs.unlink(pts, name.as_bytes());
                let rdev = dev::makedev(dev::PTS_MAJOR, u64::from(index));
                let _ = fs.create(
                    pts,
                    name.as_bytes(),
                    NewNode::Chr(rdev),
                    0o620,
                    uid,
                    TTY_GID,
                );
            }
        }
        self.ptys.insert(index, std::rc::Rc::downgrade(&term));
        let d = Description::new(Object::PtyMaster(term), flags);
        self.install(d, cloexec)
    }

    /// Forgets pseudo-terminals whose master is closed, and their nodes.
    fn reap_ptys(&mut self) {
        let gone: Vec<u32> = self
            .ptys
            .iter()
            .filter(|(_, w)| w.upgrade().is_none_or(|t| t.borrow().masters == 0))
            .map(|(i, _)| *i)
            .collect();
        let mut fs = self.fs.borrow_mut();
        let pts = fs.resolve(ROOT, b"/dev/pts", true);
        for i in gone {
            self.ptys.remove(&i);
            if let Ok(pts) = pts {
                let _ = fs.unlink(pts, i.to_string().as_bytes());
            }
        }
    }

    /// Opens /dev/pts/N: the console or a pty's slave side. A session
    /// leader without a terminal gets it as its controlling terminal.
    pub(crate) fn open_pts(
        &mut self,
        index: u32,
        flags: u64,
        cloexec: bool,
        noctty: bool,
    ) -> SysResult {
        let console = self.tty.clone().filter(|t| t.borrow().index == index);
        let term = console.or_else(|| self.ptys.get(&index).and_then(std::rc::Weak::upgrade));
        let Some(term) = term else {
            return Err(errno::EIO);
        };
        {
            let t = term.borrow();
            if t.locked || t.master_gone() {
                return Err(errno::EIO);
            }
        }
        let (pid, sid, pgid) = {
            let p = self.proc_();
            (p.pid, p.sid, p.pgid)
        };
        if !noctty && pid == sid && term.borrow().tty.session == 0 {
            let has_one = self
                .ptys
                .values()
                .filter_map(std::rc::Weak::upgrade)
                .any(|t| t.borrow().tty.session == sid);
            if !has_one {
                let t = &mut term.borrow_mut().tty;
                t.session = sid;
                t.fg_pgrp = pgid;
            }
        }
        let d = Description::new(Object::Tty(term), flags);
        self.install(d, cloexec)
    }

    pub(crate) fn tty_ioctl(
        &mut self,
        term: &TermRef,
        master: bool,
        req: u64,
        arg: u64,
    ) -> SysResult {
        let pid = self.pid();
        let my_sid = self.proc_().sid;
        match req {
            TCGETS => {
                let b = term.borrow().tty.termios.to_bytes();
                self.write_mem(arg, &b)?;
                Ok(0)
            }
            io::TCSETS | io::TCSETSW | io::TCSETSF => {
                let mut b = [0u8; TERMIOS_SIZE];
                self.read_mem(arg, &mut b)?;
                let t = &mut term.borrow_mut().tty;
                if req == io::TCSETSF {
                    t.flush_input();
                }
                t.set_termios(Termios::from_bytes(&b));
                Ok(0)
            }
            TIOCGWINSZ => {
                let (rows, cols) = term.borrow().tty.winsize;
                let mut b = [0u8; 8];
                b[0..2].copy_from_slice(&rows.to_le_bytes());
                b[2..4].copy_from_slice(&cols.to_le_bytes());
                self.write_mem(arg, &b)?;
                Ok(0)
            }
            io::TIOCSWINSZ => {
                let mut b = [0u8; 8];
                self.read_mem(arg, &mut b)?;
                let size = (
                    u16::from_le_bytes([b[0], b[1]]),
                    u16::from_le_bytes([b[2], b[3]]),
                );
                let t = &mut term.borrow_mut().tty;
                if t.winsize != size {
                    t.winsize = size;
                    let fg = t.fg_pgrp;
                    self.signal_pgrp(fg, sig::SIGWINCH);
                }
                Ok(0)
            }
            io::TIOCGPGRP => {
                let fg = term.borrow().tty.fg_pgrp;
                self.write_u32(arg, fg as u32)?;
                Ok(0)
            }
            io::TIOCSPGRP => {
                let pgrp = self.read_u32(arg)? as i32;
                if pgrp <= 0 {
                    return Err(errno::EINVAL);
                }
                if !self
                    .procs
                    .values()
                    .any(|p| p.pgid == pgrp && p.sid == my_sid && p.ended.is_none())
                {
                    return Err(errno::EPERM);
                }
                term.borrow_mut().tty.fg_pgrp = pgrp;
                Ok(0)
            }
            TIOCGSID => {
                let s = term.borrow().tty.session;
                if s == 0 {
                    return Err(errno::ENOTTY);
                }
                self.write_u32(arg, s as u32)?;
                Ok(0)
            }
            io::TIOCSCTTY => {
                let pgid = self.procs[&pid].pgid;
                let t = &mut term.borrow_mut().tty;
                t.session = my_sid;
                t.fg_pgrp = pgid;
                Ok(0)
            }
            TIOCNOTTY => Ok(0),
            TCFLSH => {
                term.borrow_mut().tty.flush_input();
                Ok(0)
            }
            TCXONC => Ok(0),
            io::FIONREAD | TIOCOUTQ => {
                let t = term.borrow();
                // what this side would read next
                let n = match (req == io::FIONREAD, master) {
                    (true, false) => t.tty.pending(),
                    (true, true) => t.to_master.len(),
                    (false, false) => t.to_master.len(),
                    (false, true) => t.tty.pending(),
                };
                drop(t);
                self.write_u32(arg, n as u32)?;
                Ok(0)
            }
            TIOCGPTN if master => {
                let i = term.borrow().index;
                self.write_u32(arg, i)?;
                Ok(0)
            }
            TIOCSPTLCK if master => {
                let lock = self.read_u32(arg)? != 0;
                term.borrow_mut().locked = lock;
                Ok(0)
            }
            TIOCGPTLCK if master => {
                let lock = term.borrow().locked;
                self.write_u32(arg, u32::from(lock))?;
                Ok(0)
            }
            TIOCGPTPEER if master => {
                if term.borrow().locked {
                    return Err(errno::EIO);
                }
                let keep = arg & (o::O_ACCMODE | o::O_NONBLOCK);
                let d = Description::new(Object::Tty(term.clone()), keep);
                self.install(d, arg & o::O_CLOEXEC != 0)
            }
            TIOCGPTN | TIOCSPTLCK | TIOCGPTLCK | TIOCGPTPEER => Err(errno::ENOTTY),
            _ => {
                let msg = format!("terminal ioctl {req:#x} is not implemented; returning EINVAL");
                if self.reported_insert(0x2_0000_0000 | req) {
                    self.host().log(&msg);
                }
                Err(errno::EINVAL)
            }
        }
    }

    /// Sends `signo` (from the kernel) to every process of group `pgrp`.
    pub(crate) fn signal_pgrp(&mut self, pgrp: i32, signo: i32) {
        let members: Vec<_> = self
            .procs
            .values()
            .filter(|p| p.pgid == pgrp && p.ended.is_none())
            .map(|p| p.pid)
            .collect();
        for pid in members {
            self.send_signal(
                Target::Process(pid),
                SigInfo {
                    signo,
                    code: sig::SI_KERNEL,
                    ..SigInfo::default()
                },
            );
        }
    }
}
