/*
 * <sys/event.h> for kq's C library (libkq.so, libkq.a): kqueue(2) and kevent(2) on Linux.
 *
 * Binary compatible with libkqueue's Linux header: the same struct kevent layout and the same
 * constant values, so a program built against libkqueue runs on libkq.so (e.g. through a
 * libkqueue.so.0 symlink on LD_LIBRARY_PATH). Semantics are FreeBSD's; see the crate README
 * (reactor/capi) for what Linux cannot provide.
 *
 * Part of kq, MIT OR Apache-2.0.
 */
#ifndef _SYS_EVENT_H_
#define _SYS_EVENT_H_

#include <stdint.h>
#include <sys/types.h>

/* Programs test this to know they are not on a BSD kernel (libkqueue defines it too). */
#define LIBKQUEUE 1
/* kq's own marker. */
#define LIBKQ 1

struct timespec;

/* One change (in the changelist) or one event (in the eventlist). 32 bytes on LP64. */
struct kevent {
    uintptr_t ident;       /* fd, pid, signal number or user id (offset 0) */
    short filter;          /* EVFILT_* (offset 8) */
    unsigned short flags;  /* EV_* (offset 10) */
    unsigned int fflags;   /* NOTE_*, in and out (offset 12) */
    intptr_t data;         /* filter data, in and out; errno of an EV_ERROR entry (offset 16) */
    void *udata;           /* returned as given (offset 24) */
};

#define EV_SET(kevp_, a, b, c, d, e, f) do {  \
        struct kevent *kevp__ = (kevp_);      \
        kevp__->ident = (a);                  \
        kevp__->filter = (b);                 \
        kevp__->flags = (c);                  \
        kevp__->fflags = (d);                 \
        kevp__->data = (e);                   \
        kevp__->udata = (f);                  \
    } while (0)

/* Filters. */
#define EVFILT_READ   (-1)
#define EVFILT_WRITE  (-2)
#define EVFILT_VNODE  (-4)
#define EVFILT_PROC   (-5)
#define EVFILT_SIGNAL (-6)
#define EVFILT_TIMER  (-7)
#define EVFILT_USER   (-11)
#define EVFILT_SYSCOUNT 11

/* Actions. */
#define EV_ADD      0x0001  /* add or modify */
#define EV_DELETE   0x0002  /* delete */
#define EV_ENABLE   0x0004  /* enable (re-evaluates) */
#define EV_DISABLE  0x0008  /* disable: observed, not reported */

/* Flags. */
#define EV_ONESHOT  0x0010  /* report once, then delete */
#define EV_CLEAR    0x0020  /* edge-triggered: clear state after reporting */
#define EV_RECEIPT  0x0040  /* echo the change as an EV_ERROR entry, data 0 on success */
#define EV_DISPATCH 0x0080  /* report once, then disable */
#define EV_SYSFLAGS 0xF000
#define EV_FLAG1    0x2000

/* Returned flags. */
#define EV_EOF      0x8000  /* the source hung up */
#define EV_ERROR    0x4000  /* data holds an errno (0: a successful EV_RECEIPT) */

/* EVFILT_USER: the top two bits say how the low 24 bits act on the stored fflags. */
#define NOTE_FFNOP      0x00000000
#define NOTE_FFAND      0x40000000
#define NOTE_FFOR       0x80000000
#define NOTE_FFCOPY     0xc0000000
#define NOTE_FFCTRLMASK 0xc0000000
#define NOTE_FFLAGSMASK 0x00ffffff
#define NOTE_TRIGGER    0x01000000

/* EVFILT_READ, EVFILT_WRITE: data is a low-water mark. */
#define NOTE_LOWAT 0x0001

/* EVFILT_VNODE. */
#define NOTE_DELETE 0x0001
#define NOTE_WRITE  0x0002
#define NOTE_EXTEND 0x0004
#define NOTE_ATTRIB 0x0008
#define NOTE_LINK   0x0010
#define NOTE_RENAME 0x0020
#define NOTE_REVOKE 0x0040  /* on Linux: the filesystem was unmounted */

/* EVFILT_PROC. On Linux only NOTE_EXIT is available; FORK and EXEC fail with EOPNOTSUPP. */
#define NOTE_EXIT      0x80000000
#define NOTE_FORK      0x40000000
#define NOTE_EXEC      0x20000000
#define NOTE_PCTRLMASK 0xf0000000
#define NOTE_PDATAMASK 0x000fffff

/* EVFILT_TIMER units (libkqueue's values); milliseconds when no unit is given. */
#define NOTE_SECONDS  0x0001
#define NOTE_USECONDS 0x0002
#define NOTE_NSECONDS 0x0004
#define NOTE_ABSOLUTE 0x0008  /* data is an absolute time since the epoch, in the unit given */

#ifdef __cplusplus
extern "C" {
#endif

/* A new kqueue. Free it with close(2). -1 and errno on failure. Not inherited by fork(2). */
int kqueue(void);

/* Applies the changelist in order, then collects up to nevents events, waiting at most *timeout
 * (forever when NULL). Returns the number of entries written to eventlist, or -1 and errno. */
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents, const struct timespec *timeout);

#ifdef __cplusplus
}
#endif

#endif /* !_SYS_EVENT_H_ */
