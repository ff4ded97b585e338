/* kevent() through libkq.so, in ns per call, next to a raw Linux floor (epoll + eventfd / pipe)
 * measured in the same run, rounds interleaved.
 *
 *   bench/run.sh [iterations]        (builds libkq.so in release mode, then this)
 *
 * Rows:
 *   user      USER trigger -> collect round trip: one kevent() with the trigger in the changelist
 *             and room for its event (floor: eventfd write + epoll_wait + eventfd read)
 *   pipe      pipe write -> READ event: write(1 byte), kevent() collecting it, read(1 byte)
 *             (floor: the same with epoll_wait)
 *   change1k  one kevent() applying 1,000 changes (EV_ADD of 1,000 USER knotes, then a call
 *             deleting them: ns per call, averaged over the two) (floor: none)
 * each with 1 thread, and 4 threads sharing one kqueue (user4, pipe4, change1k4: aggregate ns per
 * call; floor: 4 threads sharing one epoll set). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 5
#define THREADS 4

static long iters = 200000;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "kevent_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static const struct timespec zero = {0, 0};

/* ---- kq ---- */

struct kq_arg { int kq; uintptr_t ident; int pipe[2]; };

static void *kq_user(void *p) {
    struct kq_arg *a = p;
    struct kevent ch, ev;
    EV_SET(&ch, a->ident, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    for (long i = 0; i < iters; i++)
        if (kevent(a->kq, &ch, 1, &ev, 1, &zero) < 0) die("kevent user");
    return NULL;
}

static void *kq_pipe(void *p) {
    struct kq_arg *a = p;
    struct kevent ev;
    struct timespec ts = {0, 100 * 1000000L};
    char c = 'x', buf[64];
    for (long i = 0; i < iters; i++) {
        if (write(a->pipe[1], &c, 1) != 1) die("write");
        /* With several threads the event may be another thread's pipe (drain whichever), and
         * two writes may merge into one edge: a bounded wait, so nobody waits forever. */
        int n = kevent(a->kq, NULL, 0, &ev, 1, &ts);
        if (n < 0) die("kevent pipe");
        if (n == 1 && read((int)ev.ident, buf, sizeof buf) < 0 && errno != EAGAIN) die("read");
    }
    return NULL;
}

/* ---- floor: epoll ---- */

struct ep_arg { int ep; int efd; int pipe[2]; };

static void *ep_user(void *p) {
    struct ep_arg *a = p;
    struct epoll_event ev;
    uint64_t one = 1, val;
    for (long i = 0; i < iters; i++) {
        if (write(a->efd, &one, 8) != 8) die("eventfd write");
        int n = epoll_wait(a->ep, &ev, 1, 0);
        if (n < 0) die("epoll_wait");
        if (n == 1 && read(ev.data.fd, &val, 8) < 0 && errno != EAGAIN) die("eventfd read");
    }
    return NULL;
}

static void *ep_pipe(void *p) {
    struct ep_arg *a = p;
    struct epoll_event ev;
    char c = 'x', buf[64];
    for (long i = 0; i < iters; i++) {
        if (write(a->pipe[1], &c, 1) != 1) die("write");
        int n = epoll_wait(a->ep, &ev, 1, 100);
        if (n < 0) die("epoll_wait");
        if (n == 1 && read(ev.data.fd, buf, sizeof buf) < 0 && errno != EAGAIN) die("read");
    }
    return NULL;
}

/* Runs fn on n threads (args of size sz), returning ns per iteration per thread... as wall time
 * over all iterations of all threads: ns per call of the aggregate. */
static double run_threads(int n, void *(*fn)(void *), void *args, size_t sz) {
    pthread_t t[THREADS];
    double start = now_ns();
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, fn, (char *)args + i * sz) != 0) die("pthread_create");
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    return (now_ns() - start) / ((double)iters * n);
}

static double bench_kq(int user, int n) {
    int kq = kqueue();
    if (kq < 0) die("kqueue");
    struct kq_arg a[THREADS];
    for (int i = 0; i < n; i++) {
        a[i].kq = kq;
        a[i].ident = (uintptr_t)i + 1;
        struct kevent ch;
        if (user) {
            EV_SET(&ch, a[i].ident, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
        } else {
            if (pipe2(a[i].pipe, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe2");
            EV_SET(&ch, a[i].pipe[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
        }
        if (kevent(kq, &ch, 1, NULL, 0, NULL) != 0) die("register");
    }
    double ns = run_threads(n, user ? kq_user : kq_pipe, a, sizeof a[0]);
    for (int i = 0; i < n && !user; i++) { close(a[i].pipe[0]); close(a[i].pipe[1]); }
    close(kq);
    return ns;
}

static double bench_ep(int user, int n) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct ep_arg a[THREADS];
    for (int i = 0; i < n; i++) {
        a[i].ep = ep;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
        int fd;
        if (user) {
            a[i].efd = fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
            if (fd < 0) die("eventfd");
        } else {
            if (pipe2(a[i].pipe, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe2");
            fd = a[i].pipe[0];
        }
        ev.data.fd = fd;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
    }
    double ns = run_threads(n, user ? ep_user : ep_pipe, a, sizeof a[0]);
    for (int i = 0; i < n; i++) {
        if (user) close(a[i].efd);
        else { close(a[i].pipe[0]); close(a[i].pipe[1]); }
    }
    close(ep);
    return ns;
}

struct ch_arg { int kq; long calls; struct kevent add[1000], del[1000]; };

static void *change1k(void *p) {
    struct ch_arg *a = p;
    for (long i = 0; i < a->calls; i++) {
        if (kevent(a->kq, a->add, 1000, NULL, 0, NULL) != 0) die("kevent add 1000");
        if (kevent(a->kq, a->del, 1000, NULL, 0, NULL) != 0) die("kevent delete 1000");
    }
    return NULL;
}

/* ns per kevent() call applying 1,000 changes (USER adds, then deletes), n threads on one
 * kqueue, each with its own idents. */
static double bench_change1k(int n) {
    int kq = kqueue();
    if (kq < 0) die("kqueue");
    static struct ch_arg a[THREADS];
    long calls = iters / 500 + 2;
    for (int t = 0; t < n; t++) {
        a[t].kq = kq;
        a[t].calls = calls;
        for (int i = 0; i < 1000; i++) {
            EV_SET(&a[t].add[i], t * 1000 + i, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
            EV_SET(&a[t].del[i], t * 1000 + i, EVFILT_USER, EV_DELETE, 0, 0, NULL);
        }
    }
    pthread_t th[THREADS];
    double start = now_ns();
    for (int t = 0; t < n; t++)
        if (pthread_create(&th[t], NULL, change1k, &a[t]) != 0) die("pthread_create");
    for (int t = 0; t < n; t++) pthread_join(th[t], NULL);
    double ns = (now_ns() - start) / (calls * 2.0 * n);
    close(kq);
    return ns;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v) {
    qsort(v, ROUNDS, sizeof *v, cmp);
    return v[ROUNDS / 2];
}

int main(int argc, char **argv) {
    if (argc > 1) iters = atol(argv[1]);
    if (iters < 1) iters = 1;
    struct { const char *name; int user, threads; } rows[] = {
        {"user", 1, 1}, {"user4", 1, THREADS}, {"pipe", 0, 1}, {"pipe4", 0, THREADS},
    };
    printf("# kevent() through libkq.so vs a raw epoll floor; %ld iterations per thread, median of %d"
           " interleaved rounds\n", iters, ROUNDS);
    printf("%-10s %12s %12s %10s\n", "row", "kq ns/call", "floor ns", "kq/floor");
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        double kq[ROUNDS], ep[ROUNDS];
        for (int i = 0; i < ROUNDS; i++) {
            kq[i] = bench_kq(rows[r].user, rows[r].threads);
            ep[i] = bench_ep(rows[r].user, rows[r].threads);
        }
        double k = median(kq), e = median(ep);
        printf("%-10s %12.0f %12.0f %10.2f\n", rows[r].name, k, e, k / e);
        fflush(stdout);
    }
    for (int threads = 1; threads <= THREADS; threads *= THREADS) {
        double c[ROUNDS];
        for (int i = 0; i < ROUNDS; i++) c[i] = bench_change1k(threads);
        double m = median(c);
        printf("%-10s %12.0f %12s %10s   (%.0f ns per change)\n", threads == 1 ? "change1k" : "change1k4",
               m, "-", "-", m / 1000);
    }
    return 0;
}
