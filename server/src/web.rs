//! The browser client: the static page, script and stylesheet embedded in the binary, served
//! with security headers that keep the page to its own origin.

use axum::Router;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const STYLE_CSS: &str = include_str!("../static/style.css");
const FAVICON_SVG: &str = include_str!("../static/favicon.svg");

/// Longest `Host` header echoed into the Content-Security-Policy.
const MAX_HOST_LEN: usize = 255;

/// `GET /`, `/app.js`, `/style.css` and `/favicon.svg`: the browser client.
///
/// Generic over the router state so it merges into any `Router<S>`.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/style.css", get(style_css))
        .route("/favicon.svg", get(favicon))
}

/// `GET /`: the chat page.
async fn index(headers: HeaderMap) -> Response {
    asset(&headers, "text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /app.js`: the page's script.
async fn app_js(headers: HeaderMap) -> Response {
    asset(&headers, "text/javascript; charset=utf-8", APP_JS)
}

/// `GET /style.css`: the page's stylesheet.
async fn style_css(headers: HeaderMap) -> Response {
    asset(&headers, "text/css; charset=utf-8", STYLE_CSS)
}

/// `GET /favicon.svg`: the page's icon (also spares the log a 404 per visit).
async fn favicon(headers: HeaderMap) -> Response {
    asset(&headers, "image/svg+xml", FAVICON_SVG)
}

/// One embedded file with its content type and the security headers every asset carries.
fn asset(request: &HeaderMap, content_type: &'static str, body: &'static str) -> Response {
    let host = request.get(header::HOST).and_then(|h| h.to_str().ok());
    let csp = content_security_policy(host);
    let headers: [(HeaderName, HeaderValue); 10] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            // Only characters checked by `valid_host` and fixed text go in.
            HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static(BASE_CSP)),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(
                "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
            ),
        ),
        // Revalidate every time, so a new server binary's page is picked up at once.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::VARY, HeaderValue::from_static("Host")),
    ];
    (headers, body).into_response()
}

/// The policy without the WebSocket origins: everything from this origin only, nothing else.
/// `form-action 'none'`: forms are sent by the script, so a native submission (which would put
/// the password in a URL) is refused.
const BASE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The Content-Security-Policy for a page fetched through `host`: [`BASE_CSP`] with the
/// WebSocket origins of that host added to `connect-src` (older browsers do not let `'self'`
/// cover `ws:`/`wss:`). A missing or odd host leaves them out rather than echo it.
fn content_security_policy(host: Option<&str>) -> String {
    match host.filter(|h| valid_host(h)) {
        Some(host) => BASE_CSP.replacen(
            "connect-src 'self'",
            &format!("connect-src 'self' ws://{host} wss://{host}"),
            1,
        ),
        None => BASE_CSP.to_owned(),
    }
}

/// Whether `host` is a plain `name[:port]` or `[v6]:port`, safe to place inside a header.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= MAX_HOST_LEN
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn with_host(host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            HeaderValue::from_str(host).expect("test host"),
        );
        headers
    }

    fn header_of<'a>(response: &'a Response, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("missing header {name}"))
            .to_str()
            .expect("ascii header")
    }

    #[tokio::test]
    async fn page_carries_type_and_security_headers() {
        let response = index(with_host("127.0.0.1:8000")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header_of(&response, "content-type"),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_of(&response, "x-content-type-options"), "nosniff");
        assert_eq!(header_of(&response, "referrer-policy"), "no-referrer");
        assert_eq!(header_of(&response, "x-frame-options"), "DENY");
        let csp = header_of(&response, "content-security-policy");
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' ws://127.0.0.1:8000 wss://127.0.0.1:8000;"),
            "{csp}"
        );
    }

    #[tokio::test]
    async fn assets_have_their_content_types() {
        let host = with_host("localhost");
        let js = app_js(host.clone()).await;
        assert_eq!(
            header_of(&js, "content-type"),
            "text/javascript; charset=utf-8"
        );
        assert!(header_of(&js, "content-security-policy").contains("ws://localhost "));
        let css = style_css(host.clone()).await;
        assert_eq!(header_of(&css, "content-type"), "text/css; charset=utf-8");
        let icon = favicon(host).await;
        assert_eq!(header_of(&icon, "content-type"), "image/svg+xml");
    }

    #[test]
    fn odd_hosts_are_not_echoed_into_the_policy() {
        for host in [
            "evil.test; script-src *",
            "a b",
            "",
            "x\"y",
            &"a".repeat(300),
        ] {
            assert_eq!(content_security_policy(Some(host)), BASE_CSP, "{host:?}");
        }
        assert_eq!(content_security_policy(None), BASE_CSP);
        assert!(content_security_policy(Some("[::1]:9000")).contains("wss://[::1]:9000"));
    }

    #[test]
    fn page_loads_nothing_from_other_origins() {
        for (name, text) in [("index.html", INDEX_HTML), ("style.css", STYLE_CSS)] {
            assert!(!text.contains("://"), "{name} names another origin");
            assert!(!text.contains("src=\"//"), "{name} names another origin");
        }
        assert!(INDEX_HTML.contains("<script src=\"/app.js\""));
        assert!(
            !INDEX_HTML.contains("<script>"),
            "inline script would break the CSP"
        );
        assert!(
            !INDEX_HTML.contains("style="),
            "inline style would break the CSP"
        );
    }

    #[test]
    fn script_never_writes_html() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!APP_JS.contains(sink), "app.js uses {sink}");
        }
    }
}
