//! Hand-made JWTs for tests of what the server refuses: other algorithms, `alg: none`, wrong
//! keys, expired times, wrong types, `nbf` in the future.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// simplejwt-shaped claims.
pub fn claims(user_id: i64, token_type: &str, exp: i64) -> Value {
    json!({"token_type": token_type, "exp": exp, "iat": now(), "jti": "abc", "user_id": user_id})
}

/// `claims` with a `nbf` (not before) claim of `nbf` seconds since the epoch.
pub fn not_before(mut claims: Value, nbf: i64) -> Value {
    claims["nbf"] = json!(nbf);
    claims
}

/// `claims` signed with `alg` and `secret`.
pub fn sign(alg: Algorithm, secret: &str, claims: &Value) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&Header::new(alg), claims, &key).expect("signing")
}

/// `claims` with `alg: none` and no signature.
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{body}.")
}
