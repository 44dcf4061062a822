/*
 * RV64A: LR/SC with a real reservation (success, failure without a
 * reservation, failure after an intervening SC, failure at another
 * address, and the sign extension of lr.w), and every AMO in its .w and .d
 * forms with signed/unsigned min/max edge values: the old value returned
 * (sign-extended for .w) and the new memory contents, with all aq/rl
 * variants and rd = x0.
 */
#include "isa_test.h"

static u64 mem64[16] __attribute__((aligned(64)));

#define AMO(op, addr, src)                                                    \
    ({                                                                        \
        u64 old_;                                                             \
        __asm__ volatile(#op " %0, %2, (%1)"                                  \
                         : "=r"(old_) : "r"(addr), "r"(src) : "memory");      \
        old_;                                                                 \
    })

#define AMO_W(op)                                                             \
    static u64 op##_w(u32 *p, u64 v) { return AMO(op.w, p, v); }              \
    static u64 op##_w_aq(u32 *p, u64 v) { return AMO(op.w.aq, p, v); }        \
    static u64 op##_w_rl(u32 *p, u64 v) { return AMO(op.w.rl, p, v); }        \
    static u64 op##_w_aqrl(u32 *p, u64 v) { return AMO(op.w.aqrl, p, v); }
#define AMO_D(op)                                                             \
    static u64 op##_d(u64 *p, u64 v) { return AMO(op.d, p, v); }              \
    static u64 op##_d_aq(u64 *p, u64 v) { return AMO(op.d.aq, p, v); }        \
    static u64 op##_d_rl(u64 *p, u64 v) { return AMO(op.d.rl, p, v); }        \
    static u64 op##_d_aqrl(u64 *p, u64 v) { return AMO(op.d.aqrl, p, v); }
#define AMO_BOTH(op) AMO_W(op) AMO_D(op)

AMO_BOTH(amoswap) AMO_BOTH(amoadd) AMO_BOTH(amoxor) AMO_BOTH(amoand)
AMO_BOTH(amoor) AMO_BOTH(amomin) AMO_BOTH(amomax) AMO_BOTH(amominu)
AMO_BOTH(amomaxu)

#define ENTRY(op)                                                             \
    {#op, {op##_w, op##_w_aq, op##_w_rl, op##_w_aqrl},                        \
     {op##_d, op##_d_aq, op##_d_rl, op##_d_aqrl}}

static const struct {
    const char *name;
    u64 (*w[4])(u32 *, u64);
    u64 (*d[4])(u64 *, u64);
} OPS[] = {
    ENTRY(amoswap), ENTRY(amoadd), ENTRY(amoxor),  ENTRY(amoand),
    ENTRY(amoor),   ENTRY(amomin), ENTRY(amomax),  ENTRY(amominu),
    ENTRY(amomaxu),
};

static const char *const ORDER[] = {"", ".aq", ".rl", ".aqrl"};

static const u32 W_VALS[] = {
    0x00000000, 0x00000001, 0xffffffff, 0x7fffffff, 0x80000000,
    0x80000001, 0x12345678, 0xfffffffe,
};

static const u64 D_VALS[] = {
    0x0000000000000000ull, 0x0000000000000001ull, 0xffffffffffffffffull,
    0x7fffffffffffffffull, 0x8000000000000000ull, 0x00000000ffffffffull,
    0x0000000080000000ull, 0xfffffffffffffffeull,
};

static void lr_sc(void)
{
    u32 *w = (u32 *)&mem64[0];
    u64 *d = &mem64[1];
    u64 v, fail, fail2;

    /* Success: lr.w sign-extends, sc.w writes the low 32 bits. */
    *w = 0x87654321;
    __asm__ volatile("lr.w %0, (%2)\n\tsc.w %1, %3, (%2)"
                     : "=&r"(v), "=&r"(fail)
                     : "r"(w), "r"(0xdeadbeef00c0ffeeull)
                     : "memory");
    printf("lr.w 0x%016lx sc.w ok=%d mem 0x%08x\n", v, fail == 0, *w);

    /* A second SC after a successful one has no reservation: it fails
     * and does not write. */
    __asm__ volatile("lr.w %0, (%3)\n\tsc.w %1, %4, (%3)\n\t"
                     "sc.w %2, %5, (%3)"
                     : "=&r"(v), "=&r"(fail), "=&r"(fail2)
                     : "r"(w), "r"(0x11111111ull), "r"(0x22222222ull)
                     : "memory");
    printf("sc.w ok=%d then sc.w ok=%d mem 0x%08x\n", fail == 0, fail2 == 0, *w);

    /* The same with lr.d/sc.d. */
    *d = 0x8000000000000001ull;
    __asm__ volatile("lr.d %0, (%3)\n\tsc.d %1, %4, (%3)\n\t"
                     "sc.d %2, %5, (%3)"
                     : "=&r"(v), "=&r"(fail), "=&r"(fail2)
                     : "r"(d), "r"(0x0123456789abcdefull), "r"(7ull)
                     : "memory");
    printf("lr.d 0x%016lx sc.d ok=%d then sc.d ok=%d mem 0x%016lx\n", v,
           fail == 0, fail2 == 0, *d);

    /* An SC to an address other than the reserved one (another cache
     * line) fails. */
    mem64[12] = 5;
    __asm__ volatile("lr.d %0, (%2)\n\tsc.d %1, %3, (%4)"
                     : "=&r"(v), "=&r"(fail)
                     : "r"(d), "r"(9ull), "r"(&mem64[12])
                     : "memory");
    printf("sc.d elsewhere ok=%d mem 0x%016lx\n", fail == 0, mem64[12]);
    /* ...and clears the reservation. */
    __asm__ volatile("sc.d %0, %1, (%2)" : "=&r"(fail) : "r"(10ull), "r"(d)
                     : "memory");
    printf("sc.d after it ok=%d mem 0x%016lx\n", fail == 0, *d);

    /* An atomic increment loop with aq/rl orderings. */
    *d = 40;
    for (int i = 0; i < 2; i++)
        __asm__ volatile("1:\tlr.d.aq %0, (%2)\n\taddi %0, %0, 1\n\t"
                         "sc.d.rl %1, %0, (%2)\n\tbnez %1, 1b"
                         : "=&r"(v), "=&r"(fail) : "r"(d) : "memory");
    printf("lr/sc loop -> %lu\n", *d);
    /* lr.w.aqrl / sc.w.aqrl */
    *w = 0xfffffffe;
    __asm__ volatile("lr.w.aqrl %0, (%2)\n\tsc.w.aqrl %1, %0, (%2)"
                     : "=&r"(v), "=&r"(fail) : "r"(w) : "memory");
    printf("lr.w.aqrl 0x%016lx ok=%d\n", v, fail == 0);
}

int main(void)
{
    lr_sc();
    u32 *w = (u32 *)&mem64[2];
    u64 *d = &mem64[2];
    for (unsigned k = 0; k < COUNT(OPS); k++) {
        for (unsigned i = 0; i < COUNT(W_VALS); i++) {
            for (unsigned j = 0; j < COUNT(W_VALS); j++) {
                unsigned o = (i + j) % 4;
                /* Garbage in rs2's upper half must be ignored. */
                u64 src = 0xa5a5a5a500000000ull | W_VALS[j];
                *w = W_VALS[i];
                w[1] = 0x5a5a5a5a;
                u64 old = OPS[k].w[o](w, src);
                printf("%s.w%s 0x%08x 0x%016lx -> old 0x%016lx mem 0x%08x "
                       "next 0x%08x\n",
                       OPS[k].name, ORDER[o], W_VALS[i], src, old, *w, w[1]);
            }
        }
        for (unsigned i = 0; i < COUNT(D_VALS); i++) {
            for (unsigned j = 0; j < COUNT(D_VALS); j++) {
                unsigned o = (i + j + 1) % 4;
                *d = D_VALS[i];
                u64 old = OPS[k].d[o](d, D_VALS[j]);
                printf("%s.d%s 0x%016lx 0x%016lx -> old 0x%016lx mem 0x%016lx\n",
                       OPS[k].name, ORDER[o], D_VALS[i], D_VALS[j], old, *d);
            }
        }
    }
    /* rd = x0: memory is still updated. */
    *d = 1;
    __asm__ volatile("amoadd.d x0, %1, (%0)" : : "r"(d), "r"(41ull) : "memory");
    printf("amoadd.d x0 -> mem %lu\n", *d);
    *w = 0x80000000u;
    __asm__ volatile("amomaxu.w x0, %1, (%0)" : : "r"(w), "r"(0x7fffffffull)
                     : "memory");
    printf("amomaxu.w x0 -> mem 0x%08x\n", *w);
    return 0;
}
