/* signalfd, eventfd, timerfd, epoll and a timer signal, compared between
   friscy and qemu-riscv64: prints only what must be the same on both. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGALRM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    raise(SIGUSR1);
    struct signalfd_siginfo si;
    ssize_t n = read(sfd, &si, sizeof si);
    printf("signalfd read %zd signo %u self %d\n", n, si.ssi_signo, si.ssi_pid == (uint32_t)getpid());

    int efd = eventfd(2, EFD_NONBLOCK);
    uint64_t v = 3;
    write(efd, &v, 8);
    read(efd, &v, 8);
    printf("eventfd %llu then %zd\n", (unsigned long long)v, read(efd, &v, 8));

    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {{0, 0}, {0, 20 * 1000 * 1000}};
    timerfd_settime(tfd, 0, &its, NULL);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    struct epoll_event out[4];
    int k = epoll_wait(ep, out, 4, 2000);
    uint64_t exp = 0;
    read(tfd, &exp, 8);
    printf("epoll %d data %llu timer expirations %llu\n", k, (unsigned long long)out[0].data.u64, (unsigned long long)exp);

    timer_t t;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGALRM;
    sev.sigev_value.sival_int = 7;
    timer_create(CLOCK_MONOTONIC, &sev, &t);
    struct itimerspec once = {{0, 0}, {0, 10 * 1000 * 1000}};
    timer_settime(t, 0, &once, NULL);
    siginfo_t info;
    int s = sigwaitinfo(&set, &info);
    printf("timer signal %d code %s value %d\n", s, info.si_code == SI_TIMER ? "SI_TIMER" : "?", info.si_value.sival_int);
    return 0;
}
