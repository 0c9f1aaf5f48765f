//! Property tests (proptest): the frame codec on any sequence of frames with real fds cut
//! into any chunks, TAI64N round trips, env mode's parser on generated environments in
//! any order, and config mode's `--check` plan read back from its own lines. Case counts
//! are kept modest so the suite stays fast.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fdholder::Tain;
use fdholder::envdump::{self as env, EnvFd};
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

/// How long a generated entry's fds are held.
#[derive(Clone, Debug)]
enum Lifetime {
    /// No key: the default's, or no limit.
    Unset,
    /// `lifetime = "infinite"`.
    Infinite,
    /// `lifetime = "Ns"`, or the same in hours, minutes and seconds.
    After(u64, bool),
    /// `expires`: this far after the run's `now`, with nanoseconds, written in UTC or
    /// with an offset of this many minutes.
    At(Duration, Option<i16>),
}

/// What a generated entry opens.
#[derive(Clone, Debug)]
enum Decl {
    /// A unix socket at a path, or an abstract one (`@`), of type 0, 1 or 2.
    Unix(String, usize),
    /// tcp (true) or udp.
    Inet(bool, std::net::SocketAddr),
    Fifo(String),
    /// A file, created or not.
    File(String, bool),
    /// A pipe's read and write ids.
    Pipe(String, String),
}

/// One generated `[[fd]]`: what it opens, an explicit id or not, an optional mode, and its
/// lifetime.
#[derive(Clone, Debug)]
struct GenEntry {
    decl: Decl,
    id: Option<String>,
    mode: Option<u32>,
    lifetime: Lifetime,
}

/// Text for ids and paths: mostly plain, with the characters that could cut a `--check`
/// line or be mistaken for an escape (tab, newline, CR, backslash, other controls), and
/// some beyond ASCII.
fn id_text(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    let c = prop_oneof![
        8 => proptest::char::range('a', 'z'),
        1 => prop::sample::select(vec!['\t', '\n', '\r', '\\', '"', ' ', '\u{1}', '\u{7f}', 'é', '→', ':', '@', '/']),
    ];
    vec(c, len).prop_map(|v| v.into_iter().collect())
}

fn lifetime() -> impl Strategy<Value = Lifetime> {
    prop_oneof![
        2 => Just(Lifetime::Unset),
        1 => Just(Lifetime::Infinite),
        2 => (1u64..=3_000_000_000, any::<bool>()).prop_map(|(s, h)| Lifetime::After(s, h)),
        2 => (1u64..=200_000_000_000, 0..1_000_000_000u32, prop::option::of(-720i16..=840))
            .prop_map(|(s, n, off)| Lifetime::At(Duration::new(s, n), off)),
    ]
}

/// An entry; `i` makes its paths and explicit ids its own, so that every file is valid.
fn gen_entry(i: usize) -> impl Strategy<Value = GenEntry> {
    let path = move || id_text(1..=30).prop_map(move |s| format!("/t{i}/{s}.x"));
    let ip = prop_oneof![
        any::<[u8; 4]>().prop_map(std::net::IpAddr::from),
        any::<[u8; 16]>().prop_map(std::net::IpAddr::from),
    ];
    let decl = prop_oneof![
        (path(), 0..3usize).prop_map(|(p, t)| Decl::Unix(p, t)),
        (id_text(1..=20), 0..3usize).prop_map(move |(n, t)| Decl::Unix(format!("@{i}{n}"), t)),
        (any::<bool>(), ip, 1..=u16::MAX)
            .prop_map(|(tcp, ip, port)| Decl::Inet(tcp, std::net::SocketAddr::new(ip, port))),
        path().prop_map(Decl::Fifo),
        (path(), any::<bool>()).prop_map(|(p, c)| Decl::File(p, c)),
        (id_text(1..=40), id_text(1..=40))
            .prop_map(move |(r, w)| Decl::Pipe(format!("r{i}{r}"), format!("w{i}{w}"))),
    ];
    let id = prop::option::of(id_text(1..=60).prop_map(move |s| format!("id{i}{s}")));
    (decl, id, prop::option::of(0..=0o777u32), lifetime()).prop_map(|(decl, id, mode, lifetime)| {
        // Pipes take no `id`; `mode` goes with what is created on disk.
        let id = id.filter(|_| !matches!(decl, Decl::Pipe(..)));
        let creates = match &decl {
            Decl::Unix(p, _) => !p.starts_with('@'),
            Decl::Fifo(_) | Decl::File(_, true) => true,
            _ => false,
        };
        GenEntry {
            decl,
            id,
            mode: mode.filter(|_| creates),
            lifetime,
        }
    })
}

/// A valid file: entries with ids of their own (tcp and udp ones deduplicated by address),
/// and maybe a default lifetime.
fn gen_config() -> impl Strategy<Value = (Vec<GenEntry>, Lifetime)> {
    let entries = (0..8usize)
        .prop_flat_map(|n| (0..n).map(gen_entry).collect::<Vec<_>>())
        .prop_map(|entries| {
            let mut seen = std::collections::HashSet::new();
            entries
                .into_iter()
                .filter(|e| match (&e.decl, &e.id) {
                    (Decl::Inet(tcp, a), None) => seen.insert((*tcp, *a)),
                    _ => true,
                })
                .collect()
        });
    (entries, lifetime())
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `lifetime` or `expires` line for `l`, counted from `now`.
fn lifetime_line(l: &Lifetime, now: SystemTime) -> String {
    match l {
        Lifetime::Unset => String::new(),
        Lifetime::Infinite => "lifetime = \"infinite\"\n".into(),
        Lifetime::After(s, false) => format!("lifetime = \"{s}s\"\n"),
        Lifetime::After(s, true) => format!(
            "lifetime = \"{}h {}min {}s\"\n",
            s / 3600,
            s % 3600 / 60,
            s % 60
        ),
        Lifetime::At(d, offset) => {
            let utc = now + *d;
            let Some(minutes) = offset else {
                return format!("expires = \"{}\"\n", humantime::format_rfc3339_nanos(utc));
            };
            // The same instant, written as local time at that offset.
            let shift = Duration::from_secs(u64::from(minutes.unsigned_abs()) * 60);
            let local = if *minutes < 0 {
                utc - shift
            } else {
                utc + shift
            };
            let text = humantime::format_rfc3339_nanos(local).to_string();
            let sign = if *minutes < 0 { '-' } else { '+' };
            let (h, m) = (minutes.unsigned_abs() / 60, minutes.unsigned_abs() % 60);
            format!(
                "expires = \"{}{sign}{h:02}:{m:02}\"\n",
                text.trim_end_matches('Z')
            )
        }
    }
}

/// The file for these entries.
fn config_text(entries: &[GenEntry], default: &Lifetime, now: SystemTime) -> String {
    let mut t = String::new();
    let d = lifetime_line(default, now);
    if !d.is_empty() {
        t.push_str("[defaults]\n");
        t.push_str(&d);
    }
    for e in entries {
        t.push_str("[[fd]]\n");
        match &e.decl {
            Decl::Unix(p, ty) => {
                let ty = ["stream", "dgram", "seqpacket"][*ty];
                t.push_str(&format!(
                    "kind = \"unix\"\npath = {}\nsocket = \"{ty}\"\n",
                    toml_string(p)
                ));
            }
            Decl::Inet(tcp, a) => {
                let kind = if *tcp { "tcp" } else { "udp" };
                t.push_str(&format!("kind = \"{kind}\"\nlisten = \"{a}\"\n"));
            }
            Decl::Fifo(p) => t.push_str(&format!("kind = \"fifo\"\npath = {}\n", toml_string(p))),
            Decl::File(p, create) => t.push_str(&format!(
                "kind = \"file\"\npath = {}\nopen = \"write\"\ncreate = {create}\n",
                toml_string(p)
            )),
            Decl::Pipe(r, w) => t.push_str(&format!(
                "kind = \"pipe\"\nread-id = {}\nwrite-id = {}\n",
                toml_string(r),
                toml_string(w)
            )),
        }
        if let Some(id) = &e.id {
            t.push_str(&format!("id = {}\n", toml_string(id)));
        }
        if let Some(m) = e.mode {
            t.push_str(&format!("mode = \"{m:04o}\"\n"));
        }
        t.push_str(&lifetime_line(&e.lifetime, now));
    }
    t
}

/// What the file declares, as `--check` should print it: per fd, the id, the kind, the
/// address and the limit, worked out from the entries alone.
fn declared(entries: &[GenEntry], default: &Lifetime, now: SystemTime) -> Vec<[String; 4]> {
    let now_tai = Tain::from_system_time(now);
    let mut rows = Vec::new();
    for e in entries {
        let lifetime = match (&e.lifetime, default) {
            (Lifetime::Unset, d) => d,
            (l, _) => l,
        };
        let limit = match lifetime {
            Lifetime::Unset | Lifetime::Infinite => Tain::no_limit_from(now_tai),
            Lifetime::After(s, _) => now_tai + Duration::from_secs(*s),
            Lifetime::At(d, _) => Tain::from_system_time(now + *d),
        }
        .to_string();
        let mut row = |id: String, kind: &str, address: &str| {
            let id = e.id.clone().unwrap_or(id);
            rows.push([id, kind.to_string(), address.to_string(), limit.clone()]);
        };
        match &e.decl {
            Decl::Unix(p, ty) => {
                let kind = ["unix-stream", "unix-dgram", "unix-seqpacket"][*ty];
                row(format!("unix:{p}"), kind, p);
            }
            Decl::Inet(tcp, a) => {
                let kind = if *tcp { "tcp" } else { "udp" };
                row(format!("{kind}:{a}"), kind, &a.to_string());
            }
            Decl::Fifo(p) => row(format!("fifo:{p}"), "fifo", p),
            Decl::File(p, _) => row(format!("file:{p}"), "file", p),
            Decl::Pipe(r, w) => {
                rows.push([r.clone(), "pipe-read".into(), "-".into(), limit.clone()]);
                rows.push([w.clone(), "pipe-write".into(), "-".into(), limit.clone()]);
            }
        }
    }
    rows
}

/// One field of a `--check` line, its escapes undone.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
            }
            other => panic!("a bad escape \\{other:?} in {field:?}"),
        }
    }
    out
}

/// `--check`'s plan for `text` at `now`: its lines, each read back into its five fields.
fn check_plan(text: &str, now: SystemTime) -> (String, Vec<[String; 5]>) {
    use fdtools::config::load::{parse::parse_str, validate::validate};
    use fdtools::config::plan;
    let raw = parse_str(text).unwrap_or_else(|d| panic!("{d:?} in\n{text}"));
    let config = validate(&raw, now).unwrap_or_else(|d| panic!("{d:?} in\n{text}"));
    let p = plan::plan(&config, now);
    let mut out = Vec::new();
    fdtools::config::render::write_plan(&mut out, &config, &p).unwrap();
    let out = String::from_utf8(out).unwrap();
    let rows = out
        .lines()
        .map(|l| {
            let f: Vec<String> = l.split('\t').map(unescape).collect();
            f.try_into()
                .unwrap_or_else(|f| panic!("not five fields: {f:?}"))
        })
        .collect();
    (out, rows)
}

/// A file made from `--check`'s lines alone: every fd with its kind, address and id as
/// printed, and its limit from the TAI64N label (or infinite for `never`).
fn file_from_plan(rows: &[[String; 5]]) -> String {
    let mut t = String::new();
    let mut rows = rows.iter().peekable();
    while let Some([id, kind, address, expiry, label]) = rows.next() {
        t.push_str("[[fd]]\n");
        let key = |k: &str, v: &str| format!("{k} = {}\n", toml_string(v));
        match kind.as_str() {
            "pipe-read" => {
                let [write, ..] = rows.next().unwrap();
                t.push_str(&format!("kind = \"pipe\"\n{}", key("read-id", id)));
                t.push_str(&key("write-id", write));
            }
            "tcp" | "udp" => t.push_str(&format!("kind = \"{kind}\"\n{}", key("listen", address))),
            _ => {
                let (kind, socket) = kind.split_once('-').unwrap_or((kind, ""));
                t.push_str(&format!("kind = \"{kind}\"\n{}", key("path", address)));
                if !socket.is_empty() {
                    t.push_str(&key("socket", socket));
                }
            }
        }
        if kind != "pipe-read" {
            t.push_str(&key("id", id));
        }
        if expiry == "never" {
            t.push_str("lifetime = \"infinite\"\n");
        } else {
            let at = Tain::parse_label(label.as_bytes())
                .unwrap()
                .to_system_time()
                .unwrap();
            t.push_str(&key(
                "expires",
                &humantime::format_rfc3339_nanos(at).to_string(),
            ));
        }
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every valid file's `--check` plan reads back: its lines are exactly the fds the file
    /// declares (ids, kinds, addresses, limits, whatever characters the ids and paths
    /// hold), and a file written from those lines alone has the very same plan.
    #[test]
    fn check_prints_a_plan_that_reads_back((entries, default) in gen_config(), nanos in 0..1_000_000_000u32) {
        let now = UNIX_EPOCH + Duration::new(1_767_225_600, nanos);
        let text = config_text(&entries, &default, now);
        let (printed, rows) = check_plan(&text, now);
        let got: Vec<[String; 4]> = rows
            .iter()
            .map(|[id, kind, address, _, label]| {
                [id.clone(), kind.clone(), address.clone(), label.clone()]
            })
            .collect();
        prop_assert_eq!(got, declared(&entries, &default, now), "{}", text);
        for [_, _, _, expiry, label] in &rows {
            let limit = Tain::parse_label(label.as_bytes()).unwrap();
            let want = fdtools::expiry::show(limit, Tain::from_system_time(now));
            prop_assert_eq!(expiry, &want);
        }
        let again = file_from_plan(&rows);
        let (reprinted, _) = check_plan(&again, now);
        prop_assert_eq!(reprinted, printed, "{}", again);
    }
}
