//! The systemd import means what systemd means, on a real daemon: a unit that relies on
//! systemd's defaults gets sockets of mode 0666 in directories of mode 0755, `SocketUser=`
//! alone gives the user's primary group, specifiers resolve as the system manager's, and
//! what is applied converges (a second `--check` plans only `=`), `ipv6-only = false` on a
//! specific IPv6 address included.

use std::fs;
use std::net::{IpAddr, Ipv6Addr};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use crate::common::{Daemon, code_and_err};
use crate::config_mode::{free_port, held, run, write_config};

const INSPECT: &str = env!("CARGO_BIN_EXE_s6-fdholder-inspect");

/// Converts the unit at `unit` with extra `args`.
fn convert(unit: &Path, args: &[&str]) -> Output {
    Command::new(INSPECT)
        .arg("--from-systemd")
        .arg(unit)
        .args(args)
        .output()
        .expect("run s6-fdholder-inspect")
}

/// Applies `config` to `d`, then checks that a second run plans nothing.
fn apply_and_converge(d: &Daemon, config: &Path) {
    let out = run(&[&"-c", &config, &d.socket]);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 0, "{err}");
    let out = run(&[&"--check", &"-c", &config, &d.socket]);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 0, "{err}");
    let plan = String::from_utf8(out.stdout).unwrap();
    assert!(!plan.is_empty());
    for line in plan.lines() {
        assert!(line.starts_with("=\t"), "not converged: {line}\n{plan}");
    }
}

#[test]
fn systemd_defaults_hold_on_disk_and_converge() {
    let d = Daemon::start();
    let root = d.dir.path().display().to_string();
    let unit = d.path("def.socket");
    fs::write(
        &unit,
        format!(
            "[Socket]\nListenStream={root}/run/def/a.sock\nListenFIFO={root}/run/def/f\n\
             SocketUser=nobody\n"
        ),
    )
    .unwrap();
    let out = convert(&unit, &[]);
    let (code, err) = code_and_err(&out);
    assert_eq!((code, err.as_str()), (0, ""));
    let config = write_config(&d, "def.toml", &String::from_utf8(out.stdout).unwrap());
    apply_and_converge(&d, &config);
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    for f in ["a.sock", "f"] {
        let m = fs::symlink_metadata(d.path("run/def").join(f)).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o666, "{f}");
        assert_eq!(
            (m.uid(), m.gid()),
            (nobody.uid.as_raw(), nobody.gid.as_raw())
        );
    }
    let dir = fs::metadata(d.path("run/def")).unwrap();
    assert_eq!(dir.permissions().mode() & 0o7777, 0o755);
    assert_eq!(held(&d).len(), 2);
}

#[test]
fn ipv6_only_false_on_a_specific_address_converges() {
    let d = Daemon::start();
    let port = free_port(IpAddr::V6(Ipv6Addr::LOCALHOST));
    let config = write_config(
        &d,
        "v6.toml",
        &format!("[[fd]]\nkind = \"tcp\"\nlisten = \"[::1]:{port}\"\nipv6-only = false\n"),
    );
    apply_and_converge(&d, &config);
    assert!(held(&d).contains_key(&format!("tcp:[::1]:{port}")));
}

#[test]
fn a_template_takes_its_instance_and_unresolved_specifiers_stop() {
    let d = Daemon::start();
    let root = d.dir.path().display().to_string();
    let unit = d.path("tpl@.socket");
    fs::write(
        &unit,
        format!("[Socket]\nListenStream={root}/%p/%I.sock\nFileDescriptorName=%N\n"),
    )
    .unwrap();
    let out = convert(&unit, &["--instance", "a\\x2db"]);
    let (code, err) = code_and_err(&out);
    assert_eq!((code, err.as_str()), (0, ""));
    let config = write_config(&d, "tpl.toml", &String::from_utf8(out.stdout).unwrap());
    apply_and_converge(&d, &config);
    assert!(held(&d).contains_key("tpl@a\\x2db"));
    let m = fs::symlink_metadata(d.path("tpl/a-b.sock")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o666);

    let (code, err) = code_and_err(&convert(&unit, &[]));
    assert_eq!(code, 100);
    assert_eq!(
        err,
        format!(
            "s6-fdholder-inspect: fatal: {}:2: ListenStream={root}/%p/%I.sock: the specifier \
             %I needs the instance of this template unit: give it with --instance NAME\n",
            unit.display()
        )
    );
    let plain = d.path("plain.socket");
    fs::write(&plain, "[Socket]\nListenStream=/run/%H.sock\n").unwrap();
    let (code, err) = code_and_err(&convert(&plain, &["--instance", "x"]));
    assert_eq!(code, 100);
    assert!(err.contains("--instance is for template units"), "{err}");
    let (code, err) = code_and_err(&convert(&plain, &[]));
    assert_eq!(code, 100);
    assert!(
        err.contains(":2: ListenStream=/run/%H.sock: the specifier %H depends on the host"),
        "{err}"
    );
}
