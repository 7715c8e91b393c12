//! Graceful shutdown of the real binary on SIGTERM: messages in flight are finished and
//! delivered, every socket gets 1001, the process exits cleanly and accepts nothing more.

use std::time::Duration;

use chat_e2e::server_process::ServerProcess;
use chat_e2e::{RecvError, WAIT};
use chat_shared::{ClientMsg, ErrorCode, ServerMsg};

const BATCH: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_writes_and_closes_with_1001() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("chat.db");
    let flags = ["--rate-limit-burst", "1000"];
    let mut server = ServerProcess::start(&database, &flags, &[]).await;
    let (_, alice) = server.person("term_a").await;
    let (bob_user, bob) = server.person("term_b").await;
    let mut a = server.connect(&alice).await;
    let mut b = server.connect(&bob).await;
    a.send(&ClientMsg::StartConversation {
        receiver_id: bob_user.id,
    })
    .await;
    let ServerMsg::ConversationStarted { conversation } = a.recv().await else {
        panic!("expected conversation_started");
    };
    // A batch in flight, then the signal at once.
    for i in 0..BATCH {
        a.send(&ClientMsg::message(conversation.id, format!("m{i}")))
            .await;
    }
    server.terminate();

    // Each side gets some prefix of the batch, in order, and then 1001. The sender may also be
    // told, after that prefix, that messages the writer no longer took were not stored (those it
    // read after the stop began): refused, never lost.
    let mut seen = Vec::new();
    for (sender, client) in [(true, &mut a), (false, &mut b)] {
        let mut got = Vec::new();
        let mut refused = 0;
        let close = loop {
            match client.try_recv(tokio::time::Instant::now() + WAIT).await {
                Ok(ServerMsg::Message { message }) => {
                    assert_eq!(refused, 0, "a message echoed after a refusal");
                    got.push(message.content);
                }
                Ok(ServerMsg::Error { code, message, .. })
                    if sender
                        && code == ErrorCode::Internal
                        && message.contains("shutting down") =>
                {
                    refused += 1;
                }
                Ok(frame) => panic!("unexpected {frame:?}"),
                Err(RecvError::Closed(frame)) => break frame,
                Err(RecvError::Timeout) => panic!("no message within {WAIT:?}"),
                Err(RecvError::Socket(_)) => break None,
            }
        };
        let close = close.expect("a close frame, not a dropped connection");
        assert_eq!(u16::from(close.code), 1001, "{close:?}");
        let expected: Vec<String> = (0..got.len()).map(|i| format!("m{i}")).collect();
        assert_eq!(got, expected);
        assert!(got.len() + refused <= BATCH);
        seen.push(got);
    }
    let status = server.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "exit status {status:?}");
    // Stopped means not accepting.
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "the port still accepts"
    );
    let log = server.log();
    assert!(log.contains("stopping"), "log:\n{log}");

    // Everything echoed is stored: after a restart, the history holds at least what either
    // side saw, in order (a write finished after the last frame went out may be there too).
    let server = ServerProcess::start(&database, &flags, &[]).await;
    let mut b = server.connect(&bob).await;
    b.send(&ClientMsg::GetMessages {
        conversation_id: conversation.id,
        before_id: None,
        limit: None,
    })
    .await;
    let ServerMsg::Messages { messages, .. } = b.recv().await else {
        panic!("expected history");
    };
    let stored: Vec<String> = messages.into_iter().map(|m| m.content).collect();
    let longest = seen.iter().map(Vec::len).max().unwrap_or(0);
    assert!(stored.len() >= longest, "{stored:?} vs {seen:?}");
    let expected: Vec<String> = (0..stored.len()).map(|i| format!("m{i}")).collect();
    assert_eq!(stored, expected);
    eprintln!(
        "SIGTERM with {BATCH} in flight: {} and {} echoed before 1001, {} stored",
        seen[0].len(),
        seen[1].len(),
        stored.len()
    );
}
