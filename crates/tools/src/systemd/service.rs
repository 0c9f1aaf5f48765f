//! The service a socket unit activates, read for what `s6-fdholder-activate` can carry
//! over of it: sd_notify readiness (`Type=notify`, `NotifyAccess=`) and the fd store
//! (`FileDescriptorStoreMax=`). None of it goes in the TOML, which declares fds: each
//! becomes a warning that says which `s6-fdholder-activate` options do the same.

use super::unit::Unit;

/// The service unit's name for the socket unit `socket_name` (`NAME.socket` activates
/// `NAME.service`; a template `NAME@.socket`, `NAME@.service`), unless its `Service=`
/// names another.
pub fn service_name(socket: &Unit, socket_name: &str) -> Option<String> {
    let named = socket
        .assignments
        .iter()
        .rev()
        .find(|a| a.section == "Socket" && a.key == "Service" && !a.value.is_empty())
        .map(|a| a.value.clone());
    named.or_else(|| {
        socket_name
            .strip_suffix(".socket")
            .map(|stem| format!("{stem}.service"))
    })
}

/// What of `service` (a unit named `name`) `s6-fdholder-activate` carries over, each as
/// `(line, message)`.
pub fn notes(service: &Unit, name: &str) -> Vec<(usize, String)> {
    let last = |key: &str| {
        service
            .assignments
            .iter()
            .rev()
            .find(|a| a.section == "Service" && a.key == key)
    };
    let stem = name.strip_suffix(".service").unwrap_or(name);
    let mut notes = Vec::new();
    let notify_access = last("NotifyAccess");
    if let Some(t) = last("Type")
        && (t.value == "notify" || t.value == "notify-reload")
    {
        notes.push((
            t.line,
            format!(
                "Type={}: run the service with s6-fdholder-activate -3 FD, FD being its \
                 notification-fd: its READY=1 becomes s6's readiness newline",
                t.value
            ),
        ));
    }
    if let Some(a) = notify_access {
        let what = match a.value.as_str() {
            "main" => "carried over: s6-fdholder-activate hears the service's own pid".into(),
            "none" => "the service's notifications count for nothing: give no -3".into(),
            other => format!(
                "not carried over: s6-fdholder-activate hears the service's own pid only \
                 (NotifyAccess=main), not {other}"
            ),
        };
        notes.push((a.line, format!("NotifyAccess={}: {what}", a.value)));
    }
    if let Some(m) = last("FileDescriptorStoreMax") {
        let text = match m.value.parse::<u64>() {
            Ok(0) => "no fd store: give no -s".to_string(),
            Ok(n) => format!(
                "run the service with s6-fdholder-activate -s fdstore:{stem}: -m {n}: its fd \
                 store is kept in the fd-holder (the rules must let it store, retrieve and \
                 list those ids)"
            ),
            Err(_) => "not a number: not carried over".to_string(),
        };
        notes.push((
            m.line,
            format!("FileDescriptorStoreMax={}: {text}", m.value),
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systemd::unit::parse;

    #[test]
    fn the_service_is_found() {
        let s = parse("[Socket]\nListenStream=/a\n");
        assert_eq!(
            service_name(&s, "web.socket").as_deref(),
            Some("web.service")
        );
        assert_eq!(service_name(&s, "t@.socket").as_deref(), Some("t@.service"));
        let s = parse("[Socket]\nService=other.service\n");
        assert_eq!(
            service_name(&s, "web.socket").as_deref(),
            Some("other.service")
        );
    }

    #[test]
    fn what_is_said() {
        let s = parse(
            "[Service]\nType=notify\nNotifyAccess=all\nFileDescriptorStoreMax=4\nExecStart=/x\n",
        );
        let n = notes(&s, "web.service");
        assert_eq!(n.len(), 3);
        assert_eq!(n[0].0, 2);
        assert!(n[0].1.contains("-3 FD"));
        assert!(n[1].1.starts_with("NotifyAccess=all: not carried over"));
        assert!(n[2].1.contains("-s fdstore:web: -m 4"));
        assert!(notes(&parse("[Service]\nType=simple\n"), "a.service").is_empty());
    }
}
