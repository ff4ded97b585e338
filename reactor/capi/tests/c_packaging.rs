//! The library as a C programmer gets it: the static archive, the pkg-config file, loading
//! `libkq.so` in place of `libkqueue.so.0`, and the benchmark program (built and run briefly).
// libkq exists only on Linux (elsewhere the crate is empty: the kernel has kqueue).
#![cfg(target_os = "linux")]

mod util;

use std::process::Command;
use std::time::Duration;

/// A program that uses kqueue, for the linking tests.
const PROGRAM: &str = "tests/c/hello.c";

#[test]
fn static_archive_links_and_runs() {
    let lib = util::lib_dir();
    let exe = util::out_dir("static").join("hello-static");
    let crate_dir = util::manifest_dir();
    let status = Command::new("cc")
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join(PROGRAM))
        .arg("-o")
        .arg(&exe)
        .arg(lib.join("libkq.a"))
        .args(["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl"])
        .status()
        .expect("running cc");
    assert!(status.success());
    let out = util::run(&exe, &[], Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "hello from kq: user event 7");
}

#[test]
fn pkg_config_file_resolves() {
    let pc = util::manifest_dir();
    let out = Command::new("pkg-config")
        .env("PKG_CONFIG_PATH", &pc)
        .args(["--define-variable=prefix=/opt/kq", "--cflags", "--libs", "kq"])
        .output();
    let Ok(out) = out else {
        // pkg-config is not installed: the file is then checked by hand below.
        let text = std::fs::read_to_string(pc.join("kq.pc")).expect("kq.pc");
        assert!(text.contains("Libs: -L${libdir} -lkq"));
        return;
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let flags = String::from_utf8_lossy(&out.stdout);
    assert!(flags.contains("-I/opt/kq/include/kqueue"), "{flags}");
    assert!(flags.contains("-L/opt/kq/lib") && flags.contains("-lkq"), "{flags}");
}

/// A program linked against a library whose soname is `libkqueue.so.0` (a stand-in whose
/// functions fail, built here: Debian does not package libkqueue) runs on kq when a
/// `libkqueue.so.0` symlink to `libkq.so` comes first on `LD_LIBRARY_PATH`.
#[test]
fn runs_as_libkqueue_so_0() {
    let dir = util::out_dir("as-libkqueue");
    let crate_dir = util::manifest_dir();
    let stub_dir = dir.join("stub");
    let kq_dir = dir.join("kq");
    std::fs::create_dir_all(&stub_dir).expect("stub folder");
    std::fs::create_dir_all(&kq_dir).expect("kq folder");
    let stub_src = dir.join("stub.c");
    std::fs::write(
        &stub_src,
        "#include <errno.h>\nint kqueue(void) { errno = ENOSYS; return -1; }\n\
         int kevent(int a, const void *b, int c, void *d, int e, const void *f) \
         { errno = ENOSYS; return -1; }\n",
    )
    .expect("stub source");
    let stub = stub_dir.join("libkqueue.so.0");
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wl,-soname,libkqueue.so.0", "-o"])
        .arg(&stub)
        .arg(&stub_src)
        .status()
        .expect("cc")
        .success();
    assert!(ok);
    let _ = std::fs::remove_file(stub_dir.join("libkqueue.so"));
    std::os::unix::fs::symlink(&stub, stub_dir.join("libkqueue.so")).expect("symlink");
    let exe = dir.join("hello-libkqueue");
    let ok = Command::new("cc")
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join(PROGRAM))
        .arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(&stub_dir)
        .arg("-lkqueue")
        .status()
        .expect("cc")
        .success();
    assert!(ok);
    // Against the stand-in it fails...
    let out = Command::new(&exe).env("LD_LIBRARY_PATH", &stub_dir).output().expect("run");
    assert_ne!(out.status.code(), Some(0));
    // ...and with libkq.so loaded as libkqueue.so.0 it works.
    let link = kq_dir.join("libkqueue.so.0");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(util::lib_dir().join("libkq.so"), &link).expect("symlink");
    let out = Command::new(&exe).env("LD_LIBRARY_PATH", &kq_dir).output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello from kq: user event 7");
}

#[test]
fn benchmark_builds_and_runs() {
    let exe = util::build("kevent_bench", "bench/kevent_bench.c", &[]);
    let out = util::run(&exe, &["300"], Duration::from_secs(120));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for row in ["user ", "user4 ", "pipe ", "pipe4 ", "change1k ", "change1k4 "] {
        assert!(out.stdout.lines().any(|l| l.starts_with(row)), "{row}: {}", out.stdout);
    }
}
