/*
 * RV64M: every multiply and divide instruction over integer edge values:
 * division and remainder by zero, INT_MIN / -1 (64- and 32-bit), mulh,
 * mulhsu and mulhu with extremes, and the sign extension of the W forms
 * (whose inputs carry garbage in their upper halves).
 */
#include "isa_test.h"

#define RR(op)                                                                \
    static u64 op##_(u64 a, u64 b)                                            \
    {                                                                         \
        u64 r;                                                                \
        __asm__ volatile(#op " %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));       \
        return r;                                                             \
    }

RR(mul) RR(mulh) RR(mulhsu) RR(mulhu) RR(div) RR(divu) RR(rem) RR(remu)
RR(mulw) RR(divw) RR(divuw) RR(remw) RR(remuw)

static const struct {
    const char *name;
    u64 (*fn)(u64, u64);
} OPS[] = {
    {"mul", mul_},   {"mulh", mulh_}, {"mulhsu", mulhsu_}, {"mulhu", mulhu_},
    {"div", div_},   {"divu", divu_}, {"rem", rem_},       {"remu", remu_},
    {"mulw", mulw_}, {"divw", divw_}, {"divuw", divuw_},   {"remw", remw_},
    {"remuw", remuw_},
};

static const u64 EXTRA[] = {
    0xdeadbeef80000000ull, /* INT32_MIN with garbage above */
    0x00000001ffffffffull, /* -1 (32-bit) with garbage above */
    0x0000000000000007ull, 0xfffffffffffffff9ull, /* 7, -7 */
    0x0000000000000003ull, 0xfffffffffffffffdull, /* 3, -3 */
    0xcafef00d00000000ull, /* 0 (32-bit) with garbage above */
};

int main(void)
{
    u64 vals[COUNT(EDGE64) + COUNT(EXTRA)];
    unsigned n = 0;
    for (unsigned i = 0; i < COUNT(EDGE64); i++)
        vals[n++] = EDGE64[i];
    for (unsigned i = 0; i < COUNT(EXTRA); i++)
        vals[n++] = EXTRA[i];
    for (unsigned k = 0; k < COUNT(OPS); k++)
        for (unsigned i = 0; i < n; i++)
            for (unsigned j = 0; j < n; j++)
                printf("%s 0x%016lx 0x%016lx -> 0x%016lx\n", OPS[k].name,
                       vals[i], vals[j], OPS[k].fn(vals[i], vals[j]));
    for (int i = 0; i < 2000 * RANDOM_SCALE; i++) {
        u64 a = rnd(), b = rnd();
        if (i & 1)
            b >>= (a & 63);
        for (unsigned k = 0; k < COUNT(OPS); k++)
            printf("%s 0x%016lx 0x%016lx -> 0x%016lx\n", OPS[k].name, a, b,
                   OPS[k].fn(a, b));
    }
    return 0;
}
