// Exit statuses and signals as `friscy exec` reports them.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "exit")) return atoi(argv[2]);
    if (!strcmp(what, "segv")) return *(volatile int *)16;
    if (!strcmp(what, "ebreak")) __asm__ volatile("ebreak");
    if (!strcmp(what, "args")) {
        for (int i = 0; i < argc; i++) printf("[%s]", argv[i]);
        printf(" env FRISCY_TEST=%s\n", getenv("FRISCY_TEST") ? getenv("FRISCY_TEST") : "");
        return 0;
    }
    if (!strcmp(what, "stdin")) {
        char buf[64];
        ssize_t n = read(0, buf, sizeof buf);
        printf("read %zd\n", n);
        return 0;
    }
    if (!strcmp(what, "writev-huge")) {
        // a hostile length must cost the host nothing
        static char small[8] = "ok\n";
        struct iovec iov[2] = {{small, 3}, {small, 1UL << 40}};
        ssize_t n = writev(1, iov, 2);
        printf("\nwritev %s\n", n < 0 ? "failed" : "wrote");
        return 0;
    }
    return 100;
}
