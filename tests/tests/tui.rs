//! The terminal UI end to end: a real server and two clients, alice and bob, driven through
//! their event interface (`Driver`: keys in, `update`, frames out over real sockets) and
//! checked on their rendered screens.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_e2e::proxy::FaultProxy;
use chat_e2e::{PASSWORD, TestServer, register_and_login, unique_name};
use chat_shared::{ChatMessage, ClientMsg, ServerMsg, UserRef};
use chat_tui::session::ConfigDir;
use chat_tui::tui::app::{App, Conn, Screen};
use chat_tui::tui::cursor;
use chat_tui::tui::driver::Driver;
use chat_tui::tui::effect::Effect;
use chat_tui::tui::event::{Event, KeyCode, NetStatus};
use chat_tui::tui::view;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long any one expected change may take.
const WAIT: Duration = Duration::from_secs(10);

fn press(driver: &mut Driver, code: KeyCode) {
    driver.handle(Event::key(code), Instant::now());
}

fn type_text(driver: &mut Driver, text: &str) {
    for event in Event::typed(text) {
        driver.handle(event, Instant::now());
    }
}

/// Whether a line of the screen ends in the "seen" mark (right-aligned against the border).
fn shows_seen(screen: &str) -> bool {
    screen
        .lines()
        .any(|l| l.trim_end_matches('│').trim_end().ends_with("seen"))
}

async fn until(driver: &mut Driver, what: &str, done: impl Fn(&App) -> bool) {
    if !driver.run_until(WAIT, done).await {
        panic!(
            "timed out waiting for {what}; screen:\n{}",
            driver.screen(100, 30)
        );
    }
}

/// Bob, signed in with a stored refresh token as a returning user would be.
async fn returning_user(server: &TestServer, base: &str, name: &str) -> Driver {
    let (user, tokens) = register_and_login(server, name).await;
    let user = UserRef {
        id: user.id,
        username: user.username,
    };
    let mut driver = Driver::resume(base, user, tokens.refresh, None).expect("valid server URL");
    driver.app.size = (100, 30);
    driver
}

/// The UI of `person`, signed in with their refresh token (kept in memory only).
fn resumed(server: &TestServer, person: &chat_e2e::Person) -> Driver {
    let me = UserRef {
        id: person.id,
        username: person.name.clone(),
    };
    let refresh = person.tokens.refresh.clone();
    let mut driver =
        Driver::resume(&server.http_url(), me, refresh, None).expect("valid server URL");
    driver.app.size = (100, 30);
    driver
}

/// Alice, a new user, registering through the sign-in screen.
async fn new_user(base: &str, name: &str, config: &ConfigDir) -> Driver {
    let mut driver = Driver::new(App::new(base), Some(config.clone()));
    driver.app.size = (100, 30);
    type_text(&mut driver, name);
    press(&mut driver, KeyCode::Tab);
    type_text(&mut driver, PASSWORD);
    driver.handle(Event::ctrl('r'), Instant::now());
    press(&mut driver, KeyCode::Enter);
    until(&mut driver, "alice signed in and connected", |app| {
        app.screen == Screen::Chat && app.conn == Conn::Connected
    })
    .await;
    driver
}

#[tokio::test]
async fn alice_and_bob_find_each_other_and_chat() {
    let server = TestServer::start().await;
    let base = server.http_url();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ConfigDir::at(dir.path());
    let alice_name = unique_name("alice");
    let bob_name = unique_name("bob");

    let mut alice = new_user(&base, &alice_name, &config).await;
    // The session is stored for the next start, readable by the owner only.
    let session = config.load_session().expect("readable").expect("stored");
    assert_eq!(session.username, alice_name);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("session.toml"))
            .expect("session file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut bob = returning_user(&server, &base, &bob_name).await;
    until(&mut bob, "bob connected", |app| app.is_connected()).await;

    // Alice searches for bob and starts a conversation.
    type_text(&mut alice, "/");
    type_text(&mut alice, &bob_name[..bob_name.len() - 2]);
    until(&mut alice, "search results", |app| {
        app.search
            .as_ref()
            .is_some_and(|s| s.results.iter().any(|u| u.username == bob_name))
    })
    .await;
    assert!(alice.screen(100, 30).contains(&bob_name));
    while alice
        .app
        .search
        .as_ref()
        .is_some_and(|s| s.results[s.selected].username != bob_name)
    {
        press(&mut alice, KeyCode::Down);
    }
    press(&mut alice, KeyCode::Enter);
    until(&mut alice, "the conversation open", |app| {
        app.open_conversation()
            .is_some_and(|c| c.name() == bob_name)
    })
    .await;

    // Alice writes; bob sees her typing, then the message lands as unread.
    type_text(&mut alice, "hello bob 👋");
    until(
        &mut bob,
        "alice typing, in a conversation new to bob",
        |app| !app.typing_in.is_empty() && !app.conversations.is_empty(),
    )
    .await;
    let screen = bob.screen(100, 30);
    assert!(
        screen.contains(&alice_name) && screen.contains("typing…"),
        "{screen}"
    );
    press(&mut alice, KeyCode::Enter);
    until(&mut bob, "the message in bob's list", |app| {
        app.conversations.first().is_some_and(|c| c.unread == 1)
    })
    .await;
    let screen = bob.screen(100, 30);
    assert!(screen.contains(&format!("{alice_name} (1)")), "{screen}");
    assert!(screen.contains("hello bob 👋"), "{screen}");
    until(&mut alice, "the echo", |app| app.pending.is_empty()).await;
    assert!(!shows_seen(&alice.screen(100, 30)));

    // Bob opens it: alice gets the read receipt and shows "seen".
    press(&mut bob, KeyCode::Enter);
    until(&mut bob, "bob's thread loaded", |app| {
        app.open_thread().is_some_and(|t| t.messages.len() == 1)
    })
    .await;
    until(&mut alice, "seen on alice's side", |app| {
        app.open_thread()
            .and_then(|t| t.last_seen_own(app.my_id()))
            .is_some()
    })
    .await;
    let screen = alice.screen(100, 30);
    assert!(shows_seen(&screen), "{screen}");

    // Bob types back: alice sees "bob is typing…", then his answer, then he sees "seen".
    type_text(&mut bob, "hi alice");
    until(&mut alice, "bob typing", |app| {
        !app.typing_in_open().is_empty()
    })
    .await;
    let screen = alice.screen(100, 30);
    assert!(
        screen.contains(&format!("{bob_name} is typing…")),
        "{screen}"
    );
    press(&mut bob, KeyCode::Enter);
    until(&mut alice, "bob's answer", |app| {
        app.open_thread()
            .is_some_and(|t| t.messages.iter().any(|m| m.content == "hi alice"))
    })
    .await;
    assert!(
        alice.app.typing_in_open().is_empty(),
        "a message ends the indicator"
    );
    assert_eq!(
        alice
            .app
            .conversation(alice.app.open.unwrap_or(0))
            .map(|c| c.unread),
        Some(0)
    );
    // Each client runs only while the test pumps it: let alice's (possibly gathered) read out.
    until(&mut alice, "alice's read sent", |app| {
        app.open_thread().is_some_and(|t| !t.read_due)
    })
    .await;
    until(&mut bob, "seen on bob's side", |app| {
        app.open_thread()
            .and_then(|t| t.last_seen_own(app.my_id()))
            .is_some()
    })
    .await;
    let screen = bob.screen(100, 30);
    assert!(screen.contains("hi alice"), "{screen}");
    assert!(shows_seen(&screen), "{screen}");
}

/// A TCP relay whose open connections can be cut, to drop a client's socket on demand.
struct Relay {
    port: u16,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    async fn start(upstream: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let port = listener.local_addr().expect("relay addr").port();
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let kept = links.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut links = kept.lock().expect("links");
                links.retain(|l| !l.is_finished());
                links.push(link);
            }
        });
        Relay {
            port,
            links,
            accept,
        }
    }

    /// Drops every connection open now (new ones are still accepted).
    fn cut(&self) {
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test]
async fn a_dropped_connection_reconnects_and_catches_up_without_duplicates() {
    let server = TestServer::start().await;
    let relay = Relay::start(server.addr).await;
    let via_relay = format!("http://127.0.0.1:{}", relay.port);
    let alice_name = unique_name("alice");
    let bob_name = unique_name("bob");
    let mut alice = returning_user(&server, &via_relay, &alice_name).await;
    let mut bob = returning_user(&server, &server.http_url(), &bob_name).await;
    until(&mut bob, "bob connected", |app| app.is_connected()).await;
    until(&mut alice, "alice connected", |app| app.is_connected()).await;

    // Bob starts the conversation and says hello; alice opens it.
    type_text(&mut bob, "/");
    type_text(&mut bob, &alice_name);
    until(&mut bob, "search results", |app| {
        app.search.as_ref().is_some_and(|s| s.results.len() == 1)
    })
    .await;
    press(&mut bob, KeyCode::Enter);
    until(&mut bob, "conversation open", |app| app.open.is_some()).await;
    type_text(&mut bob, "one");
    press(&mut bob, KeyCode::Enter);
    until(&mut alice, "bob's first message", |app| {
        !app.conversations.is_empty()
    })
    .await;
    press(&mut alice, KeyCode::Enter);
    until(&mut alice, "thread loaded", |app| {
        app.open_thread().is_some_and(|t| t.messages.len() == 1)
    })
    .await;

    // Alice's socket drops; bob writes while she is away.
    relay.cut();
    until(&mut alice, "alice disconnected", |app| {
        matches!(app.conn, Conn::Disconnected { .. })
    })
    .await;
    assert!(alice.screen(100, 30).contains("disconnected: retrying in"));
    for text in ["two", "three"] {
        type_text(&mut bob, text);
        press(&mut bob, KeyCode::Enter);
    }
    until(&mut bob, "bob's echoes", |app| app.pending.is_empty()).await;

    // She comes back by herself and catches up: every message once, in order, all read.
    until(&mut alice, "caught up", |app| {
        app.is_connected() && app.open_thread().is_some_and(|t| t.messages.len() >= 3)
    })
    .await;
    let contents: Vec<String> = alice
        .app
        .open_thread()
        .map(|t| t.messages.iter().map(|m| m.content.clone()).collect())
        .unwrap_or_default();
    assert_eq!(contents, ["one", "two", "three"]);
    until(&mut alice, "alice's read sent", |app| {
        app.open_thread().is_some_and(|t| !t.read_due)
    })
    .await;
    until(&mut bob, "bob sees alice read the catch-up", |app| {
        app.open_thread()
            .and_then(|t| t.last_seen_own(app.my_id()))
            .is_some_and(|id| app.open_thread().and_then(|t| t.newest_id()) == Some(id))
    })
    .await;
    let screen = alice.screen(100, 30);
    assert_eq!(
        screen.matches("three").count(),
        2,
        "in the list and the thread:\n{screen}"
    );
}

#[tokio::test]
async fn a_refused_refresh_token_leads_back_to_sign_in() {
    let server = TestServer::start().await;
    let user = UserRef {
        id: 1,
        username: "ghost".into(),
    };
    let mut driver = Driver::resume(&server.http_url(), user, "not-a-token".into(), None)
        .expect("valid server URL");
    until(&mut driver, "the sign-in screen", |app| {
        app.screen == Screen::SignIn
    })
    .await;
    assert!(!driver.is_online(), "the network task has stopped");
    let screen = driver.screen(100, 30);
    assert!(screen.contains("Your session has expired"), "{screen}");
    assert!(screen.contains("Username  ghost"), "{screen}");
}

/// Sends `count` messages to `conversation` from a new socket of `person` as fast as it can,
/// waits for their echoes (so they are stored), and returns the newest id. `tag` tells this
/// socket's messages from those of the person's other sockets (echoed to every one).
async fn send_burst(
    server: &TestServer,
    person: &chat_e2e::Person,
    conversation: i64,
    count: usize,
    tag: usize,
) -> i64 {
    let mut socket = person.connect(server).await;
    for i in 0..count {
        socket
            .send(&chat_shared::ClientMsg::message(
                conversation,
                format!("burst {i} from socket {tag}"),
            ))
            .await;
    }
    let mut newest = 0;
    let mut echoes = 0;
    while echoes < count {
        if let chat_shared::ServerMsg::Message { message } = socket.recv().await
            && message.sender.id == person.id
            && message.content.ends_with(&format!(" from socket {tag}"))
        {
            echoes += 1;
            newest = newest.max(message.id);
        }
    }
    socket.close().await;
    newest
}

#[tokio::test]
async fn a_burst_of_300_messages_keeps_the_receiver_connected_and_ends_seen_and_delivered() {
    use chat_shared::{ClientMsg, MessageStatus, ServerMsg};
    use std::cell::Cell;

    // The server's default frame limits (20/s, a burst of 100, 50 strikes) apply to alice's
    // receipts too: a client answering every message would be closed with 1008.
    let server = TestServer::start().await;
    let base = server.http_url();
    let bob = chat_e2e::Person::new(&server, "bob").await;
    let carol = chat_e2e::Person::new(&server, "carol").await;
    let mut alice = returning_user(&server, &base, &unique_name("alice")).await;
    until(&mut alice, "alice connected", |app| app.is_connected()).await;
    let alice_id = alice.app.my_id();

    // Bob and carol each say hello; alice opens bob's conversation, carol's stays closed.
    let mut bob_watch = bob.connect(&server).await;
    let mut carol_watch = carol.connect(&server).await;
    let with_bob = bob_watch.start_conversation(alice_id).await;
    let with_carol = carol_watch.start_conversation(alice_id).await;
    for (watch, conv) in [(&mut bob_watch, with_bob), (&mut carol_watch, with_carol)] {
        watch.send(&ClientMsg::message(conv, "hello")).await;
        watch
            .recv_until(|f| matches!(f, ServerMsg::Message { .. }).then_some(()))
            .await;
    }
    until(&mut alice, "both conversations listed", |app| {
        app.conversations.len() == 2
    })
    .await;
    while alice.app.conversations[alice.app.selected].id != with_bob {
        press(&mut alice, KeyCode::Down);
    }
    press(&mut alice, KeyCode::Enter);
    until(&mut alice, "bob's thread loaded", |app| {
        app.open_thread().is_some_and(|t| t.messages.len() == 1)
    })
    .await;

    // 100 messages from bob into the open conversation and 200 from carol into the other, from
    // several sockets each (one socket's own limits would stop the senders).
    let senders: Vec<_> = [(&bob, with_bob, 2), (&carol, with_carol, 4)]
        .into_iter()
        .flat_map(|(person, conv, sockets)| (0..sockets).map(move |_| (person, conv)))
        .enumerate()
        .map(|(tag, (person, conv))| send_burst(&server, person, conv, 50, tag))
        .collect();
    let senders = futures_util::future::join_all(senders);
    tokio::pin!(senders);

    let dropped = Cell::new(false);
    let limited = Cell::new(false);
    let watch = |app: &App| {
        dropped.set(dropped.get() || !app.is_connected());
        let notice = app.notice.as_ref().map(|n| n.text.as_str()).unwrap_or("");
        limited.set(limited.get() || notice.contains("rate_limited"));
    };
    let all_in = |app: &App| {
        watch(app);
        app.open_thread().is_some_and(|t| t.messages.len() == 101)
            && app
                .conversation(with_carol)
                .is_some_and(|c| c.unread == 201)
    };
    // Alice's client runs while the senders send. A liveness bound, not a speed target: CI on
    // PostgreSQL under load once needed more than 60 s for the 300.
    let (newest, received) = tokio::join!(&mut senders, async {
        alice.run_until(Duration::from_secs(150), all_in).await
    });
    let screen = alice.screen(100, 30);
    assert!(received, "alice did not get all 300 messages:\n{screen}");
    let (bob_newest, carol_newest) = (
        newest[..2].iter().copied().max().unwrap_or(0),
        newest[2..].iter().copied().max().unwrap_or(0),
    );
    assert_eq!(
        alice.app.conversation(with_carol).and_then(|c| c.last_id),
        Some(carol_newest)
    );

    // The receipts owed at the end of the burst go out after at most a second.
    until(&mut alice, "alice's last receipts sent", |app| {
        watch(app);
        app.open_thread().is_some_and(|t| !t.read_due)
            && app
                .delivered
                .get(&with_carol)
                .is_some_and(|d| d.due.is_none())
    })
    .await;
    assert!(!dropped.get(), "alice was disconnected:\n{screen}");
    assert!(!limited.get(), "alice was rate limited:\n{screen}");
    assert!(alice.app.is_connected());
    bob_watch
        .recv_until(|f| match f {
            ServerMsg::MessageStatus { message_id, status } => {
                (message_id == bob_newest && status == MessageStatus::Seen).then_some(())
            }
            _ => None,
        })
        .await;
    carol_watch
        .recv_until(|f| match f {
            ServerMsg::MessageStatus { message_id, status } => {
                (message_id == carol_newest && status == MessageStatus::Delivered).then_some(())
            }
            _ => None,
        })
        .await;
}

/// Picks `name` in the open search box (pick mode): types it, waits for it, Enter.
async fn pick(driver: &mut Driver, name: &str) {
    driver.handle(Event::ctrl('u'), Instant::now());
    type_text(driver, name);
    until(driver, "the search result", |app| {
        app.search
            .as_ref()
            .is_some_and(|s| s.results.iter().any(|u| u.username == name))
    })
    .await;
    press(driver, KeyCode::Enter);
}

#[tokio::test]
async fn a_three_person_group_is_created_written_in_typed_in_read_and_shrunk() {
    let server = TestServer::start().await;
    let base = server.http_url();
    let names = ["alice", "bob", "carol"].map(unique_name);
    let mut alice = returning_user(&server, &base, &names[0]).await;
    let mut bob = returning_user(&server, &base, &names[1]).await;
    let mut carol = returning_user(&server, &base, &names[2]).await;
    for driver in [&mut alice, &mut bob, &mut carol] {
        until(driver, "connected", |app| app.is_connected()).await;
    }
    let in_group = |app: &App| {
        app.conversations
            .iter()
            .any(|c| c.name() == "Deploys" && c.members().len() == 3)
    };

    // Alice creates "Deploys" with bob and carol, picked in the search box; it opens.
    press(&mut alice, KeyCode::Char('i'));
    type_text(&mut alice, "/group Deploys");
    press(&mut alice, KeyCode::Enter);
    pick(&mut alice, &names[1]).await;
    pick(&mut alice, &names[2]).await;
    alice.handle(Event::ctrl('d'), Instant::now());
    until(&mut alice, "the group open", |app| {
        app.open_conversation()
            .is_some_and(|c| c.name() == "Deploys")
    })
    .await;
    until(&mut bob, "the group in bob's list", in_group).await;
    until(&mut carol, "the group in carol's list", in_group).await;
    let screen = bob.screen(100, 30);
    assert!(screen.contains("Deploys · 3"), "{screen}");

    // Alice writes; bob opens it and sees her name over it; his read reaches her receipts.
    type_text(&mut alice, "ship it @bob?");
    press(&mut alice, KeyCode::Enter);
    until(&mut bob, "alice's message", |app| {
        app.conversations
            .first()
            .is_some_and(|c| c.name() == "Deploys" && c.unread == 1)
    })
    .await;
    press(&mut bob, KeyCode::Char('g'));
    press(&mut bob, KeyCode::Enter);
    until(&mut bob, "bob's thread loaded", |app| {
        app.open_thread()
            .is_some_and(|t| t.messages.iter().any(|m| m.content == "ship it @bob?"))
    })
    .await;
    let screen = bob.screen(100, 30);
    assert!(screen.contains(&format!("{} ", names[0])), "{screen}");
    assert!(screen.contains("created the group"), "{screen}");

    // Bob and carol type: alice sees both names.
    press(&mut carol, KeyCode::Char('g'));
    press(&mut carol, KeyCode::Enter);
    type_text(&mut bob, "on it");
    type_text(&mut carol, "wait");
    until(&mut alice, "two typing", |app| {
        app.typing_in_open().len() == 2
    })
    .await;
    let screen = alice.screen(100, 30);
    let typing = format!("{} and {} are typing…", names[1], names[2]);
    assert!(screen.contains(&typing), "{screen}");

    // Alice asks who has read her message: bob.
    press(&mut alice, KeyCode::Esc);
    press(&mut alice, KeyCode::Tab);
    press(&mut alice, KeyCode::Char('s'));
    until(&mut alice, "the receipts", |app| {
        app.receipts
            .as_ref()
            .is_some_and(|r| r.read_by.iter().any(|u| u.username == names[1]))
    })
    .await;
    let screen = alice.screen(100, 30);
    assert!(
        screen.contains(&format!("read by:      {}", names[1])),
        "{screen}"
    );
    press(&mut alice, KeyCode::Esc);

    // Alice removes carol: carol's list loses the group, alice's shows two members.
    press(&mut alice, KeyCode::Char('i'));
    type_text(&mut alice, &format!("/remove {}", names[2]));
    press(&mut alice, KeyCode::Enter);
    until(&mut carol, "carol removed", |app| {
        app.conversations.iter().all(|c| c.name() != "Deploys") && app.open.is_none()
    })
    .await;
    until(&mut alice, "two members", |app| {
        app.open_conversation()
            .is_some_and(|c| c.members().len() == 2)
    })
    .await;
    until(&mut alice, "the removal's system message", |app| {
        app.open_thread().is_some_and(|t| {
            t.messages
                .iter()
                .any(|m| m.is_system && m.content.contains("removed"))
        })
    })
    .await;
    let screen = alice.screen(100, 30);
    assert!(screen.contains("Deploys · 2 members"), "{screen}");
}

/// The messages of the open conversation whose text is `content`.
fn count_of(app: &App, content: &str) -> usize {
    app.open_thread().map_or(0, |t| {
        t.messages.iter().filter(|m| m.content == content).count()
    })
}

/// The open conversation's message with `content`.
fn find_message(app: &App, content: &str) -> Option<chat_shared::ChatMessage> {
    app.open_thread()
        .and_then(|t| t.messages.iter().find(|m| m.content == content).cloned())
}

/// From the composer to the messages pane (Esc: the list, Tab: the messages).
fn to_messages(driver: &mut Driver) {
    press(driver, KeyCode::Esc);
    press(driver, KeyCode::Tab);
}

#[tokio::test]
async fn reply_edit_react_delete_and_a_send_retried_across_a_cut_show_once() {
    let server = TestServer::start().await;
    let relay = Relay::start(server.addr).await;
    let via_relay = format!("http://127.0.0.1:{}", relay.port);
    let alice = chat_e2e::Person::new(&server, "alice").await;
    let alice_user = UserRef {
        id: alice.id,
        username: alice.name.clone(),
    };
    let mut a = Driver::resume(&via_relay, alice_user, alice.tokens.refresh.clone(), None)
        .expect("valid server URL");
    a.app.size = (100, 30);
    let bob_name = unique_name("bob");
    let mut b = returning_user(&server, &server.http_url(), &bob_name).await;
    until(&mut a, "alice connected", |app| app.is_connected()).await;
    until(&mut b, "bob connected", |app| app.is_connected()).await;

    // Bob starts the conversation and writes; alice opens it.
    type_text(&mut b, "/");
    type_text(&mut b, &alice.name);
    until(&mut b, "search results", |app| {
        app.search.as_ref().is_some_and(|s| s.results.len() == 1)
    })
    .await;
    press(&mut b, KeyCode::Enter);
    until(&mut b, "conversation open", |app| app.open.is_some()).await;
    type_text(&mut b, "lunch at noon?");
    press(&mut b, KeyCode::Enter);
    until(&mut a, "bob's message listed", |app| {
        !app.conversations.is_empty()
    })
    .await;
    press(&mut a, KeyCode::Enter);
    until(&mut a, "thread loaded", |app| {
        count_of(app, "lunch at noon?") == 1
    })
    .await;

    // Alice answers it: bob's reply carries the quote.
    to_messages(&mut a);
    press(&mut a, KeyCode::Up);
    press(&mut a, KeyCode::Char('r'));
    type_text(&mut a, "yes!");
    press(&mut a, KeyCode::Enter);
    until(&mut b, "alice's reply", |app| count_of(app, "yes!") == 1).await;
    let lunch = find_message(&b.app, "lunch at noon?").expect("bob's message");
    let reply = find_message(&b.app, "yes!").expect("the reply");
    assert_eq!(reply.reply().map(|r| r.id), Some(lunch.id));
    let screen = b.screen(100, 30);
    assert!(
        screen.contains(&format!("↳ {bob_name}: lunch at noon?")),
        "{screen}"
    );

    // Bob edits his message with ↑ in the empty composer: alice sees it changed, her quote too.
    press(&mut b, KeyCode::Up);
    b.handle(Event::ctrl('u'), Instant::now());
    type_text(&mut b, "lunch at 12:30?");
    press(&mut b, KeyCode::Enter);
    until(&mut a, "the edit", |app| {
        count_of(app, "lunch at 12:30?") == 1
    })
    .await;
    let screen = a.screen(100, 30);
    assert!(screen.contains("(edited)"), "{screen}");
    assert!(
        screen.contains(&format!("↳ {bob_name}: lunch at 12:30?")),
        "{screen}"
    );

    // Alice reacts 👍 to it; bob sees it counted.
    to_messages(&mut a);
    press(&mut a, KeyCode::Up);
    press(&mut a, KeyCode::Up);
    press(&mut a, KeyCode::Char('+'));
    press(&mut a, KeyCode::Char('1'));
    until(&mut b, "the reaction", |app| {
        find_message(app, "lunch at 12:30?").is_some_and(|m| m.reactions().len() == 1)
    })
    .await;
    let screen = b.screen(100, 30);
    assert!(screen.contains("👍 1"), "{screen}");

    // Bob deletes it, after saying yes: alice sees the tombstone, and her reply's quote says so.
    to_messages(&mut b);
    press(&mut b, KeyCode::Up);
    press(&mut b, KeyCode::Up);
    press(&mut b, KeyCode::Char('d'));
    assert!(b.screen(100, 30).contains("Delete it for everyone?"));
    press(&mut b, KeyCode::Char('y'));
    until(&mut a, "the tombstone", |app| {
        app.open_thread()
            .is_some_and(|t| t.messages.iter().any(|m| m.is_deleted()))
    })
    .await;
    let screen = a.screen(100, 30);
    assert!(screen.contains("↳ message deleted"), "{screen}");
    assert!(!screen.contains("lunch at 12:30?"), "{screen}");

    // Alice's connection is cut. Her next send's client_id is stored already (as if her first
    // try had reached the server and only its answer was lost); she writes it offline, and
    // once back the client sends it again: the server answers with the stored one, and it
    // shows once on both sides.
    relay.cut();
    until(&mut a, "alice disconnected", |app| {
        matches!(app.conn, Conn::Disconnected { .. })
    })
    .await;
    let conversation_id = a.app.open.expect("open");
    let client_id = format!("{}-{}", a.app.client_tag, a.app.sends + 1);
    let mut first_try = alice.connect(&server).await;
    first_try
        .send(&ClientMsg::Message {
            conversation_id,
            content: "through the cut".into(),
            reply_to: None,
            client_id: Some(client_id.clone()),
        })
        .await;
    let stored = first_try
        .recv_until(|f| match f {
            ServerMsg::Message { message } => Some(message),
            _ => None,
        })
        .await;
    press(&mut a, KeyCode::Char('i'));
    type_text(&mut a, "through the cut");
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.app.pending.len(), 1, "waits for the connection");
    until(&mut a, "reconnected and confirmed", |app| {
        app.is_connected() && app.pending.is_empty() && count_of(app, "through the cut") == 1
    })
    .await;
    until(&mut b, "bob has it", |app| {
        count_of(app, "through the cut") == 1
    })
    .await;
    // Let both settle: any second copy would have come by now.
    a.run_until(Duration::from_millis(500), |_| false).await;
    b.run_until(Duration::from_millis(300), |_| false).await;
    assert_eq!(count_of(&a.app, "through the cut"), 1);
    assert_eq!(count_of(&b.app, "through the cut"), 1);
    assert_eq!(
        find_message(&a.app, "through the cut").map(|m| m.id),
        Some(stored.id),
        "the retry is the message first stored"
    );
    let screen = a.screen(100, 30);
    assert_eq!(
        screen.matches("through the cut").count(),
        2,
        "in the list and the thread:\n{screen}"
    );
}

/// The contents of the open conversation, in order.
fn thread_of(app: &App) -> Vec<String> {
    app.open_thread()
        .map(|t| t.messages.iter().map(|m| m.content.clone()).collect())
        .unwrap_or_default()
}

/// Sends a message on a test socket and waits for its echo.
async fn say(ws: &mut chat_e2e::WsClient, conversation_id: i64, text: &str) -> ChatMessage {
    ws.send(&ClientMsg::Message {
        conversation_id,
        content: text.into(),
        reply_to: None,
        client_id: None,
    })
    .await;
    ws.recv_until(|f| match f {
        ServerMsg::Message { message } if message.content == text => Some(message),
        _ => None,
    })
    .await
}

/// Starts a conversation with `user_id` on a test socket; its id.
async fn start_with(ws: &mut chat_e2e::WsClient, user_id: i64) -> i64 {
    ws.send(&ClientMsg::StartConversation {
        receiver_id: user_id,
    })
    .await;
    ws.recv_until(|f| match f {
        ServerMsg::ConversationStarted { conversation } => Some(conversation.id),
        _ => None,
    })
    .await
}

/// Waits for the `chat.message_updated` of a message on a test socket.
async fn updated_on(ws: &mut chat_e2e::WsClient, message_id: i64) -> ChatMessage {
    ws.recv_until(|f| match f {
        ServerMsg::MessageUpdated { message } if message.id == message_id => Some(message),
        _ => None,
    })
    .await
}

/// Whether the saved sync cursor is the app's.
fn cursor_saved(config: &ConfigDir, app: &App) -> bool {
    app.sync.cursor.is_some() && cursor::load(config, &app.server, app.my_id()) == app.sync.cursor
}

#[tokio::test]
async fn everything_that_happened_while_cut_off_shows_once_after_the_sync() {
    let server = TestServer::start().await;
    let proxy = FaultProxy::start(server.addr).await;
    let temp = tempfile::tempdir().expect("temp dir");
    let config = ConfigDir::at(temp.path());
    let alice = chat_e2e::Person::new(&server, "alice").await;
    let bob = chat_e2e::Person::new(&server, "bob").await;
    let carol = chat_e2e::Person::new(&server, "carol").await;
    let me = UserRef {
        id: alice.id,
        username: alice.name.clone(),
    };
    let base = format!("http://{}", proxy.addr);
    let mut a = Driver::resume(
        &base,
        me,
        alice.tokens.refresh.clone(),
        Some(config.clone()),
    )
    .expect("valid server URL");
    a.app.size = (100, 30);
    let mut b = bob.connect(&server).await;
    until(&mut a, "alice synced", |app| {
        app.is_connected() && app.sync.cursor.is_some()
    })
    .await;

    // Bob writes; alice opens the conversation and answers.
    let direct = start_with(&mut b, alice.id).await;
    say(&mut b, direct, "one").await;
    until(&mut a, "bob's conversation", |app| {
        !app.conversations.is_empty()
    })
    .await;
    press(&mut a, KeyCode::Enter);
    until(&mut a, "thread loaded", |app| thread_of(app) == ["one"]).await;
    type_text(&mut a, "mine");
    press(&mut a, KeyCode::Enter);
    let mine = b
        .recv_until(|f| match f {
            ServerMsg::Message { message } if message.content == "mine" => Some(message),
            _ => None,
        })
        .await;
    until(&mut a, "the cursor saved", |app| {
        app.pending.is_empty() && !app.sync.syncing && cursor_saved(&config, app)
    })
    .await;
    let before = a.app.sync.cursor.expect("a cursor");

    // Alice is cut off (new connections refused too) while bob and carol go on.
    proxy.cut();
    until(&mut a, "alice disconnected", |app| {
        matches!(app.conn, Conn::Disconnected { .. })
    })
    .await;
    let two = say(&mut b, direct, "two").await;
    say(&mut b, direct, "three").await;
    b.send(&ClientMsg::Edit {
        message_id: two.id,
        content: "two, edited".into(),
    })
    .await;
    updated_on(&mut b, two.id).await;
    b.send(&ClientMsg::React {
        message_id: mine.id,
        emoji: "👍".into(),
        add: true,
    })
    .await;
    updated_on(&mut b, mine.id).await;
    b.send(&ClientMsg::Read {
        conversation_id: direct,
    })
    .await;
    let mut c = carol.connect(&server).await;
    let from_carol = start_with(&mut c, alice.id).await;
    say(&mut c, from_carol, "hi from carol").await;
    b.send(&ClientMsg::CreateGroup {
        title: "Ops".into(),
        member_ids: vec![alice.id, carol.id],
    })
    .await;
    let ops = b
        .recv_until(|f| match f {
            ServerMsg::ConversationStarted { conversation } => Some(conversation.id),
            _ => None,
        })
        .await;
    say(&mut b, ops, "ops hello").await;
    assert!(!a.app.is_connected());

    // She comes back: the sync brings every event, each once.
    proxy.resume();
    until(&mut a, "caught up", |app| {
        app.is_connected()
            && !app.sync.syncing
            && thread_of(app) == ["one", "mine", "two, edited", "three"]
            && app.conversations.len() == 3
            && app.conversation(ops).is_some_and(|c| c.preview.is_some())
    })
    .await;
    a.run_until(Duration::from_millis(500), |_| false).await;
    assert_eq!(thread_of(&a.app), ["one", "mine", "two, edited", "three"]);
    let thread = a.app.open_thread().expect("open");
    let mine_now = thread
        .messages
        .iter()
        .find(|m| m.id == mine.id)
        .expect("mine");
    assert_eq!(mine_now.reactions().len(), 1);
    assert_eq!(thread.last_seen_own(alice.id), Some(mine.id), "bob read it");
    let names: Vec<&str> = a.app.conversations.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["Ops", carol.name.as_str(), bob.name.as_str()]);
    assert_eq!(a.app.conversation(ops).map(|c| c.unread), Some(1));
    assert_eq!(a.app.conversation(from_carol).map(|c| c.unread), Some(1));
    let screen = a.screen(100, 30);
    for (text, times) in [
        ("two, edited", 1),
        ("three", 2),
        ("hi from carol", 1),
        ("ops hello", 1),
        ("👍 1", 1),
    ] {
        assert_eq!(screen.matches(text).count(), times, "{text}:\n{screen}");
    }
    let after = a.app.sync.cursor.expect("a cursor");
    assert!(after > before, "{after} > {before}");
    until(&mut a, "the new cursor saved", |app| {
        cursor_saved(&config, app)
    })
    .await;
}

#[tokio::test]
async fn the_cursor_outlives_the_client_and_the_next_start_syncs_from_it() {
    let server = TestServer::start().await;
    let temp = tempfile::tempdir().expect("temp dir");
    let config = ConfigDir::at(temp.path());
    let alice = chat_e2e::Person::new(&server, "alice").await;
    let bob = chat_e2e::Person::new(&server, "bob").await;
    let me = UserRef {
        id: alice.id,
        username: alice.name.clone(),
    };
    let start = || {
        let mut driver = Driver::resume(
            &server.http_url(),
            me.clone(),
            alice.tokens.refresh.clone(),
            Some(config.clone()),
        )
        .expect("valid server URL");
        driver.app.size = (100, 30);
        driver
    };
    let mut b = bob.connect(&server).await;
    let direct = start_with(&mut b, alice.id).await;
    let first = say(&mut b, direct, "before").await;
    let mut a = start();
    until(&mut a, "alice synced", |app| {
        !app.sync.syncing && app.sync.cursor.is_some() && app.conversations.len() == 1
    })
    .await;
    // q in the list: the cursor is saved on the way out.
    let effects = a.handle(Event::char('q'), Instant::now());
    assert!(effects.contains(&Effect::Quit));
    let kept = a.app.sync.cursor;
    assert_eq!(cursor::load(&config, &a.app.server, alice.id), kept);
    drop(a);

    // While her client is not running, bob writes and edits.
    say(&mut b, direct, "while away").await;
    b.send(&ClientMsg::Edit {
        message_id: first.id,
        content: "before, edited".into(),
    })
    .await;
    updated_on(&mut b, first.id).await;

    let mut a = start();
    assert_eq!(a.app.sync.cursor, kept, "read back from the file");
    until(&mut a, "synced from the kept cursor", |app| {
        !app.sync.syncing && app.sync.cursor > kept && app.conversations.len() == 1
    })
    .await;
    a.run_until(Duration::from_millis(300), |_| false).await;
    assert_eq!(
        a.app.conversations[0].unread, 2,
        "both of bob's messages, each once: the list counts them, the replay adds none"
    );
    press(&mut a, KeyCode::Enter);
    until(&mut a, "the thread", |app| {
        thread_of(app) == ["before, edited", "while away"]
    })
    .await;
    until(&mut a, "the new cursor saved", |app| {
        cursor_saved(&config, app)
    })
    .await;
}

#[tokio::test]
async fn alice_sees_bob_come_online_and_then_when_he_was_last_seen() {
    // Departures wait the grace, kept short here.
    let server = TestServer::start_with(&["--presence-grace", "300ms"]).await;
    let alice = chat_e2e::Person::new(&server, "alice").await;
    let bob = chat_e2e::Person::new(&server, "bob").await;
    // Their conversation, started on a socket of alice's: bob has never been online.
    let mut a = alice.connect(&server).await;
    start_with(&mut a, bob.id).await;
    a.close().await;
    let mut alice_tui = resumed(&server, &alice);
    until(&mut alice_tui, "the conversation with bob listed", |app| {
        app.conversations.len() == 1 && !app.sync.syncing && app.sync.cursor.is_some()
    })
    .await;
    press(&mut alice_tui, KeyCode::Enter);
    let screen = alice_tui.screen(100, 30);
    assert!(screen.contains(&format!("○ {}", bob.name)), "{screen}");
    assert!(
        screen.contains(&format!("┌ {} · offline ─", bob.name)),
        "never seen yet:\n{screen}"
    );

    let mut b = bob.connect(&server).await;
    b.send(&ClientMsg::Hello {
        client: "test".into(),
        version: "1".into(),
    })
    .await;
    let online = format!("┌ {} · online ─", bob.name);
    until(&mut alice_tui, "bob online on alice's screen", |app| {
        let screen = view::render_to_string(app, 100, 30);
        screen.contains(&online) && screen.contains(&format!("▶ ● {}", bob.name))
    })
    .await;

    b.close().await;
    let seen = format!("┌ {} · last seen just now ─", bob.name);
    let gone = alice_tui
        .run_until(Duration::from_secs(5), |app| {
            let screen = view::render_to_string(app, 100, 30);
            screen.contains(&seen) && screen.contains(&format!("▶ ○ {}", bob.name))
        })
        .await;
    assert!(
        gone,
        "bob last seen within 5 s of leaving (grace 300 ms):\n{}",
        alice_tui.screen(100, 30)
    );
}

/// A new access token for the session of `refresh`, whose successor is kept (the server
/// rotates refresh tokens).
async fn refreshed(server: &TestServer, refresh: &mut String) -> String {
    let answer = chat_e2e::post_json(
        server,
        "/api/token/refresh/",
        &serde_json::json!({ "refresh": refresh }),
    )
    .await;
    assert_eq!(answer.status().as_u16(), 200, "refresh");
    let tokens: serde_json::Value = answer.json().await.expect("tokens");
    if let Some(next) = tokens["refresh"].as_str() {
        *refresh = next.to_owned();
    }
    tokens["access"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// Handles `driver`'s events (and ticks) for `time`; the connection changes among them (none
/// while the socket stays up).
async fn pump(driver: &mut Driver, time: Duration) -> Vec<NetStatus> {
    let deadline = tokio::time::Instant::now() + time;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut changes = Vec::new();
    loop {
        let event = tokio::select! {
            event = driver.next_event() => event,
            _ = tick.tick() => Event::Tick,
            () = tokio::time::sleep_until(deadline) => return changes,
        };
        if let Event::Net(status) = &event
            && !matches!(status, NetStatus::Warning(_))
        {
            changes.push(status.clone());
        }
        driver.handle(event, Instant::now());
    }
}

#[tokio::test]
async fn in_token_mode_the_socket_outlives_three_token_lifetimes_renewed_in_band() {
    // Each socket is closed (4001) at its token's `exp` unless renewed with chat.auth.
    let server =
        TestServer::start_with(&["--access-token-lifetime", "2s", "--socket-expiry", "token"])
            .await;
    let alice = chat_e2e::Person::new(&server, "alice").await;
    let bob = chat_e2e::Person::new(&server, "bob").await;
    let mut bob_refresh = bob.tokens.refresh.clone();
    let access = refreshed(&server, &mut bob_refresh).await;
    let mut b = chat_e2e::WsClient::connect(&server.ws_url(&access)).await;
    let conversation = start_with(&mut b, alice.id).await;
    b.close().await;

    let mut tui = resumed(&server, &alice);
    until(&mut tui, "the conversation with bob listed", |app| {
        app.is_connected() && app.conversations.len() == 1 && !app.sync.syncing
    })
    .await;
    press(&mut tui, KeyCode::Enter);
    until(&mut tui, "the conversation open", |app| {
        app.open_thread().is_some()
    })
    .await;

    // Bob writes every 0.7 s for more than three lifetimes, each time from a new socket (his
    // own would need renewing too).
    let connected = Instant::now();
    let mut sent = Vec::new();
    for i in 0..10 {
        let access = refreshed(&server, &mut bob_refresh).await;
        let mut b = chat_e2e::WsClient::connect(&server.ws_url(&access)).await;
        let text = format!("still here #{i}.");
        say(&mut b, conversation, &text).await;
        b.close().await;
        sent.push(text);
        let changes = pump(&mut tui, Duration::from_millis(700)).await;
        assert_eq!(changes, [], "alice's socket stays open (message {i})");
    }
    assert!(
        connected.elapsed() > Duration::from_secs(6),
        "three lifetimes"
    );
    let changes = pump(&mut tui, Duration::from_secs(1)).await;
    assert_eq!(changes, [], "alice's socket stays open");
    for text in &sent {
        assert_eq!(count_of(&tui.app, text), 1, "{text:?} shown once");
    }
    assert_eq!(tui.app.screen, Screen::Chat);
    assert!(tui.app.is_connected());
}

#[tokio::test]
async fn a_password_changed_elsewhere_sends_the_ui_to_sign_in_saying_why() {
    let server = TestServer::start().await;
    let alice = chat_e2e::Person::new(&server, "alice").await;
    let mut tui = resumed(&server, &alice);
    until(&mut tui, "alice connected", |app| app.is_connected()).await;

    // Elsewhere: she logs in again and changes her password, which ends every other session.
    let login = chat_e2e::post_json(
        &server,
        "/api/token/",
        &chat_e2e::credentials(&alice.name, PASSWORD),
    )
    .await;
    assert_eq!(login.status().as_u16(), 200);
    let tokens: serde_json::Value = login.json().await.expect("tokens");
    let change = reqwest::Client::new()
        .post(format!("{}/api/password/", server.http_url()))
        .bearer_auth(tokens["access"].as_str().expect("access"))
        .json(&serde_json::json!({
            "old_password": PASSWORD,
            "new_password": "another long password",
        }))
        .send()
        .await
        .expect("password change");
    assert_eq!(change.status().as_u16(), 200);

    until(&mut tui, "the sign-in screen", |app| {
        app.screen == Screen::SignIn
    })
    .await;
    assert!(!tui.is_online(), "the network task has stopped");
    assert_eq!(
        tui.app.sign_in.message.as_deref(),
        Some("Your session was ended (signed out elsewhere or password changed). Sign in again.")
    );
    let screen = tui.screen(100, 30);
    assert!(screen.contains("Your session was ended"), "{screen}");
    assert!(
        screen.contains(&format!("Username  {}", alice.name)),
        "{screen}"
    );
}
