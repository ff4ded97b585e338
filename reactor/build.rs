//! Decides `kq_native`: the kernel's kqueue on the BSDs and Apple systems. The backend switch
//! itself (backend and OS sources per target) is `src/sys/mod.rs`. `--cfg kq_emulated` turns
//! `kq_native` off on a kqueue system; the mio backend is built for Linux only, so there the switch
//! stops with its `compile_error!`.

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
