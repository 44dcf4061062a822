/*
 * F and D arithmetic: fadd, fsub, fmul, fdiv and fsqrt in single and double
 * precision, with every static rounding mode and dyn (frm set with fsrm),
 * fflags cleared before and read after each instruction. Inputs: the
 * special values (±0, ±inf, qNaN, sNaN, subnormals, min/max normal) against
 * each other, crafted overflow/underflow/inexact/tie cases, and random
 * values biased towards rounding edge cases. Also runs each case in rne
 * with the inexact flag already set (flags accrue).
 */
#include "fp_test.h"

FF2(fadd_s, "fadd.s") FF2(fsub_s, "fsub.s") FF2(fmul_s, "fmul.s")
FF2(fdiv_s, "fdiv.s") FF1(fsqrt_s, "fsqrt.s")
FF2(fadd_d, "fadd.d") FF2(fsub_d, "fsub.d") FF2(fmul_d, "fmul.d")
FF2(fdiv_d, "fdiv.d") FF1(fsqrt_d, "fsqrt.d")

static const struct {
    const char *name;
    fpfn const *s, *d;
} BIN[] = {
    {"fadd", fadd_s, fadd_d},
    {"fsub", fsub_s, fsub_d},
    {"fmul", fmul_s, fmul_d},
    {"fdiv", fdiv_s, fdiv_d},
};

/* Crafted pairs: overflow, underflow (tiny before and after rounding),
 * exact cancellation, ties. */
static const u32 S_PAIRS[][2] = {
    {0x7f7fffff, 0x7f7fffff}, /* max + max: overflow */
    {0x7f7fffff, 0x73800000}, /* max + half ulp: tie */
    {0x7f7fffff, 0x73800001}, /* max + just above half ulp */
    {0x00800000, 0x80000001}, /* min normal - min subnormal */
    {0x3f800000, 0x33800000}, /* 1 + 2^-24: tie to even */
    {0x3f800001, 0x33800000}, /* (1 + ulp) + 2^-24: tie to odd */
    {0x3f800000, 0xb3800000}, /* 1 - 2^-24 */
    {0x3f800000, 0xbf800000}, /* 1 - 1: exact zero */
    {0x3f800000, 0x3f800000},
    {0x1f800000, 0x1f800000}, /* 2^-64 squared: underflow */
    {0x20000000, 0x1f000000}, /* 2^-63 * 2^-65: exactly min normal */
    {0x3f7fffff, 0x00800000}, /* (1-ulp) * min normal: tiny, rounds up */
    {0x3f7ffffe, 0x00800000},
    {0x3f800001, 0x00ffffff},
    {0x5f800000, 0x5f800000}, /* 2^64 squared: overflow in mul */
    {0x40490fdb, 0x402df854}, /* pi, e */
    {0xc0490fdb, 0x402df854},
    {0x3eaaaaab, 0x40400000}, /* 1/3, 3 */
    {0x00000003, 0x40000000}, /* subnormal / 2: tie */
    {0x00000003, 0x3f000000},
    {0x7f000000, 0x00000001}, /* huge / tiny */
};

static const u64 D_PAIRS[][2] = {
    {0x7fefffffffffffffull, 0x7fefffffffffffffull},
    {0x7fefffffffffffffull, 0x7c90000000000000ull},
    {0x7fefffffffffffffull, 0x7c90000000000001ull},
    {0x0010000000000000ull, 0x8000000000000001ull},
    {0x3ff0000000000000ull, 0x3ca0000000000000ull},
    {0x3ff0000000000001ull, 0x3ca0000000000000ull},
    {0x3ff0000000000000ull, 0xbca0000000000000ull},
    {0x3ff0000000000000ull, 0xbff0000000000000ull},
    {0x3ff0000000000000ull, 0x3ff0000000000000ull},
    {0x1ff0000000000000ull, 0x1ff0000000000000ull},
    {0x2000000000000000ull, 0x1ff8000000000000ull},
    {0x3fefffffffffffffull, 0x0010000000000000ull},
    {0x3feffffffffffffeull, 0x0010000000000000ull},
    {0x3ff0000000000001ull, 0x001fffffffffffffull},
    {0x5ff0000000000000ull, 0x5ff0000000000000ull},
    {0x400921fb54442d18ull, 0x4005bf0a8b145769ull},
    {0xc00921fb54442d18ull, 0x4005bf0a8b145769ull},
    {0x3fd5555555555555ull, 0x4008000000000000ull},
    {0x0000000000000003ull, 0x4000000000000000ull},
    {0x0000000000000003ull, 0x3fe0000000000000ull},
    {0x7fe0000000000000ull, 0x0000000000000001ull},
};

static const u32 S_SQRT[] = {0x40000000, 0x40800000, 0x3f000000, 0x00000002,
                             0x00000001, 0x007fffff, 0x7f7fffff, 0xc0800000,
                             0x3f800001, 0x4b7fffff};
static const u64 D_SQRT[] = {
    0x4000000000000000ull, 0x4010000000000000ull, 0x3fe0000000000000ull,
    0x0000000000000002ull, 0x0000000000000001ull, 0x000fffffffffffffull,
    0x7fefffffffffffffull, 0xc010000000000000ull, 0x3ff0000000000001ull,
    0x433fffffffffffffull};

int main(void)
{
    for (unsigned k = 0; k < COUNT(BIN); k++) {
        char s[16], d[16];
        snprintf(s, sizeof s, "%s.s", BIN[k].name);
        snprintf(d, sizeof d, "%s.d", BIN[k].name);
        for (unsigned i = 0; i < COUNT(S_SPECIAL); i++)
            for (unsigned j = 0; j < COUNT(S_SPECIAL); j++)
                run_rm(s, BIN[k].s, 2, FMT_S, box(S_SPECIAL[i]),
                       box(S_SPECIAL[j]), 0, 1u << ((i + j) % 5), 0);
        for (unsigned i = 0; i < COUNT(D_SPECIAL); i++)
            for (unsigned j = 0; j < COUNT(D_SPECIAL); j++)
                run_rm(d, BIN[k].d, 2, FMT_D, D_SPECIAL[i], D_SPECIAL[j], 0,
                       1u << ((i + j) % 5), 0);
        for (unsigned i = 0; i < COUNT(S_PAIRS); i++) {
            run_rm(s, BIN[k].s, 2, FMT_S, box(S_PAIRS[i][0]),
                   box(S_PAIRS[i][1]), 0, 0x1f, 1);
            run_rm(s, BIN[k].s, 2, FMT_S, box(S_PAIRS[i][1] ^ 0x80000000),
                   box(S_PAIRS[i][0]), 0, 0x1f, 1);
        }
        for (unsigned i = 0; i < COUNT(D_PAIRS); i++) {
            run_rm(d, BIN[k].d, 2, FMT_D, D_PAIRS[i][0], D_PAIRS[i][1], 0,
                   0x1f, 1);
            run_rm(d, BIN[k].d, 2, FMT_D, D_PAIRS[i][1] ^ (1ull << 63),
                   D_PAIRS[i][0], 0, 0x1f, 1);
        }
        for (int i = 0; i < 400 * RANDOM_SCALE; i++) {
            u32 a = rnd_s(), b = rnd_s();
            run_rm(s, BIN[k].s, 2, FMT_S, box(a), box(b), 0, 0x1f, 1);
        }
        for (int i = 0; i < 400 * RANDOM_SCALE; i++) {
            u64 a = rnd_d(), b = rnd_d();
            run_rm(d, BIN[k].d, 2, FMT_D, a, b, 0, 0x1f, 1);
        }
    }
    for (unsigned i = 0; i < COUNT(S_SPECIAL); i++)
        run_rm("fsqrt.s", fsqrt_s, 1, FMT_S, box(S_SPECIAL[i]), 0, 0, 0x1f, 0);
    for (unsigned i = 0; i < COUNT(D_SPECIAL); i++)
        run_rm("fsqrt.d", fsqrt_d, 1, FMT_D, D_SPECIAL[i], 0, 0, 0x1f, 0);
    for (unsigned i = 0; i < COUNT(S_SQRT); i++)
        run_rm("fsqrt.s", fsqrt_s, 1, FMT_S, box(S_SQRT[i]), 0, 0, 0x1f, 1);
    for (unsigned i = 0; i < COUNT(D_SQRT); i++)
        run_rm("fsqrt.d", fsqrt_d, 1, FMT_D, D_SQRT[i], 0, 0, 0x1f, 1);
    for (int i = 0; i < 300 * RANDOM_SCALE; i++) {
        u32 a = rnd_s() & 0x7fffffff;
        run_rm("fsqrt.s", fsqrt_s, 1, FMT_S, box(a), 0, 0, 0x1f, 1);
    }
    for (int i = 0; i < 300 * RANDOM_SCALE; i++) {
        u64 a = rnd_d() & ~(1ull << 63);
        run_rm("fsqrt.d", fsqrt_d, 1, FMT_D, a, 0, 0, 0x1f, 1);
    }
    return 0;
}
