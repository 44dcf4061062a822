//! The container's terminal (`friscy run -t`): a line discipline between
//! the host's terminal (in raw mode) and the guest, with termios, window
//! size, a foreground process group and the job-control signals.

use crate::abi::sig;
use crate::fd::ByteQueue;
use crate::task::Pid;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// `struct termios` as TCGETS/TCSETS move it (asm-generic): four flag
/// words, the line discipline, 19 control characters.
pub const TERMIOS_SIZE: usize = 36;
const NCCS: usize = 19;

// c_iflag
const ISTRIP: u32 = 0o40;
const INLCR: u32 = 0o100;
const IGNCR: u32 = 0o200;
const ICRNL: u32 = 0o400;
const IXON: u32 = 0o2000;
const IUTF8: u32 = 0o40000;
// c_oflag
const OPOST: u32 = 0o1;
const ONLCR: u32 = 0o4;
// c_cflag: B38400 | CS8 | CREAD | HUPCL
const CFLAG_DEFAULT: u32 = 0o17 | 0o60 | 0o200 | 0o2000;
// c_lflag
const ISIG: u32 = 0o1;
const ICANON: u32 = 0o2;
const ECHO: u32 = 0o10;
const ECHOE: u32 = 0o20;
const ECHOK: u32 = 0o40;
const ECHONL: u32 = 0o100;
const NOFLSH: u32 = 0o200;
const ECHOCTL: u32 = 0o1000;
const ECHOKE: u32 = 0o4000;
const IEXTEN: u32 = 0o100000;
// c_cc indices
const VINTR: usize = 0;
const VQUIT: usize = 1;
const VERASE: usize = 2;
const VKILL: usize = 3;
const VEOF: usize = 4;
const VTIME: usize = 5;
const VMIN: usize = 6;
const VSTART: usize = 8;
const VSTOP: usize = 9;
const VSUSP: usize = 10;
const VEOL: usize = 11;
const VREPRINT: usize = 12;
const VDISCARD: usize = 13;
const VWERASE: usize = 14;
const VLNEXT: usize = 15;
/// Longest canonical line (Linux: N_TTY_BUF_SIZE).
const MAX_LINE: usize = 4095;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; NCCS],
}

impl Default for Termios {
    /// What Linux gives a new pseudo-terminal.
    fn default() -> Self {
        let mut cc = [0u8; NCCS];
        cc[VINTR] = 0x03;
        cc[VQUIT] = 0x1c;
        cc[VERASE] = 0x7f;
        cc[VKILL] = 0x15;
        cc[VEOF] = 0x04;
        cc[VTIME] = 0;
        cc[VMIN] = 1;
        cc[VSTART] = 0x11;
        cc[VSTOP] = 0x13;
        cc[VSUSP] = 0x1a;
        cc[VREPRINT] = 0x12;
        cc[VDISCARD] = 0x0f;
        cc[VWERASE] = 0x17;
        cc[VLNEXT] = 0x16;
        Termios {
            iflag: ICRNL | IXON | IUTF8,
            oflag: OPOST | ONLCR,
            cflag: CFLAG_DEFAULT,
            lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
            line: 0,
            cc,
        }
    }
}

impl Termios {
    pub fn to_bytes(self) -> [u8; TERMIOS_SIZE] {
        let mut b = [0u8; TERMIOS_SIZE];
        b[0..4].copy_from_slice(&self.iflag.to_le_bytes());
        b[4..8].copy_from_slice(&self.oflag.to_le_bytes());
        b[8..12].copy_from_slice(&self.cflag.to_le_bytes());
        b[12..16].copy_from_slice(&self.lflag.to_le_bytes());
        b[16] = self.line;
        b[17..].copy_from_slice(&self.cc);
        b
    }

    pub fn from_bytes(b: &[u8; TERMIOS_SIZE]) -> Termios {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut cc = [0u8; NCCS];
        cc.copy_from_slice(&b[17..]);
        Termios {
            iflag: w(0),
            oflag: w(4),
            cflag: w(8),
            lflag: w(12),
            line: b[16],
            cc,
        }
    }
}

/// The terminal.
#[derive(Debug)]
pub struct Tty {
    pub termios: Termios,
    /// (rows, columns)
    pub winsize: (u16, u16),
    pub fg_pgrp: Pid,
    pub session: Pid,
    /// Canonical mode: complete lines (an EOF is a line without newline).
    lines: VecDeque<Vec<u8>>,
    /// The line being edited (canonical mode).
    edit: Vec<u8>,
    /// Non-canonical mode: bytes ready to read.
    raw: VecDeque<u8>,
    /// The next byte is taken literally (VLNEXT).
    literal: bool,
}

/// What feeding input produced: bytes to echo to the host, signals for
/// the foreground process group.
#[derive(Debug, Default)]
pub struct Fed {
    pub echo: Vec<u8>,
    pub signals: Vec<i32>,
}

impl Tty {
    pub fn new(session: Pid, winsize: (u16, u16)) -> Tty {
        Tty {
            termios: Termios::default(),
            winsize,
            fg_pgrp: session,
            session,
            lines: VecDeque::new(),
            edit: Vec::new(),
            raw: VecDeque::new(),
            literal: false,
        }
    }

    fn canonical(&self) -> bool {
        self.termios.lflag & ICANON != 0
    }

    /// Whether a read would return something now.
    pub fn readable(&self) -> bool {
        if self.canonical() {
            !self.lines.is_empty()
        } else {
            !self.raw.is_empty() || self.termios.cc[VMIN] == 0
        }
    }

    /// Bytes waiting to be read (FIONREAD).
    pub fn pending(&self) -> usize {
        if self.canonical() {
            self.lines.iter().map(Vec::len).sum()
        } else {
            self.raw.len()
        }
    }

    /// Takes up to `len` bytes for a read (call only when readable).
    pub fn read(&mut self, len: usize) -> Vec<u8> {
        if self.canonical() {
            let Some(mut line) = self.lines.pop_front() else {
                return Vec::new();
            };
            if line.len() > len {
                let rest = line.split_off(len);
                self.lines.push_front(rest);
            }
            line
        } else {
            let n = len.min(self.raw.len());
            self.raw.drain(..n).collect()
        }
    }

    /// Applies new settings; switching modes keeps what was typed.
    pub fn set_termios(&mut self, t: Termios) {
        let was = self.canonical();
        self.termios = t;
        let now = self.canonical();
        if was && !now {
            for l in self.lines.drain(..) {
                self.raw.extend(l);
            }
            self.raw.extend(self.edit.drain(..));
        } else if !was && now && !self.raw.is_empty() {
            self.edit.extend(self.raw.drain(..));
        }
    }

    /// Drops pending input (TCFLSH, or a signal character without NOFLSH).
    pub fn flush_input(&mut self) {
        self.lines.clear();
        self.edit.clear();
        self.raw.clear();
    }

    fn echo_char(&self, c: u8, out: &mut Vec<u8>) {
        let l = self.termios.lflag;
        if l & ECHO == 0 {
            if c == b'\n' && l & ECHONL != 0 && self.canonical() {
                out.push(b'\n');
            }
            return;
        }
        if l & ECHOCTL != 0 && (c < 0x20 && c != b'\n' && c != b'\t' || c == 0x7f) {
            out.push(b'^');
            out.push(c ^ 0x40);
        } else {
            out.push(c);
        }
    }

    /// Processes bytes typed on the host's terminal.
    pub fn feed(&mut self, input: &[u8]) -> Fed {
        let mut fed = Fed::default();
        for &byte in input {
            let t = self.termios;
            let mut c = byte;
            if t.iflag & ISTRIP != 0 {
                c &= 0x7f;
            }
            if self.literal {
                self.literal = false;
                self.put(c, &mut fed);
                continue;
            }
            if c == b'\r' {
                if t.iflag & IGNCR != 0 {
                    continue;
                }
                if t.iflag & ICRNL != 0 {
                    c = b'\n';
                }
            } else if c == b'\n' && t.iflag & INLCR != 0 {
                c = b'\r';
            }
            if t.lflag & ISIG != 0 {
                let signal = if c == t.cc[VINTR] && c != 0 {
                    Some(sig::SIGINT)
                } else if c == t.cc[VQUIT] && c != 0 {
                    Some(sig::SIGQUIT)
                } else if c == t.cc[VSUSP] && c != 0 {
                    Some(sig::SIGTSTP)
                } else {
                    None
                };
                if let Some(s) = signal {
                    if t.lflag & NOFLSH == 0 {
                        self.flush_input();
                    }
                    self.echo_char(c, &mut fed.echo);
                    fed.signals.push(s);
                    continue;
                }
            }
            if t.lflag & IEXTEN != 0 && c == t.cc[VLNEXT] && c != 0 {
                self.literal = true;
                continue;
            }
            if self.canonical() {
                if c == t.cc[VERASE] && c != 0 {
                    if let Some(last) = self.edit.pop() {
                        if t.lflag & ECHO != 0 && t.lflag & ECHOE != 0 {
                            let width = if last < 0x20 && t.lflag & ECHOCTL != 0 {
                                2
                            } else {
                                1
                            };
                            for _ in 0..width {
                                fed.echo.extend_from_slice(b"\x08 \x08");
                            }
                        }
                    }
                    continue;
                }
                if c == t.cc[VWERASE] && c != 0 && t.lflag & IEXTEN != 0 {
                    while self.edit.last() == Some(&b' ') {
                        self.edit.pop();
                        fed.echo.extend_from_slice(b"\x08 \x08");
                    }
                    while self.edit.last().is_some_and(|&b| b != b' ') {
                        self.edit.pop();
                        fed.echo.extend_from_slice(b"\x08 \x08");
                    }
                    continue;
                }
                if c == t.cc[VKILL] && c != 0 {
                    if t.lflag & ECHO != 0 && t.lflag & ECHOK != 0 {
                        for _ in 0..self.edit.len() {
                            fed.echo.extend_from_slice(b"\x08 \x08");
                        }
                    }
                    self.edit.clear();
                    continue;
                }
                if c == t.cc[VEOF] && c != 0 {
                    self.lines.push_back(std::mem::take(&mut self.edit));
                    continue;
                }
                if c == b'\n' || (c == t.cc[VEOL] && c != 0) {
                    self.echo_char(c, &mut fed.echo);
                    self.edit.push(c);
                    self.lines.push_back(std::mem::take(&mut self.edit));
                    continue;
                }
            }
            self.put(c, &mut fed);
        }
        fed.echo = self.output(&fed.echo);
        fed
    }

    fn put(&mut self, c: u8, fed: &mut Fed) {
        self.echo_char(c, &mut fed.echo);
        if self.canonical() {
            if self.edit.len() < MAX_LINE {
                self.edit.push(c);
            }
        } else {
            self.raw.push_back(c);
        }
    }

    /// Output processing of what the guest writes (OPOST, ONLCR).
    pub fn output(&self, data: &[u8]) -> Vec<u8> {
        let o = self.termios.oflag;
        if o & OPOST == 0 || o & ONLCR == 0 || !data.contains(&b'\n') {
            return data.to_vec();
        }
        let mut out = Vec::with_capacity(data.len() + 16);
        for &b in data {
            if b == b'\n' {
                out.push(b'\r');
            }
            out.push(b);
        }
        out
    }
}

/// Most bytes a pseudo-terminal holds for its master (and of typed input)
/// before writers wait.
pub const PTY_BUF: usize = 64 * 1024;

/// A terminal: the container's console (`friscy run -t`, fed by the
/// host's terminal) or a pseudo-terminal pair made by opening /dev/ptmx.
#[derive(Debug)]
pub struct Term {
    pub tty: Tty,
    /// N of /dev/pts/N.
    pub index: u32,
    /// The console: input comes from the host, output goes to it.
    pub console: bool,
    /// Pseudo-terminals: what the slave side wrote (and echo), for the
    /// master to read.
    pub to_master: ByteQueue,
    /// Open descriptions of each side.
    pub masters: usize,
    pub slaves: usize,
    /// The slave side was opened once (its last close hangs up the master).
    pub slave_opened: bool,
    /// TIOCSPTLCK: the slave cannot be opened (unlockpt clears it).
    pub locked: bool,
}

pub type TermRef = Rc<RefCell<Term>>;

impl Term {
    pub fn new(index: u32, console: bool, tty: Tty) -> TermRef {
        Rc::new(RefCell::new(Term {
            tty,
            index,
            console,
            to_master: ByteQueue::default(),
            masters: 0,
            slaves: 0,
            slave_opened: false,
            locked: !console,
        }))
    }

    /// The master side is gone (reads and writes of the slave fail).
    pub fn master_gone(&self) -> bool {
        !self.console && self.masters == 0
    }

    /// The slave side was opened and is closed again.
    pub fn slave_gone(&self) -> bool {
        self.slave_opened && self.slaves == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_lines_erase_and_echo() {
        let mut t = Tty::new(1, (24, 80));
        let fed = t.feed(b"ecx\x7fho hi\r");
        assert_eq!(fed.echo, b"ecx\x08 \x08ho hi\r\n");
        assert!(t.readable());
        assert_eq!(t.read(100), b"echo hi\n");
        assert!(!t.readable());
    }

    #[test]
    fn ctrl_c_signals_and_flushes() {
        let mut t = Tty::new(1, (24, 80));
        let fed = t.feed(b"partial\x03");
        assert_eq!(fed.signals, vec![sig::SIGINT]);
        assert!(fed.echo.ends_with(b"^C"));
        assert!(!t.readable());
        t.feed(b"\x04");
        assert!(t.readable());
        assert_eq!(t.read(10), b"", "an empty EOF line reads as end of file");
    }

    #[test]
    fn raw_mode_passes_bytes() {
        let mut t = Tty::new(1, (24, 80));
        let mut raw = t.termios;
        raw.lflag &= !(ICANON | ECHO | ISIG);
        t.set_termios(raw);
        let fed = t.feed(b"a\x03");
        assert!(fed.signals.is_empty());
        assert!(fed.echo.is_empty());
        assert_eq!(t.read(10), b"a\x03");
        let bytes = raw.to_bytes();
        assert_eq!(Termios::from_bytes(&bytes), raw);
    }

    #[test]
    fn output_maps_newlines() {
        let t = Tty::new(1, (24, 80));
        assert_eq!(t.output(b"a\nb"), b"a\r\nb");
    }
}
