//! Which fds a config file gives one service: the entries its selectors pick, with their
//! names. Pure: the file is read and validated by [`crate::config::load::read_config`].

use std::path::Path;

use crate::config::model::Config;
use crate::fatal::Fatal;
use crate::fdname;

use super::Wanted;

/// The ids and names that `selectors` pick from `config`, in file order. A selector picks
/// every entry whose `name` it is, and the fd whose id it is; an fd picked twice is passed
/// once. A selector that picks nothing is an error: a typo would otherwise start the service
/// without the socket it needs.
pub fn select(config: &Config, file: &Path, selectors: &[String]) -> Result<Vec<Wanted>, Fatal> {
    let mut picked = vec![false; selectors.len()];
    let mut wanted = Vec::new();
    for entry in &config.entries {
        for id in entry.spec.ids() {
            let mut take = false;
            for (sel, hit) in selectors.iter().zip(&mut picked) {
                if entry.name() == Some(sel.as_str()) || &**id == sel.as_str() {
                    *hit = true;
                    take = true;
                }
            }
            if take {
                wanted.push(Wanted {
                    id: id.as_bytes().to_vec(),
                    name: entry
                        .name()
                        .map_or_else(|| fdname::from_id(id.as_bytes()), str::to_string),
                });
            }
        }
    }
    match picked.iter().position(|hit| !hit) {
        Some(i) => Err(Fatal::Select(file.to_path_buf(), selectors[i].clone())),
        None => Ok(wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse::parse_str;
    use crate::config::load::validate::validate;

    fn config(text: &str) -> Config {
        validate(&parse_str(text).unwrap(), std::time::SystemTime::now()).unwrap()
    }

    fn pick(c: &Config, sel: &[&str]) -> Result<Vec<(String, String)>, String> {
        let sel: Vec<String> = sel.iter().map(|s| s.to_string()).collect();
        select(c, Path::new("f.toml"), &sel)
            .map(|w| {
                w.into_iter()
                    .map(|w| (String::from_utf8(w.id).unwrap(), w.name))
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn selectors_pick_by_name_or_id_in_file_order() {
        let c = config(
            r#"
[[fd]]
kind = "tcp"
listen = "127.0.0.1:80"
name = "web"
[[fd]]
kind = "unix"
path = "/run/log"
[[fd]]
kind = "unix"
path = "/run/web.sock"
name = "web"
[[fd]]
kind = "pipe"
read-id = "pipe:r"
write-id = "pipe:w"
"#,
        );
        let web = |id: &str| (id.to_string(), "web".to_string());
        assert_eq!(
            pick(&c, &["web"]),
            Ok(vec![web("tcp:127.0.0.1:80"), web("unix:/run/web.sock")])
        );
        // File order, whatever the selectors' order; an fd picked twice comes once.
        assert_eq!(
            pick(&c, &["unix:/run/web.sock", "unix:/run/log", "web"]),
            Ok(vec![
                web("tcp:127.0.0.1:80"),
                ("unix:/run/log".into(), "unix_/run/log".into()),
                web("unix:/run/web.sock"),
            ])
        );
        assert_eq!(
            pick(&c, &["pipe:w"]),
            Ok(vec![("pipe:w".into(), "pipe_w".into())])
        );
        assert_eq!(
            pick(&c, &["web", "nope"]),
            Err("f.toml declares no fd named nope or with that id".into())
        );
    }
}
