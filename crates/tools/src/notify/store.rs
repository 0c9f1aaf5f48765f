//! How a service's fd store lives in the daemon: each fd under `PREFIX NAME:SEQ`, where NAME
//! is its `FDNAME=` (no `:` in it, by systemd's rules) and SEQ counts the fds stored, so that
//! several fds may share a name and are handed back in the order they were stored.

use fdholder::proto::MAX_ID_LEN;

/// One fd of the store, as its id says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreId {
    /// The whole id in the daemon.
    pub id: String,
    /// Its `FDNAME=`.
    pub name: String,
    /// Its place in the order of storing.
    pub seq: u64,
}

/// The id of the `seq`-th fd stored under `name`, or `None` when it would be longer than
/// an id can be.
pub fn store_id(prefix: &str, name: &str, seq: u64) -> Option<StoreId> {
    let id = format!("{prefix}{name}:{seq}");
    (id.len() <= MAX_ID_LEN).then(|| StoreId {
        id,
        name: name.to_string(),
        seq,
    })
}

/// Reads back an id of the store under `prefix`; `None` for an id under the prefix that
/// this tool did not make (it is then left alone).
pub fn parse_store_id(prefix: &str, id: &[u8]) -> Option<StoreId> {
    let id = std::str::from_utf8(id).ok()?;
    let (name, seq) = id.strip_prefix(prefix)?.split_once(':')?;
    let digits = !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit());
    let seq: u64 = seq.parse().ok().filter(|_| digits)?;
    super::message::valid_fdname(name).then(|| StoreId {
        id: id.to_string(),
        name: name.to_string(),
        seq,
    })
}

/// The held ids of the store under `prefix`, in the order they were stored.
pub fn in_store_order<'a>(prefix: &str, ids: impl IntoIterator<Item = &'a [u8]>) -> Vec<StoreId> {
    let mut v: Vec<StoreId> = ids
        .into_iter()
        .filter_map(|id| parse_store_id(prefix, id))
        .collect();
    v.sort_by_key(|s| s.seq);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back() {
        let s = store_id("fdstore:web:", "http", 7).unwrap();
        assert_eq!(s.id, "fdstore:web:http:7");
        assert_eq!(parse_store_id("fdstore:web:", s.id.as_bytes()), Some(s));
        assert_eq!(parse_store_id("fdstore:web:", b"fdstore:web:http"), None);
        assert_eq!(parse_store_id("fdstore:web:", b"fdstore:web:http:x"), None);
        assert_eq!(parse_store_id("fdstore:web:", b"fdstore:web:http:+1"), None);
        assert_eq!(parse_store_id("fdstore:web:", b"other:http:1"), None);
        assert_eq!(parse_store_id("p:", b"p::1"), None, "an empty name");
        assert!(store_id("p:", &"x".repeat(252), 1).is_none());
        assert!(store_id("p:", &"x".repeat(251), 1).is_some());
    }

    #[test]
    fn store_order() {
        let ids: [&[u8]; 4] = [b"s:b:10", b"s:a:2", b"s:junk", b"s:a:9"];
        let got: Vec<String> = in_store_order("s:", ids)
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(got, ["s:a:2", "s:a:9", "s:b:10"]);
    }
}
