//! What the watcher reports: [`Event`], [`EventKind`], [`ModifyKind`], [`FileType`], and the
//! typed limit error [`LimitError`].

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The type of the file an event is about, as seen by `lstat` (or `stat` for a followed symlink).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

impl FileType {
    // `mode_t` is u16 on macOS: the casts are no-ops only elsewhere.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn from_mode(mode: u32) -> FileType {
        match mode & libc::S_IFMT as u32 {
            m if m == libc::S_IFREG as u32 => FileType::File,
            m if m == libc::S_IFDIR as u32 => FileType::Dir,
            m if m == libc::S_IFLNK as u32 => FileType::Symlink,
            _ => FileType::Other,
        }
    }

    /// True for [`FileType::Dir`].
    pub fn is_dir(self) -> bool {
        self == FileType::Dir
    }
}

/// What changed in a file's content or attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModifyKind {
    /// Its content: its size or its modification time changed, or the name now holds another
    /// file of the same type (an atomic save). A `touch` that sets the times to now is seen as
    /// this too: a directory snapshot cannot tell it from a write.
    Data,
    /// Its attributes only (mode, owner, change time): `chmod`, `chown`, extended attributes.
    Metadata,
}

/// The kind of an [`Event`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A file or directory appeared (`paths[0]`).
    Create,
    /// A file or directory disappeared (`paths[0]`).
    Remove,
    /// The content or attributes of `paths[0]` changed.
    Modify(ModifyKind),
    /// The same file (same device and inode) moved from `from` to `to` inside the watched trees
    /// (`paths` is `[from, to]`). For a watched root moved away, `to` is where it went.
    Rename {
        /// The old path.
        from: PathBuf,
        /// The new path.
        to: PathBuf,
    },
    /// Events were lost (the kernel's queue overflowed): the watcher re-reads every watched
    /// directory and the events that follow bring its view back to what is on disk. `paths` are
    /// the watched roots.
    Rescan,
}

/// One change seen by a [`Watcher`](crate::Watcher).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The paths concerned: one, or `[from, to]` for a rename, or the roots for a rescan.
    pub paths: Vec<PathBuf>,
    /// The type of the file, when known (never for `Rescan`).
    pub file_type: Option<FileType>,
}

impl Event {
    pub(crate) fn new(kind: EventKind, path: PathBuf, file_type: Option<FileType>) -> Event {
        Event { kind, paths: vec![path], file_type }
    }

    pub(crate) fn rename(from: PathBuf, to: PathBuf, file_type: Option<FileType>) -> Event {
        let paths = vec![from.clone(), to.clone()];
        Event { kind: EventKind::Rename { from, to }, paths, file_type }
    }

    /// The first path (the file itself; for a rename, where it was).
    pub fn path(&self) -> Option<&Path> {
        self.paths.first().map(PathBuf::as_path)
    }
}

impl fmt::Display for Event {
    /// One line for a person: `create  dir  /tmp/x/a`, `rename  file /tmp/a -> /tmp/b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            EventKind::Create => "create",
            EventKind::Remove => "remove",
            EventKind::Modify(ModifyKind::Data) => "modify",
            EventKind::Modify(ModifyKind::Metadata) => "attrib",
            EventKind::Rename { .. } => "rename",
            EventKind::Rescan => "rescan",
        };
        let ty = match self.file_type {
            Some(FileType::File) => "file",
            Some(FileType::Dir) => "dir",
            Some(FileType::Symlink) => "link",
            Some(FileType::Other) => "other",
            None => "-",
        };
        write!(f, "{kind:<7}{ty:<6}")?;
        match &self.kind {
            EventKind::Rename { from, to } => write!(f, "{} -> {}", from.display(), to.display()),
            _ => {
                let paths: Vec<String> =
                    self.paths.iter().map(|p| p.display().to_string()).collect();
                write!(f, "{}", paths.join(" "))
            }
        }
    }
}

/// Which system limit ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Open file descriptors: raise `RLIMIT_NOFILE` (`ulimit -n`; the hard limit needs root).
    Descriptors,
    /// The system-wide open file table: raise `fs.file-max` (Linux) / `kern.maxfiles` (BSD).
    SystemFiles,
    /// inotify watches: raise the sysctl `fs.inotify.max_user_watches`.
    InotifyWatches,
    /// inotify instances: raise the sysctl `fs.inotify.max_user_instances`.
    InotifyInstances,
}

impl Limit {
    /// What to raise, in words.
    pub fn what_to_raise(self) -> &'static str {
        match self {
            Limit::Descriptors => "RLIMIT_NOFILE (ulimit -n)",
            Limit::SystemFiles => "fs.file-max (Linux) or kern.maxfiles (BSD)",
            Limit::InotifyWatches => "the sysctl fs.inotify.max_user_watches",
            Limit::InotifyInstances => "the sysctl fs.inotify.max_user_instances",
        }
    }
}

/// A watch could not be set up because a system limit ran out. Found inside the `io::Error`
/// items of the stream (`err.get_ref()` then `downcast_ref::<LimitError>()`); the directory it
/// names, and what is below it, is not watched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitError {
    /// The limit that ran out.
    pub limit: Limit,
    /// The path that could not be watched.
    pub path: PathBuf,
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot watch {}: out of {:?}; raise {}",
            self.path.display(),
            self.limit,
            self.limit.what_to_raise()
        )
    }
}

impl std::error::Error for LimitError {}

/// An error about `path`, keeping the kind of `err` and naming the path; limit errnos become a
/// [`LimitError`].
pub(crate) fn path_error(err: io::Error, path: &Path) -> io::Error {
    if let Some(limit) = limit_of(&err) {
        return io::Error::new(err.kind(), LimitError { limit, path: path.to_path_buf() });
    }
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

fn limit_of(err: &io::Error) -> Option<Limit> {
    let msg = err.to_string();
    match err.raw_os_error() {
        Some(libc::EMFILE) if msg.contains("inotify") => Some(Limit::InotifyInstances),
        Some(libc::EMFILE) => Some(Limit::Descriptors),
        Some(libc::ENFILE) => Some(Limit::SystemFiles),
        Some(libc::ENOSPC) => Some(Limit::InotifyWatches),
        _ if msg.contains("max_user_watches") => Some(Limit::InotifyWatches),
        _ if msg.contains("max_user_instances") => Some(Limit::InotifyInstances),
        _ if msg.contains("Too many open files") => Some(Limit::Descriptors),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(e: io::Error) -> Option<Limit> {
        let e = path_error(e, Path::new("/x"));
        e.get_ref().and_then(|i| i.downcast_ref::<LimitError>()).map(|l| l.limit)
    }

    #[test]
    fn limit_errnos_become_typed_errors_naming_what_to_raise() {
        let raw = io::Error::from_raw_os_error;
        assert_eq!(limit(raw(libc::EMFILE)), Some(Limit::Descriptors));
        assert_eq!(limit(raw(libc::ENFILE)), Some(Limit::SystemFiles));
        assert_eq!(limit(raw(libc::ENOSPC)), Some(Limit::InotifyWatches));
        // The reactor's own wording for inotify's limits (kq_reactor's change errors).
        let watches = io::Error::new(
            io::ErrorKind::StorageFull,
            "inotify limit reached (errno 28): raise the fs.inotify.max_user_watches sysctl",
        );
        assert_eq!(limit(watches), Some(Limit::InotifyWatches));
        let instances = io::Error::other(
            "inotify limit reached: raise the fs.inotify.max_user_instances sysctl",
        );
        assert_eq!(limit(instances), Some(Limit::InotifyInstances));
        assert_eq!(limit(raw(libc::EACCES)), None);
        let e = path_error(raw(libc::ENOSPC), Path::new("/some/dir"));
        assert!(
            e.to_string().contains("/some/dir") && e.to_string().contains("max_user_watches"),
            "{e}"
        );
        let e = path_error(raw(libc::EACCES), Path::new("/locked"));
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("/locked"), "{e}");
    }
}
