/*
 * Helpers for the F/D test programs: every instruction under test runs in
 * its own asm statement that loads its inputs with fmv.d.x (so that single
 * precision inputs are given NaN-boxed, or deliberately not), sets fflags
 * with fsflags, executes the instruction with a given static rounding mode
 * or dyn, reads fflags back with frflags and returns the full 64-bit result
 * register (fmv.x.d, so NaN-boxing of single results is visible) or the
 * integer result.
 */
#ifndef FP_TEST_H
#define FP_TEST_H

#include "isa_test.h"

/* One instruction: inputs a, b, c (f registers ft0..ft2, or a in an
 * integer register), flags in and out through *fl. */
typedef u64 (*fpfn)(u64 a, u64 b, u64 c, u64 *fl);

#define ASM_OP(name, text)                                                    \
    static u64 name(u64 a, u64 b, u64 c, u64 *fl)                             \
    {                                                                         \
        u64 r, f = *fl;                                                       \
        __asm__ volatile("fmv.d.x ft0, %2\n\tfmv.d.x ft1, %3\n\t"             \
                         "fmv.d.x ft2, %4\n\tfsflags %1\n\t" text             \
                         "\n\tfrflags %1"                                     \
                         : "=&r"(r), "+r"(f)                                  \
                         : "r"(a), "r"(b), "r"(c)                             \
                         : "ft0", "ft1", "ft2", "ft3");                       \
        *fl = f;                                                              \
        return r;                                                             \
    }

/* The five static rounding modes, then dyn. */
#define RM_VARIANTS(name, pre, post)                                          \
    ASM_OP(name##_rne, pre "rne" post)                                        \
    ASM_OP(name##_rtz, pre "rtz" post)                                        \
    ASM_OP(name##_rdn, pre "rdn" post)                                        \
    ASM_OP(name##_rup, pre "rup" post)                                        \
    ASM_OP(name##_rmm, pre "rmm" post)                                        \
    ASM_OP(name##_dyn, pre "dyn" post)                                        \
    static fpfn const name[6] = {name##_rne, name##_rtz, name##_rdn,          \
                                 name##_rup, name##_rmm, name##_dyn};

/* The same with the rounding mode as a number, for .insn encodings of
 * instructions whose rounding mode binutils does not accept (the exact
 * conversions fcvt.d.w, fcvt.d.wu and fcvt.d.s still have an rm field). */
#define RM_VARIANTS_N(name, pre, post)                                        \
    ASM_OP(name##_rne, pre "0" post)                                          \
    ASM_OP(name##_rtz, pre "1" post)                                          \
    ASM_OP(name##_rdn, pre "2" post)                                          \
    ASM_OP(name##_rup, pre "3" post)                                          \
    ASM_OP(name##_rmm, pre "4" post)                                          \
    ASM_OP(name##_dyn, pre "7" post)                                          \
    static fpfn const name[6] = {name##_rne, name##_rtz, name##_rdn,          \
                                 name##_rup, name##_rmm, name##_dyn};

/* f = op(f, f, rm) */
#define FF2(name, insn) RM_VARIANTS(name, insn " ft3, ft0, ft1, ", "\n\tfmv.x.d %0, ft3")
/* f = op(f, rm) */
#define FF1(name, insn) RM_VARIANTS(name, insn " ft3, ft0, ", "\n\tfmv.x.d %0, ft3")
/* f = op(f, f, f, rm) */
#define FF3(name, insn) RM_VARIANTS(name, insn " ft3, ft0, ft1, ft2, ", "\n\tfmv.x.d %0, ft3")
/* x = op(f, rm) */
#define XF1(name, insn) RM_VARIANTS(name, insn " %0, ft0, ", "")
/* f = op(x, rm) */
#define FX1(name, insn) RM_VARIANTS(name, insn " ft3, %2, ", "\n\tfmv.x.d %0, ft3")
/* f = op(x, rm) as .insn: funct7 and the rs2 field given as a register */
#define FX1_INSN(name, funct7, rs2)                                           \
    RM_VARIANTS_N(name, ".insn r 0x53, ",                                     \
                  ", " #funct7 ", ft3, %2, " #rs2 "\n\tfmv.x.d %0, ft3")
/* f = op(f, rm) as .insn */
#define FF1_INSN(name, funct7, rs2)                                           \
    RM_VARIANTS_N(name, ".insn r 0x53, ",                                     \
                  ", " #funct7 ", ft3, ft0, " #rs2 "\n\tfmv.x.d %0, ft3")

#define RM_DYN_INDEX 5
static const char *const RM_NAME[] = {"rne", "rtz", "rdn", "rup", "rmm"};

static inline void set_frm(unsigned rm)
{
    __asm__ volatile("fsrm %0" : : "r"((u64)rm));
}

/* Value formats for printing. */
enum { FMT_S, FMT_D, FMT_X };

#define BOX 0xffffffff00000000ull
static inline u64 box(u32 v) { return BOX | v; }

static void put(int fmt, u64 v)
{
    if (fmt == FMT_S && (v & BOX) == BOX)
        printf(" %08lx", v & 0xffffffff);
    else
        printf(" %016lx", v);
}

/*
 * Runs `fns` on the inputs: with every static rounding mode, then with dyn
 * and frm set to each mode in `dyn_modes` (a bit set), then (if `nx`) once
 * more in rne with the inexact flag already set (flags are accrued: the
 * result's other flags must still appear). One line per run.
 */
static void run_rm(const char *op, fpfn const *fns, int nin, int in_fmt,
                   u64 a, u64 b, u64 c, unsigned dyn_modes, int nx)
{
    const u64 in[3] = {a, b, c};
    for (int rm = 0; rm < 5 + 5 + 1; rm++) {
        int dyn = rm >= 5 && rm < 10;
        if (dyn && !(dyn_modes & (1u << (rm - 5))))
            continue;
        if (rm == 10 && !nx)
            continue;
        u64 fl = rm == 10 ? 1 : 0;
        if (dyn)
            set_frm(rm - 5);
        u64 r = fns[dyn ? RM_DYN_INDEX : rm == 10 ? 0 : rm](a, b, c, &fl);
        if (dyn) {
            set_frm(0);
            printf("%s dyn(%s)", op, RM_NAME[rm - 5]);
        } else if (rm == 10) {
            printf("%s rne+nx", op);
        } else {
            printf("%s %s", op, RM_NAME[rm]);
        }
        for (int i = 0; i < nin; i++)
            put(in_fmt, in[i]);
        printf(" -> %016lx fl=%02lx\n", r, fl);
    }
}

/* Runs an instruction without a rounding mode once. */
static inline void run1(const char *op, fpfn fn, int nin, int in_fmt, u64 a, u64 b)
{
    u64 fl = 0;
    u64 r = fn(a, b, 0, &fl);
    printf("%s", op);
    put(in_fmt, a);
    if (nin > 1)
        put(in_fmt, b);
    printf(" -> %016lx fl=%02lx\n", r, fl);
}

/* Special single-precision values (raw bits). */
static const u32 S_SPECIAL[] = {
    0x00000000, /* +0 */
    0x80000000, /* -0 */
    0x7f800000, /* +inf */
    0xff800000, /* -inf */
    0x7fc00000, /* canonical qNaN */
    0xffc12345, /* -qNaN with payload */
    0x7f800001, /* sNaN */
    0xffa00000, /* -sNaN */
    0x3f800000, /* 1 */
    0xbf800000, /* -1 */
    0x3fc00000, /* 1.5 */
    0x40400000, /* 3 */
    0x3dcccccd, /* 0.1 */
    0x7f7fffff, /* max */
    0xff7fffff, /* -max */
    0x00800000, /* min normal */
    0x80800000, /* -min normal */
    0x007fffff, /* max subnormal */
    0x00000001, /* min subnormal */
    0x80000001, /* -min subnormal */
    0x3f800001, /* 1 + ulp */
    0x33800000, /* 2^-24 */
    0x4b800000, /* 2^24 */
    0x00400000, /* subnormal 2^-127 */
};

/* Special double-precision values (raw bits). */
static const u64 D_SPECIAL[] = {
    0x0000000000000000ull, /* +0 */
    0x8000000000000000ull, /* -0 */
    0x7ff0000000000000ull, /* +inf */
    0xfff0000000000000ull, /* -inf */
    0x7ff8000000000000ull, /* canonical qNaN */
    0xfff8000000012345ull, /* -qNaN with payload */
    0x7ff0000000000001ull, /* sNaN */
    0xfff4000000000000ull, /* -sNaN */
    0x3ff0000000000000ull, /* 1 */
    0xbff0000000000000ull, /* -1 */
    0x3ff8000000000000ull, /* 1.5 */
    0x4008000000000000ull, /* 3 */
    0x3fb999999999999aull, /* 0.1 */
    0x7fefffffffffffffull, /* max */
    0xffefffffffffffffull, /* -max */
    0x0010000000000000ull, /* min normal */
    0x8010000000000000ull, /* -min normal */
    0x000fffffffffffffull, /* max subnormal */
    0x0000000000000001ull, /* min subnormal */
    0x8000000000000001ull, /* -min subnormal */
    0x3ff0000000000001ull, /* 1 + ulp */
    0x3ca0000000000000ull, /* 2^-53 */
    0x4340000000000000ull, /* 2^53 */
    0x0008000000000000ull, /* subnormal 2^-1023 */
};

/*
 * Random values that exercise rounding: random sign; exponent near 1,
 * near the subnormal range, near overflow, or anywhere; significand random
 * or with only a few bits (so that results are often exact or ties).
 */
static inline u32 rnd_s(void)
{
    u64 x = rnd();
    u32 sign = (u32)(x & 1) << 31;
    u32 e;
    switch ((x >> 1) & 7) {
    case 0: e = 0; break;
    case 1: e = 1 + ((x >> 4) & 3); break;
    case 2: e = 254 - ((x >> 4) & 3); break;
    case 3: e = (x >> 4) & 0xff; break;
    default: e = 127 - 12 + ((x >> 4) % 25); break;
    }
    u32 m;
    if ((x >> 12) & 1)
        m = (x >> 13) & 0x7fffff;
    else
        m = (u32)(((x >> 13) & 7) << ((x >> 16) % 21));
    if (e == 255)
        e = 254;
    return sign | e << 23 | (m & 0x7fffff);
}

static inline u64 rnd_d(void)
{
    u64 x = rnd(), y = rnd();
    u64 sign = (x & 1) << 63;
    u64 e;
    switch ((x >> 1) & 7) {
    case 0: e = 0; break;
    case 1: e = 1 + ((x >> 4) & 3); break;
    case 2: e = 2046 - ((x >> 4) & 3); break;
    case 3: e = (x >> 4) & 0x7ff; break;
    default: e = 1023 - 30 + ((x >> 4) % 61); break;
    }
    u64 m;
    if ((x >> 16) & 1)
        m = y & 0xfffffffffffffull;
    else
        m = (y & 7) << ((y >> 8) % 50);
    if (e == 2047)
        e = 2046;
    return sign | e << 52 | (m & 0xfffffffffffffull);
}

#endif
