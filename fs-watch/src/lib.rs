//! A recursive file and directory watcher over VNODE knotes, as a Stream of events. (Work in progress.)
