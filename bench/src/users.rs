//! Who the load connects as: tokens minted with the server's secret for existing user ids, or
//! fresh accounts registered and logged in through the REST API.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use chat_server::auth::{Keys, TokenType};
use chat_shared::rest::{Credentials, TokenPair, UserInfo};
use clap::Args;
use futures_util::{StreamExt, TryStreamExt};

use crate::net::Dialer;

/// Where the server is and how to get tokens for it.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The server (host:port). Use a loopback address.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub server: SocketAddr,
    /// The server's JWT secret: tokens are minted for existing user ids (`--first-user` on)
    /// instead of registering accounts. Needed against the baseline relay.
    #[arg(long)]
    pub jwt_secret: Option<String>,
    /// First user id to mint tokens for (with `--jwt-secret`); see `seed`'s `first_free_user`.
    #[arg(long, default_value_t = 1)]
    pub first_user: i64,
    /// How many 127.0.0.x source addresses client sockets are spread over.
    #[arg(long, default_value_t = 8)]
    pub source_addrs: u8,
}

impl Target {
    pub fn dialer(&self) -> Dialer {
        Dialer::new(self.server, self.source_addrs)
    }

    /// `n` users with access tokens, starting `offset` users into this target's range.
    pub async fn users(&self, n: usize, offset: usize, label: &str) -> anyhow::Result<Vec<User>> {
        match &self.jwt_secret {
            Some(secret) => {
                let first = self.first_user + offset as i64;
                Ok((0..n as i64)
                    .map(|i| User {
                        id: first + i,
                        token: mint(secret.as_bytes(), first + i),
                    })
                    .collect())
            }
            None => register(self.server, n, label).await,
        }
    }
}

/// A user the load speaks as.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub token: String,
}

/// An access token for `user_id`, valid for an hour: minted by the server's own [`Keys`], so
/// it has the server's claims.
pub fn mint(secret: &[u8], user_id: i64) -> String {
    const HOUR: Duration = Duration::from_secs(3600);
    Keys::new(secret, HOUR, HOUR).mint(user_id, TokenType::Access)
}

/// The password every benchmark account gets.
pub const PASSWORD: &str = "bench-password-1";

/// Registers `n` fresh accounts named `b{label}{run}x{i}` and logs each in (8 at a time: the
/// server hashes with argon2, which is slow on purpose).
async fn register(server: SocketAddr, n: usize, label: &str) -> anyhow::Result<Vec<User>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let run = format!("{:08x}", rand::random::<u32>());
    let base = format!("http://{server}/api");
    futures_util::stream::iter(0..n)
        .map(|i| {
            let http = http.clone();
            let creds = Credentials {
                username: format!("b{label}{run}x{i}"),
                password: PASSWORD.into(),
            };
            let base = base.clone();
            async move {
                let answer = http
                    .post(format!("{base}/register/"))
                    .json(&creds)
                    .send()
                    .await?;
                if !answer.status().is_success() {
                    bail!("register {}: {}", creds.username, answer.status());
                }
                let info: UserInfo = answer.json().await?;
                let token = login(&http, &base, &creds).await?;
                Ok(User { id: info.id, token })
            }
        })
        .buffered(8)
        .try_collect()
        .await
        .context("provisioning users through the REST API")
}

/// An access token for existing credentials.
pub async fn login(
    http: &reqwest::Client,
    base: &str,
    creds: &Credentials,
) -> anyhow::Result<String> {
    let answer = http
        .post(format!("{base}/token/"))
        .json(creds)
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!("login {}: {}", creds.username, answer.status());
    }
    let pair: TokenPair = answer.json().await?;
    Ok(pair.access)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    #[test]
    fn minted_tokens_carry_the_servers_claims() {
        let token = mint(b"secret", 42);
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_secret(b"secret"),
            &Validation::new(Algorithm::HS256),
        )
        .unwrap();
        assert_eq!(data.claims["user_id"], 42);
        assert_eq!(data.claims["token_type"], "access");
        assert!(data.claims["exp"].as_u64().unwrap() > data.claims["iat"].as_u64().unwrap());
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(
                &token,
                &DecodingKey::from_secret(b"other"),
                &Validation::new(Algorithm::HS256),
            )
            .is_err()
        );
    }
}
