/* strings: libc string and memory routines (own code around libc calls).
 *
 * Each round copies, fills, scans and compares parts of a 256 KiB text of
 * pseudo-random words: memcpy/memmove of many sizes and alignments, memset,
 * strlen over NUL-separated lines, strchr/memchr searches, memcmp/strcmp.
 * Measures the C library's (vectorisable) string code and unaligned
 * loads/stores.
 * Usage: strings [ROUNDS]   (default see DEFAULT_ROUNDS)
 * Prints: strings rounds=N sum=...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ROUNDS 500
#define SIZE (256 * 1024)

static char text[SIZE + 64];
static char dst[SIZE + 64];
static uint64_t rng = 0x853c49e6748fea9bull;

static uint32_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

static void build_text(void)
{
    static const char *const syll[] = {"ka", "ri", "so", "ven", "tul", "ma", "qui", "dor",
                                       "el", "ps", "xan", "ru", "be", "lo", "th", "ing"};
    size_t len = 0;
    while (len < SIZE - 32) {
        int word = 1 + (int)(rnd() % 4);
        for (int s = 0; s < word; s++) {
            const char *p = syll[rnd() % 16];
            size_t n = strlen(p);
            memcpy(text + len, p, n);
            len += n;
        }
        uint32_t r = rnd() % 16;
        text[len++] = r == 0 ? '\0' : r == 1 ? '\n' : ' '; /* NUL ends a "line" */
    }
    memset(text + len, 0, sizeof text - len);
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_ROUNDS;
    uint64_t h = 0xcbf29ce484222325ull;
    build_text();
    for (long r = 0; r < rounds; r++) {
        /* 1. copies of many sizes and alignments */
        for (int k = 0; k < 2000; k++) {
            size_t n = (size_t)1 << (rnd() % 13); /* 1 .. 8191 after the next line */
            n += rnd() % n;
            size_t from = rnd() % (SIZE - n), to = rnd() % (SIZE - n);
            memcpy(dst + to, text + from, n);
            h = mix(h, (unsigned char)dst[to + n / 2]);
        }
        /* 2. overlapping moves in both directions */
        for (int k = 0; k < 500; k++) {
            size_t n = 64 + rnd() % 2048;
            size_t at = 4096 + rnd() % (SIZE - n - 8192);
            size_t d = 1 + rnd() % 64;
            if (k & 1)
                memmove(dst + at + d, dst + at, n);
            else
                memmove(dst + at - d, dst + at, n);
        }
        /* 3. fills */
        for (int k = 0; k < 300; k++) {
            size_t n = rnd() % 4096;
            size_t at = rnd() % (SIZE - n);
            memset(dst + at, 'a' + (int)(rnd() % 26), n);
        }
        /* 4. strlen over every NUL-terminated line of the text */
        uint64_t lines = 0, total = 0;
        for (const char *p = text; p < text + SIZE;) {
            size_t n = strlen(p);
            total += n;
            lines++;
            p += n + 1;
        }
        h = mix(h, total ^ (lines << 32));
        /* 5. searches */
        for (int k = 0; k < 400; k++) {
            size_t at = rnd() % (SIZE - 8);
            char want = "xqzvkdt"[rnd() % 7];
            const char *p = strchr(text + at, want);
            h = mix(h, p ? (uint64_t)(p - text) : 0);
            const char *q = memchr(dst + at, want, SIZE - at);
            h = mix(h, q ? (uint64_t)(q - dst) : 1);
        }
        /* 6. comparisons: equal prefixes of varying length, then a difference */
        for (int k = 0; k < 400; k++) {
            size_t n = 16 + rnd() % 4000;
            size_t at = rnd() % (SIZE - n);
            memcpy(dst + at, text + at, n);
            size_t diff = rnd() % n;
            dst[at + diff] ^= (char)(1 + rnd() % 7);
            int c1 = memcmp(dst + at, text + at, n);
            int c2 = strcmp(dst + at, text + at);
            h = mix(h, (uint64_t)(c1 > 0) * 2 + (uint64_t)(c1 < 0) + (uint64_t)(c2 > 0) * 8 +
                           (uint64_t)(c2 < 0) * 4);
        }
        /* 7. fold the whole destination buffer in */
        uint64_t acc = 0;
        for (size_t i = 0; i < SIZE; i += 8) {
            uint64_t w;
            memcpy(&w, dst + i, 8);
            acc = acc * 31 + w;
        }
        h = mix(h, acc);
        /* the text drifts a little each round */
        text[rnd() % SIZE] = (char)('a' + (int)(r % 26));
    }
    printf("strings rounds=%ld sum=%016llx\n", rounds, (unsigned long long)h);
    return 0;
}
