//! Transport limits against the real server, with small flag values so that each test takes
//! about a second: the HTTP header deadline (a slow request head, an idle keep-alive connection),
//! the body deadline (408), WebSocket pings (a dead peer is closed, a live one stays), the cap on
//! open connections (503 beyond it, the open ones keep working), and pings under the frame rate.

use std::time::{Duration, Instant};

use chat_e2e::{RecvError, TestServer, WAIT, WsClient, unique_name};
use chat_server::auth::TokenType;
use chat_shared::{ClientMsg, ErrorCode, ServerMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// A user made straight in the store (no HTTP connection, which would count under the cap for
/// a while after its response), and an access token for them.
async fn person(server: &TestServer, prefix: &str) -> (i64, String) {
    let user = server
        .state
        .store
        .create_user(&unique_name(prefix), "not a password hash")
        .await
        .expect("create a user");
    let token = server.state.keys.mint(user.id, TokenType::Access);
    (user.id, token)
}

/// Reads until the peer closes (or resets) the connection; what it sent before, and when it
/// closed. Fails the test after [`WAIT`].
async fn read_to_close(tcp: &mut TcpStream) -> (Vec<u8>, Instant) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (received, Instant::now()),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open past {WAIT:?}"),
        }
    }
}

/// Reads one HTTP response with a `content-length` body; its head and body.
async fn read_response(tcp: &mut TcpStream) -> (String, String) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
            .await
            .expect("a response in time")
            .expect("read");
        assert!(n > 0, "closed before a whole response: {received:?}");
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received).to_string();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let head = text[..end].to_string();
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        if received.len() >= end + 4 + length {
            return (head, text[end + 4..end + 4 + length].to_string());
        }
    }
}

#[tokio::test]
async fn a_slow_request_head_is_cut_off_at_the_header_timeout() {
    let server = TestServer::start_with(&["--http-header-timeout", "500ms"]).await;
    let (_, token) = person(&server, "slowloris").await;
    let request = format!(
        "GET /ws/chat/?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let opened = Instant::now();
    let (mut read, mut write) = tcp.into_split();
    // One byte every 50 ms: the whole head would take many seconds.
    let trickle = tokio::spawn(async move {
        for byte in request.bytes() {
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let closed = loop {
        match tokio::time::timeout(WAIT, read.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break opened.elapsed(),
            Ok(Ok(_)) => continue, // hyper may answer 408 before closing
            Err(_) => panic!("a request head trickled for {WAIT:?} kept its connection"),
        }
    };
    trickle.abort();
    assert!(
        closed >= Duration::from_millis(450) && closed < Duration::from_millis(1500),
        "closed after {closed:?}, expected about 500 ms"
    );
    // The server still answers others.
    let health = reqwest::get(format!("{}/healthz", server.http_url()))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = TestServer::start_with(&["--http-header-timeout", "500ms"]).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    for _ in 0..2 {
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .expect("send a request");
        let (head, body) = read_response(&mut tcp).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, "ok");
    }
    // Kept alive after the responses, then closed once idle for the timeout.
    let idle_from = Instant::now();
    let (rest, closed) = read_to_close(&mut tcp).await;
    let idle = closed - idle_from;
    assert!(
        idle >= Duration::from_millis(450) && idle < Duration::from_millis(1500),
        "closed after {idle:?} idle, expected about 500 ms; then sent {rest:?}"
    );
}

#[tokio::test]
async fn a_request_body_that_does_not_arrive_in_time_gets_408() {
    let server = TestServer::start_with(&["--http-body-timeout", "400ms"]).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(
        b"POST /api/register/ HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"username\":",
    )
    .await
    .expect("send a head and part of a body");
    let sent = Instant::now();
    let (head, body) = read_response(&mut tcp).await;
    let answered = sent.elapsed();
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(error["code"], "timeout", "{body}");
    assert!(error["detail"].is_string(), "{body}");
    assert!(
        answered >= Duration::from_millis(350) && answered < Duration::from_millis(1500),
        "answered after {answered:?}, expected about 400 ms"
    );
    // And the connection is closed: the rest of that body is never read as a request.
    read_to_close(&mut tcp).await;
    // A body that arrives whole is handled as before.
    let response = reqwest::Client::new()
        .post(format!("{}/api/register/", server.http_url()))
        .json(&serde_json::json!({"username": "", "password": "x"}))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 400);
}

/// WebSocket opcodes and close codes in what the server sent a peer that never read.
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        let opcode = bytes[0] & 0x0f;
        let (len, header) = match bytes[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => panic!("no frame to a silent peer is that long"),
            n => (usize::from(n), 2),
        };
        frames.push((opcode, bytes[header..header + len].to_vec()));
        bytes = &bytes[header + len..];
    }
    frames
}

#[tokio::test]
async fn a_peer_that_leaves_two_pings_unanswered_is_closed_and_a_live_one_stays() {
    let interval = Duration::from_millis(200);
    let server = TestServer::start_with(&["--ws-ping-interval", "200ms"]).await;
    let (alice, alice_token) = person(&server, "alive").await;
    let (bob, bob_token) = person(&server, "other").await;
    let (_, dead_token) = person(&server, "dead").await;

    let mut live = WsClient::connect(&server.ws_url(&alice_token)).await;

    // The dead peer: completes the handshake, then answers nothing.
    let mut dead = TcpStream::connect(server.addr).await.expect("connect");
    let handshake = format!(
        "GET /ws/chat/?token={dead_token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    dead.write_all(handshake.as_bytes())
        .await
        .expect("send the handshake");
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        dead.read_exact(&mut byte).await.expect("handshake answer");
        answer.push(byte[0]);
    }
    let upgraded = Instant::now();
    assert!(answer.starts_with(b"HTTP/1.1 101"), "{answer:?}");
    // Watching its socket tells when the server closes it; the server cannot tell (nothing is
    // sent back, and its few frames fit in the socket buffers anyway).
    let watch_dead = tokio::spawn(async move { read_to_close(&mut dead).await });

    // The live client reads (and so answers pings, as tungstenite does) for five intervals.
    let mut pings = 0;
    let listen_until = tokio::time::Instant::now() + interval * 5;
    loop {
        match live.try_next_message(listen_until).await {
            Err(RecvError::Timeout) => break,
            Ok(Message::Ping(_)) => pings += 1,
            other => panic!("the live client got {other:?} instead of pings"),
        }
    }
    assert!(pings >= 3, "{pings} pings in five intervals");

    // By now the dead peer was closed: two pings, then a close frame with 1001, then the end.
    let (sent, closed) = watch_dead.await.expect("watching the dead peer");
    let lived = closed - upgraded;
    assert!(
        lived >= interval * 2 - Duration::from_millis(50) && lived < interval * 4,
        "the dead peer was closed after {lived:?}, expected two to three intervals of {interval:?}"
    );
    let frames = frames(&sent);
    let opcodes: Vec<u8> = frames.iter().map(|(op, _)| *op).collect();
    assert_eq!(
        opcodes,
        [0x9, 0x9, 0x8],
        "two pings then a close: {frames:?}"
    );
    let close = &frames[2].1;
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1001, "{frames:?}");

    // The live client is still connected and chats (with someone who connects only now, and
    // so has no pings to answer yet).
    let mut other = WsClient::connect(&server.ws_url(&bob_token)).await;
    let conversation = live.start_conversation(bob).await;
    live.send(&ClientMsg::message(conversation, "still here"))
        .await;
    let received = other.recv_message().await;
    assert_eq!(received.content, "still here");
    assert_eq!(received.sender.id, alice);
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_and_open_ones_keep_working() {
    let server = TestServer::start_with(&["--max-open-connections", "4"]).await;
    let (alice, alice_token) = person(&server, "capped").await;
    let (bob, bob_token) = person(&server, "capped").await;
    let mut a = WsClient::connect(&server.ws_url(&alice_token)).await;
    let mut b = WsClient::connect(&server.ws_url(&bob_token)).await;
    let mut keep_alive = TcpStream::connect(server.addr).await.expect("connect");
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("send");
    let (head, _) = read_response(&mut keep_alive).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let idle = TcpStream::connect(server.addr).await.expect("connect");
    // Four open: the next ones are answered 503 and closed, whatever they send.
    for _ in 0..3 {
        let mut extra = TcpStream::connect(server.addr).await.expect("connect");
        let (sent, _) = read_to_close(&mut extra).await;
        let sent = String::from_utf8_lossy(&sent);
        assert!(sent.starts_with("HTTP/1.1 503"), "{sent}");
        let body = &sent[sent.find("\r\n\r\n").expect("a head") + 4..];
        let error: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(error["code"], "unavailable", "{sent}");
    }
    let refused = reqwest::get(format!("{}/healthz", server.http_url())).await;
    assert!(
        refused.as_ref().map_or(true, |r| r.status() == 503),
        "{refused:?}"
    );

    // The open ones still work: a chat round trip, and /healthz on the kept-alive connection.
    let conversation = a.start_conversation(bob).await;
    a.send(&ClientMsg::message(conversation, "over the cap"))
        .await;
    let received = b.recv_message().await;
    assert_eq!(
        (received.sender.id, received.content.as_str()),
        (alice, "over the cap")
    );
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("send");
    let (head, body) = read_response(&mut keep_alive).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "ok");

    // A closed connection gives its place back. The server frees it a moment after the client
    // sees the close, so new attempts are retried for a while.
    drop(idle);
    let deadline = Instant::now() + WAIT;
    loop {
        let response = reqwest::get(format!("{}/healthz", server.http_url())).await;
        if response.as_ref().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "no place freed: {response:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_ping_flood_is_rate_limited_then_closed_with_1008() {
    let server = TestServer::start_with(&[
        "--rate-limit-per-second",
        "1",
        "--rate-limit-burst",
        "5",
        "--rate-limit-strikes",
        "3",
    ])
    .await;
    let (_, token) = person(&server, "pinger").await;
    let mut stream = WsClient::connect(&server.ws_url(&token)).await;
    for i in 0..30u8 {
        let control = if i % 2 == 0 {
            Message::Ping(vec![i].into())
        } else {
            Message::Pong(vec![i].into())
        };
        stream.send_message(control).await;
    }
    let mut limited = 0;
    let close = loop {
        match stream.try_recv(tokio::time::Instant::now() + WAIT).await {
            Ok(ServerMsg::Error {
                code: ErrorCode::RateLimited,
                request_type: None,
                ..
            }) => limited += 1,
            Ok(other) => panic!("expected rate_limited, got {other:?}"),
            Err(RecvError::Closed(frame)) => break frame.expect("a close frame"),
            Err(other) => panic!("expected rate_limited errors then a close, got {other:?}"),
        }
    };
    assert_eq!(limited, 3, "one rate_limited per strike");
    assert_eq!(u16::from(close.code), 1008, "{close:?}");
}
