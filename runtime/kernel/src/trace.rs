//! `--trace`: an strace-like line per system call, with paths and data
//! shown as strings and errors by name.

use crate::abi::{errno, nr};
use crate::{Kernel, SysResult};

/// How to show one argument.
#[derive(Clone, Copy)]
enum Arg {
    /// A signed number.
    Int,
    /// A number in hex (flags, addresses).
    Hex,
    /// A descriptor (AT_FDCWD by name).
    Fd,
    /// A NUL-terminated string in guest memory.
    Str,
    /// Bytes in guest memory, as long as the argument at this index says.
    Buf(usize),
    /// A mode, in octal.
    Oct,
}

use Arg::*;

/// Most bytes of a buffer or string a line shows.
const SHOWN: usize = 48;

fn signature(n: u64) -> Option<&'static [Arg]> {
    Some(match n {
        nr::OPENAT => &[Fd, Str, Hex, Oct],
        nr::CLOSE | nr::FSYNC | nr::FDATASYNC | nr::FCHDIR | nr::DUP => &[Fd],
        nr::READ | nr::PREAD64 | nr::GETDENTS64 => &[Fd, Hex, Int],
        nr::WRITE | nr::PWRITE64 => &[Fd, Buf(2), Int],
        nr::READV | nr::WRITEV => &[Fd, Hex, Int],
        nr::LSEEK => &[Fd, Int, Int],
        nr::DUP3 => &[Fd, Fd, Hex],
        nr::FCNTL => &[Fd, Int, Hex],
        nr::IOCTL => &[Fd, Hex, Hex],
        nr::NEWFSTATAT | nr::STATX => &[Fd, Str, Hex, Hex],
        nr::FSTAT => &[Fd, Hex],
        nr::FACCESSAT | nr::FACCESSAT2 => &[Fd, Str, Oct, Hex],
        nr::READLINKAT => &[Fd, Str, Hex, Int],
        nr::MKDIRAT => &[Fd, Str, Oct],
        nr::UNLINKAT => &[Fd, Str, Hex],
        nr::SYMLINKAT => &[Str, Fd, Str],
        nr::LINKAT => &[Fd, Str, Fd, Str, Hex],
        nr::RENAMEAT | nr::RENAMEAT2 => &[Fd, Str, Fd, Str, Hex],
        nr::FCHMODAT => &[Fd, Str, Oct],
        nr::FCHOWNAT => &[Fd, Str, Int, Int, Hex],
        nr::UTIMENSAT => &[Fd, Str, Hex, Hex],
        nr::CHDIR | nr::CHROOT => &[Str],
        nr::TRUNCATE => &[Str, Int],
        nr::FTRUNCATE => &[Fd, Int],
        nr::EXECVE => &[Str, Hex, Hex],
        nr::EXECVEAT => &[Fd, Str, Hex, Hex, Hex],
        nr::EXIT | nr::EXIT_GROUP => &[Int],
        nr::WAIT4 => &[Int, Hex, Hex, Hex],
        nr::KILL => &[Int, Int],
        nr::TGKILL => &[Int, Int, Int],
        nr::CLONE => &[Hex, Hex, Hex, Hex, Hex],
        nr::MMAP => &[Hex, Hex, Hex, Hex, Fd, Hex],
        nr::MUNMAP | nr::MPROTECT => &[Hex, Hex, Hex],
        nr::BRK => &[Hex],
        nr::PIPE2 => &[Hex, Hex],
        nr::RT_SIGACTION | nr::RT_SIGPROCMASK => &[Int, Hex, Hex, Int],
        nr::SET_TID_ADDRESS => &[Hex],
        nr::FUTEX => &[Hex, Hex, Int, Hex],
        nr::SOCKET => &[Int, Hex, Int],
        nr::CONNECT | nr::BIND => &[Fd, Hex, Int],
        nr::SENDTO => &[Fd, Buf(2), Int, Hex],
        nr::GETCWD => &[Hex, Int],
        nr::UNAME | nr::SYSINFO => &[Hex],
        _ => return None,
    })
}

fn errno_name(e: i64) -> &'static str {
    match e {
        errno::EPERM => "EPERM",
        errno::ENOENT => "ENOENT",
        errno::ESRCH => "ESRCH",
        errno::EINTR => "EINTR",
        errno::EIO => "EIO",
        errno::ENXIO => "ENXIO",
        errno::E2BIG => "E2BIG",
        errno::ENOEXEC => "ENOEXEC",
        errno::EBADF => "EBADF",
        errno::ECHILD => "ECHILD",
        errno::EAGAIN => "EAGAIN",
        errno::ENOMEM => "ENOMEM",
        errno::EACCES => "EACCES",
        errno::EFAULT => "EFAULT",
        errno::EBUSY => "EBUSY",
        errno::EEXIST => "EEXIST",
        errno::EXDEV => "EXDEV",
        errno::ENODEV => "ENODEV",
        errno::ENOTDIR => "ENOTDIR",
        errno::EISDIR => "EISDIR",
        errno::EINVAL => "EINVAL",
        errno::EMFILE => "EMFILE",
        errno::ENOTTY => "ENOTTY",
        errno::EFBIG => "EFBIG",
        errno::ENOSPC => "ENOSPC",
        errno::ESPIPE => "ESPIPE",
        errno::EPIPE => "EPIPE",
        errno::ERANGE => "ERANGE",
        errno::ENAMETOOLONG => "ENAMETOOLONG",
        errno::ENOSYS => "ENOSYS",
        errno::ENOTEMPTY => "ENOTEMPTY",
        errno::ELOOP => "ELOOP",
        errno::ETIMEDOUT => "ETIMEDOUT",
        errno::EOPNOTSUPP => "EOPNOTSUPP",
        errno::EAFNOSUPPORT => "EAFNOSUPPORT",
        errno::ECONNREFUSED => "ECONNREFUSED",
        errno::ENOTSOCK => "ENOTSOCK",
        errno::ENOTCONN => "ENOTCONN",
        _ => "",
    }
}

/// Shows bytes as a C-like string literal.
fn quoted(bytes: &[u8], more: bool) -> String {
    let mut s = String::from("\"");
    for &b in bytes.iter().take(SHOWN) {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    if more || bytes.len() > SHOWN {
        s.push_str("...");
    }
    s
}

impl Kernel {
    /// The arguments of call `n` as the trace shows them (read before the
    /// call runs: execve replaces the memory they point into).
    pub(crate) fn trace_args(&mut self, n: u64, a: &[u64; 6]) -> String {
        let Some(sig) = signature(n) else {
            return format!("{:#x}, {:#x}, {:#x}, {:#x}", a[0], a[1], a[2], a[3]);
        };
        let mut parts = Vec::with_capacity(sig.len());
        for (i, kind) in sig.iter().enumerate() {
            let v = a[i];
            parts.push(match kind {
                Int => (v as i64).to_string(),
                Hex => format!("{v:#x}"),
                Oct => format!("{v:#o}"),
                Fd => {
                    if v as i32 as i64 == crate::abi::AT_FDCWD {
                        "AT_FDCWD".to_string()
                    } else {
                        (v as i32).to_string()
                    }
                }
                Str => {
                    if v == 0 {
                        "NULL".to_string()
                    } else {
                        let found = self.mm().borrow_mut().mem.read_cstr(v, SHOWN + 1);
                        match found {
                            Ok(Some(s)) => quoted(&s, false),
                            Ok(None) => {
                                let mut b = vec![0u8; SHOWN];
                                let _ = self.mm().borrow_mut().mem.read_bytes(v, &mut b);
                                quoted(&b, true)
                            }
                            Err(_) => format!("{v:#x}"),
                        }
                    }
                }
                Buf(len_at) => {
                    let len = a[*len_at] as usize;
                    let mut b = vec![0u8; len.min(SHOWN)];
                    if self.mm().borrow_mut().mem.read_bytes(v, &mut b).is_ok() {
                        quoted(&b, len > SHOWN)
                    } else {
                        format!("{v:#x}")
                    }
                }
            });
        }
        parts.join(", ")
    }
}

/// The result as strace shows it.
pub(crate) fn result_text(n: u64, r: Option<SysResult>) -> String {
    match r {
        None => "?".to_string(),
        Some(Ok(v)) => {
            if matches!(n, nr::MMAP | nr::BRK | nr::MREMAP) {
                format!("{v:#x}")
            } else {
                (v as i64).to_string()
            }
        }
        Some(Err(e)) => {
            let name = errno_name(e);
            if name.is_empty() {
                format!("-1 (errno {e})")
            } else {
                format!("-1 {name}")
            }
        }
    }
}
