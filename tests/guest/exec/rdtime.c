// rdtime counts real time at the platform timebase (10 MHz).
#include <stdio.h>
#include <time.h>

static unsigned long rdtime(void) {
    unsigned long t;
    __asm__ volatile("rdtime %0" : "=r"(t));
    return t;
}

int main(void) {
    unsigned long a = rdtime();
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, 0);
    unsigned long b = rdtime();
    printf("%lu\n", b - a);
    return 0;
}
