//! Fuzz body for TAI64N: the `@` label parsers against a plain reading of the label rules
//! (`@`, 24 hex digits, nanoseconds below a second, anything after ignored by the prefix parser),
//! and round trips (pack/unpack, format/parse, system time both ways) for the instant
//! made of the input's first 12 bytes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fdholder::Tain;
use fdholder::tai64n::LabelError;

/// What the label rules say about `data`.
fn reference_prefix(data: &[u8]) -> Result<Tain, LabelError> {
    let digits = data.strip_prefix(b"@").ok_or(LabelError::NoAt)?;
    let hex = digits.get(..24).ok_or(LabelError::TooShort)?;
    let hex = std::str::from_utf8(hex).map_err(|_| LabelError::TooShort)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(LabelError::TooShort);
    }
    let secs = u64::from_str_radix(&hex[..16], 16).map_err(|_| LabelError::TooShort)?;
    let nanos = u32::from_str_radix(&hex[16..], 16).map_err(|_| LabelError::TooShort)?;
    if nanos >= 1_000_000_000 {
        return Err(LabelError::Nanos(nanos));
    }
    Ok(Tain::new(secs, nanos))
}

/// The system time `secs` seconds and `nanos` ns from the Unix epoch, when representable.
fn system_time(secs: i64, nanos: u32) -> Option<SystemTime> {
    let whole = Duration::from_secs(secs.unsigned_abs());
    let t = if secs < 0 {
        UNIX_EPOCH.checked_sub(whole)?
    } else {
        UNIX_EPOCH.checked_add(whole)?
    };
    t.checked_add(Duration::from_nanos(nanos.into()))
}

/// The time of TAI64 label 0: 2^62 s before 1970 TAI, 10 s more before 1970 UTC.
fn earliest() -> SystemTime {
    UNIX_EPOCH - Duration::from_secs((1 << 62) + 10)
}

fn check_labels(data: &[u8]) {
    let prefix = Tain::parse_label_prefix(data);
    let strict = Tain::parse_label(data);
    assert_eq!(prefix, reference_prefix(data));
    match prefix {
        Ok(_) if data.len() > Tain::LABEL_LEN => assert_eq!(strict, Err(LabelError::Trailing)),
        Ok(t) => {
            assert_eq!(strict, Ok(t));
            assert_eq!(t.to_string().into_bytes(), data.to_ascii_lowercase());
        }
        Err(e) => assert_eq!(strict, Err(e)),
    }
}

fn check_instant(b: &[u8; 12]) {
    let t = Tain::unpack(b);
    assert_eq!(t.pack(), *b);
    let want = if t.is_valid() {
        Ok(t)
    } else {
        Err(LabelError::Nanos(t.nanos()))
    };
    assert_eq!(Tain::parse_label(t.to_string().as_bytes()), want);

    // Tain → SystemTime → Tain: exact, except that the label of an inserted leap second
    // has no UTC time of its own and reads as the second before it.
    if let Some(st) = t.to_system_time() {
        let back = Tain::from_system_time(st);
        if t.is_valid() && back != t {
            let before = Tain::new(t.secs() - 1, t.nanos());
            assert_eq!(back, before, "{t} read back as {back}");
            assert_eq!(
                before.to_system_time(),
                Some(st),
                "{t} is not a leap second"
            );
        }
    }

    // SystemTime → Tain → SystemTime: exact wherever a label can name the time.
    let secs = i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let nanos = u32::from_be_bytes([b[8], b[9], b[10], b[11]]) % 1_000_000_000;
    if let Some(st) = system_time(secs, nanos) {
        let t = Tain::from_system_time(st);
        if st < earliest() {
            assert_eq!(t, Tain::new(0, 0), "{st:?} is before label 0");
        } else {
            assert_eq!(t.to_system_time(), Some(st), "via {t}");
        }
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    check_labels(data);
    if let Some(b) = data.first_chunk::<12>() {
        check_instant(b);
    }
}
