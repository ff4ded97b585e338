/* The smallest kqueue program: used to check linking (static, and as libkqueue.so.0). */
#include <stdio.h>
#include <sys/event.h>
#include <unistd.h>

int main(void) {
    int kq = kqueue();
    if (kq < 0) { perror("kqueue"); return 1; }
    struct kevent ch, ev;
    EV_SET(&ch, 7, EVFILT_USER, EV_ADD | EV_ONESHOT, NOTE_TRIGGER, 0, NULL);
    struct timespec ts = {5, 0};
    int n = kevent(kq, &ch, 1, &ev, 1, &ts);
    if (n != 1) { perror("kevent"); return 1; }
    printf("hello from kq: user event %d\n", (int)ev.ident);
    close(kq);
    return 0;
}
