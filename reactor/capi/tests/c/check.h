/* Shared helpers of kq-capi's C tests: a failing CHECK prints its line and exits 1. */
#ifndef KQ_CHECK_H
#define KQ_CHECK_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s (errno %d: %s)\n", __FILE__, __LINE__, \
                    #cond, errno, strerror(errno));                                      \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

#define CHECK_EQ(a, b)                                                                   \
    do {                                                                                 \
        long long a_ = (long long)(a), b_ = (long long)(b);                              \
        if (a_ != b_) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s = %lld, %s = %lld (errno %d)\n",  \
                    __FILE__, __LINE__, #a, a_, #b, b_, errno);                          \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

/* kevent() that must fail with `err`. */
#define CHECK_ERRNO(call, err)                                                           \
    do {                                                                                 \
        errno = 0;                                                                       \
        int rc_ = (call);                                                                \
        CHECK_EQ(rc_, -1);                                                               \
        CHECK_EQ(errno, (err));                                                          \
    } while (0)

static const struct timespec ZERO_TS = {0, 0};

/* Applies one change; fails the test on -1 or an error entry. */
static inline void change(int kq, uintptr_t ident, short filter, unsigned short flags,
                          unsigned int fflags, intptr_t data, void *udata) {
    struct kevent kev;
    EV_SET(&kev, ident, filter, flags, fflags, data, udata);
    CHECK(kevent(kq, &kev, 1, NULL, 0, NULL) == 0);
}

/* Applies one change with EV_RECEIPT and returns the errno of its receipt (0: success). */
static inline intptr_t change_errno(int kq, uintptr_t ident, short filter, unsigned short flags,
                                    unsigned int fflags, intptr_t data) {
    struct kevent kev, out;
    EV_SET(&kev, ident, filter, flags | EV_RECEIPT, fflags, data, NULL);
    memset(&out, 0, sizeof out);
    CHECK_EQ(kevent(kq, &kev, 1, &out, 1, NULL), 1);
    CHECK(out.flags & EV_ERROR);
    CHECK_EQ(out.ident, ident);
    CHECK_EQ(out.filter, filter);
    return out.data;
}

/* Collects up to n events, waiting at most ms milliseconds (-1: forever). */
static inline int collect(int kq, struct kevent *ev, int n, long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    int rc = kevent(kq, NULL, 0, ev, n, ms < 0 ? NULL : &ts);
    CHECK(rc >= 0);
    return rc;
}

/* Polls: no waiting. */
static inline int poll_kq(int kq, struct kevent *ev, int n) { return collect(kq, ev, n, 0); }

/* Waits (up to 10 s, a hang fails the test) for one event and returns it. */
static inline struct kevent wait_one(int kq) {
    struct kevent ev;
    CHECK_EQ(collect(kq, &ev, 1, 10000), 1);
    return ev;
}

/* A pipe (non-blocking, close-on-exec). */
static inline void make_pipe(int fds[2]) { CHECK(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0); }

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}



/* Test cases: `CASE(name) { ... }` defines one; main runs the one named by argv[1] (or all). */
typedef void (*case_fn)(void);
struct test_case { const char *name; case_fn fn; };
#define MAX_CASES 64
static struct test_case cases_[MAX_CASES];
static int ncases_;
#define CASE(name)                                                                       \
    static void case_##name(void);                                                       \
    __attribute__((constructor)) static void register_##name(void) {                     \
        cases_[ncases_++] = (struct test_case){#name, case_##name};                      \
    }                                                                                    \
    static void case_##name(void)

static inline int run_cases(int argc, char **argv) {
    int ran = 0;
    for (int i = 0; i < ncases_; i++) {
        if (argc > 1 && strcmp(argv[1], cases_[i].name) != 0) continue;
        printf("case %s\n", cases_[i].name);
        fflush(stdout);
        cases_[i].fn();
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "no case named %s\n", argc > 1 ? argv[1] : "(any)");
        return 1;
    }
    return 0;
}
#define MAIN int main(int argc, char **argv) { return run_cases(argc, argv); }
#endif
