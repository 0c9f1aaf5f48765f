//! Property tests (proptest): the frame codec on any sequence of frames with real fds cut
//! into any chunks, TAI64N round trips, and env mode's parser on generated environments in
//! any order. Case counts are kept modest so the suite stays fast.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fdholder::Tain;
use fdholder::env::{self, EnvFd};
use fdholder::frame::{Decoder, MAX_SEND_FDS, encode_header};
use fdholder::tai64n::LabelError;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::common::raise_fd_limit;

/// A frame to send: its payload and how many fds ride with it (0 to 253, often few).
fn frame_spec() -> impl Strategy<Value = (Vec<u8>, usize)> {
    let payload = prop_oneof![4 => vec(any::<u8>(), 0..16), 1 => vec(any::<u8>(), 0..600)];
    let nfds = prop_oneof![
        3 => 0..4usize,
        1 => 0..=MAX_SEND_FDS,
        1 => MAX_SEND_FDS - 2..=MAX_SEND_FDS,
    ];
    (payload, nfds)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Frames cut into chunks, each frame's fds arriving with the chunk that holds its
    /// header's first byte (as `SCM_RIGHTS` does), decode to the same payloads and the
    /// very same fds, in order.
    #[test]
    fn frames_decode_from_any_chunking(
        frames in vec(frame_spec(), 0..5),
        cuts in vec(1..80usize, 1..6),
    ) {
        raise_fd_limit();
        let null = std::fs::File::open("/dev/null").unwrap();
        let mut stream = Vec::new();
        let mut pending: VecDeque<(usize, Vec<OwnedFd>)> = VecDeque::new();
        let mut want: Vec<(&[u8], Vec<RawFd>)> = Vec::new();
        for (payload, nfds) in &frames {
            let fds: Vec<OwnedFd> = (0..*nfds)
                .map(|_| null.as_fd().try_clone_to_owned().unwrap())
                .collect();
            want.push((payload, fds.iter().map(AsRawFd::as_raw_fd).collect()));
            pending.push_back((stream.len(), fds));
            stream.extend_from_slice(&encode_header(payload.len(), *nfds));
            stream.extend_from_slice(payload);
        }
        let mut decoder = Decoder::new();
        let mut got = Vec::new();
        let mut pos = 0;
        for cut in cuts.iter().cycle() {
            if pos == stream.len() {
                break;
            }
            let end = (pos + cut).min(stream.len());
            decoder.push_bytes(&stream[pos..end]);
            while let Some((_, fds)) = pending.pop_front_if(|(start, _)| *start < end) {
                decoder.push_fds(fds);
            }
            pos = end;
            while let Some(frame) = decoder.next_frame().unwrap() {
                got.push(frame);
            }
        }
        prop_assert_eq!(got.len(), want.len());
        for (frame, (payload, fds)) in got.iter().zip(&want) {
            prop_assert_eq!(&frame.payload[..], *payload);
            let raw: Vec<RawFd> = frame.fds.iter().map(AsRawFd::as_raw_fd).collect();
            prop_assert_eq!(&raw, fds);
        }
        prop_assert_eq!((decoder.pending_bytes(), decoder.pending_fds()), (0, 0));
    }
}

/// Labels seen by the daemon: mostly near now, some anywhere, some on leap seconds.
fn any_tain() -> impl Strategy<Value = Tain> {
    // The labels of the first and the last inserted leap seconds (1972-07-01, 2017-01-01).
    let leaps = [(1u64 << 62) + 78796800 + 10, (1 << 62) + 1483228800 + 36];
    prop_oneof![
        ((1u64 << 62)..(1 << 62) + (1 << 34), 0..1_000_000_000u32),
        (any::<u64>(), any::<u32>()),
        (
            prop::sample::select(leaps.to_vec()),
            -2i64..3,
            0..1_000_000_000u32
        )
            .prop_map(|(l, d, n)| (l.wrapping_add_signed(d), n)),
    ]
    .prop_map(|(s, n)| Tain::new(s, n))
}

/// System times from label 0 (2^62 + 10 s before 1970) to far ahead.
fn any_system_time() -> impl Strategy<Value = SystemTime> {
    let earliest = -(1i64 << 62) - 10;
    prop_oneof![
        (0i64..1 << 32, 0..1_000_000_000u32),
        (earliest..1 << 62, 0..1_000_000_000u32),
        (-3i64..3, 0..1_000_000_000u32),
    ]
    .prop_map(|(s, n)| {
        let whole = Duration::from_secs(s.unsigned_abs());
        let t = if s < 0 {
            UNIX_EPOCH - whole
        } else {
            UNIX_EPOCH + whole
        };
        t + Duration::from_nanos(n.into())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tai64n_label_round_trip(t in any_tain()) {
        let label = t.to_string();
        let want = if t.is_valid() { Ok(t) } else { Err(LabelError::Nanos(t.nanos())) };
        prop_assert_eq!(Tain::parse_label(label.as_bytes()), want);
        prop_assert_eq!(Tain::parse_label(label.to_uppercase().as_bytes()), want);
    }

    #[test]
    fn tai64n_pack_round_trip(t in any_tain(), b in any::<[u8; 12]>()) {
        prop_assert_eq!(Tain::unpack(&t.pack()), t);
        prop_assert_eq!(Tain::unpack(&b).pack(), b);
    }

    #[test]
    fn system_time_round_trip(st in any_system_time()) {
        prop_assert_eq!(Tain::from_system_time(st).to_system_time(), Some(st));
    }

    /// A label read as a system time and back is the same label, except the label of an
    /// inserted leap second: UTC has no time of its own for it, and reads it as the
    /// second before.
    #[test]
    fn tain_round_trip(t in any_tain()) {
        prop_assume!(t.is_valid());
        if let Some(st) = t.to_system_time() {
            let back = Tain::from_system_time(st);
            if back != t {
                let before = Tain::new(t.secs() - 1, t.nanos());
                prop_assert_eq!(back, before);
                prop_assert_eq!(before.to_system_time(), Some(st));
            }
        }
    }
}

/// One fd of a valid environment, with how to write it: leading zeros on the fd number,
/// an uppercase label, text after the label (the C tool ignores it).
fn env_entry() -> impl Strategy<Value = (EnvFd, usize, bool, String)> {
    let limit = prop::option::of((any::<u64>(), 0..1_000_000_000u32));
    (
        0..=i32::MAX,
        vec(1u8..=255, 1..=255),
        limit,
        0..3usize,
        any::<bool>(),
        prop_oneof![3 => Just(String::new()), 1 => "[ -~]{1,8}"],
    )
        .prop_map(|(fd, id, limit, zeros, upper, junk)| {
            let limit = limit.map(|(s, n)| Tain::new(s, n));
            (EnvFd { fd, id, limit }, zeros, upper, junk)
        })
}

/// Variables env mode must ignore, none of them named like a variable it reads.
fn noise(n: usize) -> impl Strategy<Value = Vec<(OsString, OsString)>> {
    let names = prop_oneof![
        Just("PATH".to_string()),
        "[A-Z_]{1,12}".prop_filter("not S6_FD", |s| !s.starts_with("S6_FD")),
        (n..n + 3).prop_map(|i| format!("S6_FD_{i}")),
        (0..n.max(1)).prop_map(|i| format!("S6_FDID_0{i}")),
        Just("S6_FDX".to_string()),
    ];
    vec((names, vec(any::<u8>(), 0..8)), 0..6).prop_map(|v| {
        let mut seen = std::collections::HashSet::new();
        v.into_iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .map(|(k, v)| (OsString::from(k), OsString::from_vec(v)))
            .collect()
    })
}

/// A valid environment in some order, and the fds it describes.
fn environment() -> impl Strategy<Value = (Vec<(OsString, OsString)>, Vec<EnvFd>)> {
    vec(env_entry(), 0..8)
        .prop_flat_map(|entries| {
            let n = entries.len();
            (Just(entries), noise(n), 0..3usize)
        })
        .prop_flat_map(|(entries, noise, zeros)| {
            let mut vars = noise;
            let var = |k: String, v: Vec<u8>| (OsString::from(k), OsString::from_vec(v));
            let count = format!("{}{}", "0".repeat(zeros), entries.len());
            vars.push(var("S6_FD#".into(), count.into_bytes()));
            for (i, (e, zeros, upper, junk)) in entries.iter().enumerate() {
                let fd = format!("{}{}", "0".repeat(*zeros), e.fd);
                vars.push(var(format!("S6_FD_{i}"), fd.into_bytes()));
                vars.push(var(format!("S6_FDID_{i}"), e.id.clone()));
                if let Some(t) = e.limit {
                    let label = if *upper {
                        t.to_string().to_uppercase()
                    } else {
                        t.to_string()
                    };
                    vars.push(var(
                        format!("S6_FDLIMIT_{i}"),
                        format!("{label}{junk}").into(),
                    ));
                }
            }
            let fds: Vec<EnvFd> = entries.into_iter().map(|(e, ..)| e).collect();
            (Just(vars).prop_shuffle(), Just(fds))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A valid environment, in any order and among other variables, reads back as exactly
    /// the fds it describes.
    #[test]
    fn env_reads_back_what_it_describes((vars, fds) in environment()) {
        prop_assert_eq!(env::parse(vars), Ok(fds));
    }
}
