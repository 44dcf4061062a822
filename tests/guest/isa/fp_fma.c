/*
 * Fused multiply-add: fmadd, fmsub, fnmadd and fnmsub in single and double
 * precision with every rounding mode (static and dyn) and fflags: special
 * values against each other (including inf * 0 + qNaN, which must raise
 * NV), exact cancellations (the sign of zero), products that overflow or
 * underflow before the addition, single-rounding cases that a separate
 * multiply and add would get wrong, and random values.
 */
#include "fp_test.h"

FF3(fmadd_s, "fmadd.s") FF3(fmsub_s, "fmsub.s") FF3(fnmadd_s, "fnmadd.s")
FF3(fnmsub_s, "fnmsub.s")
FF3(fmadd_d, "fmadd.d") FF3(fmsub_d, "fmsub.d") FF3(fnmadd_d, "fnmadd.d")
FF3(fnmsub_d, "fnmsub.d")
FF2(fmul_s, "fmul.s") FF2(fmul_d, "fmul.d")

static const struct {
    const char *s_name, *d_name;
    fpfn const *s, *d;
} OPS[] = {
    {"fmadd.s", "fmadd.d", fmadd_s, fmadd_d},
    {"fmsub.s", "fmsub.d", fmsub_s, fmsub_d},
    {"fnmadd.s", "fnmadd.d", fnmadd_s, fnmadd_d},
    {"fnmsub.s", "fnmsub.d", fnmsub_s, fnmsub_d},
};

/* Indices into S_SPECIAL / D_SPECIAL: +0 -0 +inf -inf qNaN sNaN 1 -1.5
 * max minsub. */
static const unsigned PICK_AB[] = {0, 1, 2, 3, 4, 6, 8, 10, 13, 18};
/* +0 -0 +inf -inf qNaN -sNaN 1 -1 -max min-normal */
static const unsigned PICK_C[] = {0, 1, 2, 3, 4, 7, 8, 9, 14, 15};

static const u32 S_TRIPLES[][3] = {
    {0x7f800000, 0x00000000, 0x7fc00000}, /* inf * 0 + qNaN */
    {0x00000000, 0xff800000, 0x7fc00000}, /* 0 * -inf + qNaN */
    {0x7f800000, 0x00000000, 0x7f800001}, /* inf * 0 + sNaN */
    {0x7f800000, 0x3f800000, 0xff800000}, /* inf - inf */
    {0x3f800000, 0x3f800000, 0xbf800000}, /* 1*1 - 1: exact zero */
    {0x80000000, 0x3f800000, 0x00000000}, /* -0 + +0 */
    {0x80000000, 0x3f800000, 0x80000000}, /* -0 + -0 */
    {0x3f800001, 0x3f800001, 0xbf800002}, /* low bits survive */
    {0x3f800001, 0x3f7fffff, 0xbf800000}, /* (1+u)(1-u/2) - 1 */
    {0x7f7fffff, 0x40000000, 0xff7fffff}, /* product overflows, sum ok */
    {0x1f800000, 0x1f800000, 0x00000000}, /* underflow */
    {0x1f800000, 0x1f800000, 0x00800000}, /* tiny + min normal */
    {0x20000000, 0x1f7fffff, 0x80000001},
    {0x3f800000, 0x33800000, 0x3f800000}, /* 1 + 2^-24 tie */
    {0x3f800000, 0x33800001, 0x3f800000},
    {0x4b800001, 0x3f800000, 0xcb800000},
    {0x00000001, 0x3f000000, 0x00000000}, /* min subnormal / 2 */
    {0x00000001, 0xbf000000, 0x00000000},
    {0x00000003, 0x3f000000, 0x80000000},
    {0x7f7fffff, 0x7f7fffff, 0xff800000}, /* overflow + -inf */
};

static const u64 D_TRIPLES[][3] = {
    {0x7ff0000000000000ull, 0x0000000000000000ull, 0x7ff8000000000000ull},
    {0x0000000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000000ull},
    {0x7ff0000000000000ull, 0x0000000000000000ull, 0x7ff0000000000001ull},
    {0x7ff0000000000000ull, 0x3ff0000000000000ull, 0xfff0000000000000ull},
    {0x3ff0000000000000ull, 0x3ff0000000000000ull, 0xbff0000000000000ull},
    {0x8000000000000000ull, 0x3ff0000000000000ull, 0x0000000000000000ull},
    {0x8000000000000000ull, 0x3ff0000000000000ull, 0x8000000000000000ull},
    {0x3ff0000000000001ull, 0x3ff0000000000001ull, 0xbff0000000000002ull},
    {0x3ff0000000000001ull, 0x3fefffffffffffffull, 0xbff0000000000000ull},
    {0x7fefffffffffffffull, 0x4000000000000000ull, 0xffefffffffffffffull},
    {0x1ff0000000000000ull, 0x1ff0000000000000ull, 0x0000000000000000ull},
    {0x1ff0000000000000ull, 0x1ff0000000000000ull, 0x0010000000000000ull},
    {0x2000000000000000ull, 0x1fefffffffffffffull, 0x8000000000000001ull},
    {0x3ff0000000000000ull, 0x3ca0000000000000ull, 0x3ff0000000000000ull},
    {0x3ff0000000000000ull, 0x3ca0000000000001ull, 0x3ff0000000000000ull},
    {0x4340000000000001ull, 0x3ff0000000000000ull, 0xc340000000000000ull},
    {0x0000000000000001ull, 0x3fe0000000000000ull, 0x0000000000000000ull},
    {0x0000000000000001ull, 0xbfe0000000000000ull, 0x0000000000000000ull},
    {0x0000000000000003ull, 0x3fe0000000000000ull, 0x8000000000000000ull},
    {0x7fefffffffffffffull, 0x7fefffffffffffffull, 0xfff0000000000000ull},
};

int main(void)
{
    for (unsigned k = 0; k < COUNT(OPS); k++) {
        for (unsigned i = 0; i < COUNT(PICK_AB); i++)
            for (unsigned j = 0; j < COUNT(PICK_AB); j++)
                for (unsigned l = 0; l < COUNT(PICK_C); l++) {
                    unsigned dyn = 1u << ((i + j + l) % 5);
                    run_rm(OPS[k].s_name, OPS[k].s, 3, FMT_S,
                           box(S_SPECIAL[PICK_AB[i]]), box(S_SPECIAL[PICK_AB[j]]),
                           box(S_SPECIAL[PICK_C[l]]), dyn, 0);
                    run_rm(OPS[k].d_name, OPS[k].d, 3, FMT_D,
                           D_SPECIAL[PICK_AB[i]], D_SPECIAL[PICK_AB[j]],
                           D_SPECIAL[PICK_C[l]], dyn, 0);
                }
        for (unsigned i = 0; i < COUNT(S_TRIPLES); i++)
            run_rm(OPS[k].s_name, OPS[k].s, 3, FMT_S, box(S_TRIPLES[i][0]),
                   box(S_TRIPLES[i][1]), box(S_TRIPLES[i][2]), 0x1f, 1);
        for (unsigned i = 0; i < COUNT(D_TRIPLES); i++)
            run_rm(OPS[k].d_name, OPS[k].d, 3, FMT_D, D_TRIPLES[i][0],
                   D_TRIPLES[i][1], D_TRIPLES[i][2], 0x1f, 1);
        for (int i = 0; i < 300 * RANDOM_SCALE; i++) {
            u32 a = rnd_s(), b = rnd_s(), c = rnd_s();
            /* Often make c close to -a*b, for cancellation. */
            if (i & 1) {
                u64 fl = 0;
                c = (u32)fmul_s[0](box(a), box(b), 0, &fl) ^ 0x80000000;
                c ^= (u32)(rnd() & 3);
            }
            run_rm(OPS[k].s_name, OPS[k].s, 3, FMT_S, box(a), box(b), box(c),
                   0x1f, 1);
        }
        for (int i = 0; i < 300 * RANDOM_SCALE; i++) {
            u64 a = rnd_d(), b = rnd_d(), c = rnd_d();
            if (i & 1) {
                u64 fl = 0;
                c = fmul_d[0](a, b, 0, &fl) ^ (1ull << 63);
                c ^= rnd() & 3;
            }
            run_rm(OPS[k].d_name, OPS[k].d, 3, FMT_D, a, b, c, 0x1f, 1);
        }
    }
    return 0;
}
