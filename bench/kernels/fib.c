/* fib: naive doubly-recursive Fibonacci.
 *
 * Measures call/return, stack traffic and short conditional branches.
 * Usage: fib [N]   (default N = 38)
 * Prints: fib(N) = F
 */
#include <stdio.h>
#include <stdlib.h>

/* noinline + noclone keep the recursion a real call tree on every target. */
__attribute__((noinline, noclone)) static unsigned long fib(unsigned n)
{
    if (n < 2)
        return n;
    return fib(n - 1) + fib(n - 2);
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 38;
    if (n > 90) {
        fprintf(stderr, "fib: N must be <= 90\n");
        return 2;
    }
    printf("fib(%u) = %lu\n", n, fib(n));
    return 0;
}
