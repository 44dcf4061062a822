//! Linux riscv64 ABI values (asm-generic numbering), kept apart from the
//! host's own values.

/// System call numbers (riscv64 uses the asm-generic table), each with the
/// name the trace and the "not implemented" message print.
pub mod nr {
    macro_rules! syscalls {
        ($(($c:ident, $n:literal, $s:literal)),* $(,)?) => {
            $(pub const $c: u64 = $n;)*
            /// The name of system call `n`.
            pub fn name(n: u64) -> &'static str {
                match n {
                    $($n => $s,)*
                    _ => "unknown",
                }
            }
        };
    }
    syscalls! {
        (IO_SETUP, 0, "io_setup"),
        (IO_DESTROY, 1, "io_destroy"),
        (IO_SUBMIT, 2, "io_submit"),
        (IO_CANCEL, 3, "io_cancel"),
        (IO_GETEVENTS, 4, "io_getevents"),
        (SETXATTR, 5, "setxattr"),
        (LSETXATTR, 6, "lsetxattr"),
        (FSETXATTR, 7, "fsetxattr"),
        (GETXATTR, 8, "getxattr"),
        (LGETXATTR, 9, "lgetxattr"),
        (FGETXATTR, 10, "fgetxattr"),
        (LISTXATTR, 11, "listxattr"),
        (LLISTXATTR, 12, "llistxattr"),
        (FLISTXATTR, 13, "flistxattr"),
        (REMOVEXATTR, 14, "removexattr"),
        (LREMOVEXATTR, 15, "lremovexattr"),
        (FREMOVEXATTR, 16, "fremovexattr"),
        (GETCWD, 17, "getcwd"),
        (LOOKUP_DCOOKIE, 18, "lookup_dcookie"),
        (EVENTFD2, 19, "eventfd2"),
        (EPOLL_CREATE1, 20, "epoll_create1"),
        (EPOLL_CTL, 21, "epoll_ctl"),
        (EPOLL_PWAIT, 22, "epoll_pwait"),
        (DUP, 23, "dup"),
        (DUP3, 24, "dup3"),
        (FCNTL, 25, "fcntl"),
        (INOTIFY_INIT1, 26, "inotify_init1"),
        (INOTIFY_ADD_WATCH, 27, "inotify_add_watch"),
        (INOTIFY_RM_WATCH, 28, "inotify_rm_watch"),
        (IOCTL, 29, "ioctl"),
        (IOPRIO_SET, 30, "ioprio_set"),
        (IOPRIO_GET, 31, "ioprio_get"),
        (FLOCK, 32, "flock"),
        (MKNODAT, 33, "mknodat"),
        (MKDIRAT, 34, "mkdirat"),
        (UNLINKAT, 35, "unlinkat"),
        (SYMLINKAT, 36, "symlinkat"),
        (LINKAT, 37, "linkat"),
        (RENAMEAT, 38, "renameat"),
        (UMOUNT2, 39, "umount2"),
        (MOUNT, 40, "mount"),
        (PIVOT_ROOT, 41, "pivot_root"),
        (NFSSERVCTL, 42, "nfsservctl"),
        (STATFS, 43, "statfs"),
        (FSTATFS, 44, "fstatfs"),
        (TRUNCATE, 45, "truncate"),
        (FTRUNCATE, 46, "ftruncate"),
        (FALLOCATE, 47, "fallocate"),
        (FACCESSAT, 48, "faccessat"),
        (CHDIR, 49, "chdir"),
        (FCHDIR, 50, "fchdir"),
        (CHROOT, 51, "chroot"),
        (FCHMOD, 52, "fchmod"),
        (FCHMODAT, 53, "fchmodat"),
        (FCHOWNAT, 54, "fchownat"),
        (FCHOWN, 55, "fchown"),
        (OPENAT, 56, "openat"),
        (CLOSE, 57, "close"),
        (VHANGUP, 58, "vhangup"),
        (PIPE2, 59, "pipe2"),
        (QUOTACTL, 60, "quotactl"),
        (GETDENTS64, 61, "getdents64"),
        (LSEEK, 62, "lseek"),
        (READ, 63, "read"),
        (WRITE, 64, "write"),
        (READV, 65, "readv"),
        (WRITEV, 66, "writev"),
        (PREAD64, 67, "pread64"),
        (PWRITE64, 68, "pwrite64"),
        (PREADV, 69, "preadv"),
        (PWRITEV, 70, "pwritev"),
        (SENDFILE, 71, "sendfile"),
        (PSELECT6, 72, "pselect6"),
        (PPOLL, 73, "ppoll"),
        (SIGNALFD4, 74, "signalfd4"),
        (VMSPLICE, 75, "vmsplice"),
        (SPLICE, 76, "splice"),
        (TEE, 77, "tee"),
        (READLINKAT, 78, "readlinkat"),
        (NEWFSTATAT, 79, "newfstatat"),
        (FSTAT, 80, "fstat"),
        (SYNC, 81, "sync"),
        (FSYNC, 82, "fsync"),
        (FDATASYNC, 83, "fdatasync"),
        (SYNC_FILE_RANGE, 84, "sync_file_range"),
        (TIMERFD_CREATE, 85, "timerfd_create"),
        (TIMERFD_SETTIME, 86, "timerfd_settime"),
        (TIMERFD_GETTIME, 87, "timerfd_gettime"),
        (UTIMENSAT, 88, "utimensat"),
        (ACCT, 89, "acct"),
        (CAPGET, 90, "capget"),
        (CAPSET, 91, "capset"),
        (PERSONALITY, 92, "personality"),
        (EXIT, 93, "exit"),
        (EXIT_GROUP, 94, "exit_group"),
        (WAITID, 95, "waitid"),
        (SET_TID_ADDRESS, 96, "set_tid_address"),
        (UNSHARE, 97, "unshare"),
        (FUTEX, 98, "futex"),
        (SET_ROBUST_LIST, 99, "set_robust_list"),
        (GET_ROBUST_LIST, 100, "get_robust_list"),
        (NANOSLEEP, 101, "nanosleep"),
        (GETITIMER, 102, "getitimer"),
        (SETITIMER, 103, "setitimer"),
        (KEXEC_LOAD, 104, "kexec_load"),
        (INIT_MODULE, 105, "init_module"),
        (DELETE_MODULE, 106, "delete_module"),
        (TIMER_CREATE, 107, "timer_create"),
        (TIMER_GETTIME, 108, "timer_gettime"),
        (TIMER_GETOVERRUN, 109, "timer_getoverrun"),
        (TIMER_SETTIME, 110, "timer_settime"),
        (TIMER_DELETE, 111, "timer_delete"),
        (CLOCK_SETTIME, 112, "clock_settime"),
        (CLOCK_GETTIME, 113, "clock_gettime"),
        (CLOCK_GETRES, 114, "clock_getres"),
        (CLOCK_NANOSLEEP, 115, "clock_nanosleep"),
        (SYSLOG, 116, "syslog"),
        (PTRACE, 117, "ptrace"),
        (SCHED_SETPARAM, 118, "sched_setparam"),
        (SCHED_SETSCHEDULER, 119, "sched_setscheduler"),
        (SCHED_GETSCHEDULER, 120, "sched_getscheduler"),
        (SCHED_GETPARAM, 121, "sched_getparam"),
        (SCHED_SETAFFINITY, 122, "sched_setaffinity"),
        (SCHED_GETAFFINITY, 123, "sched_getaffinity"),
        (SCHED_YIELD, 124, "sched_yield"),
        (SCHED_GET_PRIORITY_MAX, 125, "sched_get_priority_max"),
        (SCHED_GET_PRIORITY_MIN, 126, "sched_get_priority_min"),
        (SCHED_RR_GET_INTERVAL, 127, "sched_rr_get_interval"),
        (RESTART_SYSCALL, 128, "restart_syscall"),
        (KILL, 129, "kill"),
        (TKILL, 130, "tkill"),
        (TGKILL, 131, "tgkill"),
        (SIGALTSTACK, 132, "sigaltstack"),
        (RT_SIGSUSPEND, 133, "rt_sigsuspend"),
        (RT_SIGACTION, 134, "rt_sigaction"),
        (RT_SIGPROCMASK, 135, "rt_sigprocmask"),
        (RT_SIGPENDING, 136, "rt_sigpending"),
        (RT_SIGTIMEDWAIT, 137, "rt_sigtimedwait"),
        (RT_SIGQUEUEINFO, 138, "rt_sigqueueinfo"),
        (RT_SIGRETURN, 139, "rt_sigreturn"),
        (SETPRIORITY, 140, "setpriority"),
        (GETPRIORITY, 141, "getpriority"),
        (REBOOT, 142, "reboot"),
        (SETREGID, 143, "setregid"),
        (SETGID, 144, "setgid"),
        (SETREUID, 145, "setreuid"),
        (SETUID, 146, "setuid"),
        (SETRESUID, 147, "setresuid"),
        (GETRESUID, 148, "getresuid"),
        (SETRESGID, 149, "setresgid"),
        (GETRESGID, 150, "getresgid"),
        (SETFSUID, 151, "setfsuid"),
        (SETFSGID, 152, "setfsgid"),
        (TIMES, 153, "times"),
        (SETPGID, 154, "setpgid"),
        (GETPGID, 155, "getpgid"),
        (GETSID, 156, "getsid"),
        (SETSID, 157, "setsid"),
        (GETGROUPS, 158, "getgroups"),
        (SETGROUPS, 159, "setgroups"),
        (UNAME, 160, "uname"),
        (SETHOSTNAME, 161, "sethostname"),
        (SETDOMAINNAME, 162, "setdomainname"),
        (GETRLIMIT, 163, "getrlimit"),
        (SETRLIMIT, 164, "setrlimit"),
        (GETRUSAGE, 165, "getrusage"),
        (UMASK, 166, "umask"),
        (PRCTL, 167, "prctl"),
        (GETCPU, 168, "getcpu"),
        (GETTIMEOFDAY, 169, "gettimeofday"),
        (SETTIMEOFDAY, 170, "settimeofday"),
        (ADJTIMEX, 171, "adjtimex"),
        (GETPID, 172, "getpid"),
        (GETPPID, 173, "getppid"),
        (GETUID, 174, "getuid"),
        (GETEUID, 175, "geteuid"),
        (GETGID, 176, "getgid"),
        (GETEGID, 177, "getegid"),
        (GETTID, 178, "gettid"),
        (SYSINFO, 179, "sysinfo"),
        (MQ_OPEN, 180, "mq_open"),
        (MQ_UNLINK, 181, "mq_unlink"),
        (MQ_TIMEDSEND, 182, "mq_timedsend"),
        (MQ_TIMEDRECEIVE, 183, "mq_timedreceive"),
        (MQ_NOTIFY, 184, "mq_notify"),
        (MQ_GETSETATTR, 185, "mq_getsetattr"),
        (MSGGET, 186, "msgget"),
        (MSGCTL, 187, "msgctl"),
        (MSGRCV, 188, "msgrcv"),
        (MSGSND, 189, "msgsnd"),
        (SEMGET, 190, "semget"),
        (SEMCTL, 191, "semctl"),
        (SEMTIMEDOP, 192, "semtimedop"),
        (SEMOP, 193, "semop"),
        (SHMGET, 194, "shmget"),
        (SHMCTL, 195, "shmctl"),
        (SHMAT, 196, "shmat"),
        (SHMDT, 197, "shmdt"),
        (SOCKET, 198, "socket"),
        (SOCKETPAIR, 199, "socketpair"),
        (BIND, 200, "bind"),
        (LISTEN, 201, "listen"),
        (ACCEPT, 202, "accept"),
        (CONNECT, 203, "connect"),
        (GETSOCKNAME, 204, "getsockname"),
        (GETPEERNAME, 205, "getpeername"),
        (SENDTO, 206, "sendto"),
        (RECVFROM, 207, "recvfrom"),
        (SETSOCKOPT, 208, "setsockopt"),
        (GETSOCKOPT, 209, "getsockopt"),
        (SHUTDOWN, 210, "shutdown"),
        (SENDMSG, 211, "sendmsg"),
        (RECVMSG, 212, "recvmsg"),
        (READAHEAD, 213, "readahead"),
        (BRK, 214, "brk"),
        (MUNMAP, 215, "munmap"),
        (MREMAP, 216, "mremap"),
        (ADD_KEY, 217, "add_key"),
        (REQUEST_KEY, 218, "request_key"),
        (KEYCTL, 219, "keyctl"),
        (CLONE, 220, "clone"),
        (EXECVE, 221, "execve"),
        (MMAP, 222, "mmap"),
        (FADVISE64, 223, "fadvise64"),
        (SWAPON, 224, "swapon"),
        (SWAPOFF, 225, "swapoff"),
        (MPROTECT, 226, "mprotect"),
        (MSYNC, 227, "msync"),
        (MLOCK, 228, "mlock"),
        (MUNLOCK, 229, "munlock"),
        (MLOCKALL, 230, "mlockall"),
        (MUNLOCKALL, 231, "munlockall"),
        (MINCORE, 232, "mincore"),
        (MADVISE, 233, "madvise"),
        (REMAP_FILE_PAGES, 234, "remap_file_pages"),
        (MBIND, 235, "mbind"),
        (GET_MEMPOLICY, 236, "get_mempolicy"),
        (SET_MEMPOLICY, 237, "set_mempolicy"),
        (MIGRATE_PAGES, 238, "migrate_pages"),
        (MOVE_PAGES, 239, "move_pages"),
        (RT_TGSIGQUEUEINFO, 240, "rt_tgsigqueueinfo"),
        (PERF_EVENT_OPEN, 241, "perf_event_open"),
        (ACCEPT4, 242, "accept4"),
        (RECVMMSG, 243, "recvmmsg"),
        (RISCV_HWPROBE, 258, "riscv_hwprobe"),
        (RISCV_FLUSH_ICACHE, 259, "riscv_flush_icache"),
        (WAIT4, 260, "wait4"),
        (PRLIMIT64, 261, "prlimit64"),
        (FANOTIFY_INIT, 262, "fanotify_init"),
        (FANOTIFY_MARK, 263, "fanotify_mark"),
        (NAME_TO_HANDLE_AT, 264, "name_to_handle_at"),
        (OPEN_BY_HANDLE_AT, 265, "open_by_handle_at"),
        (CLOCK_ADJTIME, 266, "clock_adjtime"),
        (SYNCFS, 267, "syncfs"),
        (SETNS, 268, "setns"),
        (SENDMMSG, 269, "sendmmsg"),
        (PROCESS_VM_READV, 270, "process_vm_readv"),
        (PROCESS_VM_WRITEV, 271, "process_vm_writev"),
        (KCMP, 272, "kcmp"),
        (FINIT_MODULE, 273, "finit_module"),
        (SCHED_SETATTR, 274, "sched_setattr"),
        (SCHED_GETATTR, 275, "sched_getattr"),
        (RENAMEAT2, 276, "renameat2"),
        (SECCOMP, 277, "seccomp"),
        (GETRANDOM, 278, "getrandom"),
        (MEMFD_CREATE, 279, "memfd_create"),
        (BPF, 280, "bpf"),
        (EXECVEAT, 281, "execveat"),
        (USERFAULTFD, 282, "userfaultfd"),
        (MEMBARRIER, 283, "membarrier"),
        (MLOCK2, 284, "mlock2"),
        (COPY_FILE_RANGE, 285, "copy_file_range"),
        (PREADV2, 286, "preadv2"),
        (PWRITEV2, 287, "pwritev2"),
        (PKEY_MPROTECT, 288, "pkey_mprotect"),
        (PKEY_ALLOC, 289, "pkey_alloc"),
        (PKEY_FREE, 290, "pkey_free"),
        (STATX, 291, "statx"),
        (IO_PGETEVENTS, 292, "io_pgetevents"),
        (RSEQ, 293, "rseq"),
        (KEXEC_FILE_LOAD, 294, "kexec_file_load"),
        (PIDFD_SEND_SIGNAL, 424, "pidfd_send_signal"),
        (IO_URING_SETUP, 425, "io_uring_setup"),
        (IO_URING_ENTER, 426, "io_uring_enter"),
        (IO_URING_REGISTER, 427, "io_uring_register"),
        (OPEN_TREE, 428, "open_tree"),
        (MOVE_MOUNT, 429, "move_mount"),
        (FSOPEN, 430, "fsopen"),
        (FSCONFIG, 431, "fsconfig"),
        (FSMOUNT, 432, "fsmount"),
        (FSPICK, 433, "fspick"),
        (PIDFD_OPEN, 434, "pidfd_open"),
        (CLONE3, 435, "clone3"),
        (CLOSE_RANGE, 436, "close_range"),
        (OPENAT2, 437, "openat2"),
        (PIDFD_GETFD, 438, "pidfd_getfd"),
        (FACCESSAT2, 439, "faccessat2"),
        (PROCESS_MADVISE, 440, "process_madvise"),
        (EPOLL_PWAIT2, 441, "epoll_pwait2"),
        (MOUNT_SETATTR, 442, "mount_setattr"),
        (QUOTACTL_FD, 443, "quotactl_fd"),
        (LANDLOCK_CREATE_RULESET, 444, "landlock_create_ruleset"),
        (LANDLOCK_ADD_RULE, 445, "landlock_add_rule"),
        (LANDLOCK_RESTRICT_SELF, 446, "landlock_restrict_self"),
        (MEMFD_SECRET, 447, "memfd_secret"),
        (PROCESS_MRELEASE, 448, "process_mrelease"),
        (FUTEX_WAITV, 449, "futex_waitv"),
        (SET_MEMPOLICY_HOME_NODE, 450, "set_mempolicy_home_node"),
        (CACHESTAT, 451, "cachestat"),
        (FCHMODAT2, 452, "fchmodat2"),
    }
}

/// errno values.
pub mod errno {
    pub const EPERM: i64 = 1;
    pub const ENOENT: i64 = 2;
    pub const ESRCH: i64 = 3;
    pub const EINTR: i64 = 4;
    pub const EIO: i64 = 5;
    pub const ENXIO: i64 = 6;
    pub const E2BIG: i64 = 7;
    pub const ENOEXEC: i64 = 8;
    pub const EBADF: i64 = 9;
    pub const ECHILD: i64 = 10;
    pub const EAGAIN: i64 = 11;
    pub const ENOMEM: i64 = 12;
    pub const EACCES: i64 = 13;
    pub const EFAULT: i64 = 14;
    pub const ENOTBLK: i64 = 15;
    pub const EBUSY: i64 = 16;
    pub const EEXIST: i64 = 17;
    pub const EXDEV: i64 = 18;
    pub const ENODEV: i64 = 19;
    pub const ENOTDIR: i64 = 20;
    pub const EISDIR: i64 = 21;
    pub const EINVAL: i64 = 22;
    pub const ENFILE: i64 = 23;
    pub const EMFILE: i64 = 24;
    pub const ENOTTY: i64 = 25;
    pub const ETXTBSY: i64 = 26;
    pub const EFBIG: i64 = 27;
    pub const ENOSPC: i64 = 28;
    pub const ESPIPE: i64 = 29;
    pub const EROFS: i64 = 30;
    pub const EMLINK: i64 = 31;
    pub const EPIPE: i64 = 32;
    pub const EDOM: i64 = 33;
    pub const ERANGE: i64 = 34;
    pub const EDEADLK: i64 = 35;
    pub const ENAMETOOLONG: i64 = 36;
    pub const ENOLCK: i64 = 37;
    pub const ENOSYS: i64 = 38;
    pub const ENOTEMPTY: i64 = 39;
    pub const ELOOP: i64 = 40;
    pub const ENOMSG: i64 = 42;
    pub const ENODATA: i64 = 61;
    pub const ETIME: i64 = 62;
    pub const EOVERFLOW: i64 = 75;
    pub const EOPNOTSUPP: i64 = 95;
    pub const EAFNOSUPPORT: i64 = 97;
    pub const EADDRINUSE: i64 = 98;
    pub const ECONNREFUSED: i64 = 111;
    pub const ETIMEDOUT: i64 = 110;
    pub const ENOTSOCK: i64 = 88;
    pub const EPROTOTYPE: i64 = 91;
    pub const ENOTCONN: i64 = 107;
    pub const ECONNRESET: i64 = 104;
    pub const EPROTONOSUPPORT: i64 = 93;
    pub const EISCONN: i64 = 106;
    pub const ENOPROTOOPT: i64 = 92;
    pub const EMSGSIZE: i64 = 90;
    pub const EWOULDBLOCK: i64 = EAGAIN;
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
    pub const MAP_NORESERVE: u64 = 0x4000;
    pub const MAP_TYPE: u64 = 0x0f;
    pub const MAP_SHARED_VALIDATE: u64 = 0x03;
    pub const MREMAP_MAYMOVE: u64 = 1;
    pub const MREMAP_FIXED: u64 = 2;
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
    pub const AT_PLATFORM: u64 = 15;
    pub const AT_HWCAP: u64 = 16;
    pub const AT_CLKTCK: u64 = 17;
    pub const AT_SECURE: u64 = 23;
    pub const AT_BASE_PLATFORM: u64 = 24;
    pub const AT_RANDOM: u64 = 25;
    pub const AT_HWCAP2: u64 = 26;
    pub const AT_EXECFN: u64 = 31;
}

/// prctl options.
pub const PR_SET_NAME: u64 = 15;
pub const PR_GET_NAME: u64 = 16;
pub const PR_CAPBSET_READ: u64 = 23;
/// The highest capability number (Linux 6.1: CAP_CHECKPOINT_RESTORE).
pub const CAP_LAST_CAP: u64 = 40;
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

/// Symbolic link and lookup flags of the *at calls.
pub const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
pub const AT_REMOVEDIR: u64 = 0x200;
pub const AT_EACCESS: u64 = 0x200;
pub const AT_SYMLINK_FOLLOW: u64 = 0x400;
pub const AT_NO_AUTOMOUNT: u64 = 0x800;
pub const S_IFMT: u32 = 0o170000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFBLK: u32 = 0o060000;

/// openat flags (asm-generic values).
pub mod open {
    pub const O_ACCMODE: u64 = 3;
    pub const O_RDONLY: u64 = 0;
    pub const O_WRONLY: u64 = 1;
    pub const O_RDWR: u64 = 2;
    pub const O_CREAT: u64 = 0o100;
    pub const O_EXCL: u64 = 0o200;
    pub const O_NOCTTY: u64 = 0o400;
    pub const O_TRUNC: u64 = 0o1000;
    pub const O_APPEND: u64 = 0o2000;
    pub const O_NONBLOCK: u64 = 0o4000;
    pub const O_DIRECT: u64 = 0o40000;
    pub const O_DIRECTORY: u64 = 0o200000;
    pub const O_NOFOLLOW: u64 = 0o400000;
    pub const O_CLOEXEC: u64 = 0o2000000;
    pub const O_PATH: u64 = 0o10000000;
    pub const O_TMPFILE: u64 = 0o20000000;
    /// Flags F_SETFL may change.
    pub const SETFL_MASK: u64 = O_APPEND | O_NONBLOCK;
}

/// fcntl commands.
pub mod fcntl {
    pub const F_DUPFD: u64 = 0;
    pub const F_GETFD: u64 = 1;
    pub const F_SETFD: u64 = 2;
    pub const F_GETFL: u64 = 3;
    pub const F_SETFL: u64 = 4;
    pub const F_GETLK: u64 = 5;
    pub const F_SETLK: u64 = 6;
    pub const F_SETLKW: u64 = 7;
    pub const F_DUPFD_CLOEXEC: u64 = 1030;
    pub const F_GETPIPE_SZ: u64 = 1032;
    pub const FD_CLOEXEC: u64 = 1;
    pub const F_UNLCK: u16 = 2;
}

/// Signals, sigaction flags and sigprocmask operations.
pub mod sig {
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGQUIT: i32 = 3;
    pub const SIGILL: i32 = 4;
    pub const SIGTRAP: i32 = 5;
    pub const SIGABRT: i32 = 6;
    pub const SIGBUS: i32 = 7;
    pub const SIGFPE: i32 = 8;
    pub const SIGKILL: i32 = 9;
    pub const SIGUSR1: i32 = 10;
    pub const SIGSEGV: i32 = 11;
    pub const SIGUSR2: i32 = 12;
    pub const SIGPIPE: i32 = 13;
    pub const SIGALRM: i32 = 14;
    pub const SIGTERM: i32 = 15;
    pub const SIGSTKFLT: i32 = 16;
    pub const SIGCHLD: i32 = 17;
    pub const SIGCONT: i32 = 18;
    pub const SIGSTOP: i32 = 19;
    pub const SIGTSTP: i32 = 20;
    pub const SIGTTIN: i32 = 21;
    pub const SIGTTOU: i32 = 22;
    pub const SIGURG: i32 = 23;
    pub const SIGXCPU: i32 = 24;
    pub const SIGXFSZ: i32 = 25;
    pub const SIGVTALRM: i32 = 26;
    pub const SIGPROF: i32 = 27;
    pub const SIGWINCH: i32 = 28;
    pub const SIGIO: i32 = 29;
    pub const SIGPWR: i32 = 30;
    pub const SIGSYS: i32 = 31;
    /// Signals are 1..=NSIG.
    pub const NSIG: i32 = 64;
    pub const SIG_DFL: u64 = 0;
    pub const SIG_IGN: u64 = 1;
    pub const SA_NOCLDSTOP: u64 = 1;
    pub const SA_NOCLDWAIT: u64 = 2;
    pub const SA_SIGINFO: u64 = 4;
    pub const SA_RESTORER: u64 = 0x0400_0000;
    pub const SA_ONSTACK: u64 = 0x0800_0000;
    pub const SA_RESTART: u64 = 0x1000_0000;
    pub const SA_NODEFER: u64 = 0x4000_0000;
    pub const SA_RESETHAND: u64 = 0x8000_0000;
    pub const SIG_BLOCK: u64 = 0;
    pub const SIG_UNBLOCK: u64 = 1;
    pub const SIG_SETMASK: u64 = 2;
    pub const SS_ONSTACK: u32 = 1;
    pub const SS_DISABLE: u32 = 2;
    pub const MINSIGSTKSZ: u64 = 2048;
    /// siginfo si_code values.
    pub const SI_USER: i32 = 0;
    pub const SI_TKILL: i32 = -6;
    pub const SI_KERNEL: i32 = 0x80;
    pub const SEGV_MAPERR: i32 = 1;
    pub const SEGV_ACCERR: i32 = 2;
    pub const BUS_ADRALN: i32 = 1;
    pub const ILL_ILLOPC: i32 = 1;
    pub const TRAP_BRKPT: i32 = 1;
    pub const CLD_EXITED: i32 = 1;
    pub const CLD_KILLED: i32 = 2;
    pub const CLD_DUMPED: i32 = 3;
    pub const CLD_STOPPED: i32 = 5;
    pub const CLD_CONTINUED: i32 = 6;
}

/// clone flags.
pub mod clone {
    pub const CSIGNAL: u64 = 0xff;
    pub const CLONE_VM: u64 = 0x100;
    pub const CLONE_FS: u64 = 0x200;
    pub const CLONE_FILES: u64 = 0x400;
    pub const CLONE_SIGHAND: u64 = 0x800;
    pub const CLONE_PIDFD: u64 = 0x1000;
    pub const CLONE_VFORK: u64 = 0x4000;
    pub const CLONE_PARENT: u64 = 0x8000;
    pub const CLONE_THREAD: u64 = 0x10000;
    pub const CLONE_SYSVSEM: u64 = 0x40000;
    pub const CLONE_SETTLS: u64 = 0x80000;
    pub const CLONE_PARENT_SETTID: u64 = 0x100000;
    pub const CLONE_CHILD_CLEARTID: u64 = 0x200000;
    pub const CLONE_DETACHED: u64 = 0x400000;
    pub const CLONE_CHILD_SETTID: u64 = 0x0100_0000;
    /// Namespaces and other flags friscy does not offer.
    pub const UNSUPPORTED: u64 = 0x7e02_0000 | 0x2000 | 0x0080_0000 | 0x0200_0000 | 0x8000_0000;
}

/// wait4/waitid options.
pub mod wait {
    pub const WNOHANG: u64 = 1;
    pub const WUNTRACED: u64 = 2;
    pub const WEXITED: u64 = 4;
    pub const WCONTINUED: u64 = 8;
    pub const WNOWAIT: u64 = 0x0100_0000;
    pub const WALL: u64 = 0x4000_0000;
    pub const WCLONE: u64 = 0x8000_0000;
    pub const P_ALL: u64 = 0;
    pub const P_PID: u64 = 1;
    pub const P_PGID: u64 = 2;
}

/// futex operations.
pub mod futex {
    pub const FUTEX_WAIT: u64 = 0;
    pub const FUTEX_WAKE: u64 = 1;
    pub const FUTEX_REQUEUE: u64 = 3;
    pub const FUTEX_CMP_REQUEUE: u64 = 4;
    pub const FUTEX_WAKE_OP: u64 = 5;
    pub const FUTEX_WAIT_BITSET: u64 = 9;
    pub const FUTEX_WAKE_BITSET: u64 = 10;
    pub const FUTEX_PRIVATE_FLAG: u64 = 128;
    pub const FUTEX_CLOCK_REALTIME: u64 = 256;
    pub const FUTEX_CMD_MASK: u64 = !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    pub const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;
}

/// Terminal ioctls.
pub mod tty {
    pub const TCSETS: u64 = 0x5402;
    pub const TCSETSW: u64 = 0x5403;
    pub const TCSETSF: u64 = 0x5404;
    pub const TIOCSCTTY: u64 = 0x540e;
    pub const TIOCGPGRP: u64 = 0x540f;
    pub const TIOCSPGRP: u64 = 0x5410;
    pub const TIOCSWINSZ: u64 = 0x5414;
    pub const FIONREAD: u64 = 0x541b;
    pub const FIONBIO: u64 = 0x5421;
    pub const FIOCLEX: u64 = 0x5451;
    pub const FIONCLEX: u64 = 0x5450;
}

/// poll events.
pub mod poll {
    pub const POLLIN: u16 = 0x001;
    pub const POLLPRI: u16 = 0x002;
    pub const POLLOUT: u16 = 0x004;
    pub const POLLERR: u16 = 0x008;
    pub const POLLHUP: u16 = 0x010;
    pub const POLLNVAL: u16 = 0x020;
}

/// Other constants.
pub const RENAME_NOREPLACE: u64 = 1;
pub const RENAME_EXCHANGE: u64 = 2;
pub const UTIME_NOW: u64 = (1 << 30) - 1;
pub const UTIME_OMIT: u64 = (1 << 30) - 2;
pub const SEEK_SET: u64 = 0;
pub const SEEK_CUR: u64 = 1;
pub const SEEK_END: u64 = 2;
pub const SEEK_DATA: u64 = 3;
pub const SEEK_HOLE: u64 = 4;
pub const F_OK: u64 = 0;
pub const X_OK: u64 = 1;
pub const W_OK: u64 = 2;
pub const R_OK: u64 = 4;
/// Size of `struct statx`.
pub const STATX_SIZE: usize = 256;
pub const STATX_BASIC_STATS: u32 = 0x7ff;
/// Size of `struct linux_dirent64` without its name.
pub const DIRENT64_HEADER: usize = 19;
/// Capacity of a pipe's buffer.
pub const PIPE_BUF_SIZE: usize = 65536;
/// Writes of at most this many bytes to a pipe are atomic.
pub const PIPE_BUF: usize = 4096;
pub const PATH_MAX: usize = 4096;
/// Device numbers of the character devices friscy provides (makedev encoding).
pub mod dev {
    pub const fn makedev(major: u64, minor: u64) -> u64 {
        ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
    }
    pub const NULL: u64 = makedev(1, 3);
    pub const ZERO: u64 = makedev(1, 5);
    pub const FULL: u64 = makedev(1, 7);
    pub const RANDOM: u64 = makedev(1, 8);
    pub const URANDOM: u64 = makedev(1, 9);
    pub const TTY: u64 = makedev(5, 0);
    pub const CONSOLE: u64 = makedev(5, 1);
    pub const PTMX: u64 = makedev(5, 2);
    /// Major number of /dev/pts/N (Unix98 pty slaves).
    pub const PTS_MAJOR: u64 = 136;
    pub const fn major(rdev: u64) -> u64 {
        ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff)
    }
    pub const fn minor(rdev: u64) -> u64 {
        (rdev & 0xff) | ((rdev >> 12) & !0xff)
    }
}
