//! Tokens (HS256 JWTs shaped like djangorestframework-simplejwt's, with a session id) and the JWT
//! secret; passwords are hashed in `hasher`, whether a token's session still stands is
//! `sessions`' to say, and requests name their user through `http::AuthUser`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chat_shared::rest::TokenPair;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize};

use crate::store::{NewTokens, SessionTokens};

/// Which of the two token kinds a JWT is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The claims simplejwt writes by default, and ours: `sid`, the session the token belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    token_type: TokenType,
    exp: i64,
    iat: i64,
    jti: String,
    /// simplejwt writes an integer; some versions write it as a string, which we accept too.
    #[serde(deserialize_with = "int_or_string")]
    user_id: i64,
    /// Absent from tokens minted elsewhere with the shared secret: those belong to no session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<i64>,
}

fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Int(i64),
        Text(String),
    }
    match Id::deserialize(d)? {
        Id::Int(id) => Ok(id),
        Id::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user_id: i64,
    /// The session it belongs to; `None` for a token minted elsewhere.
    pub sid: Option<i64>,
    pub jti: String,
    /// When it was issued and when it expires, in Unix seconds.
    pub issued_at: i64,
    pub expires_at: i64,
}

/// Signing and checking keys, and the two lifetimes.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_lifetime: Duration,
    refresh_lifetime: Duration,
}

/// A fresh token id, as simplejwt writes one (32 hex digits).
fn new_jti() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}

/// Now, in Unix seconds (the unit of `iat` and `exp`).
fn now_secs() -> i64 {
    chat_shared::Timestamp::now().0 / 1000
}

impl Keys {
    pub fn new(secret: &[u8], access_lifetime: Duration, refresh_lifetime: Duration) -> Keys {
        // HS256 only: a token naming any other algorithm (`none` included) fails validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        // simplejwt writes no `nbf`, but a token that carries one is not valid before it.
        validation.validate_nbf = true;
        Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_lifetime,
            refresh_lifetime,
        }
    }

    fn lifetime(&self, kind: TokenType) -> i64 {
        let lifetime = match kind {
            TokenType::Access => self.access_lifetime,
            TokenType::Refresh => self.refresh_lifetime,
        };
        i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)
    }

    fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing with a byte secret cannot fail")
    }

    /// A new signed token of `kind` for `user_id`, of no session (as one minted elsewhere).
    pub fn mint(&self, user_id: i64, kind: TokenType) -> String {
        self.mint_in(user_id, None, kind)
    }

    /// A new signed token of `kind` for `user_id` in session `sid`.
    pub fn mint_in(&self, user_id: i64, sid: Option<i64>, kind: TokenType) -> String {
        let now = now_secs();
        self.sign(&Claims {
            token_type: kind,
            exp: now.saturating_add(self.lifetime(kind)),
            iat: now,
            jti: new_jti(),
            user_id,
            sid,
        })
    }

    /// The id and issue time of a session's next refresh token, and when it will expire (Unix
    /// milliseconds).
    pub fn next_tokens(&self) -> NewTokens {
        let issued_at = now_secs();
        NewTokens {
            refresh_jti: new_jti(),
            issued_at,
            expires_at: issued_at.saturating_add(self.lifetime(TokenType::Refresh)) * 1000,
        }
    }

    /// A session's live refresh token and a fresh access token of the session. The same claims
    /// sign to the same bytes, so the refresh token minted again (a retry within the reuse
    /// grace) is the one first handed out; the access token is new each time, so that it is
    /// valid even when its lifetime is shorter than the grace.
    pub fn mint_pair(&self, user_id: i64, tokens: &SessionTokens) -> TokenPair {
        let refresh = Claims {
            token_type: TokenType::Refresh,
            exp: tokens
                .issued_at
                .saturating_add(self.lifetime(TokenType::Refresh)),
            iat: tokens.issued_at,
            jti: tokens.refresh_jti.clone(),
            user_id,
            sid: Some(tokens.sid),
        };
        TokenPair {
            access: self.mint_in(user_id, Some(tokens.sid), TokenType::Access),
            refresh: self.sign(&refresh),
        }
    }

    /// What a valid, unexpired (and, with `nbf`, already valid) token of `kind` says, or
    /// `None`. Whether its session or user still stands is the store's to say.
    pub fn verify(&self, token: &str, kind: TokenType) -> Option<Verified> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        (claims.token_type == kind).then_some(Verified {
            user_id: claims.user_id,
            sid: claims.sid,
            jti: claims.jti,
            issued_at: claims.iat,
            expires_at: claims.exp,
        })
    }
}

/// The JWT secret: the configured one, or the one kept beside the SQLite database, created with
/// mode 0600 on first start.
pub fn load_or_create_secret(
    configured: Option<&str>,
    beside: Option<&Path>,
) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        anyhow::ensure!(!secret.is_empty(), "JWT_SECRET is empty");
        return Ok(secret.as_bytes().to_vec());
    }
    let Some(db_path) = beside else {
        anyhow::bail!(
            "no JWT secret: set --jwt-secret / JWT_SECRET (required when the database is not a SQLite file)"
        );
    };
    let mut path = db_path.as_os_str().to_owned();
    path.push(".jwt-secret");
    let path = std::path::PathBuf::from(path);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => anyhow::bail!("{} is empty; delete it or set JWT_SECRET", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let secret = format!(
        "{:032x}{:032x}",
        rand::rng().random::<u128>(),
        rand::rng().random::<u128>()
    );
    write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new JWT secret");
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
