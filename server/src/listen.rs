//! The accept loop: the cap on open connections, HTTP/1 with a deadline for each request head and
//! for each request body, TCP_NODELAY, and a graceful stop. A WebSocket leaves this loop once
//! upgraded (`ws` owns it), but keeps its place under the cap until its socket closes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chat_shared::rest::ApiError;
use http_body_util::LengthLimitError;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Layer;

use crate::config::Config;

/// File descriptors kept out of the connection cap for the database, Redis, logs and the
/// listener itself (a quarter of the limit when that is smaller).
const RESERVED_FILES: u64 = 256;
/// Longest pause after a failed accept (EMFILE and the like), so that the loop never spins.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// Largest request body read (axum's own default for its extractors).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What a connection beyond the cap is told before it is closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
content-length: 61\r\n\
connection: close\r\n\
\r\n\
{\"detail\":\"Too many open connections.\",\"code\":\"unavailable\"}\n";

/// Raises the soft open-file limit to the hard one, and returns the connection cap:
/// `--max-open-connections` when set, else the open-file limit less a reserve.
pub fn connection_cap(config: &Config) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "could not read or raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    };
    let derived = cap_below(limit);
    let cap = config.max_open_connections.map_or(derived, u64::from);
    if cap > derived {
        tracing::warn!(
            cap,
            open_file_limit = limit,
            "--max-open-connections leaves little room below the open-file limit"
        );
    }
    usize::try_from(cap)
        .unwrap_or(usize::MAX)
        .min(Semaphore::MAX_PERMITS)
}

/// The open-file limit less what is kept for other files.
fn cap_below(open_file_limit: u64) -> u64 {
    let reserved = RESERVED_FILES.min(open_file_limit / 4);
    open_file_limit.saturating_sub(reserved).max(1)
}

/// Accepts connections until `stop` is cancelled, serving each with `app`; every connection's
/// task is on `tracker`, and told to finish its request and close when `stop` is cancelled.
pub async fn accept_loop(
    listener: TcpListener,
    app: Router,
    cap: usize,
    header_timeout: Duration,
    stop: CancellationToken,
    tracker: &TaskTracker,
) {
    let open = Arc::new(Semaphore::new(cap));
    let mut http = http1::Builder::new();
    // hyper starts this timer whenever the connection waits for a request head: at accept and
    // after each response, so it is also the idle keep-alive timeout.
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let mut backoff = Duration::from_millis(10);
    // Logged once when the cap is reached and once when there is room again, not per refusal:
    // a flood of connections must not become a flood of log lines.
    let mut at_cap = false;
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    backoff = Duration::from_millis(10);
                    accepted
                }
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to close.
                    tracing::error!(error = %e, "accept failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if !at_cap {
                tracing::warn!(cap, "open connections at the cap; refusing new ones");
                at_cap = true;
            }
            refuse(tcp);
            continue;
        };
        if at_cap {
            tracing::info!(cap, "open connections below the cap again");
            at_cap = false;
        }
        // No Nagle: a chat frame is small and must leave at once, not wait for the peer's ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let io = TokioIo::new(Counted {
            tcp,
            _permit: permit,
        });
        let peer = axum::Extension(ConnectInfo(peer));
        let service = TowerToHyperService::new(peer.layer(app.clone()));
        let connection = http.serve_connection(io, service).with_upgrades();
        let stop = stop.clone();
        tracker.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => log_served(served),
                _ = stop.cancelled() => {
                    // Finish the request in progress (an idle connection closes at once).
                    connection.as_mut().graceful_shutdown();
                    log_served(connection.await);
                }
            }
        });
    }
}

fn log_served(served: Result<(), hyper::Error>) {
    if let Err(e) = served {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Errors of one connection that came and went before it was accepted: nothing to wait for.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Answers a connection beyond the cap with a 503 and closes it, without waiting: the answer fits
/// in the empty socket buffer of a new connection, and if it does not, the close alone is the
/// answer.
fn refuse(tcp: TcpStream) {
    let _ = tcp.try_write(REFUSAL);
}

/// A TCP stream that holds a place under the connection cap for as long as it is open (through
/// a WebSocket upgrade too: hyper hands this same stream to the WebSocket).
struct Counted {
    tcp: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// Middleware: a request's whole body must arrive within `--http-body-timeout` (counted from the
/// end of its head), else 408; a body trickled a byte at a time cannot hold a connection.
pub async fn body_deadline(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    use axum::body::HttpBody;
    if request.body().size_hint().exact() == Some(0) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if is_length_limit(&e) => {
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large.",
                "too_large",
            );
        }
        Ok(Err(_)) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "Request body could not be read.",
                "invalid",
            );
        }
        Err(_) => {
            return refusal(
                StatusCode::REQUEST_TIMEOUT,
                "Request body not received in time.",
                "timeout",
            );
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// An error answer in the `{"detail","code"}` shape, closing the connection (the rest of an
/// unread body would otherwise be taken for the next request).
fn refusal(status: StatusCode, detail: &str, code: &str) -> Response {
    let body = ApiError {
        detail: detail.to_string(),
        code: code.to_string(),
    };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_below_the_open_file_limit() {
        assert_eq!(cap_below(20_000), 19_744);
        assert_eq!(cap_below(1024), 768);
        assert_eq!(cap_below(100), 75, "a quarter when that is less than 256");
        assert_eq!(cap_below(1), 1);
    }

    #[test]
    fn the_refusal_is_a_whole_response_with_a_json_body() {
        let text = std::str::from_utf8(REFUSAL).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head");
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .and_then(|n| n.parse().ok())
            .expect("a content-length");
        assert_eq!(length, body.len());
        let error: ApiError = serde_json::from_str(body).expect("our error shape");
        assert_eq!(error.code, "unavailable");
    }
}
