/* A kqueue's life through the C ABI: close(2) frees it, numbers are reused safely, dup, fork,
 * descriptor exhaustion, and what a careless caller passes to kevent(). */
#include "check.h"

#include <dirent.h>
#include <pthread.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* Descriptors that are pipes or eventfds: each kqueue has a pipe (the descriptor and kq's end)
 * and its reactor an eventfd (its waker); kq's process-wide reaper has neither. */
static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char link[512], target[512];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0) continue;
        target[len] = 0;
        n += strncmp(target, "pipe:", 5) == 0 || strcmp(target, "anon_inode:[eventfd]") == 0;
    }
    closedir(d);
    return n;
}

/* Waits (at most 10 s) until `want` such descriptors are open: a released kqueue's reactor
 * closes its own. */
static void wait_fds(int want) {
    double end = now_s() + 10;
    while (open_fds() != want && now_s() < end) usleep(1000);
    CHECK_EQ(open_fds(), want);
}

CASE(close_releases_the_reactor) {
    int base = open_fds();
    int kq = kqueue();
    CHECK(kq >= 0);
    CHECK_EQ(open_fds(), base + 3); /* the descriptor, kq's end of its pipe, the reactor's eventfd */
    change(kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
    change(kq, 2, EVFILT_TIMER, EV_ADD, 0, 10, NULL);
    CHECK_EQ(close(kq), 0);
    wait_fds(base);
    /* Many kqueues created and closed leave nothing behind. */
    for (int i = 0; i < 300; i++) {
        int k = kqueue();
        CHECK(k >= 0);
        change(k, 1, EVFILT_USER, EV_ADD, 0, 0, NULL);
        close(k);
    }
    wait_fds(base);
}

CASE(reused_number_is_a_new_kqueue) {
    int kq = kqueue();
    int kq2 = kqueue();
    change(kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
    int num = kq;
    close(kq);
    /* The number now names another kqueue (dup2 right away: a kqueue() could give the free
     * number to one of its internal descriptors). */
    CHECK_EQ(dup2(kq2, num), num);
    struct kevent ev[2];
    CHECK_EQ(poll_kq(num, ev, 2), 0); /* not the old kqueue's event */
    CHECK_EQ(change_errno(num, 1, EVFILT_USER, EV_DELETE, 0, 0), ENOENT);
    change(kq2, 9, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
    CHECK_EQ(poll_kq(num, ev, 2), 1); /* but the new one's */
    CHECK_EQ(ev[0].ident, 9);
    close(num);
    close(kq2);
    /* Reused by something else, even another pipe's write end: EBADF, never the old kqueue. */
    int kq3 = kqueue();
    int p[2];
    make_pipe(p);
    change(kq3, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
    num = kq3;
    close(kq3);
    CHECK_EQ(dup2(p[1], num), num);
    CHECK_ERRNO(kevent(num, NULL, 0, ev, 2, &ZERO_TS), EBADF);
    close(num);
    close(p[0]);
    close(p[1]);
    /* Closed and not reused. */
    CHECK_ERRNO(kevent(num, NULL, 0, ev, 2, &ZERO_TS), EBADF);
}

CASE(dup_is_the_same_kqueue) {
    int base = open_fds();
    int kq = kqueue();
    int d = dup(kq);
    CHECK(d >= 0);
    change(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
    change(d, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    struct kevent ev[2];
    CHECK_EQ(poll_kq(kq, ev, 2), 1);
    close(kq); /* the dup keeps it alive */
    change(d, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    CHECK_EQ(poll_kq(d, ev, 2), 1);
    close(d);
    wait_fds(base);
}

static void *blocked_collect(void *arg) {
    int kq = (int)(intptr_t)arg;
    struct kevent ev;
    struct timespec ts = {0, 300 * 1000000L};
    int rc = kevent(kq, NULL, 0, &ev, 1, &ts);
    return (void *)(intptr_t)rc;
}

CASE(close_while_another_thread_waits) {
    int base = open_fds();
    int kq = kqueue();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, blocked_collect, (void *)(intptr_t)kq) == 0);
    usleep(50000); /* not for correctness: whether the close lands before or during the wait */
    close(kq);
    void *rc;
    CHECK(pthread_join(t, &rc) == 0);
    /* The wait ends by its timeout (0 events), or the descriptor was already gone (EBADF). */
    CHECK((intptr_t)rc == 0 || ((intptr_t)rc == -1));
    wait_fds(base);
}

CASE(fork_does_not_inherit) {
    int kq = kqueue();
    change(kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct kevent ev[2];
        /* The child has no such kqueue: the number is closed there, as on FreeBSD. */
        CHECK_ERRNO(kevent(kq, NULL, 0, ev, 2, &ZERO_TS), EBADF);
        CHECK_EQ(fcntl(kq, F_GETFD), -1);
        /* The child makes its own. */
        int k = kqueue();
        CHECK(k >= 0);
        change(k, 3, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
        CHECK_EQ(poll_kq(k, ev, 2), 1);
        CHECK_EQ(ev[0].ident, 3);
        close(k);
        _exit(0);
    }
    int status;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The parent keeps its event. */
    struct kevent ev[2];
    CHECK_EQ(poll_kq(kq, ev, 2), 1);
    CHECK_EQ(ev[0].ident, 1);
    int base = open_fds();
    close(kq);
    CHECK(open_fds() < base);
}

CASE(careless_arguments) {
    int kq = kqueue();
    struct kevent ch, ev[2];
    EV_SET(&ch, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
    CHECK_ERRNO(kevent(kq, NULL, 1, NULL, 0, NULL), EFAULT);
    CHECK_ERRNO(kevent(kq, NULL, 0, NULL, 1, &ZERO_TS), EFAULT);
    CHECK_ERRNO(kevent(kq, &ch, -1, NULL, 0, NULL), EINVAL);
    CHECK_ERRNO(kevent(kq, NULL, 0, ev, -1, NULL), EINVAL);
    CHECK_ERRNO(kevent(-1, &ch, 1, NULL, 0, NULL), EBADF);
    CHECK_ERRNO(kevent(0, &ch, 1, NULL, 0, NULL), EBADF); /* stdin: not a kqueue */
    CHECK_ERRNO(kevent(INT_MAX, &ch, 1, NULL, 0, NULL), EBADF);
    int p[2];
    make_pipe(p);
    CHECK_ERRNO(kevent(p[1], &ch, 1, NULL, 0, NULL), EBADF); /* another pipe's write end */
    close(p[0]);
    close(p[1]);
    struct timespec bad[3] = {{0, 1000000000L}, {0, -1}, {-1, 0}};
    for (int i = 0; i < 3; i++) CHECK_ERRNO(kevent(kq, &ch, 1, ev, 2, &bad[i]), EINVAL);
    /* The bad timeouts applied nothing. */
    CHECK_EQ(poll_kq(kq, ev, 2), 0);
    /* A huge timeout is fine when something is pending; so is a huge nevents. */
    CHECK_EQ(kevent(kq, &ch, 1, NULL, 0, NULL), 0);
    struct timespec huge = {LONG_MAX, 999999999L};
    CHECK_EQ(kevent(kq, NULL, 0, ev, 1, &huge), 1);
    CHECK_EQ(kevent(kq, NULL, 0, ev, INT_MAX, &ZERO_TS), 1);
    /* errno is left alone by a call that succeeds. */
    errno = 1234;
    CHECK_EQ(kevent(kq, NULL, 0, ev, 1, &ZERO_TS), 1);
    CHECK_EQ(errno, 1234);
    /* Idents past what a descriptor, pid or signal can be: never truncated into a valid one. */
    uintptr_t big[] = {(uintptr_t)1 << 32, ((uintptr_t)1 << 32) + 1, (uintptr_t)INT_MAX + 1, UINTPTR_MAX};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(change_errno(kq, big[i], EVFILT_READ, EV_ADD, 0, 0), EBADF);
        CHECK_EQ(change_errno(kq, big[i], EVFILT_WRITE, EV_ADD, 0, 0), EBADF);
        CHECK_EQ(change_errno(kq, big[i], EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0), EBADF);
        CHECK_EQ(change_errno(kq, big[i], EVFILT_PROC, EV_ADD, NOTE_EXIT, 0), ESRCH);
        CHECK_EQ(change_errno(kq, big[i], EVFILT_SIGNAL, EV_ADD, 0, 0), EINVAL);
    }
    /* Unaligned lists work. */
    char raw[sizeof(struct kevent) * 2 + 1];
    struct kevent *odd = (struct kevent *)(raw + 1);
    memcpy(odd, &ch, sizeof ch);
    CHECK_EQ(kevent(kq, odd, 1, odd, 1, &ZERO_TS), 1);
    struct kevent got;
    memcpy(&got, odd, sizeof got);
    CHECK_EQ(got.ident, 1);
    close(kq);
    /* A closed kqueue. */
    CHECK_ERRNO(kevent(kq, &ch, 1, NULL, 0, NULL), EBADF);
}

CASE(descriptor_exhaustion) {
    struct rlimit old, low;
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    low = old;
    low.rlim_cur = open_fds() + 40;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    int kqs[64], n = 0;
    while (n < 64) {
        int k = kqueue();
        if (k < 0) break;
        kqs[n++] = k;
    }
    CHECK(n < 64);
    CHECK(errno == EMFILE || errno == ENFILE);
    for (int i = 0; i < n; i++) close(kqs[i]);
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    int k = kqueue();
    CHECK(k >= 0);
    change(k, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
    struct kevent ev;
    CHECK_EQ(poll_kq(k, &ev, 1), 1);
    close(k);
}

MAIN
