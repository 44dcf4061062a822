//! The terminal's system calls: reads, writes and ioctls on the container's
//! terminal, and the pump that feeds it from the host.

use crate::abi::{errno, sig, tty as io};
use crate::signal::SigInfo;
use crate::sys_proc::Target;
use crate::task::Wait;
use crate::tty::{TERMIOS_SIZE, Termios, Tty};
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
/// Device number of the terminal: /dev/pts/0.
pub const PTS0: u64 = crate::abi::dev::makedev(136, 0);

impl Kernel {
    /// Gives the container a terminal (`friscy run -t`): call before
    /// `spawn`. The host's terminal should be in raw mode.
    pub fn enable_tty(&mut self) {
        let size = self.host().window_size().unwrap_or((24, 80));
        self.tty = Some(Tty::new(1, size));
        let mut fs = self.fs.borrow_mut();
        if let Ok(pts) = fs.resolve(ROOT, b"/dev/pts", true)
            && fs.lookup(pts, b"0").is_err()
        {
            let _ = fs.create(pts, b"0", NewNode::Chr(PTS0), 0o620, 0, 5);
        }
    }

    /// Moves typed bytes from the host into the terminal (echo, signals)
    /// and notices a changed window size.
    pub(crate) fn pump_tty(&mut self) {
        let size = self.host().window_size();
        let Some(tty) = self.tty.as_mut() else {
            return;
        };
        let mut signals = Vec::new();
        if let Some(size) = size
            && size != tty.winsize
        {
            tty.winsize = size;
            signals.push(sig::SIGWINCH);
        }
        let mut echo = Vec::new();
        if self.host.input_ready(0) {
            let mut buf = [0u8; 4096];
            if let Ok(n) = self.host.read(0, &mut buf)
                && n > 0
                && let Some(tty) = self.tty.as_mut()
            {
                let fed = tty.feed(&buf[..n]);
                echo = fed.echo;
                signals.extend(fed.signals);
            }
            self.event();
        }
        if !echo.is_empty() {
            let _ = self.host.write(1, &echo);
        }
        let fg = self.tty.as_ref().map_or(0, |t| t.fg_pgrp);
        for s in signals {
            self.signal_pgrp(fg, s);
        }
    }

    pub(crate) fn tty_read(&mut self, len: usize, nonblock: bool) -> Result<Vec<u8>, i64> {
        self.pump_tty();
        // A background process group reading the terminal gets SIGTTIN
        // (which stops it), or EIO when it ignores or blocks that.
        let pgid = self.proc_().pgid;
        let sid = self.proc_().sid;
        if let Some(t) = self.tty.as_ref()
            && t.session == sid
            && t.fg_pgrp != pgid
        {
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
        let Some(tty) = self.tty.as_mut() else {
            return Err(errno::EIO);
        };
        if tty.readable() {
            return Ok(tty.read(len));
        }
        if nonblock {
            return Err(errno::EAGAIN);
        }
        self.block(Wait {
            host_input: true,
            restartable: true,
            ..Wait::default()
        })
        .map(|_| Vec::new())
    }

    pub(crate) fn tty_write(&mut self, data: &[u8]) -> SysResult {
        let out = match self.tty.as_ref() {
            Some(t) => t.output(data),
            None => return Err(errno::EIO),
        };
        self.host().write(1, &out)?;
        Ok(data.len() as u64)
    }

    pub(crate) fn tty_readable(&mut self) -> bool {
        self.pump_tty();
        self.tty.as_ref().is_some_and(|t| t.readable())
    }

    pub(crate) fn tty_ioctl(&mut self, req: u64, arg: u64) -> SysResult {
        let pid = self.pid();
        let my_sid = self.proc_().sid;
        let Some(tty) = self.tty.as_mut() else {
            return Err(errno::ENOTTY);
        };
        match req {
            TCGETS => {
                let b = tty.termios.to_bytes();
                self.write_mem(arg, &b)?;
                Ok(0)
            }
            io::TCSETS | io::TCSETSW | io::TCSETSF => {
                let mut b = [0u8; TERMIOS_SIZE];
                self.read_mem(arg, &mut b)?;
                let t = self.tty.as_mut().expect("checked");
                if req == io::TCSETSF {
                    t.flush_input();
                }
                t.set_termios(Termios::from_bytes(&b));
                Ok(0)
            }
            TIOCGWINSZ => {
                let (rows, cols) = tty.winsize;
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
                let t = self.tty.as_mut().expect("checked");
                if t.winsize != size {
                    t.winsize = size;
                    let fg = t.fg_pgrp;
                    self.signal_pgrp(fg, sig::SIGWINCH);
                }
                Ok(0)
            }
            io::TIOCGPGRP => {
                let fg = tty.fg_pgrp;
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
                if let Some(t) = self.tty.as_mut() {
                    t.fg_pgrp = pgrp;
                }
                Ok(0)
            }
            TIOCGSID => {
                let s = tty.session;
                self.write_u32(arg, s as u32)?;
                Ok(0)
            }
            io::TIOCSCTTY => {
                // the one terminal is every session's
                tty.session = my_sid;
                tty.fg_pgrp = self.procs[&pid].pgid;
                Ok(0)
            }
            TIOCNOTTY => Ok(0),
            TCFLSH => {
                tty.flush_input();
                Ok(0)
            }
            TCXONC => Ok(0),
            io::FIONREAD | TIOCOUTQ => {
                let n = if req == io::FIONREAD {
                    tty.pending()
                } else {
                    0
                };
                self.write_u32(arg, n as u32)?;
                Ok(0)
            }
            TIOCGPTN => Err(errno::ENOTTY),
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
