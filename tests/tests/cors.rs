//! CORS on the REST API: pages from `--allowed-origins` may call it, others get no CORS header.

use chat_e2e::{PASSWORD, TestServer, credentials, unique_name};
use chat_server::Config;
use reqwest::Method;
use reqwest::header::HeaderMap;

const APP: &str = "https://app.example.com";

/// `OPTIONS path` as a browser sends it before a cross-origin `method` with `headers`.
async fn preflight(server: &TestServer, path: &str, origin: &str, method: &str) -> HeaderMap {
    let response = reqwest::Client::new()
        .request(Method::OPTIONS, format!("{}{path}", server.http_url()))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("OPTIONS");
    assert!(response.status().is_success(), "{}", response.status());
    response.headers().clone()
}

/// `POST /api/register/` from a page of `origin`; the status and the headers.
async fn register_from(server: &TestServer, origin: &str) -> (u16, HeaderMap) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/register/", server.http_url()))
        .header("origin", origin)
        .json(&credentials(&unique_name("cors"), PASSWORD))
        .send()
        .await
        .expect("POST");
    (response.status().as_u16(), response.headers().clone())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().expect("ASCII header"))
}

/// The comma-separated values of a header, in lower case.
fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    header(headers, name)
        .unwrap_or_default()
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn an_allowed_origin_is_answered_with_cors_headers() {
    let server = TestServer::start_with(&[
        "--allowed-origins",
        "https://other.example,HTTPS://App.Example.com/",
    ])
    .await;
    for (path, method) in [
        ("/api/register/", "POST"),
        ("/api/token/", "POST"),
        ("/api/me/", "GET"),
    ] {
        let headers = preflight(&server, path, APP, method).await;
        assert_eq!(header(&headers, "access-control-allow-origin"), Some(APP));
        let methods = list(&headers, "access-control-allow-methods");
        for method in ["get", "post", "delete"] {
            assert!(methods.contains(&method.to_string()), "{methods:?}");
        }
        let allowed = list(&headers, "access-control-allow-headers");
        for name in ["authorization", "content-type"] {
            assert!(allowed.contains(&name.to_string()), "{allowed:?}");
        }
        assert_eq!(header(&headers, "access-control-allow-credentials"), None);
        assert!(list(&headers, "vary").iter().any(|v| v == "origin"));
    }
    let (status, headers) = register_from(&server, APP).await;
    assert_eq!(status, 201);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(APP));
    assert_eq!(
        list(&headers, "access-control-expose-headers"),
        ["retry-after"]
    );
    assert_eq!(header(&headers, "access-control-allow-credentials"), None);
}

#[tokio::test]
async fn other_origins_get_no_cors_headers() {
    let listed = TestServer::start_with(&["--allowed-origins", APP]).await;
    let unlisted = TestServer::start().await;
    for server in [&listed, &unlisted] {
        let headers = preflight(server, "/api/token/", "http://evil.example", "POST").await;
        assert_eq!(header(&headers, "access-control-allow-origin"), None);
        let (_, headers) = register_from(server, "http://evil.example").await;
        assert_eq!(header(&headers, "access-control-allow-origin"), None);
    }
    let headers = preflight(&unlisted, "/api/token/", APP, "POST").await;
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
    // CORS is for the REST API; the rest of the server is not meant for other origins' pages.
    let health = reqwest::Client::new()
        .get(format!("{}/healthz", listed.http_url()))
        .header("origin", APP)
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(
        header(health.headers(), "access-control-allow-origin"),
        None
    );
}

#[test]
fn allowed_origins_are_origins_never_a_wildcard() {
    let parse = |value: &str| {
        Config::from_args(["chat-server", "--allowed-origins", value]).map(|c| c.allowed_origins)
    };
    assert_eq!(
        parse("https://A.example/,http://127.0.0.1:8080").unwrap(),
        ["https://a.example", "http://127.0.0.1:8080"]
    );
    for bad in [
        "*",
        "a.example",
        "https://a.example/path",
        "ftp://a.example",
        "https://",
    ] {
        let error = parse(bad).expect_err(bad).to_string();
        assert!(error.contains("--allowed-origins"), "{bad}: {error}");
    }
}
