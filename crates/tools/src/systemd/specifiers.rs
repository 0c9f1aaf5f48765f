//! `%` specifiers, resolved as systemd.unit(5) says the system manager resolves them: the
//! unit's names (`%n`, `%N`, `%p`, `%P`, `%i`, `%I`, `%j`, `%J`, `%f`) from its file name
//! and, for a template (`NAME@.socket`), the instance given with `--instance`; the
//! manager's directories and user (`%t` = /run, `%S`, `%C`, `%L`, `%E`, `%T`, `%V`, `%h`,
//! `%s`, `%u`/`%U`, `%g`/`%G`: root's); `%y`/`%Y` from where the unit file is. What depends
//! on the host the unit will run on (`%H`, `%m`, `%b`, `%v`, ...) is refused, naming it,
//! and so is any letter systemd does not know.

use std::fmt;
use std::path::Path;

/// Why a value's specifiers cannot be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecifierError {
    /// `%x`, and why it cannot be resolved here.
    Unresolvable(char, &'static str),
    /// The value ends with a `%` alone.
    LonePercent,
}

impl fmt::Display for SpecifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecifierError::Unresolvable(c, why) => write!(f, "the specifier %{c} {why}"),
            SpecifierError::LonePercent => f.write_str("it ends with a lone %"),
        }
    }
}

impl std::error::Error for SpecifierError {}

/// Why an instance or unit name cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstanceError {
    /// `--instance` for a unit that is not a template.
    NotTemplate(String),
    /// The instance has characters a unit name cannot have.
    Invalid(String),
}

impl fmt::Display for InstanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceError::NotTemplate(n) => write!(
                f,
                "--instance is for template units (NAME@.socket), and {n} is not one"
            ),
            InstanceError::Invalid(i) => write!(
                f,
                "the instance {i:?} is not valid in a unit name: give it escaped, as \
                 systemd-escape prints it (letters, digits, and : _ . - \\ only)"
            ),
        }
    }
}

impl std::error::Error for InstanceError {}

/// What the specifiers of one unit resolve against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Specifiers {
    /// The prefix: the name before `@` (or before the suffix).
    prefix: String,
    /// The instance, escaped as in the unit name; `None` for a template without one.
    instance: Option<String>,
    /// Whether the name has an `@`.
    template: bool,
    /// The type suffix, with its dot (`.socket`), or empty.
    suffix: String,
    /// The unit file's path, absolute when it could be made so.
    fragment: String,
}

/// Whether `c` may be in a unit name (systemd's `VALID_CHARS`).
fn valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ":-_.\\".contains(c)
}

/// systemd's `unit_name_unescape`: `-` is `/`, `\xNN` is that byte.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' => out.push(b'/'),
            b'\\' if b.len() >= i + 4 && b[i + 1] == b'x' => {
                // Bytes, not a str slice: the two after `\x` need not be characters.
                let hex = std::str::from_utf8(&b[i + 2..i + 4]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => out.push(b'\\'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// systemd's `unit_name_path_unescape`: `-` alone is `/`; otherwise the unescaped name
/// made absolute.
fn path_unescape(s: &str) -> String {
    if s == "-" {
        return "/".into();
    }
    format!("/{}", unescape(s).trim_start_matches('/'))
}

impl Specifiers {
    /// For the unit file at `path` (its file name is the unit's name), with `instance` for
    /// a template.
    pub fn new(path: &Path, instance: Option<&str>) -> Result<Specifiers, InstanceError> {
        let name = path
            .file_name()
            .map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy())
            .into_owned();
        let (stem, suffix) = match name.rfind('.') {
            Some(dot) => (&name[..dot], &name[dot..]),
            None => (name.as_str(), ""),
        };
        let (prefix, named_instance, template) = match stem.split_once('@') {
            Some((p, "")) => (p, None, true),
            Some((p, i)) => (p, Some(i), true),
            None => (stem, None, false),
        };
        let instance = match (instance, named_instance) {
            (Some(i), None) if template => {
                if i.is_empty() || !i.chars().all(valid_char) {
                    return Err(InstanceError::Invalid(i.to_string()));
                }
                Some(i.to_string())
            }
            (Some(_), _) => return Err(InstanceError::NotTemplate(name.clone())),
            (None, i) => i.map(str::to_string),
        };
        let fragment = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(Specifiers {
            prefix: prefix.to_string(),
            instance,
            template,
            suffix: suffix.to_string(),
            fragment: fragment.to_string_lossy().into_owned(),
        })
    }

    /// The instance, or why an instance specifier cannot be resolved.
    fn instance(&self, c: char) -> Result<&str, SpecifierError> {
        match &self.instance {
            Some(i) => Ok(i),
            None if self.template => Err(SpecifierError::Unresolvable(
                c,
                "needs the instance of this template unit: give it with --instance NAME",
            )),
            None => Ok(""),
        }
    }

    /// The unit's full name, as systemd names the loaded unit.
    fn name(&self, c: char) -> Result<String, SpecifierError> {
        Ok(if self.template {
            format!("{}@{}{}", self.prefix, self.instance(c)?, self.suffix)
        } else {
            format!("{}{}", self.prefix, self.suffix)
        })
    }

    /// What `%c` is.
    fn resolve(&self, c: char) -> Result<String, SpecifierError> {
        let host = "depends on the host the unit runs on; write its value in the TOML";
        Ok(match c {
            'n' => self.name(c)?,
            'N' => {
                let n = self.name(c)?;
                n.strip_suffix(&self.suffix).unwrap_or(&n).to_string()
            }
            'p' => self.prefix.clone(),
            'P' => unescape(&self.prefix),
            'i' => self.instance(c)?.to_string(),
            'I' => unescape(self.instance(c)?),
            'j' => self.final_component().to_string(),
            'J' => unescape(self.final_component()),
            'f' => match &self.instance {
                Some(i) => path_unescape(i),
                None if self.template => return Err(self.instance(c).unwrap_err()),
                None => path_unescape(&self.prefix),
            },
            'y' => self.fragment.clone(),
            'Y' => Path::new(&self.fragment)
                .parent()
                .map_or_else(|| "/".into(), |p| p.to_string_lossy().into_owned()),
            // The system manager's directories (systemd.unit(5), "Specifiers").
            't' => "/run".into(),
            'S' => "/var/lib".into(),
            'C' => "/var/cache".into(),
            'L' => "/var/log".into(),
            'E' => "/etc".into(),
            'T' => "/tmp".into(),
            'V' => "/var/tmp".into(),
            // The system manager's user: root.
            'h' => "/root".into(),
            's' => "/bin/sh".into(),
            'u' | 'g' => "root".into(),
            'U' | 'G' => "0".into(),
            '%' => "%".into(),
            'a' | 'A' | 'b' | 'B' | 'H' | 'l' | 'q' | 'm' | 'M' | 'o' | 'v' | 'w' | 'W' => {
                return Err(SpecifierError::Unresolvable(c, host));
            }
            'd' => {
                return Err(SpecifierError::Unresolvable(
                    c,
                    "is systemd's credentials directory, which s6 does not have",
                ));
            }
            _ => {
                return Err(SpecifierError::Unresolvable(c, "is not one systemd knows"));
            }
        })
    }

    /// The prefix's last `-`-separated component, as `%j` is.
    fn final_component(&self) -> &str {
        self.prefix.rsplit('-').next().unwrap_or(&self.prefix)
    }

    /// `v` with every specifier resolved.
    pub fn expand(&self, v: &str) -> Result<String, SpecifierError> {
        let mut out = String::with_capacity(v.len());
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some(x) => out.push_str(&self.resolve(x)?),
                None => return Err(SpecifierError::LonePercent),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(path: &str, instance: Option<&str>) -> Specifiers {
        Specifiers::new(Path::new(path), instance).unwrap()
    }

    #[test]
    fn plain_unit() {
        let u = s("/lib/systemd/system/foo-bar.socket", None);
        assert_eq!(
            u.expand("%t/%n %N %p %P %j %J %i|%I %f %u %U %h %%")
                .unwrap(),
            "/run/foo-bar.socket foo-bar foo-bar foo/bar bar bar | /foo/bar root 0 /root %"
        );
        assert_eq!(
            u.expand("%y %Y").unwrap(),
            "/lib/systemd/system/foo-bar.socket /lib/systemd/system"
        );
        for c in ['H', 'm', 'b', 'd', 'Z'] {
            let e = u.expand(&format!("/x%{c}")).unwrap_err();
            assert!(e.to_string().contains(&format!("%{c}")), "{e}");
        }
        assert_eq!(u.expand("/x%"), Err(SpecifierError::LonePercent));
    }

    #[test]
    fn templates_and_instances() {
        let u = s("/u/getty@.socket", Some("dev-ttyS0"));
        assert_eq!(
            u.expand("%n %N %p %i %I %f").unwrap(),
            "getty@dev-ttyS0.socket getty@dev-ttyS0 getty dev-ttyS0 dev/ttyS0 /dev/ttyS0"
        );
        let u = s("/u/x@.socket", Some("a\\x2db"));
        assert_eq!(u.expand("%I").unwrap(), "a-b");
        // A name not escaped as systemd escapes is read as it is, never split mid-character.
        let u = s("/u/a\\xz\u{e9}\\xzz\\x.socket", None);
        assert_eq!(u.expand("%P").unwrap(), "a\\xz\u{e9}\\xzz\\x");
        let u = s("/u/x@.socket", None);
        assert_eq!(u.expand("%t/x").unwrap(), "/run/x");
        let e = u.expand("%t/%i").unwrap_err().to_string();
        assert!(e.contains("%i") && e.contains("--instance"), "{e}");
        let u = s("/u/x@inst.socket", None);
        assert_eq!(u.expand("%i %n").unwrap(), "inst x@inst.socket");
        assert!(matches!(
            Specifiers::new(Path::new("/u/x.socket"), Some("a")),
            Err(InstanceError::NotTemplate(_))
        ));
        assert!(matches!(
            Specifiers::new(Path::new("/u/x@.socket"), Some("/dev/tty")),
            Err(InstanceError::Invalid(_))
        ));
    }
}
