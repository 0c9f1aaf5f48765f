//! Stage 5 of config mode: the opened fds become one setdump, through the library's
//! [`Client::setdump`] (which makes every limit distinct and sends at most 253 fds a
//! message), and the daemon's socket is chosen.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::open::Opened;
use super::plan::Plan;
use crate::cli::USAGE_CONFIG;
use crate::error::{Fatal, SetdumpError};
use crate::proto::{Client, DumpEntry};

/// The daemon's socket: the command line's, else the file's `fdholder`, else a usage error.
pub fn daemon_socket(
    command_line: Option<&Path>,
    file: Option<&Path>,
    file_name: &Path,
) -> Result<PathBuf, Fatal> {
    command_line.or(file).map(Path::to_path_buf).ok_or_else(|| {
        Fatal::Usage(format!(
            "{USAGE_CONFIG} (no socket: give one, or set fdholder in {})",
            file_name.display()
        ))
    })
}

/// Hands every opened fd to the daemon under its plan item's id and limit.
pub fn apply(client: &mut Client, plan: &Plan, opened: &Opened) -> Result<(), SetdumpError> {
    let entries: Vec<DumpEntry<'_>> = plan
        .items
        .iter()
        .zip(&opened.fds)
        .map(|(item, fd)| DumpEntry {
            fd: fd.as_fd(),
            id: item.id.as_bytes(),
            limit: item.limit,
        })
        .collect();
    client.setdump(&entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_wins() {
        let f = Path::new("f.toml");
        let got = daemon_socket(Some(Path::new("/a")), Some(Path::new("/b")), f);
        assert_eq!(got.unwrap(), Path::new("/a"));
        let got = daemon_socket(None, Some(Path::new("/b")), f);
        assert_eq!(got.unwrap(), Path::new("/b"));
        let e = daemon_socket(None, None, f).unwrap_err();
        assert_eq!(e.exit_code(), 100);
        assert!(
            e.to_string()
                .ends_with("(no socket: give one, or set fdholder in f.toml)")
        );
    }
}
