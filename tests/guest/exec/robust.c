/* Robust mutexes: a lock whose owner dies is handed to the next locker
 * with EOWNERDEAD (threads and processes), and pthread_mutex_consistent
 * makes it usable again. Output is compared with qemu-riscv64. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t *shared;

static void init(pthread_mutex_t *m, int pshared) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (pshared)
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(m, &a);
}

static void *die_holding(void *arg) {
    pthread_mutex_lock(arg);
    return NULL; /* the thread ends with the lock held */
}

static void *wait_for_it(void *arg) {
    int r = pthread_mutex_lock(arg);
    printf("waiter: %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : r == 0 ? "0" : "other");
    if (r == EOWNERDEAD)
        pthread_mutex_consistent(arg);
    pthread_mutex_unlock(arg);
    return NULL;
}

int main(void) {
    static pthread_mutex_t m;
    init(&m, 0);
    pthread_t t;
    pthread_create(&t, NULL, die_holding, &m);
    pthread_join(t, NULL);
    int r = pthread_mutex_lock(&m);
    printf("thread died holding it: %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : "other");
    printf("consistent: %d\n", pthread_mutex_consistent(&m));
    pthread_mutex_unlock(&m);
    printf("relock: %d\n", pthread_mutex_lock(&m));
    pthread_mutex_unlock(&m);

    /* a waiter blocked on the lock when its owner dies is woken */
    shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    init(shared, 1);
    int pipefd[2];
    pipe(pipefd);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(shared);
        write(pipefd[1], "x", 1);
        usleep(100000);
        _exit(0); /* the process ends with the lock held */
    }
    char c;
    read(pipefd[0], &c, 1);
    pthread_t w;
    pthread_create(&w, NULL, wait_for_it, shared);
    pthread_join(w, NULL);
    int st;
    waitpid(pid, &st, 0);
    printf("child exit %d\n", WEXITSTATUS(st));
    printf("lock after recovery: %d\n", pthread_mutex_lock(shared));
    return 0;
}
