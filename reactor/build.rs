//! The one place that decides the backend: the kernel's kqueue on the BSDs and Apple systems,
//! the emulated (mio) backend everywhere else. `--cfg kq_emulated` forces the emulated backend
//! on a kqueue system too, so that its path can be tested wherever the suite runs.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kq_native)");
    println!("cargo::rustc-check-cfg=cfg(kq_emulated)");
    println!("cargo::rustc-check-cfg=cfg(loom)");
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let kqueue_os =
        matches!(os.as_str(), "freebsd" | "macos" | "ios" | "netbsd" | "openbsd" | "dragonfly");
    let forced = std::env::var_os("CARGO_CFG_KQ_EMULATED").is_some();
    if kqueue_os && !forced {
        println!("cargo::rustc-cfg=kq_native");
    }
}
