/*
 * A system call fuzzer for friscy's Linux personality.
 *
 *   syscalls SEED COUNT [trace]
 *
 * Makes COUNT raw system calls (ecall), numbers and arguments drawn from a
 * deterministic PRNG seeded with SEED, and prints "fuzz done COUNT" at the
 * end. Arguments mix small ints, -1, huge values, descriptors 0..15 and
 * AT_FDCWD, pointers into buffers the fuzzer owns (random bytes, paths,
 * structures), NULL, wild and half-mapped pointers, and lengths from 0 to
 * huge. Whatever happens, the emulator must answer with an errno or a
 * signal: never crash.
 *
 * The fuzzer keeps itself alive and unblocked:
 *  - no exit, execve; rt_sigreturn (with a frame of random bytes) only in
 *    a forked child; clone children exit at once (in asm, with every signal
 *    blocked);
 *  - memory calls that could unmap or change its own memory only name a
 *    dedicated region (mapreg) or addresses that cannot be mapped;
 *  - every descriptor it creates is non-blocking (flags forced), reads and
 *    waits get zero or short timeouts, wait4/waitid WNOHANG, flock LOCK_NB,
 *    fcntl F_SETLKW -> F_SETLK, fd 0 is closed first;
 *  - handlers for every catchable signal; SIGKILL/SIGSTOP only to -1
 *    (everyone but itself); no SA_RESETHAND; SIG_DFL only where harmless;
 *  - sockets only reach 127.0.0.1/::1 on a few ports of its own, or unix
 *    sockets.
 * Arguments never depend on earlier results (but for the value a futex
 * wait expects, read from memory), so any subset of the calls can be
 * replayed with the same arguments:
 *
 *   FUZZ_ONLY=3,10-20 syscalls SEED COUNT [trace]
 *
 * runs only calls 3 and 10..20 (the others are drawn but not made). With
 * "trace", each call is printed on stderr (fd 2 as it was at start) before
 * it is made: "#INDEX name(NR)(a0, ..., a5)", and its result after.
 * FUZZ_AVOID (below) steers clear of known bugs.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

typedef unsigned long u64;
typedef long i64;

/* ---- raw system calls ---- */

static inline i64 sc6(i64 n, u64 a, u64 b, u64 c, u64 d, u64 e, u64 f) {
    register u64 a0 __asm__("a0") = a;
    register u64 a1 __asm__("a1") = b;
    register u64 a2 __asm__("a2") = c;
    register u64 a3 __asm__("a3") = d;
    register u64 a4 __asm__("a4") = e;
    register u64 a5 __asm__("a5") = f;
    register i64 a7 __asm__("a7") = n;
    __asm__ volatile("ecall"
                     : "+r"(a0)
                     : "r"(a1), "r"(a2), "r"(a3), "r"(a4), "r"(a5), "r"(a7)
                     : "memory");
    return (i64)a0;
}
#define sc0(n) sc6(n, 0, 0, 0, 0, 0, 0)
#define sc1(n, a) sc6(n, (u64)(a), 0, 0, 0, 0, 0)
#define sc2(n, a, b) sc6(n, (u64)(a), (u64)(b), 0, 0, 0, 0)
#define sc3(n, a, b, c) sc6(n, (u64)(a), (u64)(b), (u64)(c), 0, 0, 0)
#define sc4(n, a, b, c, d) sc6(n, (u64)(a), (u64)(b), (u64)(c), (u64)(d), 0, 0)

/* clone/clone3 whose child exits at once, touching no memory. */
i64 fz_spawn(i64 n, u64 a, u64 b, u64 c, u64 d, u64 e);
__asm__(".text\n"
        ".globl fz_spawn\n"
        ".type fz_spawn, @function\n"
        "fz_spawn:\n"
        "  mv a7, a0\n"
        "  mv a0, a1\n"
        "  mv a1, a2\n"
        "  mv a2, a3\n"
        "  mv a3, a4\n"
        "  mv a4, a5\n"
        "  ecall\n"
        "  bnez a0, 2f\n"
        "1: li a7, 93\n"
        "  li a0, 0\n"
        "  ecall\n"
        "  j 1b\n"
        "2: ret\n"
        ".size fz_spawn, .-fz_spawn\n");

/* fork; the child makes rt_sigreturn with its stack pointer at `frame`
 * (a signal frame of random bytes): whatever the frame holds, the kernel
 * must survive it. fz_exit_stub is where frames mostly send the child. */
i64 fz_sigreturn_child(u64 frame);
void fz_exit_stub(void);
__asm__(".text\n"
        ".globl fz_sigreturn_child\n"
        ".type fz_sigreturn_child, @function\n"
        "fz_sigreturn_child:\n"
        "  mv t0, a0\n"
        "  li a0, 17\n" /* SIGCHLD */
        "  li a1, 0\n"
        "  li a2, 0\n"
        "  li a3, 0\n"
        "  li a4, 0\n"
        "  li a7, 220\n"
        "  ecall\n"
        "  bnez a0, 2f\n"
        "  mv sp, t0\n"
        "  li a7, 139\n"
        "  ecall\n"
        ".globl fz_exit_stub\n"
        "fz_exit_stub:\n"
        "1: li a7, 93\n"
        "  li a0, 0\n"
        "  ecall\n"
        "  j 1b\n"
        "2: ret\n"
        ".size fz_sigreturn_child, .-fz_sigreturn_child\n");

/* ---- numbers (asm-generic) ---- */
enum {
    NR_setxattr = 5, NR_getxattr = 8, NR_listxattr = 11, NR_removexattr = 14,
    NR_fgetxattr = 10,
    NR_getcwd = 17, NR_eventfd2 = 19, NR_epoll_create1 = 20, NR_epoll_ctl = 21,
    NR_epoll_pwait = 22, NR_dup = 23, NR_dup3 = 24, NR_fcntl = 25,
    NR_inotify_init1 = 26, NR_ioctl = 29, NR_flock = 32, NR_mknodat = 33,
    NR_mkdirat = 34, NR_unlinkat = 35, NR_symlinkat = 36, NR_linkat = 37,
    NR_renameat = 38, NR_umount2 = 39, NR_mount = 40, NR_pivot_root = 41,
    NR_statfs = 43, NR_fstatfs = 44, NR_truncate = 45, NR_ftruncate = 46,
    NR_fallocate = 47, NR_faccessat = 48, NR_chdir = 49, NR_fchdir = 50,
    NR_chroot = 51, NR_fchmod = 52, NR_fchmodat = 53, NR_fchownat = 54,
    NR_fchown = 55, NR_openat = 56, NR_close = 57, NR_pipe2 = 59,
    NR_getdents64 = 61, NR_lseek = 62, NR_read = 63, NR_write = 64,
    NR_readv = 65, NR_writev = 66, NR_pread64 = 67, NR_pwrite64 = 68,
    NR_preadv = 69, NR_pwritev = 70, NR_sendfile = 71, NR_pselect6 = 72,
    NR_ppoll = 73, NR_signalfd4 = 74, NR_splice = 76, NR_tee = 77,
    NR_readlinkat = 78, NR_newfstatat = 79, NR_fstat = 80, NR_sync = 81,
    NR_fsync = 82, NR_fdatasync = 83, NR_sync_file_range = 84,
    NR_timerfd_create = 85, NR_timerfd_settime = 86, NR_timerfd_gettime = 87,
    NR_utimensat = 88, NR_capget = 90, NR_capset = 91, NR_personality = 92,
    NR_exit = 93, NR_waitid = 95, NR_set_tid_address = 96, NR_unshare = 97,
    NR_futex = 98, NR_set_robust_list = 99, NR_get_robust_list = 100,
    NR_nanosleep = 101, NR_getitimer = 102, NR_setitimer = 103,
    NR_timer_create = 107, NR_timer_gettime = 108, NR_timer_getoverrun = 109,
    NR_timer_settime = 110, NR_timer_delete = 111, NR_clock_gettime = 113,
    NR_clock_getres = 114, NR_clock_nanosleep = 115, NR_sched_setparam = 118,
    NR_sched_setscheduler = 119, NR_sched_getscheduler = 120,
    NR_sched_getparam = 121, NR_sched_setaffinity = 122,
    NR_sched_getaffinity = 123, NR_sched_yield = 124, NR_kill = 129,
    NR_tkill = 130, NR_tgkill = 131, NR_sigaltstack = 132,
    NR_rt_sigaction = 134, NR_rt_sigprocmask = 135, NR_rt_sigpending = 136,
    NR_rt_sigtimedwait = 137, NR_rt_sigqueueinfo = 138, NR_setpriority = 140,
    NR_getpriority = 141, NR_setregid = 143, NR_setgid = 144,
    NR_setreuid = 145, NR_setuid = 146, NR_setresuid = 147,
    NR_getresuid = 148, NR_setresgid = 149, NR_getresgid = 150,
    NR_setfsuid = 151, NR_setfsgid = 152, NR_times = 153, NR_setpgid = 154,
    NR_getpgid = 155, NR_getsid = 156, NR_setsid = 157, NR_getgroups = 158,
    NR_setgroups = 159, NR_uname = 160, NR_sethostname = 161,
    NR_getrlimit = 163, NR_setrlimit = 164, NR_getrusage = 165, NR_umask = 166,
    NR_prctl = 167, NR_getcpu = 168, NR_gettimeofday = 169, NR_getpid = 172,
    NR_getppid = 173, NR_getuid = 174, NR_geteuid = 175, NR_getgid = 176,
    NR_getegid = 177, NR_gettid = 178, NR_sysinfo = 179, NR_shmget = 194,
    NR_socket = 198, NR_socketpair = 199, NR_bind = 200, NR_listen = 201,
    NR_accept = 202, NR_connect = 203, NR_getsockname = 204,
    NR_getpeername = 205, NR_sendto = 206, NR_recvfrom = 207,
    NR_setsockopt = 208, NR_getsockopt = 209, NR_shutdown = 210,
    NR_sendmsg = 211, NR_recvmsg = 212, NR_readahead = 213, NR_brk = 214,
    NR_munmap = 215, NR_mremap = 216, NR_clone = 220, NR_mmap = 222,
    NR_fadvise64 = 223, NR_mprotect = 226, NR_msync = 227, NR_mlock = 228,
    NR_munlock = 229, NR_mlockall = 230, NR_munlockall = 231,
    NR_mincore = 232, NR_madvise = 233, NR_rt_tgsigqueueinfo = 240,
    NR_accept4 = 242, NR_recvmmsg = 243, NR_riscv_hwprobe = 258,
    NR_riscv_flush_icache = 259, NR_wait4 = 260, NR_prlimit64 = 261,
    NR_syncfs = 267, NR_sendmmsg = 269, NR_renameat2 = 276, NR_getrandom = 278,
    NR_memfd_create = 279, NR_membarrier = 283, NR_mlock2 = 284,
    NR_copy_file_range = 285, NR_preadv2 = 286, NR_pwritev2 = 287,
    NR_statx = 291, NR_rseq = 293, NR_pidfd_open = 434, NR_clone3 = 435,
    NR_close_range = 436, NR_openat2 = 437, NR_faccessat2 = 439,
    NR_epoll_pwait2 = 441, NR_fchmodat2 = 452,
    NR_rt_sigreturn = 139,
};

#define O_NONBLOCK_ 04000
#define SOCK_NONBLOCK_ 04000
#define MSG_DONTWAIT_ 0x40
#define PAGE 4096UL
#define TASK_SIZE 0x4000000000UL

/* ---- PRNG (splitmix64) ---- */
static u64 rstate;
/* FUZZ_AVOID: a comma-separated list of known bugs to steer clear of, to
 * find others:
 *   files   no CLONE_FILES without CLONE_THREAD (the child's exit closes
 *           the shared descriptors, the fuzzer's own too)
 *   exitsig no clone exit signal above 64 (host panic when the child ends)
 *   epoll   no epoll_ctl ADD/MOD (loops of epolls: host stack overflow)
 *   settid  no CLONE_PARENT_SETTID (a bad pointer: EFAULT, a child left
 *           behind, a vfork parent derailed)
 *   vfork   no CLONE_VFORK with CLONE_THREAD (the parent waits forever)
 *   mmap    no file mapping longer than 64 MiB (a private one is copied
 *           whole into host memory: abort when that fails)
 *   strings only NUL-terminated paths under 48 bytes (friscy --trace
 *           panics on longer ones)
 */
static int avoid_files, avoid_exitsig, avoid_epoll, avoid_settid, avoid_vfork, avoid_mmap,
    avoid_strings;
static u64 rnd(void) {
    u64 z = (rstate += 0x9e3779b97f4a7c15UL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
    return z ^ (z >> 31);
}
static u64 rn(u64 n) { return n ? rnd() % n : 0; }
static int chance(int pct) { return (int)rn(100) < pct; }
#define PICK(arr) ((arr)[rn(sizeof(arr) / sizeof((arr)[0]))])

/* ---- memory the fuzzer owns ---- */
/* Everything the kernel may write to is mmap'd with PROT_NONE guard pages
 * around it, so that no length, however long, reaches the fuzzer's state. */
#define SCR 65536
static unsigned char *scratch; /* SCR bytes */
static unsigned char altstk[65536] __attribute__((aligned(16)));
static unsigned char cstack[16384] __attribute__((aligned(16)));
#define MAPPAGES 48
static u64 mapreg;      /* MAPPAGES pages only the memory calls touch */
static u64 edge;        /* [rw page][PROT_NONE page][read-only page] */
static u64 brk0;
static char longpath[5000];
static char longname[300];

static const u64 wilds[] = {
    0x1000, 0xdeadbeef000UL, ~0UL, ~0UL - 4095, 1UL << 63, 0x10,
    TASK_SIZE, TASK_SIZE - 8 + (1UL << 40), 0xfff,
};

/* A pointer the kernel may read or write: never the fuzzer's own state. */
static u64 ptr(void) {
    switch (rn(20)) {
    case 0: case 1: return 0;
    case 2: case 3: return PICK(wilds);
    case 4: return edge + PAGE - 1 - rn(64);             /* runs into PROT_NONE */
    case 5: return edge + 2 * PAGE + rn(PAGE);           /* read-only */
    case 6: case 7: return mapreg + rn(MAPPAGES * PAGE); /* may be gone */
    case 8: return (u64)scratch + rn(SCR);               /* unaligned */
    case 9: return (u64)scratch + SCR - rn(64);
    default: return (u64)scratch + (rn(SCR) & ~7UL);
    }
}

/* What put() handed out for the call being drawn: never overlapping, or
 * one structure (a timeout, say) would be another's bytes. */
static u64 used[16][2];
static int nused, edge_used;

/* Copies `n` bytes of `data` where a structure argument goes; returns its
 * address (sometimes so it runs into an unreadable page). */
static u64 put(const void *data, size_t n) {
    if (n <= PAGE && chance(6) && !edge_used) {
        size_t keep = rn(n + 1);
        u64 at = edge + PAGE - keep;
        memcpy((void *)at, data, keep);
        edge_used = 1;
        return at;
    }
    if (n > SCR / 4)
        n = SCR / 4;
    u64 off = 0;
    for (int tries = 0; tries < 64; tries++) {
        off = rn(SCR - n + 1) & ~7UL;
        int clash = 0;
        for (int k = 0; k < nused; k++)
            if (off < used[k][1] && used[k][0] < off + n)
                clash = 1;
        if (!clash)
            break;
    }
    if (nused < 16) {
        used[nused][0] = off;
        used[nused][1] = off + n;
        nused++;
    }
    memcpy(scratch + off, data, n);
    return (u64)scratch + off;
}

static u64 wptr(void) { return chance(50) ? 0 : PICK(wilds); }

static u64 lenv(void) {
    static const u64 big[] = {
        0x7fffffff, 0x80000000, 0xffffffff, 1UL << 32, 1UL << 33, 1UL << 36,
        1UL << 38, 1UL << 40, 1UL << 47, 1UL << 62, 1UL << 63, ~0UL, ~0UL - 4095,
        (u64)-2, 1UL << 30, 1UL << 24, (1UL << 24) + 1,
    };
    switch (rn(12)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return rn(16);
    case 3: case 4: return rn(256);
    case 5: return rn(PAGE + 1);
    case 6: return PAGE;
    case 7: return rn(SCR + 1);
    case 8: case 9: return PICK(big);
    case 10: return rn(1UL << 20);
    default: return rn(64) * 8;
    }
}

static u64 iv(void) {
    static const u64 special[] = {
        0, 1, 2, 3, ~0UL, ~0UL - 1, 0x7fffffff, 0x80000000, 0xffffffff,
        1UL << 32, 1UL << 63, 0x7fffffffffffffffUL, 4096, 65536, 255, 256,
    };
    switch (rn(8)) {
    case 0: case 1: return PICK(special);
    case 2: case 3: return rn(8);
    case 4: return rn(4096);
    case 5: return (unsigned)rnd();
    case 6: return rnd();
    default: return (u64)-(i64)rn(8);
    }
}

static u64 flagv(void) {
    switch (rn(6)) {
    case 0: return 0;
    case 1: return 1UL << rn(32);
    case 2: return (1UL << rn(32)) | (1UL << rn(32));
    case 3: return (unsigned)rnd();
    case 4: return rnd();
    default: return rn(16);
    }
}

static int bad_fd(u64 v) { int f = (int)v; return f == 998 || f == 999; }

static u64 fdv(void) {
    static const u64 odd[] = {
        ~0UL, (u64)-100, 1023, 1024, 1025, 0x7fffffff, 0x80000000,
        (1UL << 32) | 1, (1UL << 32) | 5, 997, 1000, 64, 100,
    };
    u64 v;
    if (chance(80))
        v = rn(16);
    else if (chance(50))
        v = PICK(odd);
    else
        v = rn(1100);
    return bad_fd(v) ? 5 : v;
}

static u64 dirfd(void) { return chance(50) ? (u64)-100 : fdv(); }

static u64 offv(void) {
    static const u64 o[] = {
        0, 1, 4096, 65536, 1UL << 31, 1UL << 32, 1UL << 39, (1UL << 40) - 1,
        1UL << 40, (1UL << 40) + 1, 1UL << 62, 1UL << 63, ~0UL,
        0x7fffffffffffffffUL, ~0UL - 4095,
    };
    switch (rn(4)) {
    case 0: return PICK(o);
    case 1: return rn(100000);
    case 2: return rn(64) * 4096;
    default: return rn(16);
    }
}

static u64 sigv(void) {
    if (chance(85))
        return 1 + rn(64);
    static const u64 s[] = {0, 65, ~0UL, 1000, 32, 33, 0x100000001UL};
    return PICK(s);
}
/* A signal that may go to the fuzzer itself. */
static u64 safe_sig(u64 s) { return ((int)s == 9 || (int)s == 19) ? 10 : s; }

static u64 pidv(void) {
    static const u64 p[] = {1, 1, 0, ~0UL, 2, 3, 4, 99999, 0x80000000, (u64)-2};
    return chance(70) ? PICK(p) : (chance(50) ? 2 + rn(40) : iv());
}

static u64 clockv(void) { return chance(80) ? rn(12) : iv(); }

static u64 modev(void) {
    static const u64 m[] = {0644, 0777, 0, 07777, 0170777, 010644, 020644, 060644, 0140644};
    return chance(70) ? PICK(m) : iv();
}

static u64 sigset(void) {
    if (chance(20))
        return wptr();
    u64 s = chance(30) ? ~0UL : rnd();
    return put(&s, 8);
}
static u64 ssize(void) {
    static const u64 s[] = {0, 4, 16, 128, ~0UL};
    return chance(85) ? 8 : PICK(s);
}

/* A short timeout (at most 1 ms), a malformed one, or a bad pointer. */
static u64 timeout(void) {
    u64 ts[2] = {0, 0};
    switch (rn(10)) {
    case 0: return PICK(wilds);
    case 1: return edge + PAGE - rn(16);
    case 2: ts[0] = -(i64)(1 + rn(100)); break;
    case 3: ts[1] = 1000000000 + rn(1000); break;
    case 4: ts[1] = ~0UL; break;
    case 5: case 6: ts[1] = rn(1000000); break;
    default: break;
    }
    return put(ts, 16);
}

static const char *paths[] = {
    "/tmp/x", "/tmp/y", "/tmp/d", "/tmp/d/e", "/tmp/d/e/f", "/tmp/d/x",
    "/tmp/l", "/tmp/loop", "/tmp/fifo", "/tmp/sock", "x", "d", "d/e", "l",
    ".", "..", "/", "", "/tmp", "/tmp/", "/tmp/x/", "/tmp//x", "/tmp/./d/../x",
    "/tmp/x/y", "../../..", "/proc/self/fd/0", "/proc/self/fd/1",
    "/proc/self/fd/3", "/proc/self/fd/5", "/proc/self/fd", "/proc/self/maps",
    "/proc/self/status", "/proc/self/stat", "/proc/self/cmdline",
    "/proc/self/environ", "/proc/self/exe", "/proc/self/cwd",
    "/proc/self/root", "/proc/self/task", "/proc/self/comm",
    "/proc/self/oom_score_adj", "/proc/self/mounts", "/proc/self/mountinfo",
    "/proc/1/fd/3", "/proc/2/status", "/proc/thread-self", "/proc/cpuinfo",
    "/proc/meminfo", "/proc/uptime", "/proc/stat", "/proc/sys",
    "/proc/sys/kernel/hostname", "/proc/self/fd/1/x", "/proc",
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
    "/dev/tty", "/dev/fd/1", "/dev/fd", "/dev/stdout", "/dev/shm",
    "/dev/shm/x", "/dev/pts", "/dev/pts/0", "/dev", "/dev/null/x",
    "/tmp/d/e/f/g/h", "/tmp/sock2", "/tmp/y/z", "/tmp/l/x",
};

/* the paths of the call being drawn, for the trace */
static const char *drawn[4];
static int ndrawn;

static u64 pathv(void) {
    if (avoid_strings) {
        if (chance(5))
            return wptr();
    } else if (chance(5))
        return ptr();
    else if (chance(3))
        return put(longpath, sizeof longpath);
    else if (chance(3))
        return put(longname, sizeof longname);
    else if (chance(3)) {
        /* a path that runs into an unreadable page without its NUL */
        u64 at = edge + PAGE - 1 - rn(8);
        memset((void *)at, 'a', edge + PAGE - at);
        return at;
    }
    const char *p = PICK(paths);
    if (ndrawn < 4)
        drawn[ndrawn++] = p;
    return put(p, strlen(p) + 1);
}

static u64 iovec(u64 *count) {
    u64 iov[32];
    u64 n = rn(8);
    if (chance(10))
        n = rn(32);
    for (u64 i = 0; i < n; i++) {
        iov[2 * (i % 16)] = ptr();
        iov[2 * (i % 16) + 1] = chance(70) ? rn(512) : lenv();
    }
    static const u64 odd[] = {1024, 1025, ~0UL, 0x80000000, 1UL << 32};
    *count = chance(85) ? n : PICK(odd);
    if (chance(5))
        return wptr();
    return put(iov, 16 * (n < 16 ? n : 16) + 8);
}

static u64 sockaddr(u64 *len) {
    unsigned char b[128];
    memset(b, 0, sizeof b);
    u64 l = 16;
    static const unsigned short ports[] = {0, 47001, 47002, 47003, 47004, 1};
    unsigned short port = PICK(ports);
    port = (unsigned short)((port >> 8) | (port << 8));
    switch (rn(7)) {
    case 0: case 1: {
        static const char *un[] = {
            "/tmp/sock", "/tmp/sock2", "/tmp/x", "/tmp/d", "", "\0abs",
            "\0abs2", "/proc/self/fd/3", "/dev/null", "/tmp/nodir/s",
        };
        int which = (int)rn(sizeof un / sizeof un[0]);
        const char *s = un[which];
        size_t n = which == 4 ? 0 : (s[0] ? strlen(s) : 1 + strlen(s + 1));
        b[0] = 1;
        if (chance(10)) {
            memset(b + 2, 'a', 108);
            n = 108;
        } else {
            memcpy(b + 2, s, n);
        }
        l = chance(50) ? 2 + n + 1 : 110;
        break;
    }
    case 2: case 3:
        b[0] = 2;
        memcpy(b + 2, &port, 2);
        b[4] = 127; b[7] = 1;
        l = 16;
        break;
    case 4:
        b[0] = 10;
        memcpy(b + 2, &port, 2);
        b[23] = 1;
        l = 28;
        break;
    case 5:
        b[0] = 0; /* AF_UNSPEC */
        l = 16;
        break;
    default: {
        for (int i = 0; i < 128; i++)
            b[i] = (unsigned char)rnd();
        unsigned short fam;
        memcpy(&fam, b, 2);
        if (fam == 2 || fam == 10)
            b[0] = 3;
        l = rn(129);
    }
    }
    static const u64 odd[] = {0, 1, 2, 3, 15, 17, 27, 111, 128, 129, 4096, 0x80000000, ~0UL};
    *len = chance(80) ? l : PICK(odd);
    if (chance(5))
        return wptr();
    return put(b, 128);
}

static u64 u32ptr(void) {
    static const unsigned v[] = {0, 4, 8, 16, 28, 110, 128, 0x7fffffff, 0xffffffff, 3};
    if (chance(15))
        return wptr();
    unsigned x = chance(80) ? PICK(v) : (unsigned)rnd();
    return put(&x, 4);
}

/* ---- the call table ---- */

struct call { short nr; unsigned char w; const char *k; const char *name; };

/*
 * Argument kinds: f fd, D dirfd, p pointer, P path, l length, i int,
 * F flags, o offset, c clock, s signal, d pid, u id, M mode, T timeout,
 * S sigset pointer, z sigset size, I iovec (next arg: its count), A sockaddr
 * (next arg: its length), L pointer to a u32 length, 0 zero; '!' marks a
 * call handled in special().
 */
static const struct call calls[] = {
    {NR_openat, 10, "DPFM", "openat"},
    {NR_openat2, 2, "!", "openat2"},
    {NR_close, 4, "f", "close"},
    {NR_close_range, 1, "!", "close_range"},
    {NR_read, 7, "fpl", "read"},
    {NR_pread64, 3, "fplo", "pread64"},
    {NR_write, 7, "fpl", "write"},
    {NR_pwrite64, 4, "fplo", "pwrite64"},
    {NR_readv, 3, "fI_", "readv"},
    {NR_preadv, 2, "fI_oo", "preadv"},
    {NR_preadv2, 1, "fI_ooF", "preadv2"},
    {NR_writev, 3, "fI_", "writev"},
    {NR_pwritev, 2, "fI_oo", "pwritev"},
    {NR_pwritev2, 1, "fI_ooF", "pwritev2"},
    {NR_lseek, 4, "f!", "lseek"},
    {NR_fstat, 3, "fp", "fstat"},
    {NR_newfstatat, 4, "DPpF", "newfstatat"},
    {NR_statx, 3, "DPFip", "statx"},
    {NR_getdents64, 5, "fpl", "getdents64"},
    {NR_getcwd, 2, "pl", "getcwd"},
    {NR_chdir, 2, "P", "chdir"},
    {NR_fchdir, 2, "f", "fchdir"},
    {NR_chroot, 1, "P", "chroot"},
    {NR_mkdirat, 4, "DPM", "mkdirat"},
    {NR_mknodat, 3, "DPMi", "mknodat"},
    {NR_symlinkat, 3, "PDP", "symlinkat"},
    {NR_unlinkat, 4, "DP!", "unlinkat"},
    {NR_linkat, 3, "DPDPF", "linkat"},
    {NR_renameat, 3, "DPDP", "renameat"},
    {NR_renameat2, 3, "DPDP!", "renameat2"},
    {NR_readlinkat, 3, "DPpl", "readlinkat"},
    {NR_faccessat, 2, "DPi", "faccessat"},
    {NR_faccessat2, 2, "DPiF", "faccessat2"},
    {NR_fchmod, 2, "fM", "fchmod"},
    {NR_fchmodat, 2, "DPM", "fchmodat"},
    {NR_fchmodat2, 1, "DPMF", "fchmodat2"},
    {NR_fchown, 1, "fuu", "fchown"},
    {NR_fchownat, 1, "DPuuF", "fchownat"},
    {NR_utimensat, 2, "!", "utimensat"},
    {NR_truncate, 2, "Po", "truncate"},
    {NR_ftruncate, 4, "fo", "ftruncate"},
    {NR_fallocate, 2, "fioo", "fallocate"},
    {NR_fsync, 1, "f", "fsync"},
    {NR_fdatasync, 1, "f", "fdatasync"},
    {NR_sync_file_range, 1, "fooF", "sync_file_range"},
    {NR_sync, 1, "", "sync"},
    {NR_syncfs, 1, "f", "syncfs"},
    {NR_fadvise64, 1, "fooi", "fadvise64"},
    {NR_readahead, 1, "fol", "readahead"},
    {NR_fcntl, 7, "!", "fcntl"},
    {NR_flock, 2, "!", "flock"},
    {NR_dup, 3, "f", "dup"},
    {NR_dup3, 3, "ff!", "dup3"},
    {NR_pipe2, 4, "!", "pipe2"},
    {NR_ioctl, 5, "!", "ioctl"},
    {NR_statfs, 1, "Pp", "statfs"},
    {NR_fstatfs, 1, "fp", "fstatfs"},
    {NR_sendfile, 3, "ff!", "sendfile"},
    {NR_copy_file_range, 2, "f!", "copy_file_range"},
    {NR_ppoll, 3, "!", "ppoll"},
    {NR_pselect6, 3, "!", "pselect6"},
    {NR_mount, 1, "PPPFp", "mount"},
    {NR_umount2, 1, "PF", "umount2"},
    {NR_pivot_root, 1, "PP", "pivot_root"},
    {NR_splice, 1, "fpfplF", "splice"},
    {NR_tee, 1, "fflF", "tee"},
    {NR_inotify_init1, 1, "!", "inotify_init1"},
    {NR_memfd_create, 1, "P!", "memfd_create"},
    {NR_pidfd_open, 1, "dF", "pidfd_open"},
    {NR_mincore, 1, "!", "mincore"},

    {NR_clone, 2, "!", "clone"},
    {NR_clone3, 1, "!", "clone3"},
    {NR_rt_sigreturn, 1, "!", "rt_sigreturn (in a child)"},
    {NR_wait4, 2, "dp!p", "wait4"},
    {NR_waitid, 2, "idp!p", "waitid"},
    {NR_kill, 3, "!", "kill"},
    {NR_tkill, 2, "!", "tkill"},
    {NR_tgkill, 2, "!", "tgkill"},
    {NR_rt_sigaction, 5, "!", "rt_sigaction"},
    {NR_rt_sigprocmask, 3, "!", "rt_sigprocmask"},
    {NR_rt_sigpending, 1, "pz", "rt_sigpending"},
    {NR_rt_sigtimedwait, 2, "SpTz", "rt_sigtimedwait"},
    {NR_rt_sigqueueinfo, 1, "!", "rt_sigqueueinfo"},
    {NR_rt_tgsigqueueinfo, 1, "!", "rt_tgsigqueueinfo"},
    {NR_sigaltstack, 2, "!", "sigaltstack"},
    {NR_getpid, 1, "", "getpid"},
    {NR_gettid, 1, "", "gettid"},
    {NR_getppid, 1, "", "getppid"},
    {NR_getuid, 1, "", "getuid"},
    {NR_getegid, 1, "", "getegid"},
    {NR_getresuid, 1, "ppp", "getresuid"},
    {NR_getresgid, 1, "ppp", "getresgid"},
    {NR_setuid, 1, "!", "setuid"},
    {NR_setgid, 1, "!", "setgid"},
    {NR_setreuid, 1, "!", "setreuid"},
    {NR_setregid, 1, "!", "setregid"},
    {NR_setresuid, 1, "!", "setresuid"},
    {NR_setresgid, 1, "!", "setresgid"},
    {NR_setfsuid, 1, "!", "setfsuid"},
    {NR_setfsgid, 1, "!", "setfsgid"},
    {NR_getgroups, 1, "ip", "getgroups"},
    {NR_setgroups, 1, "ip", "setgroups"},
    {NR_setpgid, 1, "dd", "setpgid"},
    {NR_getpgid, 1, "d", "getpgid"},
    {NR_getsid, 1, "d", "getsid"},
    {NR_setsid, 1, "", "setsid"},
    {NR_umask, 1, "M", "umask"},
    {NR_set_tid_address, 1, "p", "set_tid_address"},
    {NR_set_robust_list, 1, "p!", "set_robust_list"},
    {NR_get_robust_list, 1, "dpp", "get_robust_list"},
    {NR_futex, 5, "!", "futex"},
    {NR_getpriority, 1, "id", "getpriority"},
    {NR_setpriority, 1, "idi", "setpriority"},

    {NR_brk, 2, "!", "brk"},
    {NR_mmap, 5, "!", "mmap"},
    {NR_munmap, 3, "!", "munmap"},
    {NR_mprotect, 3, "!", "mprotect"},
    {NR_madvise, 2, "!", "madvise"},
    {NR_mremap, 3, "!", "mremap"},
    {NR_msync, 1, "!", "msync"},
    {NR_mlock, 1, "!", "mlock"},
    {NR_munlock, 1, "!", "munlock"},
    {NR_mlock2, 1, "!", "mlock2"},
    {NR_mlockall, 1, "F", "mlockall"},
    {NR_munlockall, 1, "", "munlockall"},

    {NR_eventfd2, 2, "i!", "eventfd2"},
    {NR_timerfd_create, 2, "c!", "timerfd_create"},
    {NR_timerfd_settime, 2, "!", "timerfd_settime"},
    {NR_timerfd_gettime, 1, "fp", "timerfd_gettime"},
    {NR_signalfd4, 2, "fS!", "signalfd4"},
    {NR_epoll_create1, 4, "F", "epoll_create1"},
    {NR_epoll_ctl, 6, "!", "epoll_ctl"},
    {NR_epoll_pwait, 3, "!", "epoll_pwait"},
    {NR_epoll_pwait2, 1, "!", "epoll_pwait2"},
    {NR_socket, 3, "!", "socket"},
    {NR_socketpair, 3, "!", "socketpair"},
    {NR_bind, 3, "fA_", "bind"},
    {NR_listen, 2, "fi", "listen"},
    {NR_accept, 2, "fpL", "accept"},
    {NR_accept4, 2, "fpL!", "accept4"},
    {NR_connect, 3, "fA_", "connect"},
    {NR_shutdown, 1, "fi", "shutdown"},
    {NR_getsockname, 1, "fpL", "getsockname"},
    {NR_getpeername, 1, "fpL", "getpeername"},
    {NR_setsockopt, 2, "!", "setsockopt"},
    {NR_getsockopt, 2, "!", "getsockopt"},
    {NR_sendto, 3, "fpl!A_", "sendto"},
    {NR_recvfrom, 3, "fpl!pL", "recvfrom"},
    {NR_sendmsg, 2, "!", "sendmsg"},
    {NR_recvmsg, 2, "!", "recvmsg"},
    {NR_sendmmsg, 1, "fpiF", "sendmmsg"},
    {NR_recvmmsg, 1, "!", "recvmmsg"},

    {NR_setitimer, 1, "!", "setitimer"},
    {NR_getitimer, 1, "ip", "getitimer"},
    {NR_timer_create, 1, "!", "timer_create"},
    {NR_timer_settime, 1, "!", "timer_settime"},
    {NR_timer_gettime, 1, "!", "timer_gettime"},
    {NR_timer_getoverrun, 1, "!", "timer_getoverrun"},
    {NR_timer_delete, 1, "!", "timer_delete"},

    {NR_uname, 1, "p", "uname"},
    {NR_sethostname, 1, "pl", "sethostname"},
    {NR_getrlimit, 1, "ip", "getrlimit"},
    {NR_setrlimit, 1, "!", "setrlimit"},
    {NR_prlimit64, 1, "!", "prlimit64"},
    {NR_getrandom, 1, "plF", "getrandom"},
    {NR_clock_gettime, 1, "cp", "clock_gettime"},
    {NR_clock_getres, 1, "cp", "clock_getres"},
    {NR_gettimeofday, 1, "pp", "gettimeofday"},
    {NR_nanosleep, 1, "Tp", "nanosleep"},
    {NR_clock_nanosleep, 1, "!", "clock_nanosleep"},
    {NR_sched_yield, 1, "", "sched_yield"},
    {NR_sched_getaffinity, 1, "dlp", "sched_getaffinity"},
    {NR_sched_setaffinity, 1, "dlp", "sched_setaffinity"},
    {NR_sched_setscheduler, 1, "dip", "sched_setscheduler"},
    {NR_sched_setparam, 1, "dp", "sched_setparam"},
    {NR_sched_getscheduler, 1, "d", "sched_getscheduler"},
    {NR_sched_getparam, 1, "dp", "sched_getparam"},
    {NR_getcpu, 1, "ppp", "getcpu"},
    {NR_sysinfo, 1, "p", "sysinfo"},
    {NR_times, 1, "p", "times"},
    {NR_getrusage, 1, "ip", "getrusage"},
    {NR_prctl, 2, "!", "prctl"},
    {NR_riscv_hwprobe, 2, "p!", "riscv_hwprobe"},
    {NR_riscv_flush_icache, 1, "ooF", "riscv_flush_icache"},
    {NR_membarrier, 1, "iF", "membarrier"},
    {NR_setxattr, 1, "PPplF", "setxattr"},
    {NR_getxattr, 1, "PPpl", "getxattr"},
    {NR_fgetxattr, 1, "fPpl", "fgetxattr"},
    {NR_listxattr, 1, "Ppl", "listxattr"},
    {NR_removexattr, 1, "PP", "removexattr"},
    {NR_capget, 1, "pp", "capget"},
    {NR_capset, 1, "pp", "capset"},
    {NR_personality, 1, "i", "personality"},
    {NR_rseq, 1, "pliu", "rseq"},
    {NR_unshare, 1, "F", "unshare"},
    {NR_shmget, 1, "ilF", "shmget"},
    {-1, 1, "!", "random"},
};
#define NCALLS (sizeof calls / sizeof calls[0])

static u64 argof(char k, u64 *next) {
    switch (k) {
    case 'f': return fdv();
    case 'D': return dirfd();
    case 'p': return ptr();
    case 'P': return pathv();
    case 'l': return lenv();
    case 'i': return iv();
    case 'F': return flagv();
    case 'o': return offv();
    case 'c': return clockv();
    case 's': return safe_sig(sigv());
    case 'd': return pidv();
    case 'u': return chance(50) ? 0 : iv();
    case 'M': return modev();
    case 'T': return timeout();
    case 'S': return sigset();
    case 'z': return ssize();
    case 'I': return iovec(next);
    case 'A': return sockaddr(next);
    case 'L': return u32ptr();
    default: return 0;
    }
}

/* An address in mapreg with a length that stays inside it, or one that
 * cannot name any mapping. */
static void region(u64 *addr, u64 *len, int bounded) {
    u64 page = rn(MAPPAGES);
    *addr = mapreg + page * PAGE;
    u64 room = (MAPPAGES - page) * PAGE;
    *len = 1 + rn(room);
    if (chance(50))
        *len = (*len + PAGE - 1) & ~(PAGE - 1);
    switch (rn(12)) {
    case 0: *addr += 1 + rn(PAGE - 1); *len = rn(PAGE); break;
    case 1: *len = 0; break;
    case 2:
        /* Linux's madvise has no TASK_SIZE bound: a length past it would
         * reach the fuzzer's stack; one that wraps cannot */
        *len = chance(50) || bounded ? ~0UL - rn(PAGE / 2) : TASK_SIZE + rn(1UL << 40);
        break;
    case 3: *addr = PICK(wilds); *len = rn(4 * PAGE); break;
    case 4: *addr = 0x1000; *len = PAGE * (1 + rn(8)); break;
    default: break;
    }
}

static u64 gen_timer_spec(void) {
    /* itimerspec: interval, value (no interval shorter than 1 ms) */
    u64 t[4] = {0, 0, 0, 0};
    if (chance(10))
        return wptr();
    if (chance(50))
        t[1] = 1000000 + rn(20000000);
    if (chance(80))
        t[3] = 1 + rn(5000000);
    if (chance(5))
        t[3] = 1000000000 + rn(10); /* invalid */
    if (chance(5))
        t[2] = -(i64)1;
    return put(t, 32);
}

static int special(int nr, u64 *a) {
    switch (nr) {
    case NR_openat2: {
        u64 how[4] = {flagv() | O_NONBLOCK_, modev(), chance(50) ? 0 : flagv(), rnd()};
        a[0] = dirfd(); a[1] = pathv();
        /* (never random bytes: flags without O_NONBLOCK) */
        a[2] = chance(90) ? put(how, 32) : wptr();
        static const u64 sz[] = {24, 24, 24, 0, 8, 32, 4096, ~0UL};
        a[3] = PICK(sz);
        return 1;
    }
    case NR_openat:
        a[2] |= O_NONBLOCK_;
        return 1;
    case NR_close_range: {
        u64 lo = rn(20), hi = lo + rn(20);
        if (chance(10)) hi = 997;
        if (chance(5)) { lo = 1000; hi = ~0UL; }
        if (chance(5)) { lo = 10; hi = 3; }
        a[0] = lo; a[1] = hi;
        a[2] = chance(70) ? 0 : (chance(50) ? 4 : flagv());
        return 1;
    }
    case NR_lseek: {
        static const u64 w[] = {0, 1, 2, 3, 4, 5, ~0UL};
        a[1] = chance(50) ? offv() : (u64)-(i64)offv();
        a[2] = PICK(w);
        return 1;
    }
    case NR_unlinkat:
        a[2] = chance(60) ? (chance(50) ? 0 : 0x200) : flagv();
        return 1;
    case NR_renameat2:
        a[4] = chance(70) ? rn(8) : flagv();
        return 1;
    case NR_utimensat: {
        static const u64 ns[] = {(1UL << 30) - 1, (1UL << 30) - 2, 0, 999999999, 1000000000, ~0UL};
        u64 t[4] = {rnd(), PICK(ns), rn(1UL << 40), PICK(ns)};
        a[0] = dirfd(); a[1] = chance(10) ? 0 : pathv();
        a[2] = chance(20) ? 0 : (chance(80) ? put(t, 32) : ptr());
        a[3] = chance(60) ? (chance(50) ? 0 : 0x100) : flagv();
        return 1;
    }
    case NR_fcntl: {
        static const u64 cmds[] = {
            0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9, 10, 11, 15, 16, 1024, 1025, 1026,
            1030, 1031, 1032, 1033, 1034, 36, 37, 38, 1030, 0, 1, 3,
        };
        u64 cmd = chance(90) ? PICK(cmds) : iv();
        if (cmd == 7) cmd = 6;
        if (cmd == 38) cmd = 37;
        u64 arg;
        switch (cmd) {
        case 4: arg = (chance(50) ? flagv() : 0) | O_NONBLOCK_; break;
        case 5: case 6: case 36: case 37: {
            unsigned char fl[32];
            for (int i = 0; i < 32; i++) fl[i] = (unsigned char)rnd();
            short ty = (short)(chance(80) ? rn(3) : rnd()), wh = (short)(chance(80) ? rn(3) : rnd());
            memcpy(fl, &ty, 2); memcpy(fl + 2, &wh, 2);
            u64 st = offv(), ln = chance(30) ? 0 : offv();
            memcpy(fl + 8, &st, 8); memcpy(fl + 16, &ln, 8);
            if (cmd >= 36) memset(fl + 24, 0, 4);
            arg = chance(85) ? put(fl, 32) : ptr();
            break;
        }
        case 0: case 1030: {
            static const u64 m[] = {0, 3, 10, 997, 998, 1000, 1023, 1024, ~0UL, 0x80000000};
            arg = chance(50) ? rn(20) : PICK(m);
            break;
        }
        case 1031: arg = lenv(); break;
        case 10: arg = safe_sig(chance(50) ? sigv() : iv()); break; /* F_SETSIG */
        default: arg = chance(50) ? iv() : ptr(); break;
        }
        a[0] = fdv(); a[1] = cmd; a[2] = arg;
        return 1;
    }
    case NR_flock:
        a[0] = fdv();
        a[1] = (chance(80) ? rn(16) : flagv()) | 4; /* LOCK_NB */
        return 1;
    case NR_dup3:
        a[2] = chance(60) ? 0 : (chance(50) ? 02000000 : flagv());
        return 1;
    case NR_pipe2:
        a[0] = ptr();
        a[1] = (chance(60) ? (chance(50) ? 0 : 02000000) : flagv()) | O_NONBLOCK_;
        return 1;
    case NR_ioctl: {
        static const u64 reqs[] = {
            0x5401, 0x5402, 0x5403, 0x5404, 0x5413, 0x5414, 0x540e, 0x540f,
            0x5410, 0x541b, 0x5421, 0x5451, 0x5450, 0x5429, 0x5422, 0x540b,
            0x540a, 0x5411, 0x80045430, 0x40045431, 0x5452, 0x5409, 0x5405,
            0x5406, 0x5407, 0x5408, 0x540c, 0x540d, 0x5412, 0x5415, 0x541c,
            0x5423, 0x5424, 0x5425, 0x5427, 0x5428, 0x40087468, 0x80087467,
            0xc0185879, 0x1260, 0x80081272, 0x4b3a, 0x5401 | (1UL << 32),
        };
        u64 req = chance(90) ? PICK(reqs) : iv();
        u64 arg;
        if ((unsigned)req == 0x5421) {
            int one = 1 + (int)rn(100);
            arg = chance(80) ? put(&one, 4) : wptr();
        } else if (chance(70)) {
            unsigned char t[64];
            for (int i = 0; i < 64; i++) t[i] = (unsigned char)rnd();
            if ((unsigned)req == 0x540a) { /* TCXONC: never TCOOFF/TCIOFF */
                arg = chance(50) ? 1 : 3;
            } else if ((unsigned)req == 0x5423 || (unsigned)req == 0x5424) {
                arg = put(t, 64); /* TIOCSETD/TIOCGETD */
            } else {
                arg = chance(70) ? put(t, 64) : ptr();
            }
        } else {
            arg = (unsigned)req == 0x540a ? 1 : iv();
        }
        a[0] = fdv(); a[1] = req; a[2] = arg;
        return 1;
    }
    case NR_sendfile: {
        u64 off = offv();
        a[2] = chance(40) ? 0 : (chance(80) ? put(&off, 8) : ptr());
        a[3] = lenv();
        return 1;
    }
    case NR_copy_file_range: {
        u64 o1 = offv(), o2 = offv();
        a[1] = chance(40) ? 0 : (chance(80) ? put(&o1, 8) : ptr());
        a[2] = fdv();
        a[3] = chance(40) ? 0 : (chance(80) ? put(&o2, 8) : ptr());
        a[4] = lenv();
        a[5] = chance(80) ? 0 : flagv();
        return 1;
    }
    case NR_ppoll: {
        unsigned char pf[64 * 8];
        u64 n = chance(80) ? rn(8) : (chance(50) ? rn(64) : iv());
        for (int i = 0; i < 64; i++) {
            int fd = (int)fdv();
            short ev = (short)(chance(70) ? rn(8) : rnd());
            short rev = (short)rnd();
            memcpy(pf + 8 * i, &fd, 4);
            memcpy(pf + 8 * i + 4, &ev, 2);
            memcpy(pf + 8 * i + 6, &rev, 2);
        }
        a[0] = chance(90) ? put(pf, 8 * (n < 64 ? n : 64)) : ptr();
        a[1] = n;
        a[2] = timeout();
        a[3] = chance(60) ? 0 : sigset();
        a[4] = ssize();
        return 1;
    }
    case NR_pselect6: {
        static const u64 nf[] = {0, 1, 8, 16, 64, 1024, 1025, 0x7fffffff, ~0UL};
        a[0] = chance(70) ? rn(20) : PICK(nf);
        for (int i = 1; i <= 3; i++) {
            unsigned char set[128];
            for (int j = 0; j < 128; j++)
                set[j] = (unsigned char)(chance(20) ? rnd() : 0);
            set[0] = (unsigned char)rnd();
            set[1] = (unsigned char)rnd();
            a[i] = chance(30) ? 0 : (chance(90) ? put(set, 128) : ptr());
        }
        a[4] = timeout();
        u64 sm[2] = {sigset(), ssize()};
        a[5] = chance(50) ? 0 : (chance(80) ? put(sm, 16) : ptr());
        return 1;
    }
    case NR_inotify_init1:
        a[0] = flagv() | O_NONBLOCK_;
        return 1;
    case NR_memfd_create:
        a[1] = chance(50) ? rn(8) : flagv();
        return 1;
    case NR_mincore: {
        u64 ad, ln;
        region(&ad, &ln, 0);
        a[0] = ad; a[1] = ln; a[2] = ptr();
        return 1;
    }
    case NR_clone: case NR_clone3: {
        static const u64 fl[] = {
            0x100, 0x200, 0x400, 0x800, 0x1000, 0x4000, 0x8000, 0x10000,
            0x40000, 0x80000, 0x100000, 0x200000, 0x400000, 0x1000000,
            0x2000000, 0x20000, 0x80000000UL, 0x100000000UL, 0x200000000UL,
        };
        u64 flags = 0;
        int nf = (int)rn(5);
        for (int i = 0; i < nf; i++)
            flags |= PICK(fl);
        if (chance(20)) flags = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000 | 0x100000 | 0x200000;
        if (chance(20)) flags = 0x4000 | 0x100;
        if (avoid_files && !(flags & 0x10000))
            flags &= ~0x400UL;
        if (avoid_settid)
            flags &= ~0x100000UL;
        if (avoid_vfork && (flags & 0x10000))
            flags &= ~0x4000UL;
        u64 esig = chance(60) ? 17 : (chance(50) ? 0 : safe_sig(sigv()));
        if (avoid_exitsig && (esig & 0xff) > 64)
            esig = 17;
        u64 stack = chance(50) ? 0 : (chance(80) ? (u64)cstack + sizeof cstack : ptr());
        if (nr == NR_clone) {
            a[0] = (flags & ~0xffUL) | (esig & 0xff);
            a[1] = stack; a[2] = ptr(); a[3] = rnd(); a[4] = ptr();
        } else {
            u64 ca[11] = {
                flags, ptr(), ptr(), ptr(), esig, chance(50) ? 0 : (u64)cstack,
                chance(50) ? 0 : (chance(80) ? sizeof cstack : lenv()), rnd(),
                chance(70) ? 0 : ptr(), chance(70) ? 0 : rn(4), chance(80) ? 0 : iv(),
            };
            if (ca[4] == 9 || ca[4] == 19) ca[4] = 17;
            /* never random bytes: the exit signal could be SIGKILL */
            a[0] = chance(90) ? put(ca, sizeof ca) : wptr();
            static const u64 sz[] = {64, 80, 88, 88, 88, 0, 8, 96, 4096, ~0UL};
            a[1] = PICK(sz);
        }
        return 1;
    }
    case NR_rt_sigreturn: {
        /* rt_sigframe: siginfo (128), then ucontext: flags, link, stack
         * (24), sigmask (at 40; 8 + 120 unused), mcontext (at 176,
         * 16-aligned): pc, x1..x31, the FP registers, fcsr */
        u64 f[160];
        for (int i = 0; i < 160; i++)
            f[i] = chance(20) ? 0 : rnd();
        if (chance(80)) {
            f[(128 + 176) / 8] = (u64)fz_exit_stub;
            f[(128 + 40) / 8] = ~0UL; /* every signal blocked */
        }
        a[0] = chance(90) ? put(f, sizeof f) : (chance(50) ? edge + PAGE - rn(1024) : PICK(wilds));
        return 1;
    }
    case NR_wait4:
        a[2] = (chance(70) ? 0 : flagv()) | 1; /* WNOHANG */
        return 1;
    case NR_waitid:
        a[0] = chance(80) ? rn(4) : iv();
        a[3] = (chance(70) ? (4 | (chance(30) ? 0x1000000 : 0)) : flagv()) | 1;
        return 1;
    case NR_kill: {
        a[0] = pidv();
        u64 s = sigv();
        if ((int)a[0] != -1) s = safe_sig(s);
        a[1] = s;
        return 1;
    }
    case NR_tkill:
        a[0] = pidv(); a[1] = safe_sig(sigv());
        return 1;
    case NR_tgkill:
        a[0] = pidv(); a[1] = pidv(); a[2] = safe_sig(sigv());
        return 1;
    case NR_rt_sigaction: {
        extern void on_signal(int, void *, void *);
        u64 sig = sigv();
        u64 act[3];
        int harmless = sig == 17 || sig == 18 || sig == 23 || sig == 28;
        switch (rn(5)) {
        case 0: case 1: act[0] = (u64)on_signal; break;
        case 2: act[0] = 1; break; /* SIG_IGN */
        default: act[0] = harmless ? 0 : (u64)on_signal; break;
        }
        static const u64 fl[] = {1, 2, 4, 0x04000000, 0x08000000, 0x10000000, 0x40000000, 0x10000, 0x1000000};
        act[1] = 0;
        for (int i = (int)rn(4); i > 0; i--)
            act[1] |= PICK(fl);
        if (chance(5)) act[1] |= rnd() & 0x7fffffffUL;
        if (chance(5) && (act[0] == 1 || harmless)) act[1] |= 0x80000000UL;
        act[2] = chance(50) ? 0 : rnd();
        a[0] = sig;
        a[1] = chance(20) ? 0 : (chance(90) ? put(act, 24) : wptr());
        a[2] = chance(40) ? 0 : ptr();
        a[3] = ssize();
        return 1;
    }
    case NR_rt_sigprocmask:
        a[0] = chance(80) ? rn(3) : iv();
        a[1] = chance(20) ? 0 : sigset();
        a[2] = chance(40) ? 0 : ptr();
        a[3] = ssize();
        return 1;
    case NR_rt_sigqueueinfo: case NR_rt_tgsigqueueinfo: {
        unsigned char info[128];
        for (int i = 0; i < 128; i++) info[i] = (unsigned char)rnd();
        int code = chance(80) ? -1 : (int)rnd();
        memcpy(info + 8, &code, 4);
        int i = 0;
        a[i++] = pidv();
        if (nr == NR_rt_tgsigqueueinfo) a[i++] = pidv();
        a[i++] = safe_sig(sigv());
        a[i++] = chance(85) ? put(info, 128) : ptr();
        return 1;
    }
    case NR_sigaltstack: {
        u64 ss[3];
        static const u64 fl[] = {0, 0, 2, 1, 0x80000000UL, 3, 4};
        ss[0] = (u64)altstk;
        ss[1] = chance(90) ? PICK(fl) : rnd();
        static const u64 sz[] = {sizeof altstk, sizeof altstk, 2048, 2047, 8192, 0, 1};
        ss[2] = PICK(sz);
        a[0] = chance(30) ? 0 : (chance(85) ? put(ss, 24) : wptr());
        a[1] = chance(40) ? 0 : ptr();
        return 1;
    }
    case NR_setuid: case NR_setgid: case NR_setfsuid: case NR_setfsgid:
    case NR_setreuid: case NR_setregid: case NR_setresuid: case NR_setresgid:
        /* mostly keep root, or the fuzzer loses most of its reach */
        for (int i = 0; i < 3; i++)
            a[i] = chance(95) ? (chance(50) ? 0 : ~0UL) : iv();
        return 1;
    case NR_set_robust_list:
        a[1] = chance(80) ? 24 : lenv();
        return 1;
    case NR_futex: {
        static const u64 cmds[] = {0, 0, 1, 1, 3, 4, 5, 9, 9, 10, 6, 7, 8, 11, 12, 13, 2, 14, 15};
        u64 cmd = chance(95) ? PICK(cmds) : rn(64);
        u64 op = cmd | (chance(50) ? 128 : 0) | (chance(20) ? 256 : 0);
        u64 uaddr = chance(85) ? (u64)scratch + (rn(SCR) & ~3UL) : ptr();
        u64 val = iv();
        if (chance(60) && uaddr - (u64)scratch <= SCR - 4)
            val = *(volatile unsigned *)uaddr;
        int waits = cmd == 0 || cmd == 9 || cmd == 6 || cmd == 8 || cmd == 11 || cmd == 13 || cmd >= 14;
        a[0] = uaddr; a[1] = op; a[2] = val;
        a[3] = waits ? timeout() : (chance(50) ? rn(8) : iv());
        a[4] = chance(70) ? (u64)scratch + (rn(SCR) & ~3UL) : ptr();
        a[5] = chance(50) ? ~0UL : (chance(50) ? 0 : rnd());
        return 1;
    }
    case NR_brk: {
        switch (rn(8)) {
        case 0: a[0] = 0; break;
        case 1: a[0] = brk0 + rn(1 << 20); break;
        case 2: a[0] = brk0 + (1UL << rn(40)); break;
        case 3: a[0] = TASK_SIZE - PAGE * rn(4096); break;
        case 4: a[0] = chance(50) ? ~0UL - rn(PAGE) : TASK_SIZE + rnd() % (1UL << 50); break;
        case 5: a[0] = rn(0x10000); break;
        case 6: a[0] = brk0; break;
        default: a[0] = brk0 + rn(64) * PAGE; break;
        }
        return 1;
    }
    case NR_mmap: {
        static const u64 kinds[] = {0x22, 0x22, 0x21, 0x02, 0x02, 0x02, 0x01, 0x03, 0x23, 0x00, 0x0f};
        static const u64 extra[] = {0x100, 0x8000, 0x4000, 0x20000, 0x40000, 0x800, 0x1000, 0x10000};
        u64 flags = PICK(kinds);
        if (chance(20)) flags |= PICK(extra);
        if (chance(5)) flags = rnd() & ~(0x10UL | 0x100000UL);
        u64 addr, len;
        if (chance(40)) {
            region(&addr, &len, 0);
            if (addr == 0x1000) /* a wild pointer elsewhere: keep it unmapped */
                addr = 0x200000;
            if (addr >= mapreg && addr < mapreg + MAPPAGES * PAGE)
                flags |= chance(70) ? 0x10 : 0x100000;
        } else {
            /* (never 0x1000: a wild pointer elsewhere) */
            static const u64 hints[] = {0, 0, 0, 0x10000, 0x200000, 0x100000000UL, TASK_SIZE - PAGE, TASK_SIZE};
            addr = chance(80) ? PICK(hints) : (rnd() % TASK_SIZE) & ~(PAGE - 1);
            len = lenv();
            if (chance(30)) len = (1 + rn(64)) * PAGE;
        }
        static const u64 offs[] = {0, 0, 4096, 8192, 1, 1UL << 40, 1UL << 39, ~0UL - 4095, 1UL << 62};
        if (avoid_mmap && !(flags & 0x100030) && len > (64UL << 20) && len < (1UL << 40))
            len = 64UL << 20;
        a[0] = addr; a[1] = len;
        a[2] = chance(90) ? rn(8) : rnd();
        a[3] = flags;
        a[4] = (flags & 0x20) && chance(70) ? ~0UL : fdv();
        a[5] = chance(80) ? PICK(offs) : offv();
        return 1;
    }
    case NR_munmap: case NR_mprotect: case NR_madvise: case NR_msync:
    case NR_mlock: case NR_munlock: case NR_mlock2: {
        u64 ad, ln;
        region(&ad, &ln, nr == NR_madvise);
        a[0] = ad; a[1] = ln;
        if (nr == NR_mprotect)
            a[2] = chance(90) ? rn(8) : (chance(50) ? 0x01000000 | rn(8) : rnd());
        else if (nr == NR_madvise) {
            static const u64 adv[] = {0, 1, 2, 3, 4, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 25, 100};
            a[2] = chance(90) ? PICK(adv) : iv();
        } else
            a[2] = flagv();
        return 1;
    }
    case NR_mremap: {
        u64 page = rn(MAPPAGES);
        a[0] = mapreg + page * PAGE;
        if (chance(10)) a[0] += 1 + rn(PAGE - 1);
        u64 room = (MAPPAGES - page) * PAGE;
        a[1] = chance(10) ? 0 : 1 + rn(room);
        static const u64 fl[] = {0, 0, 1, 1, 3, 5, 2, 4, 7};
        a[3] = chance(90) ? PICK(fl) : rn(256);
        if (a[3] & 2) {
            u64 np = rn(MAPPAGES);
            a[4] = mapreg + np * PAGE;
            a[2] = 1 + rn((MAPPAGES - np) * PAGE);
        } else {
            a[4] = ptr();
            a[2] = chance(80) ? 1 + rn(64 * PAGE) : lenv();
        }
        if (chance(5)) a[2] = ~0UL - rn(PAGE);
        if (chance(5)) a[0] = PICK(wilds);
        return 1;
    }
    case NR_eventfd2:
        a[1] = (chance(60) ? rn(2) : flagv()) | O_NONBLOCK_;
        return 1;
    case NR_timerfd_create:
        a[1] = (chance(80) ? (chance(50) ? 0 : 02000000) : flagv()) | O_NONBLOCK_;
        return 1;
    case NR_timerfd_settime:
        a[0] = fdv();
        a[1] = chance(70) ? rn(4) : flagv();
        a[2] = chance(10) ? 0 : gen_timer_spec();
        a[3] = chance(50) ? 0 : ptr();
        return 1;
    case NR_signalfd4:
        a[2] = chance(85) ? 8 : ssize();
        a[3] = (chance(60) ? 0 : flagv()) | O_NONBLOCK_;
        return 1;
    case NR_epoll_ctl: {
        u64 ev[2] = {chance(70) ? rn(64) : rnd(), rnd()};
        a[0] = fdv();
        a[1] = chance(90) ? 1 + rn(3) : iv();
        if (avoid_epoll && a[1] != 2)
            a[1] = 2; /* EPOLL_CTL_DEL */
        a[2] = fdv();
        a[3] = chance(80) ? put(ev, 16) : ptr();
        return 1;
    }
    case NR_epoll_pwait: case NR_epoll_pwait2:
        a[0] = fdv();
        a[1] = ptr();
        a[2] = chance(80) ? rn(16) : iv();
        if (nr == NR_epoll_pwait)
            a[3] = chance(90) ? 0 : 1;
        else
            a[3] = timeout();
        a[4] = chance(50) ? 0 : sigset();
        a[5] = ssize();
        return 1;
    case NR_socket: case NR_socketpair: {
        static const u64 dom[] = {1, 1, 1, 1, 1, 1, 2, 2, 10, 16, 17, 0, 3, 44};
        static const u64 ty[] = {1, 1, 1, 1, 2, 2, 5, 3, 4, 10, 0};
        a[0] = chance(90) ? PICK(dom) : iv();
        a[1] = (chance(90) ? PICK(ty) : iv()) | SOCK_NONBLOCK_ | (chance(20) ? 02000000 : 0);
        a[2] = chance(70) ? 0 : (chance(50) ? PICK(((const u64[]){6, 17, 1, 255})) : iv());
        if (nr == NR_socketpair) a[3] = ptr();
        return 1;
    }
    case NR_accept4:
        a[3] = (chance(60) ? 0 : flagv()) | SOCK_NONBLOCK_;
        return 1;
    case NR_setsockopt: case NR_getsockopt: {
        static const u64 lv[] = {1, 1, 1, 6, 0, 41, 17, 263, 0xffff};
        static const u64 on[] = {1, 2, 3, 4, 6, 7, 8, 9, 10, 13, 15, 16, 17, 18, 20, 21, 25, 29, 30, 38};
        a[0] = fdv();
        a[1] = chance(90) ? PICK(lv) : iv();
        a[2] = chance(90) ? PICK(on) : iv();
        if (nr == NR_setsockopt) {
            u64 v[4] = {rn(2) ? 1 : rnd(), rnd(), rnd(), rnd()};
            a[3] = chance(85) ? put(v, 32) : ptr();
            static const u64 ln[] = {4, 4, 8, 16, 0, 1, 3, 32, 0x80000000UL, ~0UL};
            a[4] = PICK(ln);
        } else {
            a[3] = ptr();
            a[4] = u32ptr();
        }
        return 1;
    }
    case NR_sendto:
        a[3] = (chance(60) ? 0 : flagv()) | MSG_DONTWAIT_;
        return 1;
    case NR_recvfrom:
        a[3] = (chance(60) ? (chance(50) ? 0 : 2) : flagv()) | MSG_DONTWAIT_;
        return 1;
    case NR_sendmsg: case NR_recvmsg: case NR_recvmmsg: {
        u64 m[7];
        u64 nl = 0, cnt = 0;
        m[0] = nr == NR_sendmsg ? (chance(50) ? 0 : sockaddr(&nl)) : ptr();
        if (nr != NR_sendmsg) nl = chance(70) ? 110 : lenv();
        m[1] = chance(80) ? nl : lenv();
        m[2] = iovec(&cnt);
        m[3] = cnt;
        if (nr == NR_sendmsg && chance(50)) {
            unsigned char c[64];
            int n = (int)rn(6);
            u64 clen = 16 + 4 * (u64)n;
            int lvl = 1, typ = chance(80) ? 1 : (int)rn(5);
            if (chance(10)) clen = lenv();
            memcpy(c, &clen, 8); memcpy(c + 8, &lvl, 4); memcpy(c + 12, &typ, 4);
            for (int i = 0; i < 12; i++) { int f = (int)fdv(); memcpy(c + 16 + 4 * i, &f, 4); }
            m[4] = put(c, 64);
            m[5] = chance(80) ? ((clen + 7) & ~7UL) : lenv();
        } else {
            m[4] = chance(50) ? 0 : ptr();
            m[5] = chance(50) ? rn(128) : lenv();
        }
        m[6] = rnd();
        a[0] = fdv();
        a[1] = chance(90) ? put(m, 56) : ptr();
        if (nr == NR_recvmmsg) {
            /* vlen 1, non-blocking, with a zero timeout */
            a[1] = chance(90) ? put(((u64[8]){m[0], m[1], m[2], m[3], m[4], m[5], m[6], 0}), 64) : ptr();
            a[2] = chance(80) ? 1 : rn(4);
            a[3] = (chance(60) ? 0 : flagv()) | MSG_DONTWAIT_;
            a[4] = timeout();
        } else {
            a[2] = (chance(60) ? 0 : flagv()) | MSG_DONTWAIT_;
        }
        return 1;
    }
    case NR_setitimer: {
        /* itimerval in microseconds; intervals of 1 ms or more */
        u64 t[4] = {0, 0, 0, 0};
        if (chance(40)) t[1] = 1000 + rn(50000);
        if (chance(70)) t[3] = 1 + rn(20000);
        if (chance(5)) t[3] = 1000000 + rn(10);
        if (chance(5)) t[0] = -(i64)1;
        a[0] = chance(80) ? rn(3) : iv();
        a[1] = chance(15) ? 0 : (chance(90) ? put(t, 32) : ptr());
        a[2] = chance(50) ? 0 : ptr();
        return 1;
    }
    case NR_timer_create: {
        unsigned char ev[64];
        for (int i = 0; i < 64; i++) ev[i] = (unsigned char)rnd();
        int signo = (int)safe_sig(chance(90) ? 1 + rn(64) : sigv());
        static const int notify[] = {0, 0, 1, 2, 4, 4, 3, -1};
        int nt = chance(90) ? PICK(notify) : (int)rnd();
        int tid = chance(60) ? 1 : (int)pidv();
        memcpy(ev + 8, &signo, 4); memcpy(ev + 12, &nt, 4); memcpy(ev + 16, &tid, 4);
        a[0] = clockv();
        /* never random bytes: they could name SIGKILL */
        a[1] = chance(15) ? 0 : (chance(90) ? put(ev, 64) : wptr());
        a[2] = ptr();
        return 1;
    }
    case NR_timer_settime:
        a[0] = chance(80) ? rn(8) : iv();
        a[1] = chance(70) ? rn(2) : flagv();
        a[2] = chance(10) ? 0 : gen_timer_spec();
        a[3] = chance(50) ? 0 : ptr();
        return 1;
    case NR_timer_gettime: case NR_timer_getoverrun: case NR_timer_delete:
        a[0] = chance(80) ? rn(8) : iv();
        a[1] = ptr();
        return 1;
    case NR_setrlimit: case NR_prlimit64: {
        u64 rl[2] = {chance(50) ? ~0UL : iv(), chance(50) ? ~0UL : iv()};
        int i = 0;
        if (nr == NR_prlimit64) a[i++] = chance(50) ? 0 : pidv();
        a[i++] = chance(80) ? rn(16) : iv();
        a[i++] = chance(20) ? 0 : (chance(85) ? put(rl, 16) : ptr());
        if (nr == NR_prlimit64) a[i++] = chance(40) ? 0 : ptr();
        return 1;
    }
    case NR_clock_nanosleep:
        a[0] = clockv();
        a[1] = chance(70) ? 0 : (chance(50) ? 1 : flagv());
        if (a[1] & 1) {
            /* absolute: a time long past */
            u64 ts[2] = {0, rn(1000000)};
            a[2] = chance(90) ? put(ts, 16) : timeout();
        } else {
            a[2] = timeout();
        }
        a[3] = ptr();
        return 1;
    case NR_riscv_hwprobe: {
        /* pairs of (i64 key, u64 value) */
        u64 pairs[16];
        for (int i = 0; i < 16; i += 2) {
            pairs[i] = chance(80) ? rn(8) : iv();
            pairs[i + 1] = rnd();
        }
        a[0] = chance(80) ? put(pairs, sizeof pairs) : ptr();
        a[1] = chance(80) ? rn(9) : lenv();
        a[2] = chance(70) ? 0 : lenv();
        a[3] = chance(70) ? 0 : ptr();
        a[4] = chance(80) ? 0 : flagv();
        return 1;
    }
    case NR_prctl: {
        static const u64 opts[] = {
            15, 16, 1, 2, 3, 4, 23, 36, 37, 38, 39, 8, 22, 24, 29, 30, 35,
            40, 41, 42, 45, 47, 0x53564d41, 0x59616d61, 59, 65,
        };
        a[0] = chance(90) ? PICK(opts) : iv();
        if (a[0] == 22) a[0] = 21; /* PR_SET_SECCOMP: no */
        if (a[0] == 1) a[1] = safe_sig(sigv()); else a[1] = chance(50) ? ptr() : iv();
        a[2] = chance(50) ? ptr() : iv();
        a[3] = iv(); a[4] = iv();
        return 1;
    }
    case -1: {
        static const u64 nrs[] = {
            ~0UL, 1000, 500, 450, 451, 453, 1UL << 32, 0x80000000, 244, 257,
            293, 425, 426, 427, 424, 438, 440, 442, 443, 444, 445,
            446, 447, 448, 449, 104, 105, 106, 117, 142, 171, 180, 186, 190,
            196, 217, 218, 219, 224, 225, 234, 235, 236, 237, 238, 239, 241,
            262, 263, 264, 265, 266, 268, 270, 271, 272, 273, 274, 275, 277,
            280, 282, 288, 289, 290, 294, 0, 1, 2, 3, 4, 18, 30, 31, 42, 58,
            60, 75, 89, 112, 116, 128, 170,
        };
        a[6] = PICK(nrs);
        for (int i = 0; i < 6; i++) a[i] = chance(50) ? ptr() : iv();
        return 1;
    }
    default:
        return 0;
    }
}

/* ---- signals ---- */

static volatile long fault_sigs, handled;
static int out_fd = 999, err_fd = 998;

static int say(int fd, const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        i64 r = sc3(NR_write, fd, s, n);
        if (r == -11) { sc0(NR_sched_yield); continue; }
        if (r <= 0) return -1;
        s += r; n -= (size_t)r;
    }
    return 0;
}

void on_signal(int sig, void *info, void *ctx) {
    (void)info; (void)ctx;
    handled++;
    if (sig == 4 || sig == 5 || sig == 7 || sig == 8 || sig == 11 || sig == 31) {
        if (++fault_sigs > 100000) {
            char m[80];
            snprintf(m, sizeof m, "fuzz: signal %d over and over: a real fault\n", sig);
            say(err_fd, m);
            sc1(94, 97);
        }
    }
}

static void setup_signals(void) {
    for (int s = 1; s <= 64; s++) {
        if (s == 9 || s == 19)
            continue;
        u64 act[3] = {(u64)on_signal, 4 | 0x10000000 /* SA_SIGINFO|SA_RESTART */, 0};
        sc4(NR_rt_sigaction, s, act, 0, 8);
    }
}

/* ---- FUZZ_ONLY ---- */

static long only[256][2];
static int nonly = -1;

static void parse_only(const char *s) {
    if (!s)
        return;
    nonly = 0;
    while (*s && nonly < 256) {
        char *e;
        long lo = strtol(s, &e, 10), hi = lo;
        if (*e == '-')
            hi = strtol(e + 1, &e, 10);
        only[nonly][0] = lo;
        only[nonly][1] = hi;
        nonly++;
        if (*e != ',')
            break;
        s = e + 1;
    }
}

static int wanted(long i) {
    if (nonly < 0)
        return 1;
    for (int k = 0; k < nonly; k++)
        if (i >= only[k][0] && i <= only[k][1])
            return 1;
    return 0;
}

/* ---- main ---- */

static void prepare(void) {
    /* fds 998/999: stderr/stdout as they were, for the fuzzer's own output */
    sc3(NR_dup3, 1, out_fd, 0);
    sc3(NR_dup3, 2, err_fd, 0);
    sc1(NR_close, 0);
    setup_signals();
    /* [guard][scratch][guard][mapreg][guard][edge rw][none][ro][guard] */
    u64 total = PAGE + SCR + PAGE + MAPPAGES * PAGE + PAGE + 3 * PAGE + PAGE;
    i64 m = sc6(NR_mmap, 0, total, 0, 0x22, ~0UL, 0);
    if (m < 0) {
        say(err_fd, "fuzz: mmap failed\n");
        sc1(94, 96);
    }
    scratch = (unsigned char *)(m + PAGE);
    mapreg = (u64)scratch + SCR + PAGE;
    edge = mapreg + MAPPAGES * PAGE + PAGE;
    sc3(NR_mprotect, scratch, SCR, 3);
    sc3(NR_mprotect, mapreg, MAPPAGES * PAGE, 3);
    sc3(NR_mprotect, edge, PAGE, 3);
    sc3(NR_mprotect, edge + 2 * PAGE, PAGE, 3);
    memset((void *)(edge + 2 * PAGE), 'A', PAGE);
    sc3(NR_mprotect, edge + 2 * PAGE, PAGE, 1);
    brk0 = (u64)sc1(NR_brk, 0);
    for (size_t i = 0; i + 1 < sizeof longpath; i++)
        longpath[i] = i % 2 ? 'a' : '/';
    memset(longname, 'n', sizeof longname - 1);
    memcpy(longname, "/tmp/", 5);
    /* a few files to work on */
    sc3(NR_mkdirat, -100, "/tmp/d", 0755);
    sc3(NR_mkdirat, -100, "/tmp/d/e", 0755);
    i64 fd = sc4(NR_openat, -100, "/tmp/x", 0102 | O_NONBLOCK_, 0644);
    if (fd >= 0) {
        sc3(NR_write, fd, "hello, world\n", 13);
        sc1(NR_close, fd);
    }
    sc3(NR_symlinkat, "/tmp/x", -100, "/tmp/l");
    sc3(NR_symlinkat, "/tmp/loop", -100, "/tmp/loop");
    sc4(NR_mknodat, -100, "/tmp/fifo", 010644, 0);
    sc1(NR_chdir, "/tmp");
}

int main(int argc, char **argv) {
    if (argc < 3) {
        say(2, "usage: syscalls SEED COUNT [trace]\n");
        return 2;
    }
    u64 seed = strtoul(argv[1], 0, 0);
    long count = strtol(argv[2], 0, 0);
    int trace = argc > 3;
    parse_only(getenv("FUZZ_ONLY"));
    const char *avoid = getenv("FUZZ_AVOID");
    if (avoid) {
        avoid_files = strstr(avoid, "files") != 0;
        avoid_exitsig = strstr(avoid, "exitsig") != 0;
        avoid_epoll = strstr(avoid, "epoll") != 0;
        avoid_settid = strstr(avoid, "settid") != 0;
        avoid_mmap = strstr(avoid, "mmap") != 0;
        avoid_vfork = strstr(avoid, "vfork") != 0;
        avoid_strings = strstr(avoid, "strings") != 0;
    }
    rstate = seed * 0x2545f4914f6cdd1dUL + 0x1234567;
    for (int i = 0; i < 4; i++)
        rnd();
    prepare();
    for (int i = 0; i < SCR; i++)
        scratch[i] = (unsigned char)rnd();

    u64 total = 0;
    for (size_t i = 0; i < NCALLS; i++)
        total += calls[i].w;
    long clones = 0;
    for (long i = 0; i < count; i++) {
        if (i % 256 == 255) {
            /* fresh descriptors and scratch bytes now and then */
            if (wanted(i)) {
                sc3(NR_close_range, 16, 997, 0);
                sc1(NR_chdir, "/tmp");
            }
            for (int k = 0; k < 64; k++)
                scratch[rn(SCR)] = (unsigned char)rnd();
        }
        u64 pick = rn(total);
        size_t c = 0;
        while (pick >= calls[c].w) {
            pick -= calls[c].w;
            c++;
        }
        const struct call *cl = &calls[c];
        u64 a[7] = {0, 0, 0, 0, 0, 0, (u64)cl->nr};
        u64 next = 0;
        ndrawn = 0;
        nused = 0;
        edge_used = 0;
        for (int k = 0; cl->k[k] && k < 6; k++) {
            if (cl->k[k] == '_') {
                a[k] = next;
                continue;
            }
            a[k] = argof(cl->k[k], &next);
        }
        special(cl->nr, a);
        /* now and then, one argument of a harmless kind replaced by noise */
        if (chance(5)) {
            int k = (int)rn(6);
            char kind = k < (int)strlen(cl->k) ? cl->k[k] : 0;
            if (kind == 'f' || kind == 'l' || kind == 'i' || kind == 'o' || kind == 'u')
                a[k] = chance(50) ? iv() : lenv();
            if (kind == 'f' && bad_fd(a[k]))
                a[k] = 3;
        }
        if ((cl->nr == NR_clone || cl->nr == NR_clone3 || cl->nr == NR_rt_sigreturn) &&
            ++clones > 48)
            continue;
        if (!wanted(i))
            continue;
        if (trace) {
            char m[256];
            snprintf(m, sizeof m, "#%ld %s(%ld)(%#lx, %#lx, %#lx, %#lx, %#lx, %#lx)", i,
                     cl->name, (long)a[6], a[0], a[1], a[2], a[3], a[4], a[5]);
            say(err_fd, m);
            for (int k = 0; k < ndrawn; k++) {
                snprintf(m, sizeof m, " \"%s\"", drawn[k]);
                say(err_fd, m);
            }
            say(err_fd, "\n");
        }
        fault_sigs = 0;
        i64 r;
        if (cl->nr == NR_clone || cl->nr == NR_clone3 || cl->nr == NR_rt_sigreturn) {
            u64 all = ~0UL, old = 0;
            sc4(NR_rt_sigprocmask, 2, &all, &old, 8);
            if (cl->nr == NR_rt_sigreturn)
                r = fz_sigreturn_child(a[0]);
            else
                r = fz_spawn(cl->nr, a[0], a[1], a[2], a[3], a[4]);
            sc4(NR_rt_sigprocmask, 2, &old, 0, 8);
        } else {
            r = sc6((i64)a[6], a[0], a[1], a[2], a[3], a[4], a[5]);
        }
        if (cl->nr == NR_accept && r >= 0)
            sc3(NR_fcntl, r, 4, O_NONBLOCK_ | 2);
        if (trace) {
            char m[64];
            snprintf(m, sizeof m, "  = %ld\n", (long)r);
            say(err_fd, m);
        }
    }
    char m[64];
    snprintf(m, sizeof m, "fuzz done %ld\n", count);
    /* exit status 3: the descriptor kept for this line was lost */
    sc1(94, say(out_fd, m) == 0 ? 0 : 3);
    return 0;
}
