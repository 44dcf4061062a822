/* hashmap: open-addressing hash table, insert/lookup/delete (own code).
 *
 * Linear probing over a power-of-two table of 64-bit keys with tombstones.
 * Each round inserts N pseudo-random keys, looks up all of them plus N
 * absent keys, deletes every third key, looks everything up again, and
 * re-inserts the deleted keys with new values (reusing tombstones).
 * Measures multiply-shift hashing, cache misses and unpredictable branches.
 * Usage: hashmap [ROUNDS]   (default see DEFAULT_ROUNDS); N is fixed.
 * Prints: hashmap rounds=R n=N sum=...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ROUNDS 150
#define N (1 << 16)
#define CAP_BITS 17
#define CAP (1u << CAP_BITS)
#define EMPTY 0ull
#define TOMB 1ull

struct slot {
    uint64_t key;
    uint64_t val;
};
static struct slot table[CAP];
static uint64_t keys[N];
static size_t used; /* live + tombstones */

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t rnd64(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint32_t slot_of(uint64_t key)
{
    return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> (64 - CAP_BITS));
}

/* Returns 1 if inserted, 0 if the key existed (value replaced). */
static int insert(uint64_t key, uint64_t val)
{
    uint32_t i = slot_of(key), tomb = UINT32_MAX;
    for (;;) {
        uint64_t k = table[i].key;
        if (k == key) {
            table[i].val = val;
            return 0;
        }
        if (k == TOMB && tomb == UINT32_MAX)
            tomb = i;
        if (k == EMPTY) {
            if (tomb != UINT32_MAX)
                i = tomb;
            else
                used++;
            table[i].key = key;
            table[i].val = val;
            return 1;
        }
        i = (i + 1) & (CAP - 1);
    }
}

static struct slot *lookup(uint64_t key)
{
    uint32_t i = slot_of(key);
    for (;;) {
        uint64_t k = table[i].key;
        if (k == key)
            return &table[i];
        if (k == EMPTY)
            return NULL;
        i = (i + 1) & (CAP - 1);
    }
}

static int erase(uint64_t key)
{
    struct slot *s = lookup(key);
    if (!s)
        return 0;
    s->key = TOMB;
    s->val = 0;
    return 1;
}

static uint64_t fresh_key(void)
{
    uint64_t k;
    do
        k = rnd64();
    while (k <= TOMB);
    return k;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_ROUNDS;
    uint64_t sum = 0;
    for (long r = 0; r < rounds; r++) {
        memset(table, 0, sizeof table);
        used = 0;
        uint64_t inserted = 0, hits = 0, misses = 0, erased = 0;
        for (uint32_t i = 0; i < N; i++) {
            keys[i] = fresh_key();
            inserted += (uint64_t)insert(keys[i], i * 7u + (uint64_t)r);
        }
        for (int pass = 0; pass < 2; pass++) {
            for (uint32_t i = 0; i < N; i++) {
                struct slot *s = lookup(keys[i]);
                if (s) {
                    hits++;
                    sum += s->val;
                }
                if (lookup(fresh_key()))
                    hits += 1000000; /* astronomically unlikely */
                else
                    misses++;
            }
            if (pass == 0)
                for (uint32_t i = 0; i < N; i += 3)
                    erased += (uint64_t)erase(keys[i]);
        }
        for (uint32_t i = 0; i < N; i += 3)
            inserted += (uint64_t)insert(keys[i], (uint64_t)i ^ 0x5555);
        for (uint32_t i = 0; i < N; i += 5) {
            struct slot *s = lookup(keys[i]);
            sum = sum * 31 + (s ? s->val : 0xdead);
        }
        sum ^= inserted << 40 ^ hits << 20 ^ misses ^ erased << 8 ^ (uint64_t)used;
    }
    printf("hashmap rounds=%ld n=%d sum=%016llx\n", rounds, N, (unsigned long long)sum);
    return 0;
}
