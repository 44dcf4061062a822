/*
 * F and D conversions in every rounding mode (static and dyn) with fflags:
 * fcvt.{w,wu,l,lu}.{s,d} (NaN, ±inf, out of range, negative to unsigned,
 * ties, values just inside and outside each range: saturating results and
 * NV), fcvt.{s,d}.{w,wu,l,lu} (inexact large integers, the W forms reading
 * only the low 32 bits), fcvt.s.d (NaNs, overflow, subnormal results,
 * tininess after rounding) and fcvt.d.s.
 */
#include "fp_test.h"

XF1(fcvt_w_s, "fcvt.w.s") XF1(fcvt_wu_s, "fcvt.wu.s")
XF1(fcvt_l_s, "fcvt.l.s") XF1(fcvt_lu_s, "fcvt.lu.s")
XF1(fcvt_w_d, "fcvt.w.d") XF1(fcvt_wu_d, "fcvt.wu.d")
XF1(fcvt_l_d, "fcvt.l.d") XF1(fcvt_lu_d, "fcvt.lu.d")
FX1(fcvt_s_w, "fcvt.s.w") FX1(fcvt_s_wu, "fcvt.s.wu")
FX1(fcvt_s_l, "fcvt.s.l") FX1(fcvt_s_lu, "fcvt.s.lu")
/* binutils 2.40 rejects a rounding mode on the exact conversions */
FX1_INSN(fcvt_d_w, 0x69, x0) FX1_INSN(fcvt_d_wu, 0x69, x1)
FX1(fcvt_d_l, "fcvt.d.l") FX1(fcvt_d_lu, "fcvt.d.lu")
FF1(fcvt_s_d, "fcvt.s.d") FF1_INSN(fcvt_d_s, 0x21, x0)

static const struct {
    const char *name;
    fpfn const *fn;
} TO_INT_S[] = {
    {"fcvt.w.s", fcvt_w_s}, {"fcvt.wu.s", fcvt_wu_s},
    {"fcvt.l.s", fcvt_l_s}, {"fcvt.lu.s", fcvt_lu_s},
}, TO_INT_D[] = {
    {"fcvt.w.d", fcvt_w_d}, {"fcvt.wu.d", fcvt_wu_d},
    {"fcvt.l.d", fcvt_l_d}, {"fcvt.lu.d", fcvt_lu_d},
}, FROM_INT[] = {
    {"fcvt.s.w", fcvt_s_w}, {"fcvt.s.wu", fcvt_s_wu},
    {"fcvt.s.l", fcvt_s_l}, {"fcvt.s.lu", fcvt_s_lu},
    {"fcvt.d.w", fcvt_d_w}, {"fcvt.d.wu", fcvt_d_wu},
    {"fcvt.d.l", fcvt_d_l}, {"fcvt.d.lu", fcvt_d_lu},
};

static const u32 S_TO_INT[] = {
    0x00000000, 0x80000000, 0x3f000000, 0xbf000000, 0x3fc00000, 0x40200000,
    0xbfc00000, 0xc0200000, 0x3effffff, 0xbf666666, 0x3f400000, 0xbf400000,
    0x4effffff, /* 2^31 - 128 */
    0x4f000000, /* 2^31 */
    0xcf000000, /* -2^31 */
    0xcf000001, /* below -2^31 */
    0x4f800000, /* 2^32 */
    0x4f7fffff, /* 2^32 - 256 */
    0x5f000000, /* 2^63 */
    0x5effffff, /* 2^63 - 2^39 */
    0xdf000000, /* -2^63 */
    0xdf000001, /* below -2^63 */
    0x5f800000, /* 2^64 */
    0x5f7fffff, /* 2^64 - 2^40 */
    0xbf800000, 0xbf7fffff, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001,
    0x7f800000, 0xff800000, 0x7f7fffff, 0xff7fffff, 0x00000001, 0x80000001,
    0x00800000, 0x4e6e6b28, 0x407fbe77, 0xc07fbe77, 0x4b000001, 0xcb000001,
};

static const u64 D_TO_INT[] = {
    0x0000000000000000ull, 0x8000000000000000ull, 0x3fe0000000000000ull,
    0xbfe0000000000000ull, 0x3ff8000000000000ull, 0x4004000000000000ull,
    0xbff8000000000000ull, 0xc004000000000000ull, 0x3fdfffffffffffffull,
    0xbfeccccccccccccdull, 0x3fe8000000000000ull, 0xbfe8000000000000ull,
    0x41dfffffffc00000ull, /* 2^31 - 1 */
    0x41dfffffffe00000ull, /* 2^31 - 0.5 */
    0x41dffffffff00000ull, /* 2^31 - 0.25 */
    0x41e0000000000000ull, /* 2^31 */
    0xc1e0000000000000ull, /* -2^31 */
    0xc1e0000000100000ull, /* -2^31 - 0.5 */
    0xc1e0000000080000ull, /* -2^31 - 0.25 */
    0xc1e0000000200000ull, /* -2^31 - 1 */
    0x41efffffffe00000ull, /* 2^32 - 1 */
    0x41efffffffff0000ull, /* 2^32 - 0.5 */
    0x41f0000000000000ull, /* 2^32 */
    0x43dfffffffffffffull, /* 2^63 - 1024 */
    0x43e0000000000000ull, /* 2^63 */
    0xc3e0000000000000ull, /* -2^63 */
    0xc3e0000000000001ull, /* below -2^63 */
    0x43efffffffffffffull, /* 2^64 - 2048 */
    0x43f0000000000000ull, /* 2^64 */
    0xbff0000000000000ull, 0xbfefffffffffffffull, 0x7ff8000000000000ull,
    0xfff8000000000000ull, 0x7ff0000000000001ull, 0xfff0000000000001ull,
    0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7fefffffffffffffull,
    0xffefffffffffffffull, 0x0000000000000001ull, 0x8000000000000001ull,
    0x0010000000000000ull, 0x41cdcd6500000000ull, 0x400ff7ced916872bull,
    0xc00ff7ced916872bull, 0x4330000000000001ull, 0xc330000000000001ull,
};

static const u64 INTS[] = {
    0x0000000000000000ull, 0x0000000000000001ull, 0xffffffffffffffffull,
    0x000000007fffffffull, 0x0000000080000000ull, 0x00000000ffffffffull,
    0x0000000001000001ull, 0x0000000001000003ull, 0x0000000000ffffffull,
    0x000000007fffffc0ull, 0x000000007fffffbfull, 0x00000000ffffff80ull,
    0x0020000000000001ull, 0x0020000000000003ull, 0x8000000000000000ull,
    0x7fffffffffffffffull, 0xfffffffffffffc00ull, 0x7ffffffffffffe00ull,
    0x7ffffffffffffdffull, 0xfffffffffffff800ull, 0xfffffffffffffbffull,
    0xdeadbeef00000001ull, 0x0000000180000000ull, 0xffffffff00000000ull,
    0xfffffffeffffffffull, 0x8000008000000001ull,
};

static const u64 D_TO_S[] = {
    0x3ff0000010000000ull, /* 1 + 2^-24: tie */
    0x3ff0000030000000ull, /* 1 + 3*2^-24: tie */
    0x3ff0000010000001ull, /* just above a tie */
    0x3ff000000fffffffull, /* just below a tie */
    0x47efffffe0000000ull, /* max single + half ulp */
    0x47efffffdfffffffull,
    0x47efffffefffffffull,
    0x47f0000000000000ull, /* 2^128 */
    0xc7f0000000000000ull,
    0x36a0000000000000ull, /* 2^-149: min subnormal */
    0x3690000000000000ull, /* 2^-150: tie between 0 and min subnormal */
    0x3690000000000001ull,
    0xb690000000000000ull,
    0x3680000000000000ull, /* 2^-151 */
    0x380fffffe0000000ull, /* (1 - 2^-24) * 2^-126 */
    0x380ffffff0000000ull, /* (1 - 2^-25) * 2^-126: tiny, rounds to normal */
    0x380fffffd0000000ull,
    0x380fffffffffffffull,
    0x3810000000000000ull, /* 2^-126 */
    0x3800000000000000ull, /* 2^-127 */
    0x3800000010000000ull,
    0x3fb999999999999aull, /* 0.1 */
    0x400921fb54442d18ull, /* pi */
    0x7ff8000000000000ull, 0xfff8000000012345ull, 0x7ff0000000000001ull,
    0x7ff4000000000000ull, 0xfff0000000000000ull, 0x0000000000000001ull,
    0x8000000000000000ull, 0x7fefffffffffffffull,
};

int main(void)
{
    for (unsigned k = 0; k < COUNT(TO_INT_S); k++) {
        for (unsigned i = 0; i < COUNT(S_TO_INT); i++)
            run_rm(TO_INT_S[k].name, TO_INT_S[k].fn, 1, FMT_S,
                   box(S_TO_INT[i]), 0, 0, 0x1f, 0);
        for (int i = 0; i < 100 * RANDOM_SCALE; i++)
            run_rm(TO_INT_S[k].name, TO_INT_S[k].fn, 1, FMT_S, box(rnd_s()), 0,
                   0, 0x1f, 0);
    }
    for (unsigned k = 0; k < COUNT(TO_INT_D); k++) {
        for (unsigned i = 0; i < COUNT(D_TO_INT); i++)
            run_rm(TO_INT_D[k].name, TO_INT_D[k].fn, 1, FMT_D, D_TO_INT[i], 0,
                   0, 0x1f, 0);
        for (int i = 0; i < 100 * RANDOM_SCALE; i++)
            run_rm(TO_INT_D[k].name, TO_INT_D[k].fn, 1, FMT_D, rnd_d(), 0, 0,
                   0x1f, 0);
    }
    for (unsigned k = 0; k < COUNT(FROM_INT); k++) {
        for (unsigned i = 0; i < COUNT(INTS); i++)
            run_rm(FROM_INT[k].name, FROM_INT[k].fn, 1, FMT_X, INTS[i], 0, 0,
                   0x1f, 1);
        for (int i = 0; i < 100 * RANDOM_SCALE; i++) {
            u64 v = rnd();
            v >>= v & 63;
            if (i & 1)
                v = -v;
            run_rm(FROM_INT[k].name, FROM_INT[k].fn, 1, FMT_X, v, 0, 0, 0x1f,
                   0);
        }
    }
    for (unsigned i = 0; i < COUNT(D_TO_S); i++)
        run_rm("fcvt.s.d", fcvt_s_d, 1, FMT_D, D_TO_S[i], 0, 0, 0x1f, 1);
    for (unsigned i = 0; i < COUNT(D_SPECIAL); i++)
        run_rm("fcvt.s.d", fcvt_s_d, 1, FMT_D, D_SPECIAL[i], 0, 0, 0x1f, 0);
    for (int i = 0; i < 200 * RANDOM_SCALE; i++) {
        /* Doubles in and around the single range. */
        u64 v = rnd_d();
        u64 e = 1023 - 160 + (rnd() % 300);
        v = (v & 0x800fffffffffffffull) | e << 52;
        run_rm("fcvt.s.d", fcvt_s_d, 1, FMT_D, v, 0, 0, 0x1f, 0);
    }
    for (unsigned i = 0; i < COUNT(S_SPECIAL); i++)
        run_rm("fcvt.d.s", fcvt_d_s, 1, FMT_S, box(S_SPECIAL[i]), 0, 0, 0x1f,
               0);
    for (int i = 0; i < 50 * RANDOM_SCALE; i++)
        run_rm("fcvt.d.s", fcvt_d_s, 1, FMT_S, box(rnd_s()), 0, 0, 0x1, 0);
    return 0;
}
