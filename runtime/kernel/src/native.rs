//! The native host: the process's own standard streams, clocks and
//! randomness.

use crate::abi::errno;
use crate::host::{Clock, Host, HostStat};
use rustix::fd::BorrowedFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Host effects for a native run.
#[derive(Debug)]
pub struct NativeHost {
    start: Instant,
}

impl Default for NativeHost {
    fn default() -> Self {
        NativeHost::new()
    }
}

impl NativeHost {
    pub fn new() -> NativeHost {
        NativeHost {
            start: Instant::now(),
        }
    }
}

fn stdio(fd: i32) -> Result<BorrowedFd<'static>, i64> {
    match fd {
        // SAFETY: fds 0-2 stay open for the life of the process: friscy never
        // closes its own standard streams.
        0..=2 => Ok(unsafe { BorrowedFd::borrow_raw(fd) }),
        _ => Err(errno::EBADF),
    }
}

fn err(e: rustix::io::Errno) -> i64 {
    i64::from(e.raw_os_error())
}

/// Polls fd 0-2 for input for up to `timeout` ns (None: forever).
fn poll_in(fd: i32, timeout: Option<u128>) -> bool {
    let Ok(f) = stdio(fd) else {
        return true;
    };
    let mut fds = [rustix::event::PollFd::new(&f, rustix::event::PollFlags::IN)];
    let ts = timeout.map(|ns| rustix::event::Timespec {
        tv_sec: (ns / 1_000_000_000).min(i64::MAX as u128) as i64,
        tv_nsec: (ns % 1_000_000_000) as i64,
    });
    match rustix::event::poll(&mut fds, ts.as_ref()) {
        Ok(n) => n > 0,
        // EINTR: let the caller look again
        Err(_) => false,
    }
}

impl Host for NativeHost {
    fn window_size(&mut self) -> Option<(u16, u16)> {
        let ws = rustix::termios::tcgetwinsize(stdio(1).ok()?).ok()?;
        (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
    }

    fn input_ready(&mut self, fd: i32) -> bool {
        poll_in(fd, Some(0))
    }

    fn wait_input(&mut self, fd: i32, timeout: Option<u128>) -> bool {
        poll_in(fd, timeout)
    }

    fn write(&mut self, fd: i32, data: &[u8]) -> Result<usize, i64> {
        loop {
            match rustix::io::write(stdio(fd)?, data) {
                Err(rustix::io::Errno::INTR) => continue,
                r => return r.map_err(err),
            }
        }
    }

    fn read(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize, i64> {
        loop {
            match rustix::io::read(stdio(fd)?, &mut *buf) {
                Err(rustix::io::Errno::INTR) => continue,
                r => return r.map_err(err),
            }
        }
    }

    fn fstat(&mut self, fd: i32) -> Result<HostStat, i64> {
        let st = rustix::fs::fstat(stdio(fd)?).map_err(err)?;
        Ok(HostStat {
            mode: st.st_mode,
            size: st.st_size as u64,
            rdev: st.st_rdev,
            ino: st.st_ino,
            dev: st.st_dev,
            nlink: st.st_nlink as u32,
            uid: st.st_uid,
            gid: st.st_gid,
            blksize: st.st_blksize as u32,
        })
    }

    fn is_terminal(&mut self, fd: i32) -> bool {
        stdio(fd).is_ok_and(rustix::termios::isatty)
    }

    fn seek(&mut self, fd: i32, offset: i64, whence: u32) -> Result<u64, i64> {
        use rustix::fs::SeekFrom;
        let pos = match whence {
            0 => SeekFrom::Start(offset as u64),
            1 => SeekFrom::Current(offset),
            2 => SeekFrom::End(offset),
            _ => return Err(errno::EINVAL),
        };
        rustix::fs::seek(stdio(fd)?, pos).map_err(err)
    }

    fn now(&mut self, clock: Clock) -> u128 {
        match clock {
            Clock::Realtime => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            Clock::Monotonic => self.start.elapsed().as_nanos() + 1_000_000_000,
        }
    }

    fn sleep(&mut self, nanos: u128) {
        std::thread::sleep(Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64));
    }

    fn random(&mut self, buf: &mut [u8]) -> Result<(), i64> {
        let mut done = 0;
        while done < buf.len() {
            match rustix::rand::getrandom(&mut buf[done..], rustix::rand::GetRandomFlags::empty()) {
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(err(e)),
            }
        }
        Ok(())
    }
}
