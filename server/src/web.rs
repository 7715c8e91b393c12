//! The browser client: the static page, its scripts and stylesheet embedded in the binary,
//! served with security headers that keep the page to its own origin. The page carries the
//! server's limits, rendered in at start-up, so it refuses what the server would.

use axum::Router;
use axum::body::Bytes;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::config::Config;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const STYLE_CSS: &str = include_str!("../static/style.css");
const FAVICON_SVG: &str = include_str!("../static/favicon.svg");

/// The client's ES modules, served at `/js/NAME`; `app.js` imports `main.js`, which imports
/// the rest.
const MODULES: [(&str, &str); 19] = [
    ("main.js", include_str!("../static/js/main.js")),
    ("account.js", include_str!("../static/js/account.js")),
    ("dom.js", include_str!("../static/js/dom.js")),
    ("protocol.js", include_str!("../static/js/protocol.js")),
    ("state.js", include_str!("../static/js/state.js")),
    ("session.js", include_str!("../static/js/session.js")),
    ("socket.js", include_str!("../static/js/socket.js")),
    ("list.js", include_str!("../static/js/list.js")),
    ("typing.js", include_str!("../static/js/typing.js")),
    ("receipts.js", include_str!("../static/js/receipts.js")),
    ("thread.js", include_str!("../static/js/thread.js")),
    ("composer.js", include_str!("../static/js/composer.js")),
    ("outbox.js", include_str!("../static/js/outbox.js")),
    ("actions.js", include_str!("../static/js/actions.js")),
    ("search.js", include_str!("../static/js/search.js")),
    ("groups.js", include_str!("../static/js/groups.js")),
    ("readers.js", include_str!("../static/js/readers.js")),
    ("sync.js", include_str!("../static/js/sync.js")),
    (
        "conversations.js",
        include_str!("../static/js/conversations.js"),
    ),
];

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// Where in `index.html` the page's config goes: the body of `<script id="config">`.
const CONFIG_PLACEHOLDER: &str = "{{config}}";

/// Longest `Host` header echoed into the Content-Security-Policy.
const MAX_HOST_LEN: usize = 255;

/// What the page reads of the server's configuration (`protocol.js` parses it).
#[derive(Debug, Serialize)]
struct PageConfig {
    /// `--max-message-chars`, counted in chars (Unicode scalar values), as the page counts too.
    max_message_chars: usize,
}

/// `GET /`, `/app.js`, `/js/*.js`, `/style.css` and `/favicon.svg`: the browser client, its page
/// rendered once here with `config`'s limits.
///
/// Generic over the router state so it merges into any `Router<S>`.
pub fn routes<S>(config: &Config) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let page = render_index(config);
    let mut router = Router::new()
        .route(
            "/",
            get(move |headers: HeaderMap| async move { index(&headers, page) }),
        )
        .route("/app.js", get(app_js))
        .route("/style.css", get(style_css))
        .route("/favicon.svg", get(favicon));
    for (name, text) in MODULES {
        router = router.route(
            &format!("/js/{name}"),
            get(move |headers: HeaderMap| async move { script(&headers, text) }),
        );
    }
    router
}

/// `index.html` with the server's limits in its config block.
fn render_index(config: &Config) -> Bytes {
    let page_config = PageConfig {
        max_message_chars: config.max_message_chars,
    };
    // Numbers only: nothing in it can end the `<script>` element it goes into.
    let json = serde_json::to_string(&page_config).expect("a struct of numbers serializes");
    Bytes::from(INDEX_HTML.replacen(CONFIG_PLACEHOLDER, &json, 1))
}

/// `GET /`: the chat page.
fn index(headers: &HeaderMap, page: Bytes) -> Response {
    asset(headers, HTML, page)
}

/// `GET /app.js`: the page's script, which loads the modules.
async fn app_js(headers: HeaderMap) -> Response {
    script(&headers, APP_JS)
}

/// `GET /js/NAME` (one of the client's modules) and `GET /app.js`: a script.
fn script(headers: &HeaderMap, text: &'static str) -> Response {
    asset(headers, JAVASCRIPT, Bytes::from_static(text.as_bytes()))
}

/// `GET /style.css`: the page's stylesheet.
async fn style_css(headers: HeaderMap) -> Response {
    asset(
        &headers,
        "text/css; charset=utf-8",
        Bytes::from_static(STYLE_CSS.as_bytes()),
    )
}

/// `GET /favicon.svg`: the page's icon (also spares the log a 404 per visit).
async fn favicon(headers: HeaderMap) -> Response {
    asset(
        &headers,
        "image/svg+xml",
        Bytes::from_static(FAVICON_SVG.as_bytes()),
    )
}

/// One embedded file with its content type and the security headers every asset carries.
fn asset(request: &HeaderMap, content_type: &'static str, body: Bytes) -> Response {
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
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::Service;

    fn config(args: &[&str]) -> Config {
        Config::from_args(["chat-server"].iter().chain(args)).expect("valid test flags")
    }

    /// `GET path` through the routes, as a browser at `host` asks.
    async fn get_path(path: &str, host: &str, config: &Config) -> Response {
        let mut router = routes::<()>(config);
        let request = Request::get(path)
            .header(header::HOST, host)
            .body(Body::empty())
            .expect("test request");
        router.call(request).await.expect("infallible router")
    }

    async fn body_text(response: Response) -> String {
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("in-memory body")
            .to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf-8 asset")
    }

    fn header_of<'a>(response: &'a Response, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("missing header {name}"))
            .to_str()
            .expect("ascii header")
    }

    /// `app.js` and every module, with their names.
    fn scripts() -> impl Iterator<Item = (&'static str, &'static str)> {
        [("app.js", APP_JS)].into_iter().chain(MODULES)
    }

    /// The text of the module `name`.
    fn source(name: &str) -> &'static str {
        MODULES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| *text)
            .unwrap_or_else(|| panic!("{name} is not served"))
    }

    /// The modules `text` imports: `from './NAME.js'` and `import('/js/NAME.js')`.
    fn imports(text: &str) -> Vec<&str> {
        let mut names = Vec::new();
        for (open, close) in [("from './", "'"), ("import('/js/", "'")] {
            let mut rest = text;
            while let Some(at) = rest.find(open) {
                rest = &rest[at + open.len()..];
                let end = rest.find(close).expect("closed import path");
                names.push(&rest[..end]);
            }
        }
        names
    }

    #[tokio::test]
    async fn page_carries_type_and_security_headers() {
        let response = get_path("/", "127.0.0.1:8000", &config(&[])).await;
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
    async fn page_carries_the_configured_limit() {
        let response = get_path("/", "localhost", &config(&["--max-message-chars", "123"])).await;
        let page = body_text(response).await;
        assert!(
            page.contains(
                r#"<script id="config" type="application/json">{"max_message_chars":123}</script>"#
            ),
            "{page}"
        );
        assert!(!page.contains(CONFIG_PLACEHOLDER));
    }

    #[tokio::test]
    async fn assets_have_their_content_types() {
        let config = config(&[]);
        let js = get_path("/app.js", "localhost", &config).await;
        assert_eq!(
            header_of(&js, "content-type"),
            "text/javascript; charset=utf-8"
        );
        assert!(header_of(&js, "content-security-policy").contains("ws://localhost "));
        let css = get_path("/style.css", "localhost", &config).await;
        assert_eq!(header_of(&css, "content-type"), "text/css; charset=utf-8");
        let icon = get_path("/favicon.svg", "localhost", &config).await;
        assert_eq!(header_of(&icon, "content-type"), "image/svg+xml");
    }

    #[tokio::test]
    async fn every_module_is_served_as_app_js_is() {
        let config = config(&[]);
        // Every header but the length.
        let headers_of = |response: &Response| {
            let mut headers = response.headers().clone();
            headers.remove(header::CONTENT_LENGTH);
            headers
        };
        let app = headers_of(&get_path("/app.js", "localhost", &config).await);
        for (name, text) in MODULES {
            let response = get_path(&format!("/js/{name}"), "localhost", &config).await;
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            assert_eq!(headers_of(&response), app, "{name}");
            assert_eq!(body_text(response).await, text, "{name}");
        }
    }

    #[test]
    fn modules_import_only_served_modules_one_way() {
        let served = |name: &str| MODULES.iter().any(|(n, _)| *n == name);
        assert_eq!(imports(APP_JS), ["main.js"]);
        for (name, text) in MODULES {
            for import in imports(text) {
                assert!(
                    served(import),
                    "{name} imports {import}, which is not served"
                );
            }
        }
        // Depth-first from main.js: every module is reached, and none imports its importer.
        fn visit(name: &'static str, path: &mut Vec<&'static str>, seen: &mut Vec<&'static str>) {
            assert!(!path.contains(&name), "import cycle: {path:?} -> {name}");
            if seen.contains(&name) {
                return;
            }
            seen.push(name);
            path.push(name);
            for import in imports(source(name)) {
                visit(import, path, seen);
            }
            path.pop();
        }
        let mut seen = Vec::new();
        visit("main.js", &mut Vec::new(), &mut seen);
        assert_eq!(seen.len(), MODULES.len(), "modules main.js never reaches");
    }

    #[test]
    fn page_knows_the_close_code_of_an_unauthorized_socket() {
        let line = format!(
            "export const CLOSE_UNAUTHORIZED = {};",
            chat_shared::close::UNAUTHORIZED
        );
        assert!(
            source("protocol.js").contains(&line),
            "protocol.js lacks {line}"
        );
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
        let texts = [("index.html", INDEX_HTML), ("style.css", STYLE_CSS)];
        for (name, text) in texts.into_iter().chain(scripts()) {
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
        for (name, text) in scripts() {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!text.contains(sink), "{name} uses {sink}");
            }
        }
    }
}
