/* TIMER with every unit and USER with every FF op, through the C ABI (KQUEUE.md 36-37).
 * Timing is only checked from below (a timer never fires early); a timer in the wrong unit
 * would fire far too late, which wait_one's 10 s limit catches. */
#include "check.h"

#include <sys/time.h>

static double wait_timer(int kq, uintptr_t ident, unsigned fflags, intptr_t data) {
    double start = now_s();
    change(kq, ident, EVFILT_TIMER, EV_ADD | EV_ONESHOT, fflags, data, NULL);
    struct kevent ev = wait_one(kq);
    CHECK_EQ(ev.ident, ident);
    CHECK_EQ(ev.filter, EVFILT_TIMER);
    CHECK_EQ(ev.data, 1);
    CHECK(ev.flags & EV_ONESHOT);
    return now_s() - start;
}

CASE(timer_units) {
    int kq = kqueue();
    CHECK(wait_timer(kq, 1, 0, 300) >= 0.29);                      /* milliseconds by default */
    CHECK(wait_timer(kq, 2, NOTE_SECONDS, 1) >= 0.99);
    CHECK(wait_timer(kq, 3, NOTE_USECONDS, 300000) >= 0.29);
    CHECK(wait_timer(kq, 4, NOTE_NSECONDS, 300000000) >= 0.29);
    /* The oneshot timers are gone. */
    for (uintptr_t i = 1; i <= 4; i++) CHECK_EQ(change_errno(kq, i, EVFILT_TIMER, EV_DELETE, 0, 0), ENOENT);
    close(kq);
}

CASE(timer_absolute) {
    int kq = kqueue();
    struct timeval tv;
    gettimeofday(&tv, NULL);
    /* One second from now (in seconds, rounded up), and one in the past: at once. */
    double start = now_s();
    change(kq, 1, EVFILT_TIMER, EV_ADD, NOTE_ABSOLUTE | NOTE_SECONDS, tv.tv_sec + 2, NULL);
    change(kq, 2, EVFILT_TIMER, EV_ADD, NOTE_ABSOLUTE | NOTE_SECONDS, tv.tv_sec - 10, NULL);
    struct kevent ev = wait_one(kq);
    CHECK_EQ(ev.ident, 2);
    CHECK_EQ(ev.data, 1);
    ev = wait_one(kq);
    CHECK_EQ(ev.ident, 1);
    CHECK(now_s() - start >= 0.99);
    /* Absolute timers fire once. */
    struct kevent evs[2];
    CHECK_EQ(collect(kq, evs, 2, 300), 0);
    /* Microseconds since the epoch work too. */
    gettimeofday(&tv, NULL);
    change(kq, 3, EVFILT_TIMER, EV_ADD, NOTE_ABSOLUTE | NOTE_USECONDS,
           (intptr_t)tv.tv_sec * 1000000 + tv.tv_usec + 200000, NULL);
    start = now_s();
    ev = wait_one(kq);
    CHECK_EQ(ev.ident, 3);
    CHECK(now_s() - start >= 0.15);
    close(kq);
}

CASE(timer_periodic_counts_and_readd) {
    int kq = kqueue();
    change(kq, 1, EVFILT_TIMER, EV_ADD, 0, 20, (void *)9);
    struct kevent ev = wait_one(kq);
    CHECK(ev.data >= 1);
    CHECK(ev.flags & EV_CLEAR); /* timers are edge-triggered */
    CHECK(ev.udata == (void *)9);
    usleep(200000); /* ticks accumulate while nobody collects */
    ev = wait_one(kq);
    CHECK(ev.data >= 2);
    /* Re-adding restarts: a 1 s period, so nothing within the next 300 ms. */
    change(kq, 1, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 1, NULL);
    struct kevent evs[2];
    CHECK_EQ(collect(kq, evs, 2, 300), 0);
    ev = wait_one(kq);
    CHECK_EQ(ev.data, 1);
    /* A period of 0 becomes the smallest one: it fires. */
    change(kq, 2, EVFILT_TIMER, EV_ADD, 0, 0, NULL);
    change(kq, 1, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
    ev = wait_one(kq);
    CHECK_EQ(ev.ident, 2);
    close(kq);
}

CASE(timer_errors) {
    int kq = kqueue();
    CHECK_EQ(change_errno(kq, 1, EVFILT_TIMER, EV_ADD, 0, -1), EINVAL);
    CHECK_EQ(change_errno(kq, 1, EVFILT_TIMER, EV_ADD, 0x10, 10), EINVAL);
    CHECK_EQ(change_errno(kq, 1, EVFILT_TIMER, EV_ADD, NOTE_SECONDS | NOTE_USECONDS, 10), EINVAL);
    CHECK_EQ(change_errno(kq, 1, EVFILT_TIMER, EV_DELETE, 0, 0), ENOENT);
    /* The error entry gives back the change's own fflags. */
    struct kevent ch, ev;
    EV_SET(&ch, 5, EVFILT_TIMER, EV_ADD, 0x30, 10, (void *)3);
    CHECK_EQ(kevent(kq, &ch, 1, &ev, 1, NULL), 1);
    CHECK_EQ(ev.fflags, 0x30);
    CHECK_EQ(ev.data, EINVAL);
    close(kq);
}

CASE(user_trigger) {
    int kq = kqueue();
    change(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, (void *)1);
    struct kevent ev[4];
    CHECK_EQ(poll_kq(kq, ev, 4), 0); /* nothing until triggered */
    change(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, (void *)1);
    change(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, (void *)1); /* merges */
    CHECK_EQ(poll_kq(kq, ev, 4), 1);
    CHECK_EQ(ev[0].ident, 1);
    CHECK_EQ(ev[0].filter, EVFILT_USER);
    CHECK(ev[0].udata == (void *)1);
    CHECK_EQ(poll_kq(kq, ev, 4), 0); /* EV_CLEAR: delivered once */
    /* Without EV_CLEAR it stays triggered, until a modify with EV_CLEAR. */
    change(kq, 2, EVFILT_USER, EV_ADD, 0, 0, NULL);
    change(kq, 2, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    CHECK_EQ(poll_kq(kq, ev, 4), 1);
    CHECK_EQ(poll_kq(kq, ev, 4), 1);
    change(kq, 2, EVFILT_USER, EV_CLEAR, 0, 0, NULL);
    CHECK_EQ(poll_kq(kq, ev, 4), 0);
    /* ONESHOT and DISPATCH. */
    change(kq, 3, EVFILT_USER, EV_ADD | EV_ONESHOT, 0, 0, NULL);
    change(kq, 3, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    CHECK_EQ(poll_kq(kq, ev, 4), 1);
    CHECK_EQ(change_errno(kq, 3, EVFILT_USER, EV_DELETE, 0, 0), ENOENT);
    change(kq, 4, EVFILT_USER, EV_ADD | EV_DISPATCH, 0, 0, NULL);
    change(kq, 4, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    CHECK_EQ(poll_kq(kq, ev, 4), 1);
    CHECK(ev[0].flags & EV_DISPATCH);
    CHECK_EQ(poll_kq(kq, ev, 4), 0);
    change(kq, 4, EVFILT_USER, EV_ENABLE, NOTE_TRIGGER, 0, NULL);
    CHECK_EQ(poll_kq(kq, ev, 4), 1);
    /* EV_DISABLE hides, EV_ENABLE delivers what came meanwhile; EV_DELETE discards. */
    change(kq, 5, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
    change(kq, 5, EVFILT_USER, EV_DISABLE, NOTE_TRIGGER, 0, NULL);
    CHECK_EQ(poll_kq(kq, ev, 4), 0);
    change(kq, 5, EVFILT_USER, EV_ENABLE, 0, 0, NULL);
    CHECK_EQ(poll_kq(kq, ev, 4), 1);
    CHECK_EQ(ev[0].ident, 5);
    change(kq, 5, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    change(kq, 5, EVFILT_USER, EV_DELETE, 0, 0, NULL);
    CHECK_EQ(poll_kq(kq, ev, 4), 0);
    close(kq);
}

static unsigned user_fflags(int kq, uintptr_t ident, unsigned op) {
    change(kq, ident, EVFILT_USER, 0, op | NOTE_TRIGGER, 0, NULL);
    struct kevent ev[2];
    CHECK_EQ(poll_kq(kq, ev, 2), 1);
    CHECK_EQ(ev[0].fflags & NOTE_FFCTRLMASK, 0); /* control bits never come back */
    CHECK_EQ(ev[0].fflags & NOTE_TRIGGER, 0);
    return ev[0].fflags;
}

CASE(user_ff_ops) {
    int kq = kqueue();
    change(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_FFCOPY | 0x0f0f, 0, NULL);
    CHECK_EQ(user_fflags(kq, 1, NOTE_FFNOP | 0xffff), 0x0f0f);
    CHECK_EQ(user_fflags(kq, 1, NOTE_FFOR | 0x00f0), 0x0fff);
    CHECK_EQ(user_fflags(kq, 1, NOTE_FFAND | 0x0ff0), 0x0ff0);
    CHECK_EQ(user_fflags(kq, 1, NOTE_FFCOPY | 0x1234), 0x1234);
    /* Only the low 24 bits are acted on. */
    CHECK_EQ(user_fflags(kq, 1, NOTE_FFCOPY | 0xffffff), 0xffffff);
    CHECK_EQ(user_fflags(kq, 1, NOTE_FFAND | 0x0000ff), 0xff);
    /* data is that of the last modify. */
    change(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 42, NULL);
    struct kevent ev[2];
    CHECK_EQ(poll_kq(kq, ev, 2), 1);
    CHECK_EQ(ev[0].data, 42);
    close(kq);
}

MAIN
