/* READ / WRITE through the C ABI: pipes, socketpairs, TCP on loopback; level, EV_CLEAR,
 * EV_ONESHOT, EV_DISPATCH, NOTE_LOWAT, EV_EOF; changelist rules and errors (KQUEUE.md 1-29). */
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

CASE(new_kqueue_is_empty) {
    int kq = kqueue();
    CHECK(kq >= 0);
    struct kevent ev[4];
    CHECK_EQ(poll_kq(kq, ev, 4), 0);
    /* nevents == 0 returns at once even without a timeout. */
    CHECK_EQ(kevent(kq, NULL, 0, NULL, 0, NULL), 0);
    close(kq);
}

CASE(pipe_read_level) {
    int kq = kqueue(), p[2];
    make_pipe(p);
    change(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)0x1234);
    struct kevent ev[4];
    CHECK_EQ(poll_kq(kq, ev, 4), 0);
    CHECK_EQ(write(p[1], "hello", 5), 5);
    for (int round = 0; round < 3; round++) { /* level: every call until drained */
        CHECK_EQ(collect(kq, ev, 4, 5000), 1);
        CHECK_EQ(ev[0].ident, p[0]);
        CHECK_EQ(ev[0].filter, EVFILT_READ);
        CHECK_EQ(ev[0].data, 5);
        CHECK(ev[0].udata == (void *)0x1234);
        CHECK_EQ(ev[0].flags & (EV_EOF | EV_ERROR), 0);
    }
    char buf[8];
    CHECK_EQ(read(p[0], buf, sizeof buf), 5);
    CHECK_EQ(poll_kq(kq, ev, 4), 0); /* condition vanished: not returned */
    close(p[1]);
    CHECK_EQ(collect(kq, ev, 4, 5000), 1);
    CHECK(ev[0].flags & EV_EOF);
    CHECK_EQ(ev[0].data, 0);
    close(p[0]);
    close(kq);
}

CASE(pipe_read_clear_oneshot_dispatch) {
    int kq = kqueue(), a[2], b[2], c[2];
    make_pipe(a);
    make_pipe(b);
    make_pipe(c);
    change(kq, a[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
    change(kq, b[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, NULL);
    change(kq, c[0], EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0, NULL);
    CHECK_EQ(write(a[1], "xxxx", 4), 4);
    CHECK_EQ(write(b[1], "x", 1), 1);
    CHECK_EQ(write(c[1], "x", 1), 1);
    struct kevent ev[8];
    int seen = 0;
    double end = now_s() + 10;
    while (seen != 7 && now_s() < end) {
        int n = collect(kq, ev, 8, 1000);
        for (int i = 0; i < n; i++) {
            if (ev[i].ident == (uintptr_t)a[0]) { CHECK(ev[i].flags & EV_CLEAR); seen |= 1; }
            else if (ev[i].ident == (uintptr_t)b[0]) { CHECK(ev[i].flags & EV_ONESHOT); seen |= 2; }
            else if (ev[i].ident == (uintptr_t)c[0]) { CHECK(ev[i].flags & EV_DISPATCH); seen |= 4; }
            else CHECK(0);
            CHECK(seen <= 7);
        }
    }
    CHECK_EQ(seen, 7);
    CHECK_EQ(poll_kq(kq, ev, 8), 0); /* all three silent now */
    char buf[2];
    CHECK_EQ(read(a[0], buf, 2), 2); /* partial drain of the edge knote: nothing */
    CHECK_EQ(poll_kq(kq, ev, 8), 0);
    CHECK_EQ(write(a[1], "y", 1), 1); /* new data: a new edge */
    CHECK_EQ(collect(kq, ev, 8, 5000), 1);
    CHECK_EQ(ev[0].ident, a[0]);
    /* The oneshot knote is gone. */
    CHECK_EQ(change_errno(kq, b[0], EVFILT_READ, EV_DELETE, 0, 0), ENOENT);
    /* The dispatch knote is disabled but kept: EV_ENABLE re-arms it, the flag persists. */
    change(kq, c[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
    CHECK_EQ(collect(kq, ev, 8, 5000), 1);
    CHECK_EQ(ev[0].ident, c[0]);
    CHECK(ev[0].flags & EV_DISPATCH);
    CHECK_EQ(poll_kq(kq, ev, 8), 0);
    close(kq);
}

CASE(read_write_are_separate_and_readd_modifies) {
    int kq = kqueue(), s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    change(kq, s[0], EVFILT_WRITE, EV_ADD, 0, 0, (void *)2);
    change(kq, s[0], EVFILT_WRITE, EV_ADD, 0, 0, (void *)3); /* modifies, udata overwritten */
    struct kevent ev[8];
    CHECK_EQ(collect(kq, ev, 8, 5000), 1); /* one knote, not two */
    CHECK_EQ(ev[0].filter, EVFILT_WRITE);
    CHECK(ev[0].udata == (void *)3);
    CHECK(ev[0].data > 0);
    CHECK_EQ(write(s[1], "abc", 3), 3);
    change(kq, s[0], EVFILT_READ, EV_ADD, 0, 0, (void *)1);
    int n = collect(kq, ev, 8, 5000);
    CHECK_EQ(n, 2);
    int reads = 0;
    for (int i = 0; i < n; i++)
        if (ev[i].filter == EVFILT_READ) { reads++; CHECK_EQ(ev[i].data, 3); CHECK(ev[i].udata == (void *)1); }
    CHECK_EQ(reads, 1);
    /* EOF on the reader's side keeps counting buffered bytes. */
    change(kq, s[0], EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    close(s[1]);
    CHECK_EQ(collect(kq, ev, 8, 5000), 1);
    CHECK(ev[0].flags & EV_EOF);
    CHECK_EQ(ev[0].data, 3);
    close(s[0]);
    close(kq);
}

CASE(lowat) {
    int kq = kqueue(), s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    change(kq, s[0], EVFILT_READ, EV_ADD, NOTE_LOWAT, 10, NULL);
    CHECK_EQ(write(s[1], "12345", 5), 5);
    struct kevent ev[2];
    CHECK_EQ(collect(kq, ev, 2, 200), 0);
    CHECK_EQ(write(s[1], "67890", 5), 5);
    CHECK_EQ(collect(kq, ev, 2, 5000), 1);
    CHECK_EQ(ev[0].data, 10);
    close(s[0]);
    close(s[1]);
    close(kq);
}

static int tcp_listener(struct sockaddr_in *addr) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(l >= 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(l, (struct sockaddr *)addr, sizeof *addr) == 0);
    socklen_t len = sizeof *addr;
    CHECK(getsockname(l, (struct sockaddr *)addr, &len) == 0);
    CHECK(listen(l, 16) == 0);
    return l;
}

CASE(tcp_listener_and_stream) {
    int kq = kqueue();
    struct sockaddr_in addr;
    int l = tcp_listener(&addr);
    change(kq, l, EVFILT_READ, EV_ADD, 0, 0, NULL);
    change(kq, l, EVFILT_WRITE, EV_ADD, 0, 0, NULL); /* a listening socket never fires WRITE */
    struct kevent ev[4];
    CHECK_EQ(poll_kq(kq, ev, 4), 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(c, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK_EQ(collect(kq, ev, 4, 5000), 1);
    CHECK_EQ(ev[0].ident, l);
    CHECK_EQ(ev[0].filter, EVFILT_READ);
    CHECK(ev[0].data >= 1); /* pending connections */
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0);
    change(kq, a, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
    CHECK_EQ(write(c, "ping", 4), 4);
    struct kevent e = wait_one(kq);
    CHECK_EQ(e.ident, a);
    CHECK_EQ(e.data, 4);
    /* WRITE: free space; EV_EOF when the reader closes. */
    change(kq, c, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
    e = wait_one(kq);
    CHECK_EQ(e.ident, c);
    CHECK(e.data > 0);
    change(kq, c, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    close(a);
    close(c);
    close(l);
    close(kq);
}

CASE(pipe_write_eof) {
    int kq = kqueue(), p[2];
    make_pipe(p);
    change(kq, p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
    struct kevent e = wait_one(kq);
    CHECK(e.data > 0);
    CHECK_EQ(e.flags & EV_EOF, 0);
    close(p[0]);
    e = wait_one(kq);
    CHECK(e.flags & EV_EOF);
    close(p[1]);
    close(kq);
}

CASE(changes_in_order_and_errors) {
    int kq = kqueue(), p[2];
    make_pipe(p);
    struct kevent ch[4], ev[4];
    /* add, delete, add again: applied in order, one knote remains. */
    EV_SET(&ch[0], p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)1);
    EV_SET(&ch[1], p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
    EV_SET(&ch[2], p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)2);
    CHECK_EQ(kevent(kq, ch, 3, NULL, 0, NULL), 0);
    CHECK_EQ(write(p[1], "x", 1), 1);
    CHECK_EQ(collect(kq, ev, 4, 5000), 1);
    CHECK(ev[0].udata == (void *)2);
    /* Errors with room: EV_ERROR entries, ident/filter/udata intact; no events collected. */
    EV_SET(&ch[0], 12345, EVFILT_USER, EV_DELETE, 0, 0, (void *)7);      /* ENOENT */
    EV_SET(&ch[1], 1, -42, EV_ADD, 0, 0, (void *)8);                      /* EINVAL */
    EV_SET(&ch[2], 9999, EVFILT_READ, EV_ADD, 0, 0, (void *)9);          /* EBADF */
    EV_SET(&ch[3], 1, EVFILT_USER, EV_ADD | EV_ENABLE | EV_DISABLE, 0, 0, NULL); /* EINVAL */
    CHECK_EQ(kevent(kq, ch, 4, ev, 4, NULL), 4);
    int want[4] = {ENOENT, EINVAL, EBADF, EINVAL};
    for (int i = 0; i < 4; i++) {
        CHECK(ev[i].flags & EV_ERROR);
        CHECK_EQ(ev[i].data, want[i]);
        CHECK_EQ(ev[i].ident, ch[i].ident);
        CHECK_EQ(ev[i].filter, ch[i].filter);
        CHECK(ev[i].udata == ch[i].udata);
    }
    /* Without room: -1 with the errno, later changes not applied. */
    EV_SET(&ch[0], 77, EVFILT_USER, EV_DELETE, 0, 0, NULL);
    EV_SET(&ch[1], 78, EVFILT_USER, EV_ADD, 0, 0, NULL);
    CHECK_ERRNO(kevent(kq, ch, 2, NULL, 0, NULL), ENOENT);
    CHECK_EQ(change_errno(kq, 78, EVFILT_USER, EV_DELETE, 0, 0), ENOENT);
    /* EBADF for EV_DELETE on a closed fd too. */
    EV_SET(&ch[0], 9999, EVFILT_READ, EV_DELETE, 0, 0, NULL);
    CHECK_ERRNO(kevent(kq, ch, 1, NULL, 0, NULL), EBADF);
    /* Receipts: data 0, and the call returns without collecting pending events. */
    CHECK_EQ(poll_kq(kq, ev, 4), 1); /* the pipe is still readable */
    EV_SET(&ch[0], 5, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, (void *)5);
    CHECK_EQ(kevent(kq, ch, 1, ev, 4, NULL), 1);
    CHECK(ev[0].flags & EV_ERROR);
    CHECK_EQ(ev[0].data, 0);
    CHECK(ev[0].udata == (void *)5);
    close(p[0]);
    close(p[1]);
    close(kq);
}

CASE(same_list_in_and_out) {
    /* A common idiom: one array as changelist and eventlist. */
    int kq = kqueue();
    struct kevent kev[2];
    EV_SET(&kev[0], 1, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, (void *)11);
    EV_SET(&kev[1], 2, EVFILT_USER, EV_DELETE, 0, 0, (void *)12);
    CHECK_EQ(kevent(kq, kev, 2, kev, 2, NULL), 2);
    CHECK(kev[0].flags & EV_ERROR);
    CHECK_EQ(kev[0].data, 0);
    CHECK_EQ(kev[0].ident, 1);
    CHECK_EQ(kev[1].data, ENOENT);
    CHECK_EQ(kev[1].ident, 2);
    CHECK(kev[1].udata == (void *)12);
    close(kq);
}

CASE(closed_fd_reuse_gets_no_stale_event) {
    int kq = kqueue(), p[2], q[2];
    make_pipe(p);
    change(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)1);
    int num = p[0];
    close(p[0]);
    close(p[1]);
    make_pipe(q); /* takes the same numbers */
    CHECK_EQ(q[0], num);
    CHECK_EQ(write(q[1], "z", 1), 1);
    struct kevent ev[4];
    CHECK_EQ(collect(kq, ev, 4, 100), 0);
    /* A new registration of the number works and reports the new pipe. */
    change(kq, q[0], EVFILT_READ, EV_ADD, 0, 0, (void *)2);
    CHECK_EQ(collect(kq, ev, 4, 5000), 1);
    CHECK(ev[0].udata == (void *)2);
    CHECK_EQ(ev[0].data, 1);
    close(q[0]);
    close(q[1]);
    close(kq);
}

CASE(same_knote_in_two_kqueues) {
    int k1 = kqueue(), k2 = kqueue(), p[2];
    CHECK(k1 >= 0 && k2 >= 0 && k1 != k2);
    make_pipe(p);
    change(k1, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
    change(k2, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
    CHECK_EQ(write(p[1], "x", 1), 1);
    struct kevent ev[2];
    CHECK_EQ(collect(k1, ev, 2, 5000), 1);
    CHECK_EQ(collect(k2, ev, 2, 5000), 1);
    CHECK_EQ(collect(k2, ev, 2, 0), 0);
    CHECK_EQ(collect(k1, ev, 2, 0), 1);
    close(p[0]);
    close(p[1]);
    close(k1);
    close(k2);
}

CASE(kqueue_in_a_kqueue) {
    int outer = kqueue(), inner = kqueue();
    change(outer, inner, EVFILT_READ, EV_ADD, 0, 0, (void *)3);
    struct kevent ev[4];
    CHECK_EQ(poll_kq(outer, ev, 4), 0);
    change(inner, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
    change(inner, 2, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
    CHECK_EQ(collect(outer, ev, 4, 5000), 1);
    CHECK_EQ(ev[0].ident, inner); /* reported under the descriptor the program used */
    CHECK_EQ(ev[0].filter, EVFILT_READ);
    CHECK_EQ(ev[0].data, 2); /* pending events */
    CHECK(ev[0].udata == (void *)3);
    /* Watching itself, a cycle, WRITE on a kqueue: EINVAL. */
    CHECK_EQ(change_errno(outer, outer, EVFILT_READ, EV_ADD, 0, 0), EINVAL);
    struct kevent ch, out;
    EV_SET(&ch, outer, EVFILT_READ, EV_ADD, 0, 0, NULL);
    CHECK_EQ(kevent(inner, &ch, 1, &out, 1, NULL), 1);
    CHECK(out.flags & EV_ERROR);
    CHECK_EQ(out.data, EINVAL);
    CHECK_EQ(out.ident, outer);
    CHECK_EQ(change_errno(outer, inner, EVFILT_WRITE, EV_ADD, 0, 0), EINVAL);
    /* Drained inner: the level knote goes quiet. */
    CHECK_EQ(poll_kq(inner, ev, 4), 2);
    change(inner, 1, EVFILT_USER, EV_DELETE, 0, 0, NULL);
    change(inner, 2, EVFILT_USER, EV_DELETE, 0, 0, NULL);
    CHECK_EQ(poll_kq(outer, ev, 4), 0);
    change(outer, inner, EVFILT_READ, EV_DELETE, 0, 0, NULL);
    close(inner);
    close(outer);
}

/* A nested kqueue closed, and pipes made until one gets the number of its internal reactor
 * descriptor: the pipe's events come back under the pipe's own descriptor, not the closed
 * kqueue's (the C-to-reactor mapping of nested kqueues is checked before it is used).
 * Found by trying kq as a careless user would (2026-12-02). */
CASE(closed_nested_kqueue_number_reused_keeps_idents) {
    int a = kqueue(), b = kqueue();
    CHECK(a >= 0 && b >= 0);
    change(a, b, EVFILT_READ, EV_ADD, 0, 0, NULL);
    change(a, b, EVFILT_READ, EV_DELETE, 0, 0, NULL);
    close(b);
    usleep(200000); /* the reaper releases B's reactor */
    struct kevent ev[4];
    for (int k = 0; k < 8; k++) {
        int p[2];
        make_pipe(p);
        change(a, p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)(intptr_t)(1000 + p[0]));
        CHECK_EQ(write(p[1], "x", 1), 1);
        CHECK_EQ(collect(a, ev, 4, 5000), 1);
        CHECK_EQ(ev[0].ident, p[0]);
        CHECK((intptr_t)ev[0].udata == 1000 + p[0]);
        change(a, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
        close(p[0]);
        close(p[1]);
    }
    close(a);
}

/* Error entries written over the changelist one record later (eventlist = changelist + 1)
 * still echo each change's own fflags: the changes are copied before anything is written. */
CASE(error_entries_echo_fflags_when_the_lists_overlap_shifted) {
    int kq = kqueue();
    CHECK(kq >= 0);
    struct kevent sb[4];
    EV_SET(&sb[0], 11, EVFILT_USER, EV_DELETE, 0xa1, 0, (void *)11);
    EV_SET(&sb[1], 12, EVFILT_USER, EV_DELETE, 0xa2, 0, (void *)12);
    EV_SET(&sb[2], 13, EVFILT_USER, EV_DELETE, 0xa3, 0, (void *)13);
    CHECK_EQ(kevent(kq, sb, 3, sb + 1, 3, &ZERO_TS), 3);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(sb[i + 1].ident, 11 + i);
        CHECK(sb[i + 1].flags & EV_ERROR);
        CHECK_EQ(sb[i + 1].data, ENOENT);
        CHECK_EQ(sb[i + 1].fflags, 0xa1 + i);
    }
    close(kq);
}

/* READ on a regular file at its end fires when the file grows (`tail -f`): data is size minus
 * offset; EV_CLEAR fires once per write. */
CASE(regular_file_read_fires_when_the_file_grows) {
    char path[] = "/tmp/kq-capi-tail-XXXXXX";
    int w = mkstemp(path);
    CHECK(w >= 0);
    int r = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(r >= 0);
    unlink(path);
    int kq = kqueue();
    change(kq, r, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, (void *)7);
    struct kevent ev[4];
    CHECK_EQ(poll_kq(kq, ev, 4), 0);
    CHECK_EQ(write(w, "line 1\n", 7), 7);
    CHECK_EQ(poll_kq(kq, ev, 4), 1);
    CHECK_EQ(ev[0].ident, r);
    CHECK_EQ(ev[0].data, 7);
    CHECK(ev[0].udata == (void *)7);
    CHECK_EQ(poll_kq(kq, ev, 4), 0);
    char buf[16];
    CHECK_EQ(read(r, buf, sizeof buf), 7);
    CHECK_EQ(write(w, "2\n", 2), 2);
    CHECK_EQ(poll_kq(kq, ev, 4), 1);
    CHECK_EQ(ev[0].data, 2);
    close(r);
    close(w);
    close(kq);
}

MAIN
