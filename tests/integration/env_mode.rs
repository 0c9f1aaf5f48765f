//! Env mode against real daemons.

use crate::common::*;

#[test]
fn small_dump_is_held() {
    let d = Daemon::start();
    let ids: Vec<String> = (0..2).map(|i| format!("pipe:test-{i}")).collect();
    let out = setdump_ids(&d.socket, &ids);
    assert_eq!(code_and_err(&out), (0, String::new()));
    assert_eq!(d.list(), ids);
}
