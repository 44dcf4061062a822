/*
 * Zifencei: code written at run time and made visible with fence.i. An RWX
 * page written, run, patched and run again (also after running it often
 * enough to be cached); an RW page made RX with mprotect, then patched
 * through RW again; code that patches its own next instruction; compressed
 * code; a 32-bit instruction that straddles two pages with only its second
 * half patched; and a page unmapped and mapped again at the same address
 * with different code.
 */
#include "isa_test.h"

#include <string.h>
#include <sys/mman.h>

#define PAGE 4096

typedef long (*fn_t)(long, long);

/* Encodings. */
#define LI_A0(imm) (0x00000513u | ((u32)(imm) & 0xfff) << 20) /* addi a0, x0, imm */
#define ADD_A0_A0_A1 0x00b50533u                             /* add a0, a0, a1 */
#define RET 0x00008067u                                       /* jalr x0, 0(ra) */
#define NOP 0x00000013u
#define SW_A1_12_A0 0x00b52623u /* sw a1, 12(a0) */
#define FENCE_I 0x0000100fu
#define C_LI_A0(imm) ((u16)(0x4501 | ((imm) & 0x1f) << 2 | ((imm) & 0x20) << 7))
#define C_JR_RA 0x8082u

static void fence_i(void) { __asm__ volatile("fence.i" ::: "memory"); }

static void put32(void *p, u32 w) { memcpy(p, &w, 4); }
static void put16(void *p, u16 h) { memcpy(p, &h, 2); }

static void *map(int prot)
{
    void *p = mmap(0, 2 * PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap failed\n");
        return 0;
    }
    return p;
}

static void rwx(void)
{
    unsigned char *p = map(PROT_READ | PROT_WRITE | PROT_EXEC);
    if (!p)
        return;
    fn_t f = (fn_t)p;
    put32(p, LI_A0(42));
    put32(p + 4, RET);
    fence_i();
    printf("rwx first: %ld\n", f(0, 0));
    put32(p, LI_A0(7));
    fence_i();
    printf("rwx patched: %ld\n", f(0, 0));
    /* Run it often, then patch the second instruction. */
    put32(p, LI_A0(-5));
    put32(p + 4, ADD_A0_A0_A1);
    put32(p + 8, RET);
    fence_i();
    long sum = 0;
    for (long i = 0; i < 5000; i++)
        sum += f(0, i);
    printf("rwx hot: %ld\n", sum);
    put32(p + 4, NOP);
    fence_i();
    printf("rwx hot patched: %ld\n", f(0, 100));

    /* Code that patches its own next instruction. */
    put32(p + 0, SW_A1_12_A0);
    put32(p + 4, FENCE_I);
    put32(p + 8, NOP);
    put32(p + 12, LI_A0(1));
    put32(p + 16, RET);
    fence_i();
    printf("self-patch: %ld\n", f((long)p, LI_A0(99)));
    printf("self-patch again: %ld\n", f((long)p, LI_A0(-99)));

    /* Compressed code. */
    put16(p, C_LI_A0(13));
    put16(p + 2, C_JR_RA);
    fence_i();
    printf("compressed: %ld\n", f(0, 0));
    put16(p, C_LI_A0(-1));
    fence_i();
    printf("compressed patched: %ld\n", f(0, 0));

    /* A 32-bit instruction across the page boundary. */
    unsigned char *q = p + PAGE - 2;
    put32(q, LI_A0(77));
    put32(q + 4, RET);
    fence_i();
    printf("straddling: %ld\n", ((fn_t)q)(0, 0));
    put16(q + 2, (u16)(LI_A0(-300) >> 16));
    fence_i();
    printf("straddling patched high half: %ld\n", ((fn_t)q)(0, 0));

    /* Unmap and map again at the same address with different code. */
    put32(p, LI_A0(1));
    put32(p + 4, RET);
    fence_i();
    printf("before remap: %ld\n", f(0, 0));
    munmap(p, 2 * PAGE);
    void *again = mmap(p, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (again != p) {
        printf("remap failed\n");
        return;
    }
    put32(p, LI_A0(2));
    put32(p + 4, RET);
    fence_i();
    printf("after remap: %ld\n", f(0, 0));
    munmap(p, PAGE);
}

static void rw_then_rx(void)
{
    unsigned char *p = map(PROT_READ | PROT_WRITE);
    if (!p)
        return;
    fn_t f = (fn_t)p;
    put32(p, LI_A0(11));
    put32(p + 4, ADD_A0_A0_A1);
    put32(p + 8, RET);
    mprotect(p, PAGE, PROT_READ | PROT_EXEC);
    fence_i();
    printf("rx: %ld\n", f(0, 1));
    mprotect(p, PAGE, PROT_READ | PROT_WRITE);
    put32(p, LI_A0(-11));
    mprotect(p, PAGE, PROT_READ | PROT_EXEC);
    fence_i();
    printf("rx patched: %ld\n", f(0, 1));
    munmap(p, 2 * PAGE);
}

int main(void)
{
    rwx();
    rw_then_rx();
    return 0;
}
