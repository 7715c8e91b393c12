//! `chat register`, `login`, `logout`, `password`, `whoami`: accounts and the stored session.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context as _, bail};
use serde_json::json;

use super::{Context, PasswordSource, print_json};
use crate::api::{self, Api};
use crate::session::{Refresher, StoredSession};
use crate::text::sanitize;

/// The environment variable a password may come from.
pub const PASSWORD_ENV: &str = "CHAT_PASSWORD";

/// Reads the password: `--password-stdin`, else `$CHAT_PASSWORD`, else a prompt on the terminal.
fn read_password(source: &PasswordSource, prompt: &str) -> anyhow::Result<String> {
    let password = if source.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else if let Some(password) = std::env::var_os(PASSWORD_ENV) {
        password
            .into_string()
            .map_err(|_| anyhow::anyhow!("{PASSWORD_ENV} is not valid UTF-8"))?
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt).context("cannot read the password")?
    } else {
        bail!(
            "no password: use --password-stdin, set {PASSWORD_ENV}, or run in a terminal to be asked"
        );
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}

/// Logs in and stores the session; shared by `register` and `login`.
async fn log_in(ctx: &Context, username: &str, password: &str) -> anyhow::Result<StoredSession> {
    let tokens = ctx.api.login(username, password).await?;
    let me = ctx.api.me(&tokens.access).await?;
    let session = StoredSession {
        server: ctx.settings.server.clone(),
        username: me.username,
        user_id: me.id,
        refresh: tokens.refresh,
    };
    ctx.dir.save_session(&session)?;
    Ok(session)
}

fn print_account(ctx: &Context, verb: &str, session: &StoredSession) -> anyhow::Result<()> {
    if ctx.json {
        print_json(&json!({
            "id": session.user_id,
            "username": session.username,
            "server": session.server,
        }))
    } else {
        println!(
            "{verb} {} (id {}) on {}",
            sanitize(&session.username),
            session.user_id,
            session.server
        );
        Ok(())
    }
}

/// `chat register USERNAME`.
pub async fn register(
    ctx: &Context,
    username: &str,
    source: &PasswordSource,
) -> anyhow::Result<()> {
    let password = read_password(source, "New password (8 characters or more): ")?;
    ctx.api.register(username, &password).await?;
    let session = log_in(ctx, username, &password).await?;
    print_account(ctx, "registered and logged in as", &session)
}

/// `chat login USERNAME`.
pub async fn login(ctx: &Context, username: &str, source: &PasswordSource) -> anyhow::Result<()> {
    let password = read_password(source, &format!("Password for {username}: "))?;
    let session = log_in(ctx, username, &password).await?;
    print_account(ctx, "logged in as", &session)
}

/// `chat logout [--all]`: ends the session on the server (with `--all`, every session of the
/// account), then forgets it here, even when the server cannot be told.
pub async fn logout(ctx: &Context, all: bool) -> anyhow::Result<()> {
    let told = match ctx.dir.load_session()? {
        None => Ok(()),
        Some(session) => end_on_server(ctx, session, all).await,
    };
    ctx.dir.clear_session()?;
    let warning = match &told {
        Ok(()) => None,
        Err(e) if all => bail!("forgot the session here, but could not end the others: {e:#}"),
        Err(e) => Some(format!(
            "forgot the session here, but the server was not told ({e:#}): its tokens work until they expire"
        )),
    };
    if let Some(warning) = &warning {
        eprintln!("chat: {warning}");
    }
    if ctx.json {
        print_json(&json!({ "logged_out": true, "server_told": warning.is_none(), "all": all }))
    } else {
        println!(
            "{}",
            if all {
                "logged out everywhere"
            } else {
                "logged out"
            }
        );
        Ok(())
    }
}

/// `POST /api/logout/` (or `/api/logout/all/`) for the stored session, at the server it is for.
/// A token the server refuses already needs no ending.
async fn end_on_server(ctx: &Context, session: StoredSession, all: bool) -> anyhow::Result<()> {
    let api = Api::new(&session.server)?;
    if all {
        let mut refresher = Refresher::new(api.clone(), Some(ctx.dir.clone()), session);
        let access = refresher.access_token().await?;
        return Ok(api.logout_all(&access).await?);
    }
    // Under the lock, so no other process rotates the token while it is being retired.
    let _lock = ctx.dir.lock_session().await?;
    let refresh = ctx
        .dir
        .load_session()?
        .map_or(session.refresh, |s| s.refresh);
    match api.logout(&refresh).await {
        Ok(()) | Err(api::Error::Unauthorized(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `chat password`: changes the password; this session goes on, every other one ends.
pub async fn password(ctx: &Context, source: &PasswordSource) -> anyhow::Result<()> {
    let session = ctx.dir.session_for(&ctx.settings.server)?;
    let (old, new) = read_password_change(source)?;
    let mut refresher = Refresher::new(ctx.api.clone(), Some(ctx.dir.clone()), session);
    let access = refresher.access_token().await?;
    match ctx.api.change_password(&access, &old, &new).await {
        Ok(()) => {}
        Err(api::Error::BadRequest(detail)) => bail!("password not changed: {detail}"),
        Err(e) => return Err(e.into()),
    }
    if ctx.json {
        print_json(&json!({ "password_changed": true }))
    } else {
        println!("password changed; every other session was signed out");
        Ok(())
    }
}

/// The current and the new password: two lines of standard input with `--password-stdin`, else
/// prompts on the terminal (the new one twice).
fn read_password_change(source: &PasswordSource) -> anyhow::Result<(String, String)> {
    let (old, new) = if source.password_stdin {
        let mut stdin = std::io::stdin().lock();
        let mut line = || -> anyhow::Result<String> {
            let mut line = String::new();
            stdin
                .read_line(&mut line)
                .context("cannot read a password from standard input")?;
            Ok(line.trim_end_matches(['\r', '\n']).to_owned())
        };
        (line()?, line()?)
    } else if std::io::stdin().is_terminal() {
        let old =
            rpassword::prompt_password("Current password: ").context("cannot read the password")?;
        let new = rpassword::prompt_password("New password (8 characters or more): ")
            .context("cannot read the password")?;
        let again = rpassword::prompt_password("New password again: ")
            .context("cannot read the password")?;
        if new != again {
            bail!("the new passwords differ");
        }
        (old, new)
    } else {
        bail!(
            "no passwords: use --password-stdin (the current one, then the new one, a line each), or run in a terminal to be asked"
        );
    };
    if old.is_empty() || new.is_empty() {
        bail!("a password is empty: give the current one, then the new one, a line each");
    }
    Ok((old, new))
}

/// `chat whoami`: the stored session, confirmed by the server.
pub async fn whoami(ctx: &Context) -> anyhow::Result<()> {
    let session = ctx.dir.session_for(&ctx.settings.server)?;
    let mut refresher = Refresher::new(ctx.api.clone(), Some(ctx.dir.clone()), session);
    let access = refresher.access_token().await?;
    let session = refresher.session().clone();
    let me = ctx.api.me(&access).await?;
    let confirmed = StoredSession {
        username: me.username,
        user_id: me.id,
        ..session
    };
    print_account(ctx, "logged in as", &confirmed)
}
