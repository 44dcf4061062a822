//! Linux riscv64 ABI values (asm-generic numbering), kept apart from the
//! host's own values.

/// System call numbers.
pub mod nr {
    pub const IOCTL: u64 = 29;
    pub const FACCESSAT: u64 = 48;
    pub const OPENAT: u64 = 56;
    pub const CLOSE: u64 = 57;
    pub const LSEEK: u64 = 62;
    pub const READ: u64 = 63;
    pub const WRITE: u64 = 64;
    pub const READV: u64 = 65;
    pub const WRITEV: u64 = 66;
    pub const READLINKAT: u64 = 78;
    pub const NEWFSTATAT: u64 = 79;
    pub const FSTAT: u64 = 80;
    pub const EXIT: u64 = 93;
    pub const EXIT_GROUP: u64 = 94;
    pub const SET_TID_ADDRESS: u64 = 96;
    pub const SET_ROBUST_LIST: u64 = 99;
    pub const NANOSLEEP: u64 = 101;
    pub const CLOCK_GETTIME: u64 = 113;
    pub const CLOCK_GETRES: u64 = 114;
    pub const CLOCK_NANOSLEEP: u64 = 115;
    pub const SCHED_YIELD: u64 = 124;
    pub const UNAME: u64 = 160;
    pub const GETRLIMIT: u64 = 163;
    pub const GETTIMEOFDAY: u64 = 169;
    pub const GETPID: u64 = 172;
    pub const GETPPID: u64 = 173;
    pub const GETUID: u64 = 174;
    pub const GETEUID: u64 = 175;
    pub const GETGID: u64 = 176;
    pub const GETEGID: u64 = 177;
    pub const GETTID: u64 = 178;
    pub const BRK: u64 = 214;
    pub const MUNMAP: u64 = 215;
    pub const MMAP: u64 = 222;
    pub const MPROTECT: u64 = 226;
    pub const MADVISE: u64 = 233;
    pub const PRLIMIT64: u64 = 261;
    pub const PRCTL: u64 = 167;
    pub const GETRANDOM: u64 = 278;
    pub const RSEQ: u64 = 293;
    pub const RISCV_HWPROBE: u64 = 258;
    pub const RISCV_FLUSH_ICACHE: u64 = 259;

    /// A name for the trace and for "not implemented" messages.
    pub fn name(n: u64) -> &'static str {
        match n {
            17 => "getcwd",
            19 => "eventfd2",
            20 => "epoll_create1",
            21 => "epoll_ctl",
            22 => "epoll_pwait",
            23 => "dup",
            24 => "dup3",
            25 => "fcntl",
            29 => "ioctl",
            32 => "flock",
            33 => "mknodat",
            34 => "mkdirat",
            35 => "unlinkat",
            36 => "symlinkat",
            37 => "linkat",
            38 => "renameat",
            43 => "statfs",
            44 => "fstatfs",
            46 => "ftruncate",
            48 => "faccessat",
            49 => "chdir",
            50 => "fchdir",
            52 => "fchmod",
            53 => "fchmodat",
            54 => "fchownat",
            56 => "openat",
            57 => "close",
            59 => "pipe2",
            61 => "getdents64",
            62 => "lseek",
            63 => "read",
            64 => "write",
            65 => "readv",
            66 => "writev",
            67 => "pread64",
            68 => "pwrite64",
            71 => "sendfile",
            72 => "pselect6",
            73 => "ppoll",
            78 => "readlinkat",
            79 => "newfstatat",
            80 => "fstat",
            82 => "fsync",
            88 => "utimensat",
            93 => "exit",
            94 => "exit_group",
            95 => "waitid",
            96 => "set_tid_address",
            98 => "futex",
            99 => "set_robust_list",
            101 => "nanosleep",
            103 => "setitimer",
            113 => "clock_gettime",
            114 => "clock_getres",
            115 => "clock_nanosleep",
            124 => "sched_yield",
            129 => "kill",
            130 => "tkill",
            131 => "tgkill",
            132 => "sigaltstack",
            134 => "rt_sigaction",
            135 => "rt_sigprocmask",
            139 => "rt_sigreturn",
            153 => "times",
            154 => "setpgid",
            155 => "getpgid",
            157 => "setsid",
            160 => "uname",
            163 => "getrlimit",
            165 => "getrusage",
            166 => "umask",
            167 => "prctl",
            169 => "gettimeofday",
            172 => "getpid",
            173 => "getppid",
            174 => "getuid",
            175 => "geteuid",
            176 => "getgid",
            177 => "getegid",
            178 => "gettid",
            179 => "sysinfo",
            198 => "socket",
            199 => "socketpair",
            214 => "brk",
            215 => "munmap",
            216 => "mremap",
            220 => "clone",
            221 => "execve",
            222 => "mmap",
            226 => "mprotect",
            233 => "madvise",
            258 => "riscv_hwprobe",
            259 => "riscv_flush_icache",
            260 => "wait4",
            261 => "prlimit64",
            278 => "getrandom",
            291 => "statx",
            293 => "rseq",
            435 => "clone3",
            439 => "faccessat2",
            _ => "unknown",
        }
    }
}

/// errno values.
pub mod errno {
    pub const EPERM: i64 = 1;
    pub const ENOENT: i64 = 2;
    pub const EINTR: i64 = 4;
    pub const EIO: i64 = 5;
    pub const EBADF: i64 = 9;
    pub const EAGAIN: i64 = 11;
    pub const ENOMEM: i64 = 12;
    pub const EACCES: i64 = 13;
    pub const EFAULT: i64 = 14;
    pub const EEXIST: i64 = 17;
    pub const ENODEV: i64 = 19;
    pub const ENOTDIR: i64 = 20;
    pub const EISDIR: i64 = 21;
    pub const EINVAL: i64 = 22;
    pub const ENOTTY: i64 = 25;
    pub const ESPIPE: i64 = 29;
    pub const EPIPE: i64 = 32;
    pub const ERANGE: i64 = 34;
    pub const ENAMETOOLONG: i64 = 36;
    pub const ENOSYS: i64 = 38;
}

/// mmap/mprotect flags.
pub mod mm {
    pub const PROT_READ: u64 = 1;
    pub const PROT_WRITE: u64 = 2;
    pub const PROT_EXEC: u64 = 4;
    pub const MAP_SHARED: u64 = 0x01;
    pub const MAP_PRIVATE: u64 = 0x02;
    pub const MAP_FIXED: u64 = 0x10;
    pub const MAP_ANONYMOUS: u64 = 0x20;
    pub const MAP_FIXED_NOREPLACE: u64 = 0x100000;
}

/// Auxiliary vector entry types.
pub mod auxv {
    pub const AT_NULL: u64 = 0;
    pub const AT_PHDR: u64 = 3;
    pub const AT_PHENT: u64 = 4;
    pub const AT_PHNUM: u64 = 5;
    pub const AT_PAGESZ: u64 = 6;
    pub const AT_BASE: u64 = 7;
    pub const AT_FLAGS: u64 = 8;
    pub const AT_ENTRY: u64 = 9;
    pub const AT_UID: u64 = 11;
    pub const AT_EUID: u64 = 12;
    pub const AT_GID: u64 = 13;
    pub const AT_EGID: u64 = 14;
    pub const AT_HWCAP: u64 = 16;
    pub const AT_CLKTCK: u64 = 17;
    pub const AT_SECURE: u64 = 23;
    pub const AT_RANDOM: u64 = 25;
    pub const AT_HWCAP2: u64 = 26;
    pub const AT_EXECFN: u64 = 31;
}

/// prctl options.
pub const PR_SET_NAME: u64 = 15;
pub const PR_GET_NAME: u64 = 16;
/// Length of a task's comm name, NUL included.
pub const TASK_COMM_LEN: usize = 16;

/// riscv_hwprobe keys and values.
pub mod hwprobe {
    pub const KEY_MVENDORID: i64 = 0;
    pub const KEY_MARCHID: i64 = 1;
    pub const KEY_MIMPID: i64 = 2;
    pub const KEY_BASE_BEHAVIOR: i64 = 3;
    pub const BASE_BEHAVIOR_IMA: u64 = 1 << 0;
    pub const KEY_IMA_EXT_0: i64 = 4;
    pub const IMA_FD: u64 = 1 << 0;
    pub const IMA_C: u64 = 1 << 1;
    pub const EXT_ZBA: u64 = 1 << 3;
    pub const EXT_ZBB: u64 = 1 << 4;
    pub const EXT_ZBS: u64 = 1 << 5;
    pub const EXT_ZICOND: u64 = 1 << 35;
    pub const KEY_CPUPERF_0: i64 = 5;
    /// Misaligned accesses are handled (in software) at full speed.
    pub const MISALIGNED_FAST: u64 = 3;
}

/// Misc constants.
pub const AT_FDCWD: i64 = -100;
pub const AT_EMPTY_PATH: u64 = 0x1000;
pub const RLIMIT_STACK: u64 = 3;
pub const RLIMIT_NOFILE: u64 = 7;
pub const RLIM_INFINITY: u64 = u64::MAX;
pub const TCGETS: u64 = 0x5401;
pub const TIOCGWINSZ: u64 = 0x5413;
pub const CLOCK_REALTIME: u64 = 0;
pub const CLOCK_MONOTONIC: u64 = 1;

/// File type bits of st_mode.
pub const S_IFIFO: u32 = 0o010000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFSOCK: u32 = 0o140000;

/// Size of `struct stat` on riscv64.
pub const STAT_SIZE: usize = 128;
