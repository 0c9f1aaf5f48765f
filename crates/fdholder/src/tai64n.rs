//! TAI64N time: the `tain` deadlines s6-fdholderd keeps for every held fd.
//!
//! A [`Tain`] is a TAI64 label (2^62 + TAI seconds since 1970-01-01 TAI) and nanoseconds.
//! On the wire it is 12 bytes big-endian; in the environment it is `@` and 24 hex digits.
//! The daemon compares deadlines with its own clock, which skalibs derives from the system
//! clock by adding 10 s plus the leap seconds inserted so far, so conversions from
//! [`SystemTime`] must add the same offset for a limit to mean the same instant to both.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The TAI64 label of 1970-01-01 00:00:00 TAI.
const TAI64_EPOCH: u64 = 1 << 62;
const NANOS_PER_SEC: u32 = 1_000_000_000;

/// Unix times (UTC) at which each leap second had just been inserted, 1972 to 2017.
/// Kept in step with skalibs' table; no leap second has been announced since.
const LEAP_SECONDS: [u64; 27] = [
    78796800, 94694400, 126230400, 157766400, 189302400, 220924800, 252460800, 283996800,
    315532800, 362793600, 394329600, 425865600, 489024000, 567993600, 631152000, 662688000,
    709948800, 741484800, 773020800, 820454400, 867715200, 915148800, 1136073600, 1230768000,
    1341100800, 1435708800, 1483228800,
];

/// A TAI64N instant, as the daemon stores deadlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tain {
    secs: u64,
    nanos: u32,
}

/// Why a TAI64N label was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelError {
    /// The label does not start with `@`.
    NoAt,
    /// Fewer than 24 hex digits follow the `@`.
    TooShort,
    /// Something follows the 24 hex digits (strict parsing only).
    Trailing,
    /// The nanoseconds (the last 8 digits) make a second or more.
    Nanos(u32),
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LabelError::NoAt => "a TAI64N label starts with @",
            LabelError::TooShort => "a TAI64N label needs 24 hex digits after @",
            LabelError::Trailing => "a TAI64N label has exactly 24 hex digits after @",
            LabelError::Nanos(_) => {
                "the nanoseconds of a TAI64N label (its last 8 hex digits) must be below 3b9aca00"
            }
        })
    }
}

impl std::error::Error for LabelError {}

/// The offset in seconds that skalibs adds to UTC to get TAI at a given Unix time.
fn tai_offset(unix_secs: u64) -> u64 {
    10 + LEAP_SECONDS.partition_point(|&t| t <= unix_secs) as u64
}

fn hex_value(b: u8) -> Option<u64> {
    match HEX[usize::from(b)] {
        NOT_HEX => None,
        d => Some(u64::from(d)),
    }
}

/// A byte's value as a hex digit, [`NOT_HEX`] for the bytes that are none: a look-up, where
/// `char::to_digit` tested ranges (24 digits a label, three labels an fd in env mode).
static HEX: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};
const NOT_HEX: u8 = 0xff;

impl Tain {
    /// Length of the packed (wire) form.
    pub const PACKED_LEN: usize = 12;
    /// Length of the `@` label form.
    pub const LABEL_LEN: usize = 25;
    /// How far ahead the C tools put "no limit": now + 2^61 s.
    pub const NO_LIMIT: Duration = Duration::from_secs(1 << 61);

    /// A `Tain` from a TAI64 label and nanoseconds (nanoseconds are not checked, as skalibs).
    pub const fn new(secs: u64, nanos: u32) -> Tain {
        Tain { secs, nanos }
    }

    /// The TAI64 seconds label (2^62 + TAI seconds since 1970).
    pub const fn secs(&self) -> u64 {
        self.secs
    }

    /// The nanoseconds part.
    pub const fn nanos(&self) -> u32 {
        self.nanos
    }

    /// Whether the nanoseconds are below a second, as the daemon needs of a deadline.
    pub const fn is_valid(&self) -> bool {
        self.nanos < NANOS_PER_SEC
    }

    /// The 12-byte big-endian wire form.
    pub fn pack(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&self.secs.to_be_bytes());
        out[8..].copy_from_slice(&self.nanos.to_be_bytes());
        out
    }

    /// Reads the 12-byte big-endian wire form.
    pub fn unpack(b: &[u8; 12]) -> Tain {
        let (s, n) = b.split_at(8);
        let mut secs = [0u8; 8];
        let mut nanos = [0u8; 4];
        secs.copy_from_slice(s);
        nanos.copy_from_slice(n);
        Tain::new(u64::from_be_bytes(secs), u32::from_be_bytes(nanos))
    }

    /// Parses `@` + 24 hex digits, either case, ignoring anything after them (as the C tools do).
    ///
    /// Unlike the C tools, refuses nanoseconds of a second or more: s6-fdholderd dies
    /// (`unable to iopause: Invalid argument`) once such a deadline is its next one.
    pub fn parse_label_prefix(s: &[u8]) -> Result<Tain, LabelError> {
        let digits = s.strip_prefix(b"@").ok_or(LabelError::NoAt)?;
        let (Some(secs), Some(nanos)) = (digits.get(..16), digits.get(16..24)) else {
            return Err(LabelError::TooShort);
        };
        let number = |hex: &[u8]| {
            hex.iter()
                .try_fold(0u64, |n, &b| Some(n << 4 | hex_value(b)?))
                .ok_or(LabelError::TooShort)
        };
        let t = Tain::new(number(secs)?, number(nanos)? as u32);
        if !t.is_valid() {
            return Err(LabelError::Nanos(t.nanos));
        }
        Ok(t)
    }

    /// Parses exactly `@` + 24 hex digits.
    pub fn parse_label(s: &[u8]) -> Result<Tain, LabelError> {
        if s.len() > Self::LABEL_LEN && s.first() == Some(&b'@') {
            Tain::parse_label_prefix(s)?;
            return Err(LabelError::Trailing);
        }
        Tain::parse_label_prefix(s)
    }

    /// The instant a [`SystemTime`] names, with skalibs' leap-second offset.
    pub fn from_system_time(t: SystemTime) -> Tain {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => {
                let unix = d.as_secs();
                Tain::new(TAI64_EPOCH + unix + tai_offset(unix), d.subsec_nanos())
            }
            Err(e) => {
                // Before 1970: no leap seconds yet, only the 10 s offset. Label 0 is the
                // earliest instant a label names; anything before it is clamped to it.
                let d = e.duration();
                let Some(secs) = (TAI64_EPOCH + 10).checked_sub(d.as_secs()) else {
                    return Tain::new(0, 0);
                };
                match (d.subsec_nanos(), secs.checked_sub(1)) {
                    (0, _) => Tain::new(secs, 0),
                    (n, Some(secs)) => Tain::new(secs, NANOS_PER_SEC - n),
                    (_, None) => Tain::new(0, 0),
                }
            }
        }
    }

    /// The [`SystemTime`] this instant names, or `None` when it is out of its range.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        let nanos = Duration::from_nanos(self.nanos.min(NANOS_PER_SEC - 1).into());
        if self.secs < TAI64_EPOCH + 10 {
            // Before 1970 UTC, where only the 10 s offset applies.
            let before = Duration::from_secs(TAI64_EPOCH + 10 - self.secs);
            return UNIX_EPOCH.checked_sub(before)?.checked_add(nanos);
        }
        let tai = self.secs - TAI64_EPOCH;
        // The offset depends on the UTC time we are looking for: try the larger offsets first.
        let unix = (10..=10 + LEAP_SECONDS.len() as u64)
            .rev()
            .filter_map(|off| tai.checked_sub(off))
            .find(|&u| u + tai_offset(u) == tai)
            .or_else(|| tai.checked_sub(tai_offset(tai)))?;
        UNIX_EPOCH
            .checked_add(Duration::from_secs(unix))?
            .checked_add(nanos)
    }

    /// The current time, as the daemon's clock reads it.
    pub fn now() -> Tain {
        Tain::from_system_time(SystemTime::now())
    }

    /// This instant plus `n` nanoseconds.
    pub fn add_nanos(self, n: u64) -> Tain {
        self + Duration::from_nanos(n)
    }

    /// The time from `earlier` to this instant, or `None` when this one is not later.
    pub fn duration_since(&self, earlier: Tain) -> Option<Duration> {
        let a = Duration::new(self.secs, 0).checked_add(Duration::from_nanos(self.nanos.into()))?;
        let b = Duration::new(earlier.secs, 0)
            .checked_add(Duration::from_nanos(earlier.nanos.into()))?;
        a.checked_sub(b)
    }

    /// "No limit" as the C tools write it: `now` + 2^61 s.
    pub fn no_limit_from(now: Tain) -> Tain {
        now + Self::NO_LIMIT
    }
}

/// This instant plus a duration, saturating at the largest label.
impl std::ops::Add<Duration> for Tain {
    type Output = Tain;
    fn add(self, d: Duration) -> Tain {
        let mut nanos = u64::from(self.nanos) + u64::from(d.subsec_nanos());
        let mut secs = self.secs.saturating_add(d.as_secs());
        if nanos >= u64::from(NANOS_PER_SEC) {
            nanos -= u64::from(NANOS_PER_SEC);
            secs = secs.saturating_add(1);
        }
        Tain::new(secs, nanos as u32)
    }
}

/// Formats the `@` + 24 lowercase hex digits label, as `s6-fdholder-getdump` writes it.
impl fmt::Display for Tain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{:016x}{:08x}", self.secs, self.nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trip() {
        let t = Tain::new(0x4000_0000_6b04_ee74, 123_456_789);
        assert_eq!(Tain::unpack(&t.pack()), t);
        assert_eq!(t.pack()[..8], 0x4000_0000_6b04_ee74u64.to_be_bytes());
    }

    #[test]
    fn label_round_trip_and_case() {
        let t = Tain::new(0x4000_0000_6b04_ee74, 0x0abc_def0);
        let s = t.to_string();
        assert_eq!(s, "@400000006b04ee740abcdef0");
        assert_eq!(Tain::parse_label(s.as_bytes()), Ok(t));
        assert_eq!(Tain::parse_label(s.to_uppercase().as_bytes()), Ok(t));
    }

    #[test]
    fn label_errors() {
        assert_eq!(Tain::parse_label(b""), Err(LabelError::NoAt));
        assert_eq!(
            Tain::parse_label(b"400000006b04ee740abcdef0"),
            Err(LabelError::NoAt)
        );
        assert_eq!(
            Tain::parse_label(b"@400000006b04ee740abcdef"),
            Err(LabelError::TooShort)
        );
        assert_eq!(
            Tain::parse_label(b"@400000006b04ee740abcdeg0"),
            Err(LabelError::TooShort)
        );
        assert_eq!(
            Tain::parse_label(b"@400000006b04ee740abcdef0x"),
            Err(LabelError::Trailing)
        );
        assert!(Tain::parse_label_prefix(b"@400000006b04ee740abcdef0 junk").is_ok());
        assert!(Tain::parse_label(b"@400000006b04ee743b9ac9ff").is_ok());
        assert_eq!(
            Tain::parse_label(b"@400000006b04ee743B9ACA00"),
            Err(LabelError::Nanos(1_000_000_000))
        );
    }

    #[test]
    fn live_daemon_example() {
        // Seen on Debian's s6 2.11 daemon: `s6-fdholder-store -T 60000` at Unix time
        // 1795505660 gave the label @400000006b053e5d (= 2^62 + 1795505660 + 60 + 37).
        // (A label that lacks the 37 s is a common mistake: see docs/PROTOCOL.md.)
        let t = Tain::from_system_time(UNIX_EPOCH + Duration::from_secs(1_795_505_660 + 60));
        assert_eq!(t.to_string()[..17], *"@400000006b053e5d");
    }

    #[test]
    fn leap_offsets() {
        assert_eq!(tai_offset(0), 10);
        assert_eq!(tai_offset(78796799), 10);
        assert_eq!(tai_offset(78796800), 11);
        assert_eq!(tai_offset(1483228800), 37);
        assert_eq!(tai_offset(2_000_000_000), 37);
    }

    #[test]
    fn system_time_round_trip() {
        for unix in [
            0u64,
            78796799,
            78796800,
            1483228799,
            1483228800,
            1_795_485_300,
        ] {
            let st = UNIX_EPOCH + Duration::new(unix, 5);
            assert_eq!(
                Tain::from_system_time(st).to_system_time(),
                Some(st),
                "{unix}"
            );
        }
        let before = UNIX_EPOCH - Duration::new(5, 250);
        assert_eq!(Tain::from_system_time(before).secs(), TAI64_EPOCH + 10 - 6);
        assert_eq!(
            Tain::from_system_time(before).to_system_time(),
            Some(before)
        );
    }

    #[test]
    fn times_before_label_zero_clamp_to_it() {
        // Found by the tai64n fuzz target: a time more than 2^62 + 10 s before 1970
        // overflowed the subtraction (a panic in debug builds, a wrapped label in release).
        let zero = UNIX_EPOCH - Duration::from_secs(TAI64_EPOCH + 10);
        assert_eq!(Tain::from_system_time(zero), Tain::new(0, 0));
        assert_eq!(Tain::new(0, 0).to_system_time(), Some(zero));
        for earlier in [Duration::new(0, 1), Duration::from_secs(1 << 61)] {
            assert_eq!(Tain::from_system_time(zero - earlier), Tain::new(0, 0));
        }
    }

    #[test]
    fn add_carries_and_saturates() {
        let t = Tain::new(5, 999_999_999).add_nanos(2);
        assert_eq!(t, Tain::new(6, 1));
        assert_eq!(
            (Tain::new(u64::MAX, 0) + Duration::from_secs(9)).secs(),
            u64::MAX
        );
        assert_eq!(
            t.duration_since(Tain::new(5, 999_999_999)),
            Some(Duration::from_nanos(2))
        );
        assert_eq!(Tain::new(5, 0).duration_since(t), None);
    }
}
