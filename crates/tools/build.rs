//! Build script: in release builds for Linux/glibc, link libgcc's unwinder (`libgcc_eh.a`)
//! statically, so that the binaries do not load `libgcc_s.so` at every start, and have the
//! linker put the functions a usual run calls together ([`order_symbols`]).
//!
//! Why: s6-fdholder-setdump is run once per dump and its run is mostly start-up. Loading
//! one more shared library cost ~100 µs of a ~900 µs run on the benchmark machine
//! (bench/run.sh), the difference between slower and faster than the C tool for one fd.
//! std refers to the unwinder (`_Unwind_*`, for backtraces) even with `panic = "abort"`;
//! rustc links it from `-lgcc_s` under `--as-needed`. A static `libgcc_eh` placed before
//! it, as this crate's native library, defines those symbols first, so `libgcc_s` is no
//! longer needed — what `gcc -static-libgcc` does for C programs.
//!
//! Linking all of glibc statically (`+crt-static`) was faster still, but a static glibc
//! crashes when a user or group lookup (config mode's `owner`/`group`) reaches an NSS
//! module such as Debian's default `systemd` one.
//!
//! Left alone: debug builds (tests), fuzzing builds (libFuzzer's C++ runtime brings its own
//! unwinder), `+crt-static` builds (std then links `libgcc_eh` itself), and any target where
//! the C compiler does not know `libgcc_eh.a`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CC");
    let var = |name: &str| env::var(name).unwrap_or_default();
    let wanted = var("TARGET").ends_with("-linux-gnu")
        && var("PROFILE") == "release"
        && env::var_os("CARGO_CFG_FUZZING").is_none()
        && !var("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|f| f == "crt-static");
    if !wanted {
        return;
    }
    order_symbols();
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let Ok(out) = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    // gcc answers with the bare name when it has no such file.
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let Some(dir) = path
        .parent()
        .filter(|_| path.is_absolute() && path.is_file())
    else {
        return;
    };
    println!("cargo::rustc-link-search=native={}", dir.display());
    // -bundle: not copied into the rlib; the final link gets `-lgcc_eh` after the Rust
    // libraries and before std's `-lgcc_s`.
    println!("cargo::rustc-link-lib=static:-bundle=gcc_eh");
}

/// Has the binaries' linker put the functions a usual run calls (`symbol-order.txt`, made by
/// `scripts/symbol-order.sh`) together at the start of the text, where the linker takes an
/// order (lld's `--symbol-ordering-file`; rustc links with lld on x86_64 Linux since 1.90).
/// A run maps the text around each page it faults in, 16 pages at a time: spread over 780
/// KB of the 1.2 MB text, those functions cost a one-socket run some 100 µs more CPU than
/// put together (1201 against 1096 µs, bench/run.sh's floor at 920). Whether the linker
/// takes the option is asked of it, by linking an empty program with the same flags and
/// linker: GNU ld refuses it, and the build then goes on without an order.
fn order_symbols() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let order = dir.join("symbol-order.txt");
    // A path that does not exist would make cargo run this again at every build: without
    // the file, its directory is watched instead, for the file's coming.
    let watched = if order.is_file() { &order } else { &dir };
    println!("cargo::rerun-if-changed={}", watched.display());
    // `-Xlinker`, not `-Wl,`: the compiler driver splits the latter at commas, which a
    // checkout's path may hold.
    let args = [
        "-Xlinker".to_string(),
        format!("--symbol-ordering-file={}", order.display()),
        // Names the binary lacks (another binary's, or a function since renamed) are not
        // worth a warning each: scripts/symbol-order.sh --check counts them.
        "-Xlinker".to_string(),
        "--no-warn-symbol-ordering".to_string(),
    ];
    if order.is_file() && links_with(&args) {
        for arg in args {
            println!("cargo::rustc-link-arg-bins={arg}");
        }
    }
}

/// Whether rustc, with this build's flags, links an empty program given `args`.
fn links_with(args: &[String]) -> bool {
    let (Some(rustc), Some(out)) = (env::var_os("RUSTC"), env::var_os("OUT_DIR")) else {
        return false;
    };
    let out = Path::new(&out);
    let src = out.join("probe.rs");
    if std::fs::write(&src, "fn main() {}\n").is_err() {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let mut rustc = Command::new(rustc);
    // The linker cargo was told to use, if any (`target.<triple>.linker`).
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        rustc.arg("-C").arg({
            let mut arg = std::ffi::OsString::from("linker=");
            arg.push(linker);
            arg
        });
    }
    rustc
        .args(flags.split('\x1f').filter(|f| !f.is_empty()))
        .arg("--target")
        .arg(env::var_os("TARGET").unwrap_or_default())
        .arg("-o")
        .arg(out.join("probe"))
        .arg(&src);
    for arg in args {
        rustc.arg("-C").arg(format!("link-arg={arg}"));
    }
    rustc.output().is_ok_and(|o| o.status.success())
}
