/*
 * Shared helpers for friscy's ISA test programs (tests/guest/isa).
 *
 * Every program prints one line per case with hex values only, so that its
 * output under friscy can be compared byte for byte with qemu-riscv64's
 * (tests/tests/isa_qemu.rs). Nothing printed may depend on addresses,
 * timing or the environment.
 */
#ifndef ISA_TEST_H
#define ISA_TEST_H

#include <stdint.h>
#include <stdio.h>

typedef uint64_t u64;
typedef int64_t i64;
typedef uint32_t u32;
typedef int32_t i32;
typedef uint16_t u16;

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Integer edge values used by several programs. */
static const u64 EDGE64[] = {
    0x0000000000000000ull, 0x0000000000000001ull, 0xffffffffffffffffull,
    0x7fffffffffffffffull, 0x8000000000000000ull, 0x000000007fffffffull,
    0x0000000080000000ull, 0x00000000ffffffffull, 0xffffffff80000000ull,
    0xffffffff7fffffffull, 0x0000000100000000ull, 0x123456789abcdef0ull,
    0xfedcba9876543210ull, 0x000000000000001full, 0x0000000000000020ull,
    0x000000000000003full, 0x0000000000000040ull, 0xfffffffffffffffeull,
    0x8000000000000001ull, 0x00000000deadbeefull,
};

/* Random cases are counted in multiples of RANDOM_SCALE: building with
 * -DRANDOM_SCALE=100 gives a long soak run with the same fixed cases. */
#ifndef RANDOM_SCALE
#define RANDOM_SCALE 1
#endif

/* A small deterministic generator (xorshift64*), for random cases that are
 * the same on every run. */
static u64 rng_state = 0x9e3779b97f4a7c15ull;

static inline u64 rnd(void)
{
    u64 x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

#endif
