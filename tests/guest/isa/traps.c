/*
 * isa-test-cases: 24
 *
 * Instructions that trap, one case per run (the case number is argv[1]):
 * the program prints which case it runs, then executes an instruction that
 * must kill it with a signal. The exit status (128 + signal) must match:
 * SIGSEGV for loads, stores and fetches outside mapped or permitted memory
 * (also code that was decoded and run before its page was unmapped or lost
 * its execute permission), SIGBUS for misaligned atomics, SIGTRAP for
 * ebreak, SIGILL for illegal and reserved encodings, CSRs that do not exist
 * or are read-only, and reserved rounding modes.
 */
#include "isa_test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096
#define LI_A0_1 0x00100513u /* addi a0, x0, 1 */
#define RET 0x00008067u

typedef long (*fn_t)(void);

static void *map(size_t len, int prot)
{
    void *p = mmap(0, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap failed\n");
        exit(1);
    }
    return p;
}

/* An RWX page holding "li a0, 1; ret", already run once. */
static fn_t hot_code(void)
{
    u32 *p = map(PAGE, PROT_READ | PROT_WRITE | PROT_EXEC);
    p[0] = LI_A0_1;
    p[1] = RET;
    __asm__ volatile("fence.i" ::: "memory");
    fn_t f = (fn_t)p;
    long sum = 0;
    for (int i = 0; i < 100; i++)
        sum += f();
    printf("ran %ld times\n", sum);
    return f;
}

static u64 word[2] __attribute__((aligned(16)));

static void run_case(int n)
{
    u64 r = 0;
    char *base = (char *)word;
    switch (n) {
    case 0:
        printf("load from an unmapped page\n");
        fflush(stdout);
        r = *(volatile u64 *)0x10;
        break;
    case 1: {
        printf("store to a read-only page\n");
        fflush(stdout);
        volatile u64 *p = map(PAGE, PROT_READ);
        *p = 1;
        break;
    }
    case 2: {
        printf("fetch from a non-executable page\n");
        fflush(stdout);
        u32 *p = map(PAGE, PROT_READ | PROT_WRITE);
        p[0] = LI_A0_1;
        p[1] = RET;
        r = ((fn_t)p)();
        break;
    }
    case 3: {
        printf("run code after its page is unmapped\n");
        fn_t f = hot_code();
        munmap((void *)f, PAGE);
        fflush(stdout);
        r = f();
        break;
    }
    case 4: {
        printf("run code after its page loses PROT_EXEC\n");
        fn_t f = hot_code();
        mprotect((void *)f, PAGE, PROT_READ | PROT_WRITE);
        fflush(stdout);
        r = f();
        break;
    }
    case 5: {
        printf("32-bit instruction whose second half is unmapped\n");
        char *p = map(2 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC);
        u32 insn = LI_A0_1;
        memcpy(p + PAGE - 2, &insn, 4);
        munmap(p + PAGE, PAGE);
        __asm__ volatile("fence.i" ::: "memory");
        fflush(stdout);
        r = ((fn_t)(p + PAGE - 2))();
        break;
    }
    case 6:
        printf("misaligned amoadd.w\n");
        fflush(stdout);
        __asm__ volatile("amoadd.w %0, %1, (%2)"
                         : "=r"(r) : "r"(1ull), "r"(base + 2) : "memory");
        break;
    case 7:
        printf("misaligned amoswap.d\n");
        fflush(stdout);
        __asm__ volatile("amoswap.d %0, %1, (%2)"
                         : "=r"(r) : "r"(1ull), "r"(base + 4) : "memory");
        break;
    case 8:
        printf("misaligned lr.d\n");
        fflush(stdout);
        __asm__ volatile("lr.d %0, (%1)" : "=r"(r) : "r"(base + 4) : "memory");
        break;
    case 9: {
        printf("amoswap.w on a read-only page\n");
        u32 *p = map(PAGE, PROT_READ);
        fflush(stdout);
        __asm__ volatile("amoswap.w %0, %1, (%2)"
                         : "=r"(r) : "r"(1ull), "r"(p) : "memory");
        break;
    }
    case 10:
        printf("ebreak\n");
        fflush(stdout);
        __asm__ volatile("ebreak");
        break;
    case 11:
        printf("c.ebreak\n");
        fflush(stdout);
        __asm__ volatile("c.ebreak");
        break;
    case 12:
        printf("all-zero halfword (defined illegal)\n");
        fflush(stdout);
        __asm__ volatile(".2byte 0");
        break;
    case 13:
        printf("unimp (csrrw x0, cycle, x0)\n");
        fflush(stdout);
        __asm__ volatile("unimp");
        break;
    case 14:
        printf("csrw instret\n");
        fflush(stdout);
        __asm__ volatile("csrw instret, %0" : : "r"(1ull));
        break;
    case 15:
        printf("csrr of a machine-mode CSR (mstatus)\n");
        fflush(stdout);
        __asm__ volatile("csrr %0, mstatus" : "=r"(r));
        break;
    case 16:
        printf("fadd.d dyn with frm = 5\n");
        fflush(stdout);
        __asm__ volatile("fsrmi 5\n\tfadd.d ft0, ft1, ft2, dyn" ::: "ft0");
        break;
    case 17:
        printf("fadd.d with rm = 6\n");
        fflush(stdout);
        __asm__ volatile(".insn r 0x53, 6, 0x01, ft0, ft1, ft2" ::: "ft0");
        break;
    case 18:
        printf("c.addi16sp with a zero immediate\n");
        fflush(stdout);
        __asm__ volatile(".2byte 0x6101");
        break;
    case 19:
        printf("c.lwsp into x0\n");
        fflush(stdout);
        __asm__ volatile(".2byte 0x4002");
        break;
    case 20:
        printf("fsqrt.s dyn with frm = 7\n");
        fflush(stdout);
        __asm__ volatile("fsrmi 7\n\tfsqrt.s ft0, ft1, dyn" ::: "ft0");
        break;
    case 21:
        /* rs1 != x0 is a write attempt even when the register holds 0 */
        printf("csrrs of cycle with a zero register\n");
        fflush(stdout);
        __asm__ volatile("csrrs %0, cycle, %1" : "=r"(r) : "r"(0ull));
        break;
    case 22:
        printf("csrrc of instret with a zero register\n");
        fflush(stdout);
        __asm__ volatile("csrrc %0, instret, %1" : "=r"(r) : "r"(0ull));
        break;
    case 23:
        printf("csrrsi of time with a nonzero immediate\n");
        fflush(stdout);
        __asm__ volatile("csrrsi %0, time, 1" : "=r"(r));
        break;
    default:
        printf("no case %d\n", n);
        return;
    }
    printf("survived: 0x%lx\n", r);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        printf("usage: traps CASE\n");
        return 2;
    }
    run_case(atoi(argv[1]));
    return 0;
}
