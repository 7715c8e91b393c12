//! Presence over real sockets: who shares a conversation with a user (and said `chat.hello`)
//! hears when they come online and go offline, after a grace, on any instance; a user on two
//! instances is online until both are gone; an instance killed with SIGKILL stops counting once
//! it has been silent for the timeout; a user may hide it. On SQLite, and on PostgreSQL + Redis
//! when their URLs are set.

use std::time::Duration;

use chat_e2e::server_process::ServerProcess;
use chat_e2e::{Person, TestServer, WsClient, fresh_database, test_redis_url, unique_name};
use chat_server::bus::Bus;
use chat_shared::{ClientMsg, ErrorCode, Participant, PresenceStatus, ServerMsg, Timestamp};

/// Short, so that the tests do not wait long; long enough that a quick reconnect falls inside.
const GRACE: &str = "1s";
const AFTER_GRACE: Duration = Duration::from_millis(1500);

/// Connects and says hello.
async fn greeted(person: &Person, server: &TestServer) -> WsClient {
    let mut client = person.connect(server).await;
    client.hello().await;
    client
}

/// The next `chat.presence` about `user`, within `wait`: its status, `last_seen` and `seq`.
async fn presence_of(
    client: &mut WsClient,
    user: i64,
    wait: Duration,
) -> (PresenceStatus, Option<Timestamp>, i64) {
    let (status, last_seen) = client
        .recv_until_within(wait, |f| match f {
            ServerMsg::Presence {
                user_id,
                status,
                last_seen,
            } if user_id == user => Some((status, last_seen)),
            _ => None,
        })
        .await;
    (status, last_seen, client.seq.expect("presence has a seq"))
}

/// `user` as a participant of `conversation` in `client`'s conversation list.
async fn participant(client: &mut WsClient, conversation: i64, user: i64) -> Participant {
    client.send(&ClientMsg::GetConversations {}).await;
    let conversations = client
        .recv_until(|f| match f {
            ServerMsg::Conversations { conversations } => Some(conversations),
            _ => None,
        })
        .await;
    let item = conversations
        .into_iter()
        .find(|c| c.id == conversation)
        .expect("the conversation is listed");
    item.participants
        .into_iter()
        .find(|p| p.id == user)
        .expect("the user takes part")
}

#[tokio::test]
async fn contacts_who_said_hello_see_a_user_come_and_go_after_the_grace() {
    let server = TestServer::start_with(&["--presence-grace", GRACE]).await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let carol = Person::new(&server, "carol").await;
    let mut a = greeted(&alice, &server).await;
    let conversation = a.start_conversation(bob.id).await;
    // carol shares nothing with bob; alice's second connection never said hello.
    let mut c = greeted(&carol, &server).await;
    let mut a_plain = alice.connect(&server).await;
    let before = Timestamp::now();

    let b = bob.connect(&server).await;
    let (status, online_at, seq) = presence_of(&mut a, bob.id, Duration::from_secs(5)).await;
    assert_eq!(status, PresenceStatus::Online);
    let online_at = online_at.expect("online has a last_seen");
    assert!(online_at >= before, "last_seen is when bob came");
    assert!(seq > 0);
    let listed = participant(&mut a, conversation, bob.id).await;
    assert_eq!(listed.online, Some(true));
    assert_eq!(listed.last_seen, Some(online_at));

    // A reconnect within the grace says nothing.
    b.close().await;
    let b = bob.connect(&server).await;
    a.expect_silence(AFTER_GRACE).await;
    assert_eq!(
        participant(&mut a, conversation, bob.id).await.online,
        Some(true)
    );

    b.close().await;
    let closed = Timestamp::now();
    let (status, last_seen, later) = presence_of(&mut a, bob.id, Duration::from_secs(5)).await;
    assert_eq!(status, PresenceStatus::Offline);
    let last_seen = last_seen.expect("offline has a last_seen");
    assert!(
        last_seen.0 >= closed.0 + 900,
        "offline after the grace ({last_seen:?}, closed at {closed:?})"
    );
    assert!(later > seq, "seq grows");
    let listed = participant(&mut a, conversation, bob.id).await;
    assert_eq!(
        (listed.online, listed.last_seen),
        (Some(false), Some(last_seen))
    );

    // Neither a stranger nor a connection that never said hello heard any of it, and the
    // latter's list is as it always was.
    c.expect_silence(Duration::from_millis(200)).await;
    a_plain.expect_silence(Duration::from_millis(200)).await;
    let plain = participant(&mut a_plain, conversation, bob.id).await;
    assert_eq!((plain.online, plain.last_seen), (None, None));
    server.stop().await;
}

#[tokio::test]
async fn a_hidden_user_shows_neither_status_nor_last_seen() {
    let server = TestServer::start_with(&["--presence-grace", "300ms"]).await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = greeted(&alice, &server).await;
    let conversation = a.start_conversation(bob.id).await;
    let mut b = greeted(&bob, &server).await;
    presence_of(&mut a, bob.id, Duration::from_secs(5)).await;

    // A bad request is a clear error and changes nothing.
    b.send_raw(r#"{"type": "chat.set_presence", "visible": "no"}"#)
        .await;
    // (alice's own arrival may reach bob first: the presence task writes it a moment later.)
    let (code, _, request) = b
        .recv_until(|f| match f {
            ServerMsg::Error {
                code,
                message,
                request_type,
            } => Some((code, message, request_type)),
            _ => None,
        })
        .await;
    assert_eq!(
        (code, request.as_deref()),
        (ErrorCode::InvalidField, Some("chat.set_presence"))
    );

    b.send(&ClientMsg::SetPresence { visible: false }).await;
    let answer = b
        .recv_until(|f| matches!(f, ServerMsg::PresenceSet { .. }).then_some(f))
        .await;
    assert_eq!(answer, ServerMsg::PresenceSet { visible: false });
    let (status, last_seen, _) = presence_of(&mut a, bob.id, Duration::from_secs(5)).await;
    assert_eq!((status, last_seen), (PresenceStatus::Offline, None));
    let listed = participant(&mut a, conversation, bob.id).await;
    assert_eq!((listed.online, listed.last_seen), (None, None));
    // bob still sees himself, and his welcome says he hides.
    let own = participant(&mut b, conversation, bob.id).await;
    assert_eq!(own.online, Some(true));
    let ServerMsg::Welcome {
        presence_visible, ..
    } = b.hello().await
    else {
        unreachable!()
    };
    assert!(!presence_visible);

    // Coming and going while hidden tells alice nothing.
    b.close().await;
    a.expect_silence(Duration::from_millis(800)).await;
    let mut b = greeted(&bob, &server).await;
    a.expect_silence(Duration::from_millis(300)).await;

    // Shown again: alice hears bob as he is now.
    b.send(&ClientMsg::SetPresence { visible: true }).await;
    let (status, last_seen, _) = presence_of(&mut a, bob.id, Duration::from_secs(5)).await;
    assert_eq!(status, PresenceStatus::Online);
    assert!(last_seen.is_some());
    assert_eq!(
        participant(&mut a, conversation, bob.id).await.online,
        Some(true)
    );
    server.stop().await;
}

#[tokio::test]
async fn presence_events_are_in_the_sync_of_clients_that_said_hello() {
    let server = TestServer::start_with(&["--presence-grace", "300ms"]).await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = greeted(&alice, &server).await;
    a.start_conversation(bob.id).await;
    a.send(&ClientMsg::Sync { since: None }).await;
    let cursor = a
        .recv_until(|f| match f {
            ServerMsg::Synced { seq, .. } => Some(seq),
            _ => None,
        })
        .await;
    a.close().await;

    // bob comes and goes while alice is away.
    let b = bob.connect(&server).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.close().await;
    tokio::time::sleep(Duration::from_millis(900)).await;

    let replay = |greet: bool| {
        let server = &server;
        let alice = &alice;
        async move {
            let mut client = alice.connect(server).await;
            if greet {
                client.hello().await;
            }
            client
                .send(&ClientMsg::Sync {
                    since: Some(cursor),
                })
                .await;
            let mut seen = Vec::new();
            loop {
                match client.recv().await {
                    ServerMsg::Presence {
                        user_id, status, ..
                    } => seen.push((user_id, status, client.seq)),
                    ServerMsg::Synced { .. } => break,
                    _ => {}
                }
            }
            client.close().await;
            seen
        }
    };
    let greeted_replay = replay(true).await;
    let statuses: Vec<_> = greeted_replay
        .iter()
        .map(|(user, status, _)| (*user, *status))
        .collect();
    assert_eq!(
        statuses,
        [
            (bob.id, PresenceStatus::Online),
            (bob.id, PresenceStatus::Offline)
        ]
    );
    assert!(greeted_replay.iter().all(|(_, _, seq)| seq.is_some()));
    assert!(
        replay(false).await.is_empty(),
        "a client that never said hello is never sent presence"
    );
    server.stop().await;
}

#[tokio::test]
async fn on_two_instances_a_user_is_online_until_both_connections_are_gone() {
    let servers = TestServer::cluster_with(2, &["--presence-grace", "300ms"]).await;
    let (one, two) = (&servers[0], &servers[1]);
    let alice = Person::new(one, "alice").await;
    let bob = Person::new(one, "bob").await;
    let mut a = greeted(&alice, one).await;
    a.start_conversation(bob.id).await;

    let b1 = bob.connect(one).await;
    assert_eq!(
        presence_of(&mut a, bob.id, Duration::from_secs(5)).await.0,
        PresenceStatus::Online
    );
    let b2 = bob.connect(two).await;
    b1.close().await;
    a.expect_silence(Duration::from_millis(1200)).await;

    b2.close().await;
    let (status, last_seen, _) = presence_of(&mut a, bob.id, Duration::from_secs(5)).await;
    assert_eq!(status, PresenceStatus::Offline);
    assert!(last_seen.is_some());
    for server in servers {
        server.stop().await;
    }
}

#[tokio::test]
async fn an_instance_killed_without_goodbye_stops_counting_after_the_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(dir.path()).await;
    let mut flags: Vec<String> = ["--presence-grace", "300ms", "--presence-timeout", "2s"]
        .map(String::from)
        .to_vec();
    if let Some(redis) = test_redis_url() {
        let prefix = unique_name("test");
        flags.extend(["--redis-url".into(), redis, "--redis-prefix".into(), prefix]);
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let survivor = TestServer::start_on_url(&url, &flags, Bus::Local).await;
    let log = dir.path().join("doomed.log");
    let mut doomed = ServerProcess::start_url(&url, &log, &flags, &[]).await;

    let alice = Person::new(&survivor, "alice").await;
    let bob = Person::new(&survivor, "bob").await;
    let mut a = greeted(&alice, &survivor).await;
    let conversation = a.start_conversation(bob.id).await;
    let _b = WsClient::connect(&doomed.ws_url(&bob.tokens.access)).await;
    // bob counts as online wherever alice asks (the database says so, bus or not).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while participant(&mut a, conversation, bob.id).await.online != Some(true) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob never showed online"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    doomed.kill();
    let killed = Timestamp::now();
    // The survivor sweeps the silent instance: timeout (2 s) plus at most a heartbeat period.
    let (status, last_seen, _) = a
        .recv_until_within(Duration::from_secs(10), |f| match f {
            ServerMsg::Presence {
                user_id,
                status: PresenceStatus::Offline,
                last_seen,
            } if user_id == bob.id => Some((PresenceStatus::Offline, last_seen, ())),
            _ => None,
        })
        .await;
    let noticed = Timestamp::now();
    assert_eq!(status, PresenceStatus::Offline);
    let last_seen = last_seen.expect("last seen at the dead instance's last heartbeat");
    assert!(
        last_seen <= killed,
        "last seen when the instance was last heard from"
    );
    assert!(
        noticed.0 - killed.0 >= 1000,
        "a live instance is not swept early"
    );
    let listed = participant(&mut a, conversation, bob.id).await;
    assert_eq!(listed.online, Some(false));
    survivor.stop().await;
}
