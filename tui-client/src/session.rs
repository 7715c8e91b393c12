//! Settings and the stored refresh token, in the XDG config directory (mode 0600).
//!
//! The directory is `$CHAT_CONFIG_DIR` when set, else `$XDG_CONFIG_HOME/chat` or
//! `~/.config/chat`. It holds `config.toml` (settings a person edits) and `session.toml` (written
//! by `chat login`, read by the terminal UI and every subcommand).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::{self, Api};

/// The environment variable that relocates the config directory (tests use it).
pub const CONFIG_DIR_ENV: &str = "CHAT_CONFIG_DIR";
/// The folder of the config directory that holds one folder per profile.
const PROFILES_DIR: &str = "profiles";
/// Most characters of a profile's name.
pub const MAX_PROFILE_CHARS: usize = 64;

/// Checks a profile's name (`--profile`, `CHAT_PROFILE`): 1 to 64 ASCII letters, digits, `-`,
/// `_` and `.`, not starting with `.` (so that it names one folder and nothing else).
pub fn profile_name(name: &str) -> Result<String, String> {
    let fine = !name.is_empty()
        && name.len() <= MAX_PROFILE_CHARS
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if fine {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "not a profile name: {name:?} (1 to {MAX_PROFILE_CHARS} letters, digits, -, _ and ., \
             not starting with .)"
        ))
    }
}
/// The server used when neither `--server`, `CHAT_SERVER` nor the config file names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8000";

const CONFIG_FILE: &str = "config.toml";
const SESSION_FILE: &str = "session.toml";
/// Locked while a refresh token is used and replaced. Not `session.toml` itself: that file is
/// replaced by a rename, which would leave a waiting process locking the old copy.
const LOCK_FILE: &str = "session.lock";

/// Why settings or the session could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no config directory: set {CONFIG_DIR_ENV} or HOME")]
    NoConfigDir,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("not logged in: run `chat login` first")]
    NotLoggedIn,
    /// The server refused the refresh token: the session was ended (signed out elsewhere, the
    /// password changed) or expired.
    #[error(
        "the session has ended (signed out elsewhere, password changed, or expired): run `chat login` again"
    )]
    SessionEnded,
    #[error("the saved session is for {saved}, not {wanted}: run `chat login --server {wanted}`")]
    OtherServer { saved: String, wanted: String },
    #[error(transparent)]
    Api(#[from] api::Error),
}

/// What a person can set in `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The server base URL, e.g. `http://127.0.0.1:8000`.
    pub server: String,
    /// Ring the terminal bell when a message arrives in the background.
    pub bell: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: DEFAULT_SERVER.to_owned(),
            bell: true,
        }
    }
}

/// What `chat login` leaves behind: enough to get access tokens without the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    pub server: String,
    pub username: String,
    pub user_id: i64,
    pub refresh: String,
}

/// Gets access tokens for one session and keeps its refresh token current.
///
/// The server rotates refresh tokens: each refresh answers a successor and retires the token
/// presented, and presenting a retired one again (after a short grace) ends the whole session.
/// Several processes share `session.toml` (the UI beside `chat send`), so a refresh runs under an
/// exclusive lock on `session.lock` beside it and re-reads the file inside the lock: another
/// process may have rotated the token already, and then its successor is the one to present.
/// The new token is written back before the lock is released.
#[derive(Debug, Clone)]
pub struct Refresher {
    api: Api,
    /// Where the session is stored; `None` keeps it in memory only.
    dir: Option<ConfigDir>,
    session: StoredSession,
}

impl Refresher {
    /// A refresher for `session`, stored in `dir` (or nowhere).
    pub fn new(api: Api, dir: Option<ConfigDir>, session: StoredSession) -> Self {
        Refresher { api, dir, session }
    }

    /// The session as last seen (its refresh token is the newest this process knows).
    pub fn session(&self) -> &StoredSession {
        &self.session
    }

    /// The REST client it refreshes with.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// A fresh access token. A refused refresh token (expired, retired, its session ended, or
    /// signed by another server secret) comes back as [`Error::SessionEnded`].
    pub async fn access_token(&mut self) -> Result<String, Error> {
        let Some(dir) = self.dir.clone() else {
            return self.refresh_with(None).await;
        };
        let lock = dir.lock_session().await?;
        // Another process may have rotated the token while we were not looking.
        let stored = dir
            .load_session()?
            .filter(|s| same_server(&s.server, &self.session.server))
            .filter(|s| s.user_id == self.session.user_id);
        if let Some(stored) = &stored {
            self.session.refresh.clone_from(&stored.refresh);
        }
        let result = self.refresh_with(stored.is_some().then_some(&dir)).await;
        drop(lock);
        result
    }

    /// Refreshes with the current token; stores a successor in `dir`, when given.
    async fn refresh_with(&mut self, dir: Option<&ConfigDir>) -> Result<String, Error> {
        let answer = match self.api.refresh(&self.session.refresh).await {
            Ok(answer) => answer,
            Err(api::Error::Unauthorized(_)) => return Err(Error::SessionEnded),
            Err(e) => return Err(e.into()),
        };
        if let Some(next) = answer.refresh.filter(|next| *next != self.session.refresh) {
            self.session.refresh = next;
            if let Some(dir) = dir {
                dir.save_session(&self.session)?;
            }
        }
        Ok(answer.access)
    }
}

/// An exclusive lock on the session, held until dropped (the lock file stays).
#[derive(Debug)]
pub struct SessionLock(fs::File);

impl Drop for SessionLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The config directory and the files in it.
#[derive(Debug, Clone)]
pub struct ConfigDir {
    path: PathBuf,
}

impl ConfigDir {
    /// `$CHAT_CONFIG_DIR`, else `chat/` under the platform config directory; with a `profile`,
    /// its own directory `profiles/NAME` inside that (its settings, session and cursor apart
    /// from the default profile's and every other's).
    pub fn locate(profile: Option<&str>) -> Result<Self, Error> {
        let base = match std::env::var_os(CONFIG_DIR_ENV).filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => dirs::config_dir()
                .map(|d| d.join("chat"))
                .ok_or(Error::NoConfigDir)?,
        };
        Ok(match profile {
            Some(name) => ConfigDir::at(base.join(PROFILES_DIR).join(name)),
            None => ConfigDir::at(base),
        })
    }

    /// A config directory at an explicit path (it need not exist yet).
    pub fn at(path: impl Into<PathBuf>) -> Self {
        ConfigDir { path: path.into() }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Settings from `config.toml` (defaults when the file is missing), with `server_override`
    /// (from `--server` or `CHAT_SERVER`) taking precedence over the file.
    pub fn settings(&self, server_override: Option<&str>) -> Result<Settings, Error> {
        let path = self.path.join(CONFIG_FILE);
        let mut settings: Settings = read_toml(&path)?.unwrap_or_default();
        if let Some(server) = server_override.filter(|s| !s.trim().is_empty()) {
            settings.server = server.trim().to_owned();
        }
        Ok(settings)
    }

    /// Writes `config.toml`.
    pub fn save_settings(&self, settings: &Settings) -> Result<(), Error> {
        self.write_toml(CONFIG_FILE, settings)
    }

    /// The stored session, or `None` when nobody is logged in.
    pub fn load_session(&self) -> Result<Option<StoredSession>, Error> {
        read_toml(&self.path.join(SESSION_FILE))
    }

    /// The stored session for `server`, or why there is none usable.
    pub fn session_for(&self, server: &str) -> Result<StoredSession, Error> {
        let session = self.load_session()?.ok_or(Error::NotLoggedIn)?;
        if same_server(&session.server, server) {
            Ok(session)
        } else {
            Err(Error::OtherServer {
                saved: session.server,
                wanted: server.to_owned(),
            })
        }
    }

    /// Stores the session in `session.toml`, readable by the owner only.
    pub fn save_session(&self, session: &StoredSession) -> Result<(), Error> {
        self.write_toml(SESSION_FILE, session)
    }

    /// Waits for the exclusive lock on the session (see [`Refresher`]) without blocking the runtime.
    pub async fn lock_session(&self) -> Result<SessionLock, Error> {
        let path = self.path.join(LOCK_FILE);
        fs::create_dir_all(&self.path).map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })?;
        let task = tokio::task::spawn_blocking(move || {
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(false);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let file = options.open(&path).and_then(|file| {
                file.lock()?;
                Ok(file)
            });
            file.map(SessionLock)
                .map_err(|source| Error::Io { path, source })
        });
        task.await.map_err(|e| Error::Io {
            path: self.path.join(LOCK_FILE),
            source: std::io::Error::other(e),
        })?
    }

    /// Forgets the stored session; no error when there is none.
    pub fn clear_session(&self) -> Result<(), Error> {
        let path = self.path.join(SESSION_FILE);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::Io { path, source: e })
            }
            _ => Ok(()),
        }
    }

    /// Writes a file atomically (temp file, then rename) with mode 0600, since the session
    /// holds a credential.
    fn write_toml<T: Serialize>(&self, name: &str, value: &T) -> Result<(), Error> {
        let path = self.path.join(name);
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let text = toml::to_string(value).map_err(|e| Error::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        fs::create_dir_all(&self.path).map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })?;
        let temp = self.path.join(format!(".{name}.tmp"));
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&temp).map_err(io)?;
        // The mode above applies only to new files; tighten one left by an older run too.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(io)?;
        }
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&temp, &path).map_err(io)
    }
}

/// Whether two base URLs name the same server, ignoring a trailing `/`.
fn same_server(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/')
}

fn read_toml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, Error> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    toml::from_str(&text).map(Some).map_err(|e| Error::Invalid {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_profile_name_is_one_plain_folder() {
        for good in ["work", "home-2", "a.b_c", &"x".repeat(MAX_PROFILE_CHARS)] {
            assert_eq!(profile_name(good).as_deref(), Ok(good));
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../x",
            "a b",
            "ü",
            &"x".repeat(65),
        ] {
            assert!(profile_name(bad).is_err(), "{bad:?}");
        }
    }

    use super::*;

    fn session() -> StoredSession {
        StoredSession {
            server: "http://127.0.0.1:8000".into(),
            username: "alice".into(),
            user_id: 7,
            refresh: "r.e.f".into(),
        }
    }

    #[test]
    fn session_round_trips_and_is_private() {
        let temp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::at(temp.path().join("nested/chat"));
        assert_eq!(dir.load_session().unwrap(), None);
        dir.save_session(&session()).unwrap();
        assert_eq!(dir.load_session().unwrap(), Some(session()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(SESSION_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        dir.clear_session().unwrap();
        assert_eq!(dir.load_session().unwrap(), None);
        dir.clear_session().unwrap();
    }

    #[tokio::test]
    async fn the_session_lock_is_exclusive() {
        let temp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::at(temp.path().join("chat"));
        let lock = dir.lock_session().await.unwrap();
        let other = fs::File::open(dir.path().join(LOCK_FILE)).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(fs::TryLockError::WouldBlock)
        ));
        drop(lock);
        other.try_lock().unwrap();
    }

    #[test]
    fn session_for_checks_the_server() {
        let temp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::at(temp.path());
        assert!(matches!(
            dir.session_for("http://127.0.0.1:8000"),
            Err(Error::NotLoggedIn)
        ));
        dir.save_session(&session()).unwrap();
        assert_eq!(
            dir.session_for("http://127.0.0.1:8000/").unwrap(),
            session()
        );
        let error = dir.session_for("http://127.0.0.1:9000").unwrap_err();
        assert!(error.to_string().contains("chat login --server"), "{error}");
    }

    #[test]
    fn settings_default_then_file_then_override() {
        let temp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::at(temp.path());
        assert_eq!(dir.settings(None).unwrap(), Settings::default());
        fs::write(
            temp.path().join(CONFIG_FILE),
            "server = \"http://10.0.0.1:1\"\nbell = false\n",
        )
        .unwrap();
        let file = dir.settings(None).unwrap();
        assert_eq!(file.server, "http://10.0.0.1:1");
        assert!(!file.bell);
        let over = dir.settings(Some("http://127.0.0.1:2")).unwrap();
        assert_eq!(over.server, "http://127.0.0.1:2");
        assert!(!over.bell);
    }

    #[test]
    fn a_broken_config_file_is_named_in_the_error() {
        let temp = tempfile::tempdir().unwrap();
        fs::write(temp.path().join(CONFIG_FILE), "sever = 1\n").unwrap();
        let error = ConfigDir::at(temp.path()).settings(None).unwrap_err();
        assert!(error.to_string().contains("config.toml"), "{error}");
    }
}
