/*
 * Runs of loads and stores through one base register (own code).
 *
 * The cases where a translator that shares work between the accesses of a
 * run (one page check for several, docs/aot.md) would go wrong if it were
 * not exact: runs whose bytes cross a page boundary, at every offset around
 * one; a store through another register into the page a run reads (a page
 * never written, which reads as the shared zero page until then, and a
 * page a fork shares copy-on-write); an atomic into that page; a load that
 * overwrites its own base; floating-point loads and stores in a run.
 * Every line holds hex values only (compared with qemu-riscv64).
 */
#include "isa_test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096

static unsigned char *map(size_t len)
{
    void *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap failed\n");
        exit(1);
    }
    return p;
}

/* Reads a page (in a function of its own: a block of its own), so that a
 * run that follows finds the page where reads find it (in the TLB). */
static __attribute__((noinline)) u64 touch(const unsigned char *page)
{
    return *(volatile const u64 *)(page + 16);
}

static u64 fold(u64 h, u64 v)
{
    return (h ^ v) * 0x100000001b3ull;
}

/* Loads of several sizes through one base, at every offset around a page
 * boundary; then stores, read back. */
static void across_pages(void)
{
    unsigned char *m = map(2 * PAGE);
    for (int i = 0; i < 2 * PAGE; i++)
        m[i] = (unsigned char)(i * 7 + 3);
    u64 h = 0;
    for (int off = PAGE - 40; off < PAGE + 8; off++) {
        register unsigned char *b asm("a0") = m + off - 8;
        u64 d0, d1, w, hb, bu;
        __asm__ volatile("ld %0, 8(%5)\n\t"
                         "ld %1, 16(%5)\n\t"
                         "lw %2, 12(%5)\n\t"
                         "lh %3, 22(%5)\n\t"
                         "lbu %4, 23(%5)"
                         : "=&r"(d0), "=&r"(d1), "=&r"(w), "=&r"(hb), "=&r"(bu)
                         : "r"(b)
                         : "memory");
        h = fold(fold(fold(fold(fold(h, d0), d1), w), hb), bu);
        if (off % 16 == 15)
            printf("across pages: loads to %+d %016llx\n", off - PAGE, (unsigned long long)h);
    }
    h = 0;
    for (int off = PAGE - 40; off < PAGE + 8; off++) {
        register unsigned char *b asm("a0") = m + off;
        u64 v = 0x0102030405060708ull * (u64)off;
        __asm__ volatile("sd %1, 0(%0)\n\t"
                         "sw %1, 8(%0)\n\t"
                         "sh %1, 12(%0)\n\t"
                         "sb %1, 14(%0)\n\t"
                         "sd %1, -8(%0)"
                         :
                         : "r"(b), "r"(v)
                         : "memory");
        for (int k = -8; k < 15; k++)
            h = fold(h, m[off + k]);
        if (off % 16 == 15)
            printf("across pages: stores to %+d %016llx\n", off - PAGE, (unsigned long long)h);
    }
    munmap(m, 2 * PAGE);
}

/* A run reads a page, a store through another register writes it, the run
 * reads it again: the second read must see the store. */
static u64 read_write_read(unsigned char *page, u64 v)
{
    u64 seen = touch(page);
    register unsigned char *p asm("a0") = page;
    register unsigned char *q asm("a1") = page;
    u64 r0, r1, r2;
    __asm__ volatile("ld %0, 0(%3)\n\t"
                     "ld %1, 8(%3)\n\t"
                     "sd %5, 8(%4)\n\t"
                     "ld %2, 8(%3)"
                     : "=&r"(r0), "=&r"(r1), "=&r"(r2)
                     : "r"(p), "r"(q), "r"(v)
                     : "memory");
    return r0 ^ r1 * 3 ^ r2 * 5 ^ seen * 7;
}

static void aliasing_stores(void)
{
    unsigned char *fresh = map(PAGE);
    printf("zero page: %016llx\n",
           (unsigned long long)read_write_read(fresh, 0x1111222233334444ull));
    printf("zero page again: %016llx\n",
           (unsigned long long)read_write_read(fresh, 0x5555666677778888ull));

    unsigned char *shared = map(PAGE);
    memset(shared, 0x5a, PAGE);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        printf("child, copy on write: %016llx\n",
               (unsigned long long)read_write_read(shared, 0x9999aaaabbbbccccull));
        fflush(stdout);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("parent after child: %016llx status %x\n",
           (unsigned long long)read_write_read(shared, 0xddddeeeeffff0000ull),
           (unsigned)status);

    /* an atomic in the middle of a run */
    unsigned char *amo = map(PAGE);
    u64 seen = touch(amo);
    register unsigned char *p asm("a0") = amo;
    register unsigned char *q asm("a1") = amo + 8;
    u64 r0, r1, old, v = 0x0123456789abcdefull;
    __asm__ volatile("ld %0, 0(%3)\n\t"
                     "amoswap.d %2, %5, (%4)\n\t"
                     "ld %1, 8(%3)"
                     : "=&r"(r0), "=&r"(r1), "=&r"(old)
                     : "r"(p), "r"(q), "r"(v)
                     : "memory");
    printf("atomic in a run: %016llx %016llx %016llx %llx\n", (unsigned long long)r0,
           (unsigned long long)r1, (unsigned long long)old, (unsigned long long)seen);
    munmap(fresh, PAGE);
    munmap(shared, PAGE);
    munmap(amo, PAGE);
}

/* ld a0, 0(a0) then loads through the new a0. */
static void load_overwrites_base(void)
{
    static u64 cells[4][4];
    for (int i = 0; i < 4; i++) {
        cells[i][0] = (u64)&cells[(i + 1) % 4][0];
        cells[i][1] = 0x1000 + (u64)i;
    }
    register u64 *p asm("a0") = &cells[0][0];
    u64 a, b;
    __asm__ volatile("ld %1, 8(%0)\n\t"
                     "ld %0, 0(%0)\n\t"
                     "ld %2, 8(%0)\n\t"
                     "ld %0, 0(%0)\n\t"
                     "ld %0, 0(%0)\n\t"
                     "ld %2, 8(%0)"
                     : "+r"(p), "=&r"(a), "=&r"(b)
                     :
                     : "memory");
    printf("load overwrites base: %llx %llx\n", (unsigned long long)a, (unsigned long long)b);
}

/* fld/fsd/flw/fsw in a run, around a page boundary. */
static void floating_point(void)
{
    unsigned char *m = map(2 * PAGE);
    for (int i = 0; i < 2 * PAGE; i++)
        m[i] = (unsigned char)(i * 13 + 1);
    u64 h = 0;
    for (int off = PAGE - 24; off < PAGE + 4; off += 2) {
        register unsigned char *b asm("a0") = m + off;
        u64 x, y;
        __asm__ volatile("fld ft0, 0(%2)\n\t"
                         "flw ft1, 8(%2)\n\t"
                         "fsd ft0, 12(%2)\n\t"
                         "fsw ft1, 20(%2)\n\t"
                         "fmv.x.d %0, ft1\n\t"
                         "ld %1, 12(%2)"
                         : "=&r"(x), "=&r"(y)
                         : "r"(b)
                         : "ft0", "ft1", "memory");
        h = fold(fold(h, x), y);
        for (int k = 0; k < 24; k++)
            h = fold(h, m[off + k]);
    }
    printf("floating point: %016llx\n", (unsigned long long)h);
    munmap(m, 2 * PAGE);
}

int main(void)
{
    across_pages();
    aliasing_stores();
    load_overwrites_base();
    floating_point();
    return 0;
}
