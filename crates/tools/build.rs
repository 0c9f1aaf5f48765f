//! Build script: in release builds for Linux/glibc, link libgcc's unwinder (`libgcc_eh.a`)
//! statically, so that the binaries do not load `libgcc_s.so` at every start.
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
use std::path::PathBuf;
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
