//! REST calls to the server: register, log in, refresh, log out, change the password, who am I,
//! delete the account; and the WebSocket URL.

use std::time::Duration;

use chat_shared::rest::{
    AccessToken, ApiError, Credentials, PasswordChange, PasswordConfirmation, RefreshRequest,
    TokenPair, UserInfo,
};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;

/// How long one REST call may take before it counts as unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a REST call failed, sorted by what a caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server URL itself is unusable.
    #[error("bad server URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    /// No answer: refused, timed out, DNS, TLS.
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// 401: wrong username or password, or an invalid or expired token.
    #[error("not authorized: {0}")]
    Unauthorized(String),
    /// 409: the username is taken.
    #[error("username taken: {0}")]
    Conflict(String),
    /// 400: the server rejected the input; carries its `detail`.
    #[error("rejected: {0}")]
    BadRequest(String),
    /// Any other answer, or one we could not read.
    #[error("unexpected answer from the server ({status}): {detail}")]
    Other { status: u16, detail: String },
}

/// A REST client bound to one server base URL such as `http://127.0.0.1:8000`.
#[derive(Debug, Clone)]
pub struct Api {
    base: Url,
    http: reqwest::Client,
}

impl Api {
    /// A client for the server at `base` (scheme `http` or `https`; a missing scheme means `http`).
    pub fn new(base: &str) -> Result<Self, Error> {
        let base = parse_base(base)?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| Error::Other {
                status: 0,
                detail: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Api { base, http })
    }

    /// The server base URL, normalised (always ends in `/`).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `POST /api/register/`: creates an account.
    pub async fn register(&self, username: &str, password: &str) -> Result<UserInfo, Error> {
        let body = Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        self.call(self.http.post(self.url("api/register/")?).json(&body))
            .await
    }

    /// `POST /api/token/`: exchanges a username and password for a token pair.
    pub async fn login(&self, username: &str, password: &str) -> Result<TokenPair, Error> {
        let body = Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        self.call(self.http.post(self.url("api/token/")?).json(&body))
            .await
    }

    /// `POST /api/token/refresh/`: a fresh access token from a refresh token, and its successor
    /// when the server rotates refresh tokens (the one presented is then retired: store the new
    /// one; [`crate::session::Refresher`] does).
    pub async fn refresh(&self, refresh: &str) -> Result<AccessToken, Error> {
        let body = RefreshRequest {
            refresh: refresh.to_owned(),
        };
        self.call(self.http.post(self.url("api/token/refresh/")?).json(&body))
            .await
    }

    /// `POST /api/logout/`: ends the session `refresh` belongs to (its sockets close).
    pub async fn logout(&self, refresh: &str) -> Result<(), Error> {
        let body = RefreshRequest {
            refresh: refresh.to_owned(),
        };
        self.call::<serde_json::Value>(self.http.post(self.url("api/logout/")?).json(&body))
            .await
            .map(drop)
    }

    /// `POST /api/logout/all/`: ends every session of the account `access` belongs to.
    pub async fn logout_all(&self, access: &str) -> Result<(), Error> {
        let request = self
            .http
            .post(self.url("api/logout/all/")?)
            .bearer_auth(access);
        self.call::<serde_json::Value>(request).await.map(drop)
    }

    /// `POST /api/password/`: changes the password; every other session ends, this one goes on.
    pub async fn change_password(
        &self,
        access: &str,
        old_password: &str,
        new_password: &str,
    ) -> Result<(), Error> {
        let body = PasswordChange {
            old_password: old_password.to_owned(),
            new_password: new_password.to_owned(),
        };
        let request = self
            .http
            .post(self.url("api/password/")?)
            .bearer_auth(access)
            .json(&body);
        self.call::<serde_json::Value>(request).await.map(drop)
    }

    /// `GET /api/me/`: the account an access token belongs to.
    pub async fn me(&self, access: &str) -> Result<UserInfo, Error> {
        self.call(self.http.get(self.url("api/me/")?).bearer_auth(access))
            .await
    }

    /// `DELETE /api/me/`: deletes the account `access` belongs to; `password` confirms it.
    pub async fn delete_account(&self, access: &str, password: &str) -> Result<(), Error> {
        let body = PasswordConfirmation {
            password: password.to_owned(),
        };
        let request = self
            .http
            .delete(self.url("api/me/")?)
            .bearer_auth(access)
            .json(&body);
        self.call::<serde_json::Value>(request).await.map(drop)
    }

    /// `GET /healthz`: fails only when the server cannot be reached at all (any HTTP answer
    /// means it can), so callers can tell "no server" from a failed request.
    pub async fn reachable(&self) -> Result<(), Error> {
        match self
            .call::<serde_json::Value>(self.http.get(self.url("healthz")?))
            .await
        {
            Err(e @ (Error::Unreachable { .. } | Error::BadUrl { .. })) => Err(e),
            _ => Ok(()),
        }
    }

    /// The chat WebSocket URL for an access token: `ws[s]://HOST/ws/chat/?token=…`.
    pub fn ws_url(&self, access: &str) -> String {
        let mut url = self
            .base
            .join("ws/chat/")
            .unwrap_or_else(|_| self.base.clone());
        let scheme = if self.base.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        // http→ws and https→wss are both "special" schemes, so this cannot fail.
        let _ = url.set_scheme(scheme);
        url.query_pairs_mut().clear().append_pair("token", access);
        url.to_string()
    }

    fn url(&self, path: &str) -> Result<Url, Error> {
        self.base.join(path).map_err(|e| Error::BadUrl {
            url: self.base.to_string(),
            reason: e.to_string(),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Error> {
        if self.base.scheme() == "https" {
            // Built without a TLS stack to keep builds small; say so instead of a connect error.
            return Err(Error::BadUrl {
                url: self.base.to_string(),
                reason: "this build of chat speaks plain http only; use an http:// URL".to_owned(),
            });
        }
        let response = request.send().await.map_err(|e| Error::Unreachable {
            url: self.base.to_string(),
            reason: describe(&e),
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| Error::Unreachable {
            url: self.base.to_string(),
            reason: describe(&e),
        })?;
        if status.is_success() {
            // `204 No Content` has no body: read it as JSON `null`.
            let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(body).map_err(|e| Error::Other {
                status: status.as_u16(),
                detail: format!("unreadable answer: {e}"),
            });
        }
        let detail = match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(error) => error.detail,
            Err(_) => {
                let text = String::from_utf8_lossy(&bytes);
                let text = text.trim();
                if text.is_empty() {
                    status.canonical_reason().unwrap_or("no detail").to_owned()
                } else {
                    text.chars().take(300).collect()
                }
            }
        };
        Err(match status {
            StatusCode::UNAUTHORIZED => Error::Unauthorized(detail),
            StatusCode::CONFLICT => Error::Conflict(detail),
            StatusCode::BAD_REQUEST => Error::BadRequest(detail),
            _ => Error::Other {
                status: status.as_u16(),
                detail,
            },
        })
    }
}

/// Parses a server base URL, adding `http://` when no scheme is given and a trailing `/` so
/// that joining `api/...` keeps any path prefix.
fn parse_base(text: &str) -> Result<Url, Error> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| Error::BadUrl {
        url: text.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::BadUrl {
            url: text.to_owned(),
            reason: "the scheme must be http or https".to_owned(),
        });
    }
    if url.host_str().is_none() {
        return Err(Error::BadUrl {
            url: text.to_owned(),
            reason: "no host".to_owned(),
        });
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// A reqwest error with its causes, which name the real reason (refused, timed out, ...).
fn describe(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = source.and_then(|s| s.source());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_url_follows_the_scheme_and_encodes_the_token() {
        let api = Api::new("http://127.0.0.1:8000").unwrap();
        assert_eq!(
            api.ws_url("a.b+c"),
            "ws://127.0.0.1:8000/ws/chat/?token=a.b%2Bc"
        );
        let api = Api::new("https://chat.example/prefix").unwrap();
        assert_eq!(
            api.ws_url("t"),
            "wss://chat.example/prefix/ws/chat/?token=t"
        );
    }

    #[test]
    fn base_urls_are_normalised_or_rejected() {
        let api = Api::new("localhost:9000").unwrap();
        assert_eq!(api.base().as_str(), "http://localhost:9000/");
        assert!(matches!(Api::new("ftp://host"), Err(Error::BadUrl { .. })));
        assert!(matches!(Api::new("http://"), Err(Error::BadUrl { .. })));
    }

    #[tokio::test]
    async fn https_is_refused_with_a_clear_reason() {
        let api = Api::new("https://127.0.0.1:1").unwrap();
        let error = api.me("t").await.unwrap_err();
        assert!(error.to_string().contains("plain http only"), "{error}");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        // Bind then drop a listener: its port is (almost certainly) closed afterwards.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let api = Api::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let error = api.login("a", "b").await.unwrap_err();
        assert!(matches!(error, Error::Unreachable { .. }), "{error:?}");
        assert!(error.to_string().contains("cannot reach"), "{error}");
        assert!(matches!(
            api.reachable().await,
            Err(Error::Unreachable { .. })
        ));
    }
}
