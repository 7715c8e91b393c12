//! Tokens (HS256 JWTs shaped like djangorestframework-simplejwt's) and the JWT secret;
//! passwords are hashed in `hasher`, and requests name their user through `http::AuthUser`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize};

/// Which of the two token kinds a JWT is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The claims simplejwt writes by default.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    token_type: TokenType,
    exp: i64,
    iat: i64,
    jti: String,
    /// simplejwt writes an integer; some versions write it as a string, which we accept too.
    #[serde(deserialize_with = "int_or_string")]
    user_id: i64,
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

/// Signing and checking keys, and the two lifetimes.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_lifetime: Duration,
    refresh_lifetime: Duration,
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

    /// A new signed token of `kind` for `user_id`.
    pub fn mint(&self, user_id: i64, kind: TokenType) -> String {
        let lifetime = match kind {
            TokenType::Access => self.access_lifetime,
            TokenType::Refresh => self.refresh_lifetime,
        };
        let now = chat_shared::Timestamp::now().0 / 1000;
        let claims = Claims {
            token_type: kind,
            exp: now + lifetime.as_secs() as i64,
            iat: now,
            jti: format!("{:032x}", rand::rng().random::<u128>()),
            user_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with a byte secret cannot fail")
    }

    /// The user id of a valid, unexpired (and, with `nbf`, already valid) token of `kind`, or
    /// `None`.
    pub fn verify(&self, token: &str, kind: TokenType) -> Option<i64> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        (data.claims.token_type == kind).then_some(data.claims.user_id)
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
