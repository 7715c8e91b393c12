//! Gapless resume over real sockets: a client that was away asks `chat.sync` from its last
//! `seq` and gets exactly what it missed, once and in order, on any instance; an expired cursor
//! is told to reload; a Redis outage ends with a hint to sync. On SQLite with two instances on
//! one in-process bus, and on PostgreSQL + Redis when their URLs are set.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chat_e2e::{Person, TestServer, WsClient, fresh_database, test_redis_url, until_linked};
use chat_server::bus::Bus;
use chat_shared::{ClientMsg, ErrorCode, ServerMsg};

const LIFTED: &[&str] = &[
    "--rate-limit-per-second",
    "100000",
    "--rate-limit-burst",
    "100000",
    "--receipt-burst",
    "100000",
    "--receipt-per-second",
    "100000",
];

/// What a pushed frame is about, to compare a live stream with a replay (a replay shows
/// messages as they are now, so contents may differ; what happened may not).
fn key(frame: &ServerMsg) -> String {
    match frame {
        ServerMsg::Message { message } => format!("message {}", message.id),
        ServerMsg::MessageUpdated { message } => format!("updated {}", message.id),
        ServerMsg::Read {
            conversation_id,
            reader_id,
        } => format!("read {conversation_id} by {reader_id}"),
        ServerMsg::MessageStatus { message_id, status } => {
            format!("status {message_id} {status:?}")
        }
        ServerMsg::ConversationUpdated { conversation, left } => {
            format!("conversation {} left={left}", conversation.id)
        }
        other => panic!("not a pushed frame: {other:?}"),
    }
}

/// Every pushed frame `client` receives until `until` matches one, as `(seq, key)`.
async fn live_until(
    client: &mut WsClient,
    mut until: impl FnMut(&ServerMsg) -> bool,
) -> Vec<(i64, String)> {
    let mut seen = Vec::new();
    loop {
        let frame = client.recv().await;
        if frame.is_pushed() {
            let seq = client.seq.expect("a pushed frame carries its seq");
            seen.push((seq, key(&frame)));
        } else {
            assert_eq!(client.seq, None, "{frame:?} is not pushed and has a seq");
        }
        if until(&frame) {
            return seen;
        }
    }
}

/// Syncs from `since` until `chat.synced` without `has_more`: the events as `(seq, key)` and
/// the cursor to keep.
async fn sync_all(client: &mut WsClient, mut since: i64) -> (Vec<(i64, String)>, i64) {
    let mut events = Vec::new();
    loop {
        client.send(&ClientMsg::Sync { since: Some(since) }).await;
        loop {
            match client.recv().await {
                ServerMsg::Synced { seq, has_more } => {
                    assert!(seq >= since, "the cursor went back: {seq} < {since}");
                    since = seq;
                    if !has_more {
                        return (events, seq);
                    }
                    break;
                }
                ServerMsg::ResyncRequired { seq } => panic!("resync required at {seq}"),
                frame => {
                    let seq = client.seq.expect("a replayed frame carries its seq");
                    events.push((seq, key(&frame)));
                }
            }
        }
    }
}

async fn cursor(client: &mut WsClient) -> i64 {
    client.send(&ClientMsg::Sync { since: None }).await;
    client
        .recv_until(|f| match f {
            ServerMsg::Synced { seq, has_more } => {
                assert!(!has_more);
                Some(seq)
            }
            _ => None,
        })
        .await
}

/// alice is away while bob and carol, on the other instance, send her 1,000 events (messages in
/// two conversations, an edit, reactions, reads of her messages and their statuses, a new group
/// with its system messages). Her second connection stays and sees them live; the replay on
/// the other instance must be exactly that, once each, in order.
#[tokio::test]
async fn a_client_away_for_1000_events_gets_each_once_in_order_on_another_instance() {
    let servers = TestServer::cluster_with(2, LIFTED).await;
    let alice = Person::new(&servers[0], "alice").await;
    let bob = Person::new(&servers[1], "bob").await;
    let carol = Person::new(&servers[1], "carol").await;
    let mut a = alice.connect(&servers[0]).await;
    let mut watch = alice.connect(&servers[0]).await;
    let mut b = bob.connect(&servers[1]).await;
    let mut c = carol.connect(&servers[1]).await;
    let with_bob = a.start_conversation(bob.id).await;
    let with_carol = a.start_conversation(carol.id).await;
    until_linked(&mut b, &mut a, alice.id).await;
    // alice writes first, so that reads of hers make statuses.
    for (conversation, text) in [(with_bob, "for bob"), (with_carol, "for carol")] {
        a.say(conversation, text).await;
        a.recv_message().await;
    }
    // The watcher has read everything up to the cursor.
    watch
        .recv_until(|f| match f {
            ServerMsg::Message { message } if message.content == "for carol" => Some(()),
            _ => None,
        })
        .await;
    let since = cursor(&mut a).await;
    drop(a);

    // 1,000 events and more: 500 + 500 messages, reads and statuses, an edit, reactions, a group.
    for i in 0..500 {
        b.say(with_bob, &format!("bob {i}")).await;
        c.say(with_carol, &format!("carol {i}")).await;
    }
    b.recv_until(|f| match f {
        ServerMsg::Message { message } if message.content == "bob 499" => Some(()),
        _ => None,
    })
    .await;
    c.recv_until(|f| match f {
        ServerMsg::Message { message } if message.content == "carol 499" => Some(()),
        _ => None,
    })
    .await;
    for (client, conversation) in [(&mut b, with_bob), (&mut c, with_carol)] {
        client
            .send(&ClientMsg::Read {
                conversation_id: conversation,
            })
            .await;
    }
    let first_bob = b.history(with_bob).await[1].id;
    b.send(&ClientMsg::Edit {
        message_id: first_bob,
        content: "bob 0, edited".into(),
    })
    .await;
    b.send(&ClientMsg::React {
        message_id: first_bob,
        emoji: "🎉".into(),
        add: true,
    })
    .await;
    b.send(&ClientMsg::CreateGroup {
        title: "Night shift".into(),
        member_ids: vec![alice.id, carol.id],
    })
    .await;
    b.recv_until(|f| matches!(f, ServerMsg::ConversationStarted { .. }).then_some(()))
        .await;
    b.say(with_bob, "the last one").await;

    let live = live_until(
        &mut watch,
        |f| matches!(f, ServerMsg::Message { message } if message.content == "the last one"),
    )
    .await;
    assert!(live.len() >= 1000, "only {} events", live.len());

    // alice comes back on the other instance and syncs from her cursor.
    let mut back = alice.connect(&servers[1]).await;
    let (replayed, newest) = sync_all(&mut back, since).await;
    assert_eq!(replayed, live, "the replay is not what happened");
    let seqs: Vec<i64> = replayed.iter().map(|(seq, _)| *seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "out of order");
    assert_eq!(newest, *seqs.last().expect("events"));
    // Each message once (an edit and a reaction are two events about one message).
    let messages: Vec<&String> = replayed
        .iter()
        .map(|(_, key)| key)
        .filter(|key| key.starts_with("message"))
        .collect();
    let distinct: HashSet<&&String> = messages.iter().collect();
    assert_eq!(distinct.len(), messages.len(), "a message came twice");
    assert_eq!(messages.len(), 1002, "500 + 500 + the group's + the last");
    for wanted in [
        "message".to_string(),
        "updated".to_string(),
        "status".to_string(),
        "conversation".to_string(),
        "read".to_string(),
    ] {
        assert!(
            replayed.iter().any(|(_, key)| key.starts_with(&wanted)),
            "no {wanted} event"
        );
    }
    // Nothing more, and the cursor stays.
    let (again, cursor_again) = sync_all(&mut back, newest).await;
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(cursor_again, newest);
    for server in servers {
        server.stop().await;
    }
}

#[tokio::test]
async fn a_cursor_older_than_the_retention_is_told_to_reload() {
    let server = TestServer::start_with(&["--sync-retention", "1s"]).await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = alice.connect(&server).await;
    let mut b = bob.connect(&server).await;
    let conversation = b.start_conversation(alice.id).await;
    let since = cursor(&mut a).await;
    b.say(conversation, "soon gone").await;
    a.recv_message().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    b.say(conversation, "fresh").await;
    a.recv_message().await;
    let fresh = a.seq.expect("seq");
    let newest = fresh;
    a.send(&ClientMsg::Sync { since: Some(since) }).await;
    // The newest of all events: others' (a presence written late, say) may follow alice's.
    let newest = match a.recv().await {
        ServerMsg::ResyncRequired { seq } => {
            assert!(seq >= newest, "resync from {seq}, before {newest}");
            seq
        }
        other => panic!("expected chat.resync_required, got {other:?}"),
    };
    // Pruned for good (the hourly upkeep, called here): still told to reload, and the events
    // past the retention are gone from the database.
    let deleted = server.state.store.prune_events(1000).await.expect("prune");
    assert!(deleted >= 1, "nothing pruned");
    // Again, with a cutoff a little earlier (a later call's own cutoff could reach events made
    // after the first, such as a presence written late): nothing more.
    assert_eq!(
        server.state.store.prune_events(5000).await.expect("prune"),
        0
    );
    a.send(&ClientMsg::Sync { since: Some(since) }).await;
    assert!(matches!(a.recv().await, ServerMsg::ResyncRequired { seq } if seq >= newest));
    // From the cursor it gave, all is well; a recent cursor still syncs.
    let (events, _) = sync_all(&mut a, newest).await;
    assert!(events.is_empty());
    let (events, _) = sync_all(&mut a, fresh - 1).await;
    assert_eq!(events.len(), 1);
    // A negative cursor is a mistake.
    a.send(&ClientMsg::Sync { since: Some(-1) }).await;
    a.expect_error(ErrorCode::InvalidField, Some("chat.sync"))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn a_member_syncs_only_what_is_theirs() {
    let server = TestServer::start_with(LIFTED).await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let carol = Person::new(&server, "carol").await;
    let mut a = alice.connect(&server).await;
    let mut b = bob.connect(&server).await;
    let mut c = carol.connect(&server).await;
    let since = cursor(&mut c).await;
    // Between alice and bob only: carol must not get it.
    let theirs = a.start_conversation(bob.id).await;
    a.say(theirs, "private").await;
    b.recv_message().await;
    // A group carol is in, then leaves: she gets what happened until she left, and her `left`.
    a.send(&ClientMsg::CreateGroup {
        title: "Team".into(),
        member_ids: vec![carol.id],
    })
    .await;
    let group = a
        .recv_until(|f| match f {
            ServerMsg::ConversationStarted { conversation } => Some(conversation.id),
            _ => None,
        })
        .await;
    a.say(group, "while carol is here").await;
    c.recv_until(|f| match f {
        ServerMsg::Message { message } if message.content == "while carol is here" => Some(()),
        _ => None,
    })
    .await;
    c.send(&ClientMsg::Leave {
        conversation_id: group,
    })
    .await;
    c.recv_until(|f| matches!(f, ServerMsg::ConversationUpdated { left: true, .. }).then_some(()))
        .await;
    a.say(group, "after carol left").await;
    a.recv_until(|f| match f {
        ServerMsg::Message { message } if message.content == "after carol left" => Some(()),
        _ => None,
    })
    .await;
    let mut fresh = carol.connect(&server).await;
    let (events, _) = sync_all(&mut fresh, since).await;
    // Nothing of alice and bob's; of the group, which is no longer hers, only her `left`.
    let keys: Vec<&str> = events.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        keys,
        [format!("conversation {group} left=true")],
        "{theirs}"
    );
    server.stop().await;
}

/// A private Redis on a free port, for a test that stops and restarts it.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (TEST_REDIS_URL is set, so Redis tests must run)");
        PrivateRedis {
            port,
            child: Some(child),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Redis goes away while bob, on one instance, writes to alice, on the other: those frames are
/// lost live. When Redis is back, alice's instance tells her to sync, and the sync brings every
/// one of them. Runs with the Redis tests (TEST_REDIS_URL set), on a Redis of its own.
#[tokio::test]
async fn after_a_redis_outage_the_hint_and_a_sync_bring_every_event() {
    if test_redis_url().is_none() {
        return; // the in-process bus has no outage to recover from
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut redis = PrivateRedis::start(port);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(dir.path()).await;
    let flags = ["--redis-url", &redis.url(), "--redis-prefix", "outage"];
    let mut servers = Vec::new();
    for _ in 0..2 {
        servers.push(TestServer::start_on_url(&url, &flags, Bus::Local).await);
    }
    let alice = Person::new(&servers[0], "alice").await;
    let bob = Person::new(&servers[1], "bob").await;
    let dave = Person::new(&servers[0], "dave").await;
    let mut a = alice.connect(&servers[0]).await;
    let mut b = bob.connect(&servers[1]).await;
    let mut d = dave.connect(&servers[0]).await;
    let conversation = b.start_conversation(alice.id).await;
    let with_dave = d.start_conversation(alice.id).await;
    until_linked(&mut b, &mut a, alice.id).await;
    b.say(conversation, "before").await;
    a.recv_message().await;
    redis.stop();
    for i in 0..20 {
        b.say(conversation, &format!("during {i}")).await;
    }
    b.recv_until(|f| match f {
        ServerMsg::Message { message } if message.content == "during 19" => Some(()),
        _ => None,
    })
    .await;
    // A frame from alice's own instance still arrives: her cursor moves past the lost ones.
    d.say(with_dave, "local").await;
    let local = a.recv_message().await;
    assert_eq!(local.content, "local");
    let cursor = a.seq.expect("seq");
    let _redis = PrivateRedis::start(port);
    // The hint reaches back before the lost frames; a sync from there brings all 20.
    let since = a
        .recv_until_within(Duration::from_secs(30), |f| match f {
            ServerMsg::SyncHint { since } => Some(since),
            _ => None,
        })
        .await
        .expect("the hint says from where");
    assert!(
        since < cursor,
        "the hint does not reach back: {since} >= {cursor}"
    );
    let (events, _) = sync_all(&mut a, since.min(cursor)).await;
    let keys: Vec<String> = events.iter().map(|(_, k)| k.clone()).collect();
    let history = b.history(conversation).await;
    for message in history.iter().filter(|m| m.content.starts_with("during")) {
        assert!(
            keys.contains(&format!("message {}", message.id)),
            "{} is missing from {keys:?}",
            message.content
        );
    }
    for server in servers {
        server.stop().await;
    }
}
