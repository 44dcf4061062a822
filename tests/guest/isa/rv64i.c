/*
 * RV64I: register-register and register-immediate arithmetic, shifts by 0,
 * 31, 32 and 63 (and amounts with high bits set), the sign extension of
 * every W instruction, slt/sltu with negatives, lui/auipc, every load and
 * store width (signed and unsigned, aligned, unaligned and across a page
 * boundary), branches, jal/jalr and x0.
 */
#include "isa_test.h"

#include <string.h>
#include <sys/mman.h>

#define RR(op)                                                                \
    static u64 op##_(u64 a, u64 b)                                            \
    {                                                                         \
        u64 r;                                                                \
        __asm__ volatile(#op " %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));       \
        return r;                                                             \
    }

RR(add) RR(sub) RR(sll) RR(slt) RR(sltu) RR(xor) RR(srl) RR(sra) RR(or)
RR(and) RR(addw) RR(subw) RR(sllw) RR(srlw) RR(sraw)

struct rr { const char *name; u64 (*fn)(u64, u64); };

static const struct rr RR_OPS[] = {
    {"add", add_},   {"sub", sub_},   {"sll", sll_},   {"slt", slt_},
    {"sltu", sltu_}, {"xor", xor_},   {"srl", srl_},   {"sra", sra_},
    {"or", or_},     {"and", and_},   {"addw", addw_}, {"subw", subw_},
    {"sllw", sllw_}, {"srlw", srlw_}, {"sraw", sraw_},
};

/* One immediate instruction, printed with its immediate. */
#define IMM(op, a, imm)                                                       \
    do {                                                                      \
        u64 r_;                                                               \
        __asm__ volatile(#op " %0, %1, %2" : "=r"(r_) : "r"(a), "i"(imm));    \
        printf("%s 0x%016lx %ld -> 0x%016lx\n", #op, (a), (long)(imm), r_);   \
    } while (0)

static void imm_ops(u64 a)
{
    IMM(addi, a, 0); IMM(addi, a, 1); IMM(addi, a, -1); IMM(addi, a, 2047);
    IMM(addi, a, -2048);
    IMM(slti, a, 0); IMM(slti, a, -1); IMM(slti, a, 2047); IMM(slti, a, -2048);
    IMM(sltiu, a, 0); IMM(sltiu, a, 1); IMM(sltiu, a, -1);
    IMM(sltiu, a, 2047); IMM(sltiu, a, -2048);
    IMM(xori, a, -1); IMM(xori, a, 0x555); IMM(xori, a, -2048);
    IMM(ori, a, -1); IMM(ori, a, 0x7ff); IMM(ori, a, -2048);
    IMM(andi, a, -1); IMM(andi, a, 0x7ff); IMM(andi, a, -2048);
    IMM(andi, a, 0);
    IMM(slli, a, 0); IMM(slli, a, 1); IMM(slli, a, 31); IMM(slli, a, 32);
    IMM(slli, a, 63);
    IMM(srli, a, 0); IMM(srli, a, 1); IMM(srli, a, 31); IMM(srli, a, 32);
    IMM(srli, a, 63);
    IMM(srai, a, 0); IMM(srai, a, 1); IMM(srai, a, 31); IMM(srai, a, 32);
    IMM(srai, a, 63);
    IMM(addiw, a, 0); IMM(addiw, a, 1); IMM(addiw, a, -1);
    IMM(addiw, a, 2047); IMM(addiw, a, -2048);
    IMM(slliw, a, 0); IMM(slliw, a, 1); IMM(slliw, a, 31);
    IMM(srliw, a, 0); IMM(srliw, a, 1); IMM(srliw, a, 31);
    IMM(sraiw, a, 0); IMM(sraiw, a, 1); IMM(sraiw, a, 31);
}

static void upper(void)
{
    u64 r, here, there;
#define LUI(imm)                                                              \
    __asm__ volatile("lui %0, " #imm : "=r"(r));                              \
    printf("lui " #imm " -> 0x%016lx\n", r);
    LUI(0) LUI(1) LUI(0x7ffff) LUI(0x80000) LUI(0xfffff) LUI(0x12345)
#undef LUI
    /* auipc: the difference from the instruction's own address. */
#define AUIPC(imm)                                                            \
    __asm__ volatile("1: auipc %0, " #imm "\n\tla %1, 1b"                     \
                     : "=r"(there), "=r"(here));                              \
    printf("auipc " #imm " -> pc%+ld\n", (long)(there - here));
    AUIPC(0) AUIPC(1) AUIPC(0x7ffff) AUIPC(0x80000) AUIPC(0xfffff)
#undef AUIPC
}

/* Branches: returns a bit per branch instruction, 1 when taken. */
static unsigned branches(u64 a, u64 b)
{
    unsigned taken = 0, t;
#define BR(op, bit)                                                           \
    __asm__ volatile("li %0, 1\n\t" #op " %1, %2, 1f\n\tli %0, 0\n1:"         \
                     : "=&r"(t) : "r"(a), "r"(b));                            \
    taken |= t << bit;
    BR(beq, 0) BR(bne, 1) BR(blt, 2) BR(bge, 3) BR(bltu, 4) BR(bgeu, 5)
#undef BR
    /* Backward branches: a taken branch jumps back over a counter. */
    __asm__ volatile("li %0, 0\n\tj 2f\n1:\taddi %0, %0, 1\n\tj 3f\n"
                     "2:\tblt %1, %2, 1b\n3:"
                     : "=&r"(t) : "r"(a), "r"(b));
    taken |= t << 6;
    return taken;
}

static void jumps(void)
{
    u64 link, expect, r;
    /* jal links to the next instruction. */
    __asm__ volatile("jal %0, 1f\n2:\tnop\n1:\tla %1, 2b"
                     : "=r"(link), "=r"(expect));
    printf("jal link ok=%d\n", link == expect);
    /* jalr clears bit 0 of the target; rd == rs1 uses the old rs1. */
    __asm__ volatile("la t0, 1f\n\taddi t0, t0, 1\n\tjalr t0, t0, 0\n"
                     "2:\tli %0, 0x55\n\tj 3f\n1:\tli %0, 0x77\n3:\tla %1, 2b\n\t"
                     "sub %1, t0, %1"
                     : "=&r"(r), "=&r"(expect) : : "t0");
    printf("jalr odd target, rd==rs1 -> path 0x%lx link-ret %ld\n", r, (long)expect);
    /* jalr with a negative offset */
    __asm__ volatile("la t0, 1f\n\taddi t0, t0, 16\n\tjalr t1, -16(t0)\n\t"
                     "li %0, 1\n\tj 2f\n1:\tli %0, 2\n2:"
                     : "=&r"(r) : : "t0", "t1");
    printf("jalr -16 -> %ld\n", (long)r);
    /* x0 ignores writes */
    __asm__ volatile("addi x0, x0, 5\n\tlui x0, 0x12345\n\tmv %0, x0"
                     : "=r"(r));
    printf("x0 -> %ld\n", (long)r);
}

static unsigned char buf[64] __attribute__((aligned(16)));

static void fill(unsigned char *p, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(0x80 + i * 7);
}

#define LOAD(op, p)                                                           \
    ({                                                                        \
        u64 v_;                                                               \
        __asm__ volatile(#op " %0, 0(%1)" : "=r"(v_) : "r"(p) : "memory");    \
        v_;                                                                   \
    })
#define STORE(op, p, v)                                                       \
    __asm__ volatile(#op " %0, 0(%1)" : : "r"(v), "r"(p) : "memory")

static void loads_at(const char *where, unsigned char *p)
{
    printf("%s lb 0x%016lx lbu 0x%016lx\n", where, LOAD(lb, p), LOAD(lbu, p));
    printf("%s lh 0x%016lx lhu 0x%016lx\n", where, LOAD(lh, p), LOAD(lhu, p));
    printf("%s lw 0x%016lx lwu 0x%016lx\n", where, LOAD(lw, p), LOAD(lwu, p));
    printf("%s ld 0x%016lx\n", where, LOAD(ld, p));
}

static void dump(const char *what, unsigned char *p, int n)
{
    printf("%s", what);
    for (int i = 0; i < n; i++)
        printf(" %02x", p[i]);
    printf("\n");
}

static void memory_ops(void)
{
    char where[32];
    fill(buf, sizeof buf);
    for (int off = 0; off < 8; off++) {
        snprintf(where, sizeof where, "buf+%d", off);
        loads_at(where, buf + 8 + off);
    }
    /* Offsets in the instruction: +2047 and -2048. */
    {
        static unsigned char big[4096];
        fill(big, 8);
        fill(big + 4088, 8);
        unsigned char *base = big + 2048;
        u64 a, b;
        __asm__ volatile("ld %0, -2048(%2)\n\tlbu %1, 2047(%2)"
                         : "=r"(a), "=r"(b) : "r"(base) : "memory");
        printf("ld -2048 0x%016lx lbu 2047 0x%016lx\n", a, b);
        __asm__ volatile("sd %1, -2048(%0)\n\tsb %1, 2047(%0)"
                         : : "r"(base), "r"(0x0123456789abcdefull) : "memory");
        dump("sd -2048", big, 8);
        dump("sb 2047", big + 4088, 8);
    }
    for (int off = 0; off < 8; off++) {
        u64 v = 0x0102030405060708ull;
        memset(buf, 0xee, sizeof buf);
        STORE(sb, buf + 8 + off, v);
        STORE(sh, buf + 20 + off, v);
        STORE(sw, buf + 32 + off, v);
        STORE(sd, buf + 48 + off, v);
        snprintf(where, sizeof where, "stores+%d", off);
        dump(where, buf, sizeof buf);
    }
    /* Across a page boundary. */
    long page = 4096;
    unsigned char *m = mmap(0, 2 * page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        printf("mmap failed\n");
        return;
    }
    fill(m + page - 16, 32);
    for (int back = 1; back < 8; back++) {
        snprintf(where, sizeof where, "page-%d", back);
        loads_at(where, m + page - back);
    }
    for (int back = 1; back < 8; back++) {
        memset(m + page - 16, 0xee, 32);
        STORE(sd, m + page - back, 0x1122334455667788ull);
        snprintf(where, sizeof where, "sd page-%d", back);
        dump(where, m + page - 8, 16);
        memset(m + page - 16, 0xee, 32);
        STORE(sw, m + page - (back & 3), 0x99aabbccu);
        STORE(sh, m + page + 8 - 1, 0xddff);
        snprintf(where, sizeof where, "sw/sh page-%d", back & 3);
        dump(where, m + page - 8, 17);
    }
    munmap(m, 2 * page);
}

int main(void)
{
    for (unsigned k = 0; k < COUNT(RR_OPS); k++)
        for (unsigned i = 0; i < COUNT(EDGE64); i++)
            for (unsigned j = 0; j < COUNT(EDGE64); j++)
                printf("%s 0x%016lx 0x%016lx -> 0x%016lx\n", RR_OPS[k].name,
                       EDGE64[i], EDGE64[j], RR_OPS[k].fn(EDGE64[i], EDGE64[j]));
    for (unsigned i = 0; i < COUNT(EDGE64); i++)
        imm_ops(EDGE64[i]);
    upper();
    for (unsigned i = 0; i < COUNT(EDGE64); i++)
        for (unsigned j = 0; j < COUNT(EDGE64); j++)
            printf("branch 0x%016lx 0x%016lx -> %02x\n", EDGE64[i], EDGE64[j],
                   branches(EDGE64[i], EDGE64[j]));
    jumps();
    memory_ops();
    __asm__ volatile("fence\n\tfence rw, rw\n\tfence r, w\n\tfence.tso" ::: "memory");
    printf("fence ok\n");
    return 0;
}
