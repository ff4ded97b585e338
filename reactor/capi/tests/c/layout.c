/* Prints the layout of struct kevent and every constant of the header, one "name value" a line,
 * for the layout test (src/abi.rs) to compare with the Rust side. */
#include <stddef.h>
#include <stdio.h>
#include <sys/event.h>

#define P(x) printf("%s %lld\n", #x, (long long)(x))

int main(void) {
    P(sizeof(struct kevent));
    P(_Alignof(struct kevent));
    P(offsetof(struct kevent, ident));
    P(offsetof(struct kevent, filter));
    P(offsetof(struct kevent, flags));
    P(offsetof(struct kevent, fflags));
    P(offsetof(struct kevent, data));
    P(offsetof(struct kevent, udata));
    P(sizeof(((struct kevent *)0)->ident));
    P(sizeof(((struct kevent *)0)->filter));
    P(sizeof(((struct kevent *)0)->flags));
    P(sizeof(((struct kevent *)0)->fflags));
    P(sizeof(((struct kevent *)0)->data));
    P(sizeof(((struct kevent *)0)->udata));
    P(EVFILT_READ); P(EVFILT_WRITE); P(EVFILT_VNODE); P(EVFILT_PROC); P(EVFILT_SIGNAL);
    P(EVFILT_TIMER); P(EVFILT_USER);
    P(EV_ADD); P(EV_DELETE); P(EV_ENABLE); P(EV_DISABLE); P(EV_ONESHOT); P(EV_CLEAR);
    P(EV_RECEIPT); P(EV_DISPATCH); P(EV_ERROR); P(EV_EOF);
    P(NOTE_LOWAT);
    P(NOTE_FFNOP); P(NOTE_FFAND); P(NOTE_FFOR); P(NOTE_FFCOPY); P(NOTE_FFCTRLMASK);
    P(NOTE_FFLAGSMASK); P(NOTE_TRIGGER);
    P(NOTE_DELETE); P(NOTE_WRITE); P(NOTE_EXTEND); P(NOTE_ATTRIB); P(NOTE_LINK); P(NOTE_RENAME);
    P(NOTE_REVOKE);
    P(NOTE_EXIT); P(NOTE_FORK); P(NOTE_EXEC);
    P(NOTE_SECONDS); P(NOTE_USECONDS); P(NOTE_NSECONDS); P(NOTE_ABSOLUTE);
    return 0;
}
