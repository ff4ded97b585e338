/* VNODE, PROC and SIGNAL through the C ABI (KQUEUE.md 31-35). */
#include "check.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char dir[256];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/kq-capi-os-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
}

static void path(char *out, const char *name) { snprintf(out, 512, "%s/%s", dir, name); }

/* Waits until the knote on `fd` has reported every bit of `want` (several events may arrive). */
static unsigned vnode_wait(int kq, int fd, unsigned want) {
    unsigned seen = 0;
    double end = now_s() + 10;
    while ((seen & want) != want && now_s() < end) {
        struct kevent ev[4];
        int n = collect(kq, ev, 4, 1000);
        for (int i = 0; i < n; i++) {
            CHECK_EQ(ev[i].ident, fd);
            CHECK_EQ(ev[i].filter, EVFILT_VNODE);
            seen |= ev[i].fflags;
        }
    }
    CHECK_EQ(seen & want, want);
    return seen;
}

CASE(vnode) {
    make_dir();
    char f[512], g[512], h[512];
    path(f, "file");
    path(g, "renamed");
    path(h, "link");
    int fd = open(f, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    int kq = kqueue();
    unsigned all = NOTE_DELETE | NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_LINK | NOTE_RENAME;
    change(kq, fd, EVFILT_VNODE, EV_ADD | EV_CLEAR, all, 0, (void *)7);
    struct kevent ev[4];
    CHECK_EQ(poll_kq(kq, ev, 4), 0);
    CHECK_EQ(write(fd, "data", 4), 4);
    vnode_wait(kq, fd, NOTE_WRITE | NOTE_EXTEND);
    CHECK(fchmod(fd, 0600) == 0);
    vnode_wait(kq, fd, NOTE_ATTRIB);
    CHECK(link(f, h) == 0);
    vnode_wait(kq, fd, NOTE_LINK);
    CHECK(rename(f, g) == 0);
    vnode_wait(kq, fd, NOTE_RENAME);
    CHECK(unlink(h) == 0);
    CHECK(unlink(g) == 0);
    unsigned seen = vnode_wait(kq, fd, NOTE_DELETE);
    CHECK_EQ(seen & ~all, 0); /* nothing but the notes asked for */
    close(fd);
    close(kq);
    rmdir(dir);
}

CASE(vnode_merges_and_filters_notes) {
    make_dir();
    char f[512];
    path(f, "file");
    int fd = open(f, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int kq = kqueue();
    change(kq, fd, EVFILT_VNODE, EV_ADD | EV_CLEAR, NOTE_WRITE | NOTE_ATTRIB, 0, NULL);
    CHECK_EQ(write(fd, "x", 1), 1);
    CHECK(fchmod(fd, 0600) == 0);
    unsigned seen = vnode_wait(kq, fd, NOTE_WRITE | NOTE_ATTRIB);
    CHECK_EQ(seen & NOTE_EXTEND, 0); /* not asked for */
    close(fd);
    unlink(f);
    close(kq);
    rmdir(dir);
}

CASE(vnode_on_pipe_is_einval) {
    int kq = kqueue(), p[2];
    make_pipe(p);
    CHECK_EQ(change_errno(kq, p[0], EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0), EINVAL);
    CHECK_EQ(change_errno(kq, 9999, EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0), EBADF);
    close(p[0]);
    close(p[1]);
    close(kq);
}

CASE(proc_exit) {
    int kq = kqueue();
    int go[2];
    CHECK(pipe(go) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char c;
        (void)!read(go[0], &c, 1);
        _exit(3);
    }
    change(kq, pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, (void *)5);
    struct kevent ev[2];
    CHECK_EQ(poll_kq(kq, ev, 2), 0);
    CHECK_EQ(write(go[1], "g", 1), 1);
    struct kevent e = wait_one(kq);
    CHECK_EQ(e.ident, pid);
    CHECK_EQ(e.filter, EVFILT_PROC);
    CHECK(e.fflags & NOTE_EXIT);
    CHECK(e.flags & EV_EOF);
    CHECK(e.udata == (void *)5);
    CHECK(WIFEXITED(e.data));
    CHECK_EQ(WEXITSTATUS(e.data), 3);
    /* The knote is gone. */
    CHECK_EQ(change_errno(kq, pid, EVFILT_PROC, EV_DELETE, 0, 0), ENOENT);
    CHECK_EQ(waitpid(pid, NULL, 0), pid);
    close(kq);
}

CASE(proc_already_exited_and_missing) {
    int kq = kqueue();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) _exit(7);
    siginfo_t si;
    CHECK(waitid(P_PID, pid, &si, WEXITED | WNOWAIT) == 0); /* a zombie now */
    change(kq, pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL);
    struct kevent e = wait_one(kq);
    CHECK_EQ(e.ident, pid);
    CHECK_EQ(WEXITSTATUS(e.data), 7);
    CHECK_EQ(waitpid(pid, NULL, 0), pid);
    /* That pid no longer exists. */
    CHECK_EQ(change_errno(kq, pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0), ESRCH);
    close(kq);
}

CASE(signal_counts) {
    int kq = kqueue();
    signal(SIGUSR1, SIG_IGN); /* an ignored signal is still counted */
    change(kq, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, (void *)1);
    change(kq, SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, (void *)2);
    struct kevent ev[4];
    CHECK_EQ(poll_kq(kq, ev, 4), 0);
    CHECK(kill(getpid(), SIGUSR1) == 0);
    CHECK(kill(getpid(), SIGUSR1) == 0);
    CHECK(kill(getpid(), SIGUSR2) == 0);
    long counts[2] = {0, 0};
    double end = now_s() + 10;
    while ((counts[0] < 1 || counts[1] < 1) && now_s() < end) {
        int n = collect(kq, ev, 4, 1000);
        for (int i = 0; i < n; i++) {
            CHECK_EQ(ev[i].filter, EVFILT_SIGNAL);
            CHECK(ev[i].flags & EV_CLEAR); /* implicitly edge-triggered */
            counts[ev[i].ident == SIGUSR1 ? 0 : 1] += ev[i].data;
        }
    }
    /* Linux merges a pending signal sent twice before delivery: at least one, at most two. */
    CHECK(counts[0] >= 1 && counts[0] <= 2);
    CHECK_EQ(counts[1], 1);
    CHECK_EQ(change_errno(kq, SIGKILL, EVFILT_SIGNAL, EV_ADD, 0, 0), EINVAL);
    close(kq);
}

MAIN
