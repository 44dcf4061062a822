/* qsort: sorting a large pseudo-random array (own code).
 *
 * Each round fills an array of 32-bit keys from a fixed-seed PRNG, sorts
 * one copy with libc qsort() (indirect comparator calls) and one with our
 * own quicksort (median-of-three, insertion sort for short ranges), checks
 * that both are sorted and identical, and folds them into a checksum.
 * Usage: qsort [ROUNDS]   (default see DEFAULT_ROUNDS); array size is fixed.
 * Prints: qsort rounds=N n=SIZE sum=...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ROUNDS 16
#define N (1 << 17)

static uint32_t a[N], c[N];
static uint64_t rng = 0xd1b54a32d192ed03ull;

static uint32_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t p = *(const uint32_t *)x, q = *(const uint32_t *)y;
    return (p > q) - (p < q);
}

static void insertion(uint32_t *v, long lo, long hi)
{
    for (long i = lo + 1; i <= hi; i++) {
        uint32_t x = v[i];
        long j = i - 1;
        while (j >= lo && v[j] > x) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}

static void swap(uint32_t *v, long i, long j)
{
    uint32_t t = v[i];
    v[i] = v[j];
    v[j] = t;
}

static void quicksort(uint32_t *v, long lo, long hi)
{
    while (hi - lo > 16) {
        long mid = lo + (hi - lo) / 2;
        if (v[mid] < v[lo]) swap(v, mid, lo);
        if (v[hi] < v[lo]) swap(v, hi, lo);
        if (v[hi] < v[mid]) swap(v, hi, mid);
        uint32_t pivot = v[mid];
        long i = lo, j = hi;
        while (i <= j) { /* Hoare-style partition */
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                swap(v, i, j);
                i++;
                j--;
            }
        }
        /* recurse into the smaller side, loop on the larger one */
        if (j - lo < hi - i) {
            quicksort(v, lo, j);
            lo = i;
        } else {
            quicksort(v, i, hi);
            hi = j;
        }
    }
    insertion(v, lo, hi);
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_ROUNDS;
    uint64_t sum = 0;
    for (long r = 0; r < rounds; r++) {
        /* every other round uses a narrow key range: many duplicates */
        uint32_t mask = (r & 1) ? 0x3ff : 0xffffffffu;
        for (long i = 0; i < N; i++)
            a[i] = rnd() & mask;
        memcpy(c, a, sizeof a);
        qsort(a, N, sizeof a[0], cmp_u32);
        quicksort(c, 0, N - 1);
        for (long i = 0; i < N; i++) {
            if (a[i] != c[i] || (i && a[i - 1] > a[i])) {
                fprintf(stderr, "qsort: mismatch at %ld in round %ld\n", i, r);
                return 1;
            }
        }
        for (long i = 0; i < N; i += 97)
            sum = sum * 1000003u + a[i];
        sum ^= a[0] + ((uint64_t)a[N - 1] << 32);
    }
    printf("qsort rounds=%ld n=%d sum=%016llx\n", rounds, N, (unsigned long long)sum);
    return 0;
}
