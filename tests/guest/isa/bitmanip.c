/*
 * isa-test-march: rv64gc_zba_zbb_zbs
 *
 * Zba, Zbb, Zbs and Zicond: every instruction over integer edge values
 * (shift and bit indices of 0, 31, 32, 63 and out-of-range amounts whose
 * high bits must be ignored, .uw forms with garbage in the upper half, the
 * W forms' sign extension) and random values. binutils 2.40 does not know
 * Zicond: czero.eqz and czero.nez are written with .insn.
 */
#include "isa_test.h"

#define RR(name, text)                                                        \
    static u64 name(u64 a, u64 b)                                             \
    {                                                                         \
        u64 r;                                                                \
        __asm__ volatile(text : "=r"(r) : "r"(a), "r"(b));                    \
        return r;                                                             \
    }
#define R2(op) RR(op##_, #op " %0, %1, %2")
#define R1(op) RR(op##_, #op " %0, %1")

R2(sh1add) R2(sh2add) R2(sh3add)
RR(add_uw_, "add.uw %0, %1, %2") RR(sh1add_uw_, "sh1add.uw %0, %1, %2")
RR(sh2add_uw_, "sh2add.uw %0, %1, %2") RR(sh3add_uw_, "sh3add.uw %0, %1, %2")
R2(andn) R2(orn) R2(xnor) R2(max) R2(maxu) R2(min) R2(minu) R2(rol) R2(ror)
R2(rolw) R2(rorw)
R1(clz) R1(ctz) R1(cpop) R1(clzw) R1(ctzw) R1(cpopw) R1(rev8)
RR(sext_b_, "sext.b %0, %1") RR(sext_h_, "sext.h %0, %1")
RR(zext_h_, "zext.h %0, %1") RR(orc_b_, "orc.b %0, %1")
R2(bclr) R2(bext) R2(binv) R2(bset)
RR(czero_eqz, ".insn r 0x33, 5, 7, %0, %1, %2")
RR(czero_nez, ".insn r 0x33, 7, 7, %0, %1, %2")

static const struct {
    const char *name;
    u64 (*fn)(u64, u64);
    int unary;
} OPS[] = {
    {"sh1add", sh1add_, 0},       {"sh2add", sh2add_, 0},
    {"sh3add", sh3add_, 0},       {"add.uw", add_uw_, 0},
    {"sh1add.uw", sh1add_uw_, 0}, {"sh2add.uw", sh2add_uw_, 0},
    {"sh3add.uw", sh3add_uw_, 0}, {"andn", andn_, 0},
    {"orn", orn_, 0},             {"xnor", xnor_, 0},
    {"max", max_, 0},             {"maxu", maxu_, 0},
    {"min", min_, 0},             {"minu", minu_, 0},
    {"rol", rol_, 0},             {"ror", ror_, 0},
    {"rolw", rolw_, 0},           {"rorw", rorw_, 0},
    {"bclr", bclr_, 0},           {"bext", bext_, 0},
    {"binv", binv_, 0},           {"bset", bset_, 0},
    {"czero.eqz", czero_eqz, 0},  {"czero.nez", czero_nez, 0},
    {"clz", clz_, 1},             {"ctz", ctz_, 1},
    {"cpop", cpop_, 1},           {"clzw", clzw_, 1},
    {"ctzw", ctzw_, 1},           {"cpopw", cpopw_, 1},
    {"sext.b", sext_b_, 1},       {"sext.h", sext_h_, 1},
    {"zext.h", zext_h_, 1},       {"orc.b", orc_b_, 1},
    {"rev8", rev8_, 1},
};

static const u64 EXTRA[] = {
    0x0000000000000080ull, 0x0000000000008000ull, 0x0000000000007fffull,
    0x00000000000000ffull, 0x0000000000000021ull, 0x000000000000005full,
    0x00ff00000000ff00ull, 0x0100000000000000ull, 0xffffffff00000001ull,
    0x8000000080000000ull,
};

/* Immediate forms: one asm per immediate. */
#define IMM(op, a, imm)                                                       \
    do {                                                                      \
        u64 r_;                                                               \
        __asm__ volatile(#op " %0, %1, %2" : "=r"(r_) : "r"(a), "i"(imm));    \
        printf("%s 0x%016lx %d -> 0x%016lx\n", #op, (a), (imm), r_);          \
    } while (0)

static void imm_ops(u64 a)
{
    IMM(slli.uw, a, 0); IMM(slli.uw, a, 1); IMM(slli.uw, a, 31);
    IMM(slli.uw, a, 32); IMM(slli.uw, a, 63);
    IMM(rori, a, 0); IMM(rori, a, 1); IMM(rori, a, 31); IMM(rori, a, 32);
    IMM(rori, a, 63);
    IMM(roriw, a, 0); IMM(roriw, a, 1); IMM(roriw, a, 16); IMM(roriw, a, 31);
    IMM(bclri, a, 0); IMM(bclri, a, 31); IMM(bclri, a, 32); IMM(bclri, a, 63);
    IMM(bexti, a, 0); IMM(bexti, a, 31); IMM(bexti, a, 32); IMM(bexti, a, 63);
    IMM(binvi, a, 0); IMM(binvi, a, 31); IMM(binvi, a, 32); IMM(binvi, a, 63);
    IMM(bseti, a, 0); IMM(bseti, a, 31); IMM(bseti, a, 32); IMM(bseti, a, 63);
}

int main(void)
{
    u64 vals[COUNT(EDGE64) + COUNT(EXTRA)];
    unsigned n = 0;
    for (unsigned i = 0; i < COUNT(EDGE64); i++)
        vals[n++] = EDGE64[i];
    for (unsigned i = 0; i < COUNT(EXTRA); i++)
        vals[n++] = EXTRA[i];
    for (unsigned k = 0; k < COUNT(OPS); k++) {
        for (unsigned i = 0; i < n; i++) {
            if (OPS[k].unary) {
                printf("%s 0x%016lx -> 0x%016lx\n", OPS[k].name, vals[i],
                       OPS[k].fn(vals[i], 0));
                continue;
            }
            for (unsigned j = 0; j < n; j++)
                printf("%s 0x%016lx 0x%016lx -> 0x%016lx\n", OPS[k].name,
                       vals[i], vals[j], OPS[k].fn(vals[i], vals[j]));
        }
        for (int i = 0; i < 200 * RANDOM_SCALE; i++) {
            u64 a = rnd(), b = rnd();
            if (i & 1)
                a >>= b & 63;
            printf("%s 0x%016lx 0x%016lx -> 0x%016lx\n", OPS[k].name, a, b,
                   OPS[k].fn(a, b));
        }
    }
    for (unsigned i = 0; i < n; i++)
        imm_ops(vals[i]);
    /* Zicond as used for a branchless select. */
    for (unsigned i = 0; i < 4; i++) {
        u64 c = i & 1 ? 0 : EDGE64[i], r;
        __asm__ volatile(".insn r 0x33, 5, 7, t0, %1, %2\n\t"
                         ".insn r 0x33, 7, 7, t1, %3, %2\n\t"
                         "or %0, t0, t1"
                         : "=r"(r)
                         : "r"(0x1111ull), "r"(c), "r"(0x2222ull)
                         : "t0", "t1");
        printf("select 0x%016lx -> 0x%016lx\n", c, r);
    }
    return 0;
}
