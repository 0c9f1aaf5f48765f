//! Every JSON document the tools print validates against its schema in `schemas/`
//! (JSON Schema draft 2020-12, checked by python3-jsonschema through
//! `schemas/validate.py`), and the schemas are strict enough to refuse `{}` and a document
//! with a field they do not describe.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Daemon, Rules};
use crate::config_mode::{free_port, write_config};
use crate::contract::tool;

const INSPECT: &str = env!("CARGO_BIN_EXE_s6-fdholder-inspect");

fn schema(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas")
        .join(format!("{name}.schema.json"))
}

/// Validates the documents `docs` (file paths) against `schema`: Ok, or the validator's
/// messages.
fn validate(schema: &Path, docs: &[PathBuf]) -> Result<(), String> {
    let script = schema.with_file_name("validate.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(schema)
        .args(docs)
        .output()
        .expect("python3 (test.sh installs python3-jsonschema)");
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        _ => panic!(
            "validate.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Writes `text` as a document to validate; returns its path.
fn doc(d: &Daemon, name: &str, text: &str) -> PathBuf {
    let path = d.path(&format!("{name}.json"));
    fs::write(&path, text).unwrap();
    path
}

fn every_kind(d: &Daemon) -> String {
    let root = d.dir.path().display();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (tcp, udp) = (free_port(lo), free_port(lo));
    format!(
        "[[fd]]\nkind = \"unix\"\npath = \"{root}/run/web.sock\"\nmode = \"0660\"\n\n\
         [[fd]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:{tcp}\"\nid = \"http\"\nlifetime = \"1h\"\n\n\
         [[fd]]\nkind = \"udp\"\nlisten = \"127.0.0.1:{udp}\"\n\n\
         [[fd]]\nkind = \"fifo\"\npath = \"{root}/fifo\"\n\n\
         [[fd]]\nkind = \"file\"\npath = \"{root}/log\"\nopen = \"append\"\ncreate = true\n\n\
         [[fd]]\nkind = \"pipe\"\nread-id = \"pipe:r\"\nwrite-id = \"pipe:w\"\n"
    )
}

fn json_of(d: &Daemon, config: &Path, args: &[&str]) -> String {
    let mut all = vec!["--json"];
    all.extend(args);
    let (code, out, err) = tool(d, config, &all);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

#[test]
fn every_setdump_document_validates() {
    let d = Daemon::start();
    let text = every_kind(&d);
    let config = write_config(&d, "c.toml", &text);
    let mut docs = vec![
        doc(&d, "plan-new", &json_of(&d, &config, &["--check"])),
        doc(&d, "result-new", &json_of(&d, &config, &[])),
        doc(&d, "plan-same", &json_of(&d, &config, &["--check"])),
    ];
    // Changed (in place and replaced), extra, pruned.
    let changed = text.replace("mode = \"0660\"", "mode = \"0600\"");
    let changed = &changed[..changed.find("[[fd]]\nkind = \"pipe\"").unwrap()];
    fs::write(&config, changed).unwrap();
    docs.push(doc(&d, "plan-changed", &json_of(&d, &config, &["--check"])));
    docs.push(doc(
        &d,
        "result-pruned",
        &json_of(&d, &config, &["--prune"]),
    ));
    // No daemon at all: the plan of the file alone.
    let alone = write_config(
        &d,
        "alone.toml",
        "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n",
    );
    let out = crate::config_mode::run(&[&"--check", &"--json", &"-c", &alone]);
    assert!(out.status.success());
    docs.push(doc(
        &d,
        "no-daemon",
        &String::from_utf8(out.stdout).unwrap(),
    ));
    // Only list: ids only.
    let listing = Daemon::with(
        Rules {
            getdump: false,
            ..Rules::default()
        },
        1000,
    );
    let c2 = write_config(
        &listing,
        "c.toml",
        "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n",
    );
    assert_eq!(tool(&listing, &c2, &[]).0, 0);
    docs.push(doc(&d, "list-only", &json_of(&listing, &c2, &["--check"])));
    let forced = json_of(&listing, &c2, &["--replace-all", "--force"]);
    docs.push(doc(&d, "replace-all", &forced));
    validate(&schema("setdump"), &docs).unwrap();
    // Each kind of row was in there.
    let all: String = docs
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect();
    for word in [
        "\"new\"",
        "\"same\"",
        "\"changed\"",
        "\"extra\"",
        "\"fix-in-place\"",
        "\"delete\"",
        "\"before\"",
        "\"list\"",
        "\"replaced\": 2",
    ] {
        assert!(all.contains(word), "no {word} in the documents validated");
    }
}

#[test]
fn every_inspect_document_validates() {
    let d = Daemon::start();
    let config = write_config(&d, "c.toml", &every_kind(&d));
    assert_eq!(tool(&d, &config, &[]).0, 0);
    let out = Command::new(INSPECT)
        .arg("--json")
        .arg(&d.socket)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let full = doc(&d, "inspect", &String::from_utf8(out.stdout).unwrap());
    let listing = Daemon::with(
        Rules {
            getdump: false,
            ..Rules::default()
        },
        1000,
    );
    let pipes = "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n";
    let c2 = write_config(&listing, "c.toml", pipes);
    assert_eq!(tool(&listing, &c2, &[]).0, 0);
    let out = Command::new(INSPECT)
        .arg("--json")
        .arg(&listing.socket)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let ids = doc(&d, "inspect-list", &String::from_utf8(out.stdout).unwrap());
    validate(&schema("inspect"), &[full, ids]).unwrap();
}

#[test]
fn the_schemas_refuse_what_they_do_not_describe() {
    let d = Daemon::start();
    for name in ["setdump", "inspect"] {
        let empty = doc(&d, "empty", "{}");
        let e = validate(&schema(name), &[empty]).unwrap_err();
        assert!(e.contains("is a required property"), "{name}: {e}");
    }
    let config = write_config(
        &d,
        "c.toml",
        "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n",
    );
    let good = json_of(&d, &config, &["--check"]);
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["fds"][0]["surprise"] = true.into();
    let extra = doc(&d, "extra", &v.to_string());
    let e = validate(&schema("setdump"), &[extra]).unwrap_err();
    assert!(e.contains("Additional properties are not allowed"), "{e}");
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["fds"][0]["action"] = "explode".into();
    let bad = doc(&d, "bad", &v.to_string());
    assert!(validate(&schema("setdump"), &[bad]).is_err());
}

#[test]
fn every_field_of_the_schemas_is_described() {
    fn walk(v: &serde_json::Value, at: &str, missing: &mut Vec<String>) {
        if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
            for (k, p) in props {
                if p.get("description")
                    .and_then(|d| d.as_str())
                    .is_none_or(str::is_empty)
                {
                    missing.push(format!("{at}/{k}"));
                }
                walk(p, &format!("{at}/{k}"), missing);
            }
        }
        if let Some(items) = v.get("items") {
            walk(items, &format!("{at}[]"), missing);
        }
    }
    for name in ["setdump", "inspect"] {
        let v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(schema(name)).unwrap()).unwrap();
        assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
        let mut missing = Vec::new();
        walk(&v, name, &mut missing);
        assert!(missing.is_empty(), "undescribed: {missing:?}");
    }
}
