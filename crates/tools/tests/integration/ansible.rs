//! The Ansible module `contrib/ansible/library/s6_fdholder.py`, run by a real ansible-core
//! (from PyPI, in a virtualenv the test makes under `target/`) against localhost with the
//! local connection: a first run changes, a second does not, check mode reports a change
//! and leaves the daemon untouched, diff mode gives the plan's before and after, a bad file
//! fails with the tool's message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

use crate::common::{BIN, Daemon};
use crate::config_mode::write_config;

/// One virtualenv for the whole test binary, made once.
static VENV: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The virtualenv with ansible-core, made (python3 -m venv; pip install ansible-core) when
/// missing.
fn venv() -> PathBuf {
    let mut slot = VENV.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = &*slot {
        return v.clone();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let v = root.join("target/ansible-venv");
    if !v.join("bin/ansible-playbook").exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&v)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "python3 -m venv {} failed", v.display());
        let ok = Command::new(v.join("bin/pip"))
            .args(["install", "-q", "ansible-core"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pip install ansible-core failed (it needs PyPI)");
    }
    *slot = Some(v.clone());
    v
}

/// Runs a one-task playbook of the module with `args` (YAML, one line) and the
/// playbook options `opts`; returns the exit code and the task's result from the json
/// callback.
fn play(d: &Daemon, args: &str, opts: &[&str]) -> (i32, Value) {
    let v = venv();
    let library = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contrib/ansible/library");
    let book = d.path("play.yml");
    let result = d.path("result.json");
    let _ = std::fs::remove_file(&result);
    // ansible-core has no json callback: the result is registered and written out by a
    // second task, run even in check mode.
    std::fs::write(
        &book,
        format!(
            "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n    \
             - s6_fdholder: {{{args}, socket: \"{}\", binary: \"{BIN}\"}}\n      \
             register: r\n      ignore_errors: true\n    \
             - copy: {{content: \"{{{{ r | to_json }}}}\", dest: \"{}\"}}\n      \
             check_mode: false\n      diff: false\n",
            d.socket.display(),
            result.display()
        ),
    )
    .unwrap();
    let out = Command::new(v.join("bin/ansible-playbook"))
        .args(["-i", "localhost,"])
        .arg("-e")
        .arg(format!(
            "ansible_python_interpreter={}",
            v.join("bin/python").display()
        ))
        .args(opts)
        .arg(&book)
        .env("ANSIBLE_LIBRARY", &library)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", d.path("ansible-local"))
        .env("ANSIBLE_REMOTE_TEMP", d.path("ansible-remote"))
        .env("ANSIBLE_HOME", d.path("ansible-home"))
        .output()
        .expect("run ansible-playbook");
    let text = std::fs::read_to_string(&result).unwrap_or_else(|e| {
        panic!(
            "no result ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let task: Value = serde_json::from_str(&text).unwrap();
    (out.status.code().unwrap_or(-1), task)
}

fn path_arg(p: &Path) -> String {
    format!("config: \"{}\"", p.display())
}

#[test]
fn the_ansible_module_converges_checks_and_diffs() {
    let d = Daemon::start();
    let config = write_config(
        &d,
        "c.toml",
        "[[fd]]\nkind = \"pipe\"\nread-id = \"pipe:r\"\nwrite-id = \"pipe:w\"\n",
    );
    // Check mode: changed, nothing sent.
    let (code, task) = play(&d, &path_arg(&config), &["--check", "--diff"]);
    assert_eq!(code, 0, "{task}");
    assert_eq!(task["changed"], true, "{task}");
    assert_eq!(task["applied"], false);
    assert!(d.list().is_empty(), "check mode touched the daemon");
    let after = task["diff"]["after"].as_str().unwrap_or_default();
    assert!(after.contains("pipe:r pipe-read -"), "{task}");
    // First run: changed; second: ok.
    let (code, task) = play(&d, &path_arg(&config), &[]);
    assert_eq!((code, &task["changed"]), (0, &true.into()), "{task}");
    assert_eq!(d.list(), ["pipe:r", "pipe:w"]);
    let (code, task) = play(&d, &path_arg(&config), &[]);
    assert_eq!((code, &task["changed"]), (0, &false.into()), "{task}");
    // Inline content with prune: the pipe goes, a FIFO comes; the diff says so.
    let fifo = d.path("f");
    let content = format!(
        "content: \"[[fd]]\\nkind = \\\"fifo\\\"\\npath = \\\"{}\\\"\\n\", prune: true",
        fifo.display()
    );
    let (code, task) = play(&d, &content, &["--diff"]);
    assert_eq!((code, &task["changed"]), (0, &true.into()), "{task}");
    let before = task["diff"]["before"].as_str().unwrap_or_default();
    assert!(before.contains("pipe:w pipe-write -"), "{task}");
    assert_eq!(d.list(), [format!("fifo:{}", fifo.display())]);
    // A bad file: failed, with the tool's message.
    let bad = write_config(&d, "bad.toml", "[[fd]]\nkind = \"nope\"\n");
    let (_, task) = play(&d, &path_arg(&bad), &[]);
    assert_eq!(task["failed"], true, "{task}");
    let msg = task["msg"].as_str().unwrap_or_default();
    assert!(msg.starts_with("s6-fdholder-setdump: fatal: "), "{msg}");
    assert!(msg.contains("bad.toml:2:"), "{msg}");
    assert_eq!(task["rc"], 100);
}
