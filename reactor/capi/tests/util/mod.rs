//! Builds and runs the C programs of the tests against `libkq.so`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The crate's folder.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder holding `libkq.so` and `libkq.a`, built on first use.
///
/// Cargo does not build a cdylib/staticlib-only library for its integration tests (only its
/// unit-test harness), so the first call runs `cargo build -p kq-capi --lib` for the profile,
/// target and target folder of this test binary (a no-op when it is up to date; cargo holds no
/// lock while tests run). `--all-features` matches what CI tests with, so nothing is rebuilt.
pub fn lib_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("<target>/<profile>/deps/<test>")
                .to_path_buf();
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "--offline", "--all-features", "-p", "kq-capi", "--lib"]);
            cmd.current_dir(manifest_dir());
            match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") => {}
                Some("release") => {
                    cmd.arg("--release");
                }
                Some(other) => {
                    cmd.args(["--profile", other]);
                }
                None => panic!("no profile folder in {}", exe.display()),
            }
            let mut root = profile_dir.parent().expect("target folder").to_path_buf();
            if !root.join("CACHEDIR.TAG").exists() {
                // <target>/<triple>/<profile>: a cross build.
                let triple = root.file_name().expect("triple").to_owned();
                cmd.arg("--target").arg(triple);
                root = root.parent().expect("target folder").to_path_buf();
            }
            let status = cmd.env("CARGO_TARGET_DIR", &root).status().expect("running cargo");
            assert!(status.success(), "cargo build -p kq-capi failed");
            assert!(
                profile_dir.join("libkq.so").exists(),
                "libkq.so not found in {}",
                profile_dir.display()
            );
            profile_dir
        })
        .clone()
}

/// A scratch folder for binaries, unique per test.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("capi").join(name);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Compiles `tests/c/<name>.c` (or `src`, relative to the crate) against the header and
/// `libkq.so`, returning the executable.
pub fn build(name: &str, src: &str, extra: &[&str]) -> PathBuf {
    let dir = out_dir(name);
    let exe = dir.join(name);
    let lib = lib_dir();
    let crate_dir = manifest_dir();
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .arg("-std=gnu11")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-O1")
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg("-I")
        .arg(crate_dir.join("tests/c"))
        .arg(crate_dir.join(src))
        .arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(extra)
        .arg("-lkq")
        .arg("-lpthread")
        .status()
        .expect("running cc");
    assert!(status.success(), "cc failed for {src}");
    exe
}

/// The outcome of a program.
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `exe` with `args`, killing it after `limit` (a hang fails the test, not the suite).
pub fn run(exe: &Path, args: &[&str], limit: Duration) -> Outcome {
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the C program");
    let start = Instant::now();
    loop {
        match child.try_wait().expect("waiting for the C program") {
            Some(_) => break,
            None if start.elapsed() > limit => {
                let _ = child.kill();
                break;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let out = child.wait_with_output().expect("collecting output");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `tests/c/<name>.c`, built once per test binary.
pub fn program(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, exe)) = built.iter().find(|(n, _)| n == name) {
        return exe.clone();
    }
    let exe = build(name, &format!("tests/c/{name}.c"), &[]);
    built.push((name.to_string(), exe.clone()));
    exe
}

/// Runs case `case` of `tests/c/<name>.c` (its first argument); it must exit 0 within 120 s.
pub fn run_case(name: &str, case: &str) -> Outcome {
    run_c(name, &[case])
}

/// Builds `tests/c/<name>.c` and runs it with `args`; it must exit 0 within 120 s.
pub fn run_c(name: &str, args: &[&str]) -> Outcome {
    let exe = program(name);
    let out = run(&exe, args, Duration::from_secs(120));
    assert_eq!(
        out.code,
        Some(0),
        "{name} {args:?} failed\n--- stdout\n{}\n--- stderr\n{}",
        out.stdout,
        out.stderr
    );
    out
}
