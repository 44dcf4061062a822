/* intmix: a CoreMark-like mix of small integer workloads (own code).
 *
 * Each iteration runs four phases whose results feed the next iteration:
 *   1. linked list: walk a list laid out in scrambled memory order, update
 *      values, find a key, reverse it;
 *   2. matrix: 12x12 int32 multiply plus a bit-extract reduction;
 *   3. state machine: a switch-driven scanner classifying the tokens of a
 *      text (integers, decimals, exponents, hex, invalid);
 *   4. CRC16 (CCITT, bitwise) over the three phase results.
 * Usage: intmix [ITERATIONS]   (default see DEFAULT_ITERS)
 * Prints: intmix iters=N crc=XXXX list=... mat=... scan=...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ITERS 150000
#define LIST_N 200
#define MN 12
#define TEXT_LEN 1024

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t rnd(void)
{
    /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

/* ---- CRC16-CCITT (poly 0x1021), bitwise ---- */
static uint16_t crc16_byte(uint16_t crc, uint8_t b)
{
    crc ^= (uint16_t)b << 8;
    for (int i = 0; i < 8; i++)
        crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    return crc;
}
static uint16_t crc16_u32(uint16_t crc, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        crc = crc16_byte(crc, (uint8_t)(v >> (8 * i)));
    return crc;
}

/* ---- phase 1: linked list ---- */
struct node {
    struct node *next;
    int32_t key;
    int32_t val;
};
static struct node pool[LIST_N];

static struct node *list_build(void)
{
    int perm[LIST_N];
    for (int i = 0; i < LIST_N; i++)
        perm[i] = i;
    for (int i = LIST_N - 1; i > 0; i--) { /* Fisher-Yates with own PRNG */
        int j = (int)(rnd() % (uint32_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int i = 0; i < LIST_N; i++) {
        struct node *n = &pool[perm[i]];
        n->key = i;
        n->val = (int32_t)(rnd() & 0xffff);
        n->next = i + 1 < LIST_N ? &pool[perm[i + 1]] : NULL;
    }
    return &pool[perm[0]];
}

static struct node *list_reverse(struct node *h)
{
    struct node *prev = NULL;
    while (h) {
        struct node *next = h->next;
        h->next = prev;
        prev = h;
        h = next;
    }
    return prev;
}

static uint32_t list_phase(struct node **head, uint32_t salt)
{
    uint32_t acc = 0;
    int32_t want = (int32_t)(salt % LIST_N);
    int pos = 0, found = -1;
    for (struct node *n = *head; n; n = n->next, pos++) {
        if (n->key & 1)
            acc += (uint32_t)n->val ^ salt;
        else
            acc ^= (uint32_t)n->val + (salt >> 3);
        n->val = (int32_t)(((uint32_t)n->val * 5u + (salt & 7)) & 0xffff);
        if (n->key == want && found < 0)
            found = pos;
    }
    *head = list_reverse(*head);
    return acc + (uint32_t)found * 0x10001u;
}

/* ---- phase 2: matrix ---- */
static int32_t ma[MN][MN], mb[MN][MN], mc[MN][MN];

static uint32_t matrix_phase(uint32_t salt)
{
    int32_t add = (int32_t)(salt & 0xff) - 128;
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            int32_t s = 0;
            for (int k = 0; k < MN; k++)
                s += ma[i][k] * mb[k][j];
            mc[i][j] = s;
        }
    uint32_t acc = 0;
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            int32_t v = mc[i][j];
            acc += (uint32_t)((v >> 2) & 0xf) * (uint32_t)(i + j + 1);
            if (v > 0)
                acc ^= (uint32_t)v;
            /* feed back so the next multiply differs */
            ma[i][j] = (int32_t)(((v >> 4) + add) & 0x7ff) - 0x400;
        }
    return acc;
}

/* ---- phase 3: state machine scanner ---- */
enum state { S_START, S_SIGN, S_INT, S_ZERO, S_HEX0, S_HEX, S_DOT, S_FRAC, S_E, S_ESIGN, S_EXP, S_BAD };

static char text[TEXT_LEN + 1];

static void text_build(void)
{
    static const char *const pieces[] = {
        "123", "-45", "+7", "6.25", "0.5e3", "1e-9", "0x1F", "0xBEEF", "abc", "12a",
        "-0.75", "3.", ".5", "9E+12", "0x", "--1", "42", "007", "8.8.8", "e5",
    };
    size_t len = 0;
    while (len < TEXT_LEN - 16) {
        const char *p = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
        size_t n = strlen(p);
        memcpy(text + len, p, n);
        len += n;
        text[len++] = (rnd() & 3) ? ' ' : ',';
    }
    text[len] = 0;
}

static uint32_t scan_phase(uint32_t salt)
{
    uint32_t counts[5] = {0, 0, 0, 0, 0}; /* int, decimal, exp, hex, invalid */
    uint32_t transitions = 0;
    enum state st = S_START;
    for (const char *p = text;; p++) {
        char c = *p;
        int end = (c == ' ' || c == ',' || c == 0);
        if (end) {
            switch (st) {
            case S_START: break;
            case S_INT: case S_ZERO: counts[0]++; break;
            case S_FRAC: counts[1]++; break;
            case S_EXP: counts[2]++; break;
            case S_HEX: counts[3]++; break;
            default: counts[4]++; break;
            }
            st = S_START;
            if (c == 0)
                break;
            continue;
        }
        enum state prev = st;
        switch (st) {
        case S_START:
            if (c == '+' || c == '-') st = S_SIGN;
            else if (c == '0') st = S_ZERO;
            else if (c >= '1' && c <= '9') st = S_INT;
            else if (c == '.') st = S_DOT;
            else st = S_BAD;
            break;
        case S_SIGN:
            if (c == '0') st = S_ZERO;
            else if (c >= '1' && c <= '9') st = S_INT;
            else if (c == '.') st = S_DOT;
            else st = S_BAD;
            break;
        case S_ZERO:
            if (c == 'x' || c == 'X') st = S_HEX0;
            else if (c >= '0' && c <= '9') st = S_INT;
            else if (c == '.') st = S_FRAC;
            else if (c == 'e' || c == 'E') st = S_E;
            else st = S_BAD;
            break;
        case S_INT:
            if (c >= '0' && c <= '9') st = S_INT;
            else if (c == '.') st = S_FRAC;
            else if (c == 'e' || c == 'E') st = S_E;
            else st = S_BAD;
            break;
        case S_HEX0:
        case S_HEX:
            if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) st = S_HEX;
            else st = S_BAD;
            break;
        case S_DOT:
            st = (c >= '0' && c <= '9') ? S_FRAC : S_BAD;
            break;
        case S_FRAC:
            if (c >= '0' && c <= '9') st = S_FRAC;
            else if (c == 'e' || c == 'E') st = S_E;
            else st = S_BAD;
            break;
        case S_E:
            if (c == '+' || c == '-') st = S_ESIGN;
            else if (c >= '0' && c <= '9') st = S_EXP;
            else st = S_BAD;
            break;
        case S_ESIGN:
        case S_EXP:
            st = (c >= '0' && c <= '9') ? S_EXP : S_BAD;
            break;
        case S_BAD:
            break;
        }
        if (st != prev)
            transitions++;
    }
    /* mutate one character so each scan sees slightly different text */
    size_t at = salt % (TEXT_LEN - 16);
    if (text[at] >= '0' && text[at] <= '8')
        text[at]++;
    else if (text[at] == '9')
        text[at] = '0';
    uint32_t acc = transitions;
    for (int i = 0; i < 5; i++)
        acc = acc * 31 + counts[i];
    return acc;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_ITERS;
    struct node *head = list_build();
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            ma[i][j] = (int32_t)(rnd() & 0x7ff) - 0x400;
            mb[i][j] = (int32_t)(rnd() & 0x7ff) - 0x400;
        }
    text_build();

    uint16_t crc = 0xffff;
    uint32_t l = 0, m = 0, s = 0;
    for (long it = 0; it < iters; it++) {
        uint32_t salt = (uint32_t)crc * 2654435761u + (uint32_t)it;
        l = list_phase(&head, salt);
        m = matrix_phase(salt ^ l);
        s = scan_phase(salt + m);
        crc = crc16_u32(crc, l);
        crc = crc16_u32(crc, m);
        crc = crc16_u32(crc, s);
    }
    printf("intmix iters=%ld crc=%04x list=%08x mat=%08x scan=%08x\n", iters, crc, l, m, s);
    return 0;
}
