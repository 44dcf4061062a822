/*
 * Zicsr: fflags, frm and fcsr through every CSR instruction (csrrw, csrrs,
 * csrrc and their immediate forms, and the frflags/fsflags/frrm/fsrm/
 * frcsr/fscsr aliases), with bits outside each CSR's width, rs1 = x0 and
 * rd = x0; how the three views of fcsr interact; flags raised by an
 * instruction accruing into fcsr; and the cycle, time and instret counters
 * (only whether they increase is printed: their values differ between
 * emulators).
 */
#include "isa_test.h"

static u64 bits(double d)
{
    u64 v;
    __builtin_memcpy(&v, &d, sizeof v);
    return v;
}

static void show(const char *what, u64 old)
{
    u64 fl, rm, cs;
    __asm__ volatile("frflags %0\n\tfrrm %1\n\tfrcsr %2"
                     : "=r"(fl), "=r"(rm), "=r"(cs));
    printf("%-28s old 0x%03lx -> fflags 0x%02lx frm 0x%lx fcsr 0x%03lx\n",
           what, old, fl, rm, cs);
}

#define CSR_REG(insn, csr, val)                                               \
    do {                                                                      \
        u64 old_;                                                             \
        __asm__ volatile(insn " %0, " #csr ", %1" : "=r"(old_) : "r"(val));   \
        show(insn " " #csr " " #val, old_);                                   \
    } while (0)

#define CSR_IMM(insn, csr, imm)                                               \
    do {                                                                      \
        u64 old_;                                                             \
        __asm__ volatile(insn " %0, " #csr ", " #imm : "=r"(old_));           \
        show(insn " " #csr " " #imm, old_);                                   \
    } while (0)

static void reset(void) { __asm__ volatile("fscsr x0"); }

static void fp_csrs(void)
{
    reset();
    show("reset", 0);
    /* csrrw: every view, with bits beyond the CSR. */
    CSR_REG("csrrw", fflags, 0xffffffffffffffffull);
    CSR_REG("csrrw", frm, 0xffffffffffffffffull);
    CSR_REG("csrrw", fcsr, 0xffffffffffffffffull);
    CSR_REG("csrrw", fcsr, 0x0000000000000000ull);
    CSR_REG("csrrw", fcsr, 0x00000000000000a5ull);
    CSR_REG("csrrw", fflags, 0x0000000000000003ull);
    CSR_REG("csrrw", frm, 0x0000000000000004ull);
    CSR_REG("csrrw", fcsr, 0x0000000000000123ull);
    /* csrrs / csrrc */
    reset();
    CSR_REG("csrrs", fflags, 0x0000000000000011ull);
    CSR_REG("csrrs", fflags, 0x00000000000000e6ull);
    CSR_REG("csrrc", fflags, 0x0000000000000005ull);
    CSR_REG("csrrs", frm, 0x0000000000000002ull);
    CSR_REG("csrrs", frm, 0x00000000000000f9ull);
    CSR_REG("csrrc", frm, 0x0000000000000001ull);
    CSR_REG("csrrs", fcsr, 0x0000000000000100ull);
    CSR_REG("csrrc", fcsr, 0x00000000000000ffull);
    CSR_REG("csrrs", fcsr, 0x0000000000000041ull);
    CSR_REG("csrrc", fcsr, 0xffffffffffffffe0ull);
    /* immediate forms */
    reset();
    CSR_IMM("csrrwi", fflags, 31);
    CSR_IMM("csrrwi", frm, 31);
    CSR_IMM("csrrwi", fcsr, 31);
    CSR_IMM("csrrsi", fcsr, 16);
    CSR_IMM("csrrci", fflags, 9);
    CSR_IMM("csrrwi", frm, 3);
    CSR_IMM("csrrsi", frm, 4);
    CSR_IMM("csrrci", frm, 6);
    CSR_IMM("csrrsi", fflags, 0);
    CSR_IMM("csrrci", fcsr, 0);
    CSR_IMM("csrrwi", fcsr, 0);
    /* rs1 = x0: csrrs/csrrc only read. */
    __asm__ volatile("fscsr %0" : : "r"(0x7bull));
    {
        u64 a, b, c;
        __asm__ volatile("csrrs %0, fcsr, x0\n\tcsrrc %1, fflags, x0\n\t"
                         "csrrs %2, frm, x0"
                         : "=r"(a), "=r"(b), "=r"(c));
        printf("read with x0: 0x%lx 0x%lx 0x%lx\n", a, b, c);
        show("after reads", 0);
    }
    /* rd = x0: csrrw only writes. */
    __asm__ volatile("csrrw x0, fcsr, %0" : : "r"(0x45ull));
    show("csrrw x0 fcsr 0x45", 0);
    __asm__ volatile("csrrwi x0, frm, 2\n\tcsrrsi x0, fflags, 0x10");
    show("csrrwi x0 frm 2, csrrsi", 0);
    /* The pseudo-instructions. */
    {
        u64 a, b, c;
        __asm__ volatile("fsflags %0, %1" : "=r"(a) : "r"(0x1full));
        __asm__ volatile("fsrm %0, %1" : "=r"(b) : "r"(0x1ull));
        __asm__ volatile("fscsr %0, %1" : "=r"(c) : "r"(0xe3ull));
        printf("fsflags/fsrm/fscsr old 0x%lx 0x%lx 0x%lx\n", a, b, c);
        show("after fscsr 0xe3", 0);
        __asm__ volatile("fsflagsi %0, 0x4\n\tfsrmi %1, 0x3"
                         : "=r"(a), "=r"(b));
        printf("fsflagsi/fsrmi old 0x%lx 0x%lx\n", a, b);
        show("after fsflagsi/fsrmi", 0);
    }
    /* Flags raised by instructions accrue; frm is untouched. */
    reset();
    __asm__ volatile("fsrmi 2");
    {
        double r;
        volatile double one = 1.0, three = 3.0, zero = 0.0;
        __asm__ volatile("fdiv.d %0, %1, %2" : "=f"(r) : "f"(one), "f"(three));
        show("after 1/3", 0);
        __asm__ volatile("fdiv.d %0, %1, %2" : "=f"(r) : "f"(one), "f"(zero));
        show("after 1/0", 0);
        __asm__ volatile("fdiv.d %0, %1, %2, dyn" : "=f"(r) : "f"(one), "f"(three));
        printf("1/3 in rdn: 0x%016lx\n", bits(r));
        __asm__ volatile("fsrmi 3\n\tfdiv.d %0, %1, %2, dyn"
                         : "=f"(r) : "f"(one), "f"(three));
        printf("1/3 in rup: 0x%016lx\n", bits(r));
        __asm__ volatile("feq.d x0, %0, %0" : : "f"(__builtin_nan("")));
        show("after feq qNaN", 0);
        __asm__ volatile("flt.d x0, %0, %0" : : "f"(__builtin_nan("")));
        show("after flt qNaN", 0);
    }
    reset();
}

static void counters(void)
{
    u64 c0, c1, t0, t1, i0, i1, s0, s1;
    volatile u64 sink = 0;
    __asm__ volatile("rdcycle %0\n\trdtime %1\n\trdinstret %2\n\t"
                     "csrrs %3, instret, x0"
                     : "=r"(c0), "=r"(t0), "=r"(i0), "=r"(s0));
    for (int i = 0; i < 100000; i++)
        sink += i;
    __asm__ volatile("rdcycle %0\n\trdtime %1\n\trdinstret %2\n\t"
                     "csrrs %3, instret, x0"
                     : "=r"(c1), "=r"(t1), "=r"(i1), "=r"(s1));
    printf("cycle increases: %d\n", c1 > c0);
    printf("time does not decrease: %d\n", t1 >= t0);
    printf("instret increases: %d\n", i1 > i0);
    printf("csrrs instret increases: %d\n", s1 > s0);
    /* Reads through every form that does not write (rs1 = x0, uimm = 0). */
    {
        u64 a, b, c, d, e, f;
        __asm__ volatile("csrrs %0, cycle, x0\n\tcsrrc %1, time, x0\n\t"
                         "csrrsi %2, instret, 0\n\tcsrrci %3, cycle, 0\n\t"
                         "csrrsi %4, time, 0\n\tcsrrc %5, instret, x0"
                         : "=r"(a), "=r"(b), "=r"(c), "=r"(d), "=r"(e), "=r"(f));
        printf("read-only forms: cycle %d time %d instret %d\n", d >= a,
               e >= b, f > c);
    }
    /* Back-to-back reads never go backwards. */
    int ok = 1;
    u64 prev = 0, now;
    for (int i = 0; i < 1000; i++) {
        __asm__ volatile("rdinstret %0" : "=r"(now));
        ok &= now > prev;
        prev = now;
    }
    printf("instret monotonic: %d\n", ok);
    ok = 1;
    prev = 0;
    for (int i = 0; i < 1000; i++) {
        __asm__ volatile("rdcycle %0" : "=r"(now));
        ok &= now >= prev;
        prev = now;
    }
    printf("cycle monotonic: %d\n", ok);
}

int main(void)
{
    fp_csrs();
    counters();
    return 0;
}
