//! TCP, UDP and Unix sockets on the kq reactor, and the async-fd building block. (Work in progress: see the networking issue.)
