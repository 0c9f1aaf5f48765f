//! The man page stays true to the code: its synopsis is the usage the tool prints, every
//! option of the command line, variable of the environment and exit code has its entry,
//! its version is the package's, and groff renders it without a warning.

use std::path::PathBuf;
use std::process::Command;

use fdholder::envdump::{Var, VarKind};
use fdtools::cli::setdump::command;
use fdtools::fatal::{EXIT_CHANGED, EXIT_REFUSED, EXIT_SYSTEM, EXIT_USAGE};
use fdtools::names::{USAGE_ACTIVATE, USAGE_ACTIVATE_CONFIG, USAGE_CONFIG, USAGE_ENV};

const MAN: &str = include_str!("../../../../man/s6-fdholder-setdump.1");

fn man_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../man/s6-fdholder-setdump.1")
}

/// The source of section `name`, from its `.SH` line to the next one.
fn section(name: &str) -> &'static str {
    section_of(MAN, name)
}

/// The source of section `name` of the page `man`.
fn section_of(man: &'static str, name: &str) -> &'static str {
    let start = man
        .find(&format!("\n.SH {name}\n"))
        .unwrap_or_else(|| panic!("the man page has no {name} section"));
    let body = &man[start + 1..];
    let end = body[1..].find("\n.SH ").map_or(body.len(), |e| e + 1);
    &body[..end]
}

/// Whether `roff` mentions the option `opt` (`-t`, `--config`) as roff writes it (`\-t`),
/// as a whole word: `\-c` inside `\-\-check` or `\-config` does not count.
fn mentions(roff: &str, opt: &str) -> bool {
    let escaped = opt.replace('-', "\\-");
    roff.match_indices(&escaped).any(|(i, _)| {
        let after = roff[i + escaped.len()..].chars().next();
        !roff[..i].ends_with("\\-") && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[test]
fn the_option_check_can_fail() {
    assert!(mentions(".B \\-c\n", "-c"));
    assert!(mentions("\\fB\\-\\-config\\fR", "--config"));
    assert!(!mentions(".B \\-\\-check\n", "-c"));
    assert!(!mentions(".B \\-\\-check\n", "--c"));
    assert!(!mentions(".B \\-config\n", "-c"));
    assert!(!mentions(MAN, "-x"));
    assert!(!mentions(MAN, "--no-such-option"));
}

#[test]
fn every_option_is_in_the_man_page() {
    let opts = options_of(command());
    for want in [
        "-t",
        "-c",
        "--config",
        "--check",
        "-v",
        "-h",
        "--help",
        "-V",
        "--version",
    ] {
        assert!(
            opts.iter().any(|o| o == want),
            "{want} is not an option any more"
        );
    }
    assert_documented(section("OPTIONS"), &opts);
}

/// Every short and long option of `cmd`, the implicit -h/--help and -V/--version too.
fn options_of(mut cmd: clap::Command) -> Vec<String> {
    cmd.build();
    let mut opts = Vec::new();
    for arg in cmd.get_arguments() {
        opts.extend(arg.get_short().map(|s| format!("-{s}")));
        opts.extend(arg.get_long().map(|l| format!("--{l}")));
    }
    opts
}

fn assert_documented(options: &str, opts: &[String]) {
    let missing: Vec<&String> = opts.iter().filter(|o| !mentions(options, o)).collect();
    assert!(
        missing.is_empty(),
        "not in the man page's OPTIONS: {missing:?}"
    );
}

#[test]
fn synopsis_is_the_usage() {
    assert_eq!(synopsis(MAN), [USAGE_ENV, USAGE_CONFIG]);
}

/// The SYNOPSIS of `man` as text lines.
fn synopsis(man: &'static str) -> Vec<String> {
    // `.B x` and `.I x` lines are words, `.br` ends a line, `\-` is a minus.
    let text: String = section_of(man, "SYNOPSIS")
        .lines()
        .skip(1)
        .map(|l| match l {
            ".br" => "\n".to_string(),
            _ => {
                l.trim_start_matches(".B ")
                    .trim_start_matches(".I ")
                    .replace("\\-", "-")
                    + " "
            }
        })
        .collect();
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn every_variable_and_exit_code_has_its_entry() {
    let environment = section("ENVIRONMENT");
    assert!(environment.contains(&format!("\n.B {}\n", Var::Count)));
    for kind in [VarKind::Fd, VarKind::Id, VarKind::Limit] {
        let name = Var::Fd(kind, 0).to_string();
        let prefix = name.trim_end_matches('0');
        assert!(
            environment.contains(&format!("\n.BI {prefix} i\n")),
            "no entry for {prefix}i"
        );
    }
    let status = section("EXIT STATUS");
    for code in [0, EXIT_REFUSED, EXIT_CHANGED, EXIT_USAGE, EXIT_SYSTEM] {
        assert!(
            status.contains(&format!(".TP\n.B {code}\n")),
            "no entry for exit code {code}"
        );
    }
}

#[test]
fn version_is_the_package_version() {
    let th = MAN.lines().find(|l| l.starts_with(".TH ")).unwrap();
    let want = format!("\"s6-fdholder-setdump {}\"", env!("CARGO_PKG_VERSION"));
    assert!(th.contains(&want), "{th} does not name {want}");
}

/// Needs groff (Debian's `groff-base`, installed with man-db): skipped, with a note, where
/// it is missing, so that the suite needs no more than s6.
#[test]
fn groff_renders_it_without_warnings() {
    groff_is_quiet(&man_path());
}

fn groff_is_quiet(page: &std::path::Path) {
    let out = match Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("groff not run ({e}): the man page's rendering is not checked");
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "groff: {:?} {stderr}",
        out.status
    );
}

/// s6-fdholder-activate's page, held to the same checks.
const ACTIVATE_MAN: &str = include_str!("../../../../man/s6-fdholder-activate.1");

#[test]
fn activate_page_synopsis_is_the_usage() {
    assert_eq!(
        synopsis(ACTIVATE_MAN),
        [USAGE_ACTIVATE, USAGE_ACTIVATE_CONFIG]
    );
}

#[test]
fn activate_page_documents_every_option() {
    let opts = options_of(fdtools::cli::activate::command());
    for want in ["-t", "-D", "-N", "-k", "-n", "-c", "-s", "-h", "--version"] {
        assert!(
            opts.iter().any(|o| o == want),
            "{want} is not an option any more"
        );
    }
    assert_documented(section_of(ACTIVATE_MAN, "OPTIONS"), &opts);
}

#[test]
fn activate_page_documents_every_variable_exit_code_and_version() {
    let environment = section_of(ACTIVATE_MAN, "ENVIRONMENT");
    for var in fdtools::activate::VARS {
        assert!(
            environment.contains(&format!("\n.B {var}\n")),
            "no entry for {var}"
        );
    }
    let status = section_of(ACTIVATE_MAN, "EXIT STATUS");
    for code in [0, EXIT_REFUSED, EXIT_USAGE, EXIT_SYSTEM] {
        assert!(
            status.contains(&format!(".TP\n.B {code}\n")),
            "no entry for exit code {code}"
        );
    }
    let th = ACTIVATE_MAN
        .lines()
        .find(|l| l.starts_with(".TH "))
        .unwrap();
    let want = format!("\"s6-fdholder-activate {}\"", env!("CARGO_PKG_VERSION"));
    assert!(th.contains(&want), "{th} does not name {want}");
}

#[test]
fn activate_page_renders_without_warnings() {
    groff_is_quiet(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../man/s6-fdholder-activate.1"),
    );
}
