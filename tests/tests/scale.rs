//! Several instances act as one: on one database, fanning out through Redis (`TEST_REDIS_URL`)
//! or, without it, through one in-process bus. With `TEST_DATABASE_URL`, on PostgreSQL.

use std::time::Duration;

use chat_e2e::proxy::{FaultProxy, service_addr, via};
use chat_e2e::{Person, TestServer, test_database_url, test_redis_url, until_linked};
use chat_shared::{ClientMsg, ErrorCode, MessageStatus, ServerMsg};

#[tokio::test]
async fn two_instances_act_as_one() {
    let servers = TestServer::cluster(2).await;
    let (one, two) = (&servers[0], &servers[1]);
    let alice = Person::new(one, "alice").await;
    let bob = Person::new(two, "bob").await;
    let mut a1 = alice.connect(one).await;
    let mut a2 = alice.connect(two).await;
    let mut b2 = bob.connect(two).await;
    let conversation = a1.start_conversation(bob.id).await;
    until_linked(&mut a1, &mut b2, bob.id).await;
    until_linked(&mut b2, &mut a1, alice.id).await;
    // a2 shares an instance with b2: it got nothing from the probes above.

    // alice (instance 1) → bob (instance 2); alice's own echo on both instances.
    a1.send(&ClientMsg::message(conversation, "over the bus"))
        .await;
    for client in [&mut a1, &mut a2, &mut b2] {
        let m = client.recv_message().await;
        assert_eq!(
            (m.content.as_str(), m.sender.id),
            ("over the bus", alice.id)
        );
    }
    // bob (instance 2) → alice on both instances.
    b2.send(&ClientMsg::message(conversation, "and back")).await;
    let from_bob = b2.recv_message().await;
    assert_eq!(a1.recv_message().await.id, from_bob.id);
    assert_eq!(a2.recv_message().await.id, from_bob.id);

    // Typing crosses instances.
    a1.send(&ClientMsg::Typing {
        receiver_id: Some(bob.id),
        conversation_id: None,
        is_typing: true,
    })
    .await;
    assert_eq!(
        b2.recv().await,
        ServerMsg::Typing {
            sender_id: alice.id,
            conversation_id: Some(conversation),
            is_typing: true
        }
    );
    b2.send(&ClientMsg::Typing {
        receiver_id: Some(alice.id),
        conversation_id: None,
        is_typing: true,
    })
    .await;
    assert_eq!(
        a1.recv().await,
        ServerMsg::Typing {
            sender_id: bob.id,
            conversation_id: Some(conversation),
            is_typing: true
        }
    );
    assert_eq!(
        a2.recv().await,
        ServerMsg::Typing {
            sender_id: bob.id,
            conversation_id: Some(conversation),
            is_typing: true
        }
    );

    // Read receipts cross instances, with the status of bob's message.
    a1.send(&ClientMsg::Read {
        conversation_id: conversation,
    })
    .await;
    let read = ServerMsg::Read {
        conversation_id: conversation,
        reader_id: alice.id,
    };
    assert_eq!(b2.recv().await, read);
    assert_eq!(
        b2.recv().await,
        ServerMsg::MessageStatus {
            message_id: from_bob.id,
            status: MessageStatus::Seen
        }
    );
    assert_eq!(
        a2.recv().await,
        read,
        "the reader's other instance is told too"
    );

    // Both instances see the same history.
    for client in [&mut a2, &mut b2] {
        client
            .send(&ClientMsg::GetMessages {
                conversation_id: conversation,
                before_id: None,
                limit: None,
            })
            .await;
        let ServerMsg::Messages { messages, .. } = client.recv().await else {
            panic!()
        };
        let texts: Vec<_> = messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["over the bus", "and back"]);
    }
}

#[tokio::test]
async fn instances_recover_when_redis_restarts() {
    let Some(redis) = test_redis_url() else {
        eprintln!("TEST_REDIS_URL is not set: the Redis restart test needs a Redis server");
        return;
    };
    let proxy = FaultProxy::start(service_addr(&redis)).await;
    let through_proxy = via(&redis, proxy.addr);
    let dir = tempfile::tempdir().unwrap();
    let url = chat_e2e::fresh_database(dir.path()).await;
    let prefix = chat_e2e::unique_name("restart");
    let flags = [
        "--redis-url",
        through_proxy.as_str(),
        "--redis-prefix",
        prefix.as_str(),
    ];
    let one = TestServer::start_on_url(&url, &flags, chat_server::Bus::Local).await;
    let two = TestServer::start_on_url(&url, &flags, chat_server::Bus::Local).await;
    let alice = Person::new(&one, "alice").await;
    let bob = Person::new(&two, "bob").await;
    let mut a = alice.connect(&one).await;
    let mut b = bob.connect(&two).await;
    let conversation = a.start_conversation(bob.id).await;
    until_linked(&mut a, &mut b, bob.id).await;

    // Redis goes away: messages are still stored and acknowledged; live frames may be lost.
    proxy.cut();
    a.send(&ClientMsg::message(conversation, "while down"))
        .await;
    let during = a.recv_message().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.resume();

    // The instances reconnect and resubscribe by themselves.
    until_linked(&mut a, &mut b, bob.id).await;
    a.send(&ClientMsg::message(conversation, "after")).await;
    let after = b.recv_message().await;
    assert_eq!(after.content, "after");
    // bob catches up on what he missed live.
    b.send(&ClientMsg::GetMessages {
        conversation_id: conversation,
        before_id: None,
        limit: None,
    })
    .await;
    let ServerMsg::Messages { messages, .. } = b
        .recv_until(|f| matches!(f, ServerMsg::Messages { .. }).then_some(f))
        .await
    else {
        unreachable!()
    };
    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [during.id, after.id]);
    let reconnects: u64 =
        one.state.metrics.bus_reconnects.get() + two.state.metrics.bus_reconnects.get();
    assert!(reconnects >= 2, "both instances reconnected ({reconnects})");
}

#[tokio::test]
async fn a_database_outage_gets_errors_never_false_acknowledgements() {
    let Some(database) = test_database_url() else {
        eprintln!("TEST_DATABASE_URL is not set: the outage test needs PostgreSQL");
        return;
    };
    let proxy = FaultProxy::start(service_addr(&database)).await;
    let dir = tempfile::tempdir().unwrap();
    let direct = chat_e2e::fresh_database(dir.path()).await;
    let server =
        TestServer::start_on_url(&via(&direct, proxy.addr), &[], chat_server::Bus::Local).await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = alice.connect(&server).await;
    let conversation = a.start_conversation(bob.id).await;

    proxy.cut();
    for i in 0..3 {
        a.send(&ClientMsg::message(conversation, format!("lost {i}")))
            .await;
        match tokio::time::timeout(Duration::from_secs(10), a.recv())
            .await
            .expect("an answer")
        {
            ServerMsg::Error {
                code, request_type, ..
            } => {
                assert_eq!(code, ErrorCode::Internal);
                assert_eq!(request_type.as_deref(), Some("chat.message"));
            }
            other => panic!("expected chat.error during the outage, got {other:?}"),
        }
    }
    proxy.resume();

    // The server recovers by itself: the next message is stored and acknowledged.
    let mut stored = None;
    for _ in 0..20 {
        a.send(&ClientMsg::message(conversation, "back")).await;
        match a.recv().await {
            ServerMsg::Message { message } => {
                stored = Some(message);
                break;
            }
            ServerMsg::Error { .. } => tokio::time::sleep(Duration::from_millis(250)).await,
            other => panic!("unexpected {other:?}"),
        }
    }
    let stored = stored.expect("the server recovered");
    a.send(&ClientMsg::GetMessages {
        conversation_id: conversation,
        before_id: None,
        limit: None,
    })
    .await;
    let ServerMsg::Messages { messages, .. } = a.recv().await else {
        panic!()
    };
    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [stored.id], "nothing refused was stored");
}

#[tokio::test]
async fn metrics_are_exposed_in_prometheus_text() {
    let server = TestServer::start().await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = alice.connect(&server).await;
    let mut b = bob.connect(&server).await;
    let conversation = a.start_conversation(bob.id).await;
    a.send(&ClientMsg::message(conversation, "counted")).await;
    b.recv_message().await;
    a.recv_message().await;
    a.send_raw("nope").await;
    assert!(matches!(a.recv().await, ServerMsg::Error { .. }));
    let response = reqwest::get(format!("{}/metrics", server.http_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for line in [
        "chat_connections 2",
        "chat_messages_stored_total 1",
        r#"chat_frames_in_total{type="chat.message"} 1"#,
        r#"chat_frames_out_total{type="chat.message"} 2"#,
        r#"chat_errors_total{code="invalid_json"} 1"#,
        "chat_store_seconds_count 1",
        "chat_fanout_seconds_count 1",
        "chat_bus_reconnects_total 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

/// Not a test: prints the cross-instance delivery latency (sender on instance 1, receiver on
/// instance 2) for docs/deploy.md. Run with
/// `TEST_DATABASE_URL=… TEST_REDIS_URL=… cargo test --release -p chat-e2e --test scale -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_cross_instance_latency() {
    const MESSAGES: usize = 2000;
    let unlimited = [
        "--rate-limit-per-second",
        "1000000",
        "--rate-limit-burst",
        "1000000",
    ];
    let servers = TestServer::cluster_with(2, &unlimited).await;
    let alice = Person::new(&servers[0], "alice").await;
    let bob = Person::new(&servers[1], "bob").await;
    let mut a = alice.connect(&servers[0]).await;
    let mut b = bob.connect(&servers[1]).await;
    let conversation = a.start_conversation(bob.id).await;
    until_linked(&mut a, &mut b, bob.id).await;
    let mut latencies = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let sent = std::time::Instant::now();
        a.send(&ClientMsg::message(conversation, format!("m{i}")))
            .await;
        let got = b.recv_message().await;
        latencies.push(sent.elapsed());
        assert_eq!(got.content, format!("m{i}"));
        a.recv_message().await; // the echo
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "cross-instance delivery ({} messages, one at a time, bus: {}, store: {}): p50 {:?} p90 {:?} p99 {:?} max {:?}",
        MESSAGES,
        if test_redis_url().is_some() {
            "Redis"
        } else {
            "in-process"
        },
        if test_database_url().is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        at(0.5),
        at(0.9),
        at(0.99),
        latencies[latencies.len() - 1]
    );
}
