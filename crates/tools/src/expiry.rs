//! How a held fd's deadline is shown to people and to programs: an RFC 3339 instant in UTC,
//! the TAI64N label the daemon keeps, the time left, or "never".
//!
//! "Never" follows `s6-fdholder-getdump`, which writes no `S6_FDLIMIT_i` for a limit more
//! than 2^60 s away: the C tools' "no limit" is now + 2^61 s, and any such limit was meant
//! as none. Kept in one place so that every report of this package draws the line alike.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use fdholder::Tain;

/// Limits further than this from now mean "no limit", as `s6-fdholder-getdump` reads them.
pub const NEVER_BEYOND: Duration = Duration::from_secs(1 << 60);

/// The first Unix second RFC 3339 cannot write (year 10000); humantime refuses it too.
const YEAR_10000: u64 = 253_402_300_800;

/// When a held fd expires, in both forms: the JSON `expires` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Expiry {
    /// UTC, RFC 3339, with as many fraction digits as it needs; `None` outside years
    /// 1970 to 9999.
    pub rfc3339: Option<String>,
    /// The TAI64N label, `@` and 24 hex digits.
    pub tai64n: String,
}

impl Expiry {
    /// The expiry of `limit` seen at `now`, or `None` when the limit means no limit.
    pub fn of(limit: Tain, now: Tain) -> Option<Expiry> {
        (!is_never(limit, now)).then(|| Expiry {
            rfc3339: rfc3339(limit, false),
            tai64n: limit.to_string(),
        })
    }
}

/// Whether `limit`, seen at `now`, means no limit.
pub fn is_never(limit: Tain, now: Tain) -> bool {
    limit > now + NEVER_BEYOND
}

/// `limit` in RFC 3339 UTC (whole seconds only when `seconds`), or `None` when it lies
/// outside years 1970 to 9999.
pub fn rfc3339(limit: Tain, seconds: bool) -> Option<String> {
    let t: SystemTime = limit.to_system_time()?;
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    (secs < YEAR_10000).then(|| {
        if seconds {
            humantime::format_rfc3339_seconds(t).to_string()
        } else {
            humantime::format_rfc3339(t).to_string()
        }
    })
}

/// `limit` seen at `now` in one word: `never`, the RFC 3339 instant to the second, or the
/// TAI64N label when RFC 3339 cannot write it. How plans and reports show an expiry.
pub fn show(limit: Tain, now: Tain) -> String {
    if is_never(limit, now) {
        "never".to_string()
    } else {
        rfc3339(limit, true).unwrap_or_else(|| limit.to_string())
    }
}

/// Whole seconds from `now` to `limit`; 0 once it has passed.
pub fn seconds_left(limit: Tain, now: Tain) -> u64 {
    limit.duration_since(now).map_or(0, |d| d.as_secs())
}

/// `secs` as a humantime duration without spaces (`1h2m3s`), so that it stays one column.
pub fn compact_duration(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs))
        .to_string()
        .replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_and_forms() {
        let now = Tain::from_system_time(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        assert_eq!(Expiry::of(Tain::no_limit_from(now), now), None);
        assert!(!is_never(now + NEVER_BEYOND, now));
        let limit = now + Duration::new(90, 500_000_000);
        let e = Expiry::of(limit, now).unwrap();
        assert_eq!(e.rfc3339.as_deref(), Some("2027-01-15T08:01:30.500000000Z"));
        assert_eq!(e.tai64n, limit.to_string());
        assert_eq!(
            rfc3339(limit, true).as_deref(),
            Some("2027-01-15T08:01:30Z")
        );
        assert_eq!(seconds_left(limit, now), 90);
        assert_eq!(show(limit, now), "2027-01-15T08:01:30Z");
        assert_eq!(show(Tain::no_limit_from(now), now), "never");
        assert_eq!(seconds_left(now, limit), 0);
        let far = now + Duration::from_secs(1 << 40);
        assert_eq!(Expiry::of(far, now).unwrap().rfc3339, None);
    }

    #[test]
    fn compact() {
        assert_eq!(compact_duration(0), "0s");
        assert_eq!(compact_duration(3723), "1h2m3s");
    }
}
