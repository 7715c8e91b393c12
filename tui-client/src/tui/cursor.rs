//! The sync cursor on disk: one small file per server and user beside the session file
//! (`sync-<user id>-<server>.seq`, mode 0600), so the next start resumes from it. Only the
//! driver reads and writes it; `update` hands out the value to keep (`Effect::SaveCursor`).

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use crate::session::ConfigDir;

/// The cursor file of `user_id` on `server`.
pub fn path(config: &ConfigDir, server: &str, user_id: i64) -> PathBuf {
    let server = server.trim().trim_end_matches('/');
    let server = server.split_once("://").map_or(server, |(_, rest)| rest);
    let name: String = server
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' => c,
            _ => '_',
        })
        .collect();
    config.path().join(format!("sync-{user_id}-{name}.seq"))
}

/// The saved cursor, or `None` when there is none (or it is unreadable: a full load then
/// gets a new one).
pub fn load(config: &ConfigDir, server: &str, user_id: i64) -> Option<i64> {
    let text = fs::read_to_string(path(config, server, user_id)).ok()?;
    text.trim().parse().ok().filter(|seq: &i64| *seq >= 0)
}

/// Saves the cursor atomically (a temp file, then rename), readable by the owner only.
pub fn save(config: &ConfigDir, server: &str, user_id: i64, seq: i64) -> std::io::Result<()> {
    let path = path(config, server, user_id);
    fs::create_dir_all(config.path())?;
    let mut temp = path.clone().into_os_string();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temp)?;
    file.write_all(format!("{seq}\n").as_bytes())?;
    file.sync_all()?;
    fs::rename(&temp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_round_trips_per_server_and_user_and_is_private() {
        let temp = tempfile::tempdir().unwrap();
        let config = ConfigDir::at(temp.path().join("chat"));
        let server = "http://127.0.0.1:8000";
        assert_eq!(load(&config, server, 7), None);
        save(&config, server, 7, 1042).unwrap();
        save(&config, server, 7, 1500).unwrap();
        assert_eq!(load(&config, server, 7), Some(1500));
        assert_eq!(load(&config, "http://127.0.0.1:8000/", 7), Some(1500));
        assert_eq!(load(&config, server, 8), None);
        assert_eq!(load(&config, "http://127.0.0.1:9000", 7), None);
        let file = path(&config, server, 7);
        assert_eq!(
            file.file_name().unwrap().to_str(),
            Some("sync-7-127.0.0.1_8000.seq")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(&file, "not a number").unwrap();
        assert_eq!(load(&config, server, 7), None);
    }
}
