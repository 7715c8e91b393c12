//! `chat register`, `login`, `logout`, `whoami`: accounts and the stored session.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context as _, bail};
use serde_json::json;

use super::{Context, PasswordSource, print_json};
use crate::session::StoredSession;
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

/// `chat logout`.
pub fn logout(ctx: &Context) -> anyhow::Result<()> {
    ctx.dir.clear_session()?;
    if ctx.json {
        print_json(&json!({ "logged_out": true }))
    } else {
        println!("logged out");
        Ok(())
    }
}

/// `chat whoami`: the stored session, confirmed by the server.
pub async fn whoami(ctx: &Context) -> anyhow::Result<()> {
    let session = ctx.dir.session_for(&ctx.settings.server)?;
    let access = session.access_token(&ctx.api).await?;
    let me = ctx.api.me(&access).await?;
    let confirmed = StoredSession {
        username: me.username,
        user_id: me.id,
        ..session
    };
    print_account(ctx, "logged in as", &confirmed)
}
