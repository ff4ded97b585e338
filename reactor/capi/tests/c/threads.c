/* Several threads on one kqueue through the C ABI (KQUEUE.md 13, 38-40). */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

static int kq;

static void *wait_forever(void *arg) {
    (void)arg;
    struct kevent ev;
    int n = kevent(kq, NULL, 0, &ev, 1, NULL);
    CHECK_EQ(n, 1);
    CHECK_EQ(ev.ident, 42);
    return NULL;
}

CASE(trigger_wakes_a_blocked_thread) {
    kq = kqueue();
    change(kq, 42, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, wait_forever, NULL) == 0);
    usleep(20000); /* not for correctness: most runs trigger while the thread is blocked */
    change(kq, 42, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    CHECK(pthread_join(t, NULL) == 0);
    close(kq);
}

static atomic_int delivered;

static void *wait_a_second(void *arg) {
    (void)arg;
    struct kevent ev[4];
    struct timespec ts = {1, 0};
    int n = kevent(kq, NULL, 0, ev, 4, &ts);
    CHECK(n >= 0);
    atomic_fetch_add(&delivered, n);
    return NULL;
}

CASE(oneshot_goes_to_exactly_one_thread) {
    kq = kqueue();
    pthread_t t[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&t[i], NULL, wait_a_second, NULL) == 0);
    usleep(20000);
    change(kq, 1, EVFILT_USER, EV_ADD | EV_ONESHOT, NOTE_TRIGGER, 0, NULL);
    for (int i = 0; i < 4; i++) CHECK(pthread_join(t[i], NULL) == 0);
    struct kevent ev[4];
    int late = poll_kq(kq, ev, 4); /* if every thread had given up before the trigger */
    CHECK_EQ(atomic_load(&delivered) + late, 1);
    close(kq);
}

#define THREADS 4
#define PER_THREAD 2000
static atomic_int seen[THREADS * PER_THREAD];
static atomic_int total;

/* Each thread adds oneshot user events and collects whatever is ready (its own or others'). */
static void *churn(void *arg) {
    int me = (int)(intptr_t)arg;
    struct kevent ch[2], ev[8];
    struct timespec ts = {0, 0};
    for (int i = 0; i < PER_THREAD; i++) {
        uintptr_t id = (uintptr_t)(me * PER_THREAD + i);
        EV_SET(&ch[0], id, EVFILT_USER, EV_ADD | EV_ONESHOT, NOTE_TRIGGER, 0, (void *)(id + 1));
        /* Every other step also adds and deletes a knote that must never be seen. */
        EV_SET(&ch[1], 1000000 + id, EVFILT_USER, EV_ADD | EV_DELETE, 0, 0, NULL);
        int n = kevent(kq, ch, 1 + (i & 1), ev, 8, &ts);
        CHECK(n >= 0);
        for (int j = 0; j < n; j++) {
            CHECK_EQ(ev[j].flags & EV_ERROR, 0);
            CHECK(ev[j].ident < THREADS * PER_THREAD);
            CHECK(ev[j].udata == (void *)(ev[j].ident + 1));
            CHECK_EQ(atomic_fetch_add(&seen[ev[j].ident], 1), 0); /* never twice */
            atomic_fetch_add(&total, 1);
        }
    }
    return NULL;
}

CASE(many_threads_never_lose_or_duplicate) {
    kq = kqueue();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, churn, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);
    struct kevent ev[64];
    double end = now_s() + 10;
    while (atomic_load(&total) < THREADS * PER_THREAD && now_s() < end) {
        int n = collect(kq, ev, 64, 100);
        for (int j = 0; j < n; j++) {
            CHECK(ev[j].ident < THREADS * PER_THREAD);
            CHECK_EQ(atomic_fetch_add(&seen[ev[j].ident], 1), 0);
            atomic_fetch_add(&total, 1);
        }
    }
    CHECK_EQ(atomic_load(&total), THREADS * PER_THREAD);
    CHECK_EQ(poll_kq(kq, ev, 64), 0);
    close(kq);
}

static int pipes[THREADS][2];

/* Threads share one kqueue of pipe knotes: each writes to its pipe, collects, drains. */
static void *pipe_worker(void *arg) {
    int me = (int)(intptr_t)arg;
    int got = 0;
    for (int i = 0; i < 300; i++) {
        CHECK_EQ(write(pipes[me][1], "x", 1), 1);
        struct kevent ev[THREADS];
        int n = collect(kq, ev, THREADS, 2000);
        for (int j = 0; j < n; j++) {
            CHECK_EQ(ev[j].filter, EVFILT_READ);
            char buf[64];
            /* Another thread may have drained it first: EAGAIN is fine. */
            ssize_t r = read((int)ev[j].ident, buf, sizeof buf);
            CHECK(r > 0 || errno == EAGAIN);
            got += r > 0;
        }
    }
    return (void *)(intptr_t)got;
}

CASE(threads_share_pipe_knotes) {
    kq = kqueue();
    for (int i = 0; i < THREADS; i++) {
        make_pipe(pipes[i]);
        change(kq, pipes[i][0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
    }
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, pipe_worker, (void *)(intptr_t)i) == 0);
    long got = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        CHECK(pthread_join(t[i], &r) == 0);
        got += (intptr_t)r;
    }
    CHECK(got > 0);
    /* Everything written was read, by someone, through an event. */
    for (int i = 0; i < THREADS; i++) {
        char buf[1024];
        ssize_t left = read(pipes[i][0], buf, sizeof buf);
        CHECK(left < 0 && errno == EAGAIN);
    }
    close(kq);
}

static atomic_int stop_probe;

/* Creates, uses and closes kqueues in a loop: numbers are reused across threads all the time,
 * and each kqueue must only ever report its own event. */
static void *create_use_close(void *arg) {
    int me = (int)(intptr_t)arg;
    for (int i = 0; i < 300; i++) {
        int k = kqueue();
        CHECK(k >= 0);
        uintptr_t id = (uintptr_t)me * 1000000 + i;
        struct kevent ch, ev[4];
        EV_SET(&ch, id, EVFILT_USER, EV_ADD | EV_ONESHOT, NOTE_TRIGGER, 0, (void *)(id + 1));
        CHECK_EQ(kevent(k, &ch, 1, ev, 4, &ZERO_TS), 1);
        CHECK_EQ(ev[0].ident, id);
        CHECK(ev[0].udata == (void *)(id + 1));
        CHECK_EQ(kevent(k, NULL, 0, ev, 4, &ZERO_TS), 0);
        CHECK_EQ(close(k), 0);
    }
    return NULL;
}

/* Meanwhile, calls kevent() on whatever the low descriptor numbers are: EBADF, or a kqueue
 * that happens to live there (its events are not ours to check), never a crash. */
static void *probe_numbers(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_probe)) {
        for (int fd = 0; fd < 64; fd++) {
            struct kevent ev[4];
            errno = 0;
            int n = kevent(fd, NULL, 0, ev, 0, &ZERO_TS);
            CHECK(n == 0 || (n == -1 && errno == EBADF));
        }
    }
    return NULL;
}

CASE(kqueues_created_and_closed_concurrently) {
    pthread_t t[THREADS], probe;
    CHECK(pthread_create(&probe, NULL, probe_numbers, NULL) == 0);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, create_use_close, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);
    atomic_store(&stop_probe, 1);
    CHECK(pthread_join(probe, NULL) == 0);
}

MAIN
