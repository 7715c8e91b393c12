//! Failed writes never become acknowledgements. The database is made unwritable for real (a full
//! filesystem for SQLite; a failing commit for PostgreSQL), messages and registrations are sent
//! until writes fail, the fault is removed, more is sent, and after a restart the database holds
//! exactly what was acknowledged: every echoed message and every 201 account, nothing else.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chat_e2e::{PASSWORD, Person, TestServer, WsClient, post_json, test_database_url, unique_name};
use chat_server::Bus;
use chat_shared::{ClientMsg, ErrorCode, ServerMsg};

/// Messages sent before the test gives up waiting for writes to fail.
const MAX_SENDS: usize = 3_000;
/// Write failures to see before the fault is removed.
const FAILURES: usize = 3;
/// Messages and registrations sent once the fault is gone; every one must succeed.
const AFTER: usize = 20;

/// What the server answered to one message: its echo (stored) or a `chat.error`.
enum Answer {
    Stored(i64),
    Refused(ErrorCode),
}

async fn send(client: &mut WsClient, conversation_id: i64, content: &str) -> Answer {
    client
        .send(&ClientMsg::message(conversation_id, content.to_string()))
        .await;
    client
        .recv_until(|frame| match frame {
            ServerMsg::Message { message } if message.content == content => {
                Some(Answer::Stored(message.id))
            }
            ServerMsg::Error {
                code, request_type, ..
            } if request_type.as_deref() == Some("chat.message") => Some(Answer::Refused(code)),
            _ => None,
        })
        .await
}

async fn register(server: &TestServer, name: &str) -> u16 {
    let body = serde_json::json!({ "username": name, "password": PASSWORD });
    post_json(server, "/api/register/", &body)
        .await
        .status()
        .as_u16()
}

async fn healthz(server: &TestServer) -> u16 {
    reqwest::get(format!("{}/healthz", server.http_url()))
        .await
        .expect("GET /healthz")
        .status()
        .as_u16()
}

/// Asks `/healthz` until it answers `want` (its answer is reused for a second); fails after 5 s.
async fn await_health(server: &TestServer, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while healthz(server).await != want {
        assert!(Instant::now() < deadline, "/healthz did not answer {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Everything acknowledged and refused while the fault lasted and after it.
#[derive(Default)]
struct Ledger {
    /// `(id, content)` of every echoed message, in order.
    stored: Vec<(i64, String)>,
    /// Contents of the messages answered with an error.
    refused: Vec<String>,
    /// Accounts answered 201, and those answered with an error.
    registered: Vec<String>,
    not_registered: Vec<String>,
}

impl Ledger {
    async fn message(&mut self, client: &mut WsClient, conversation_id: i64) -> Option<ErrorCode> {
        let content = format!("{} {}", unique_name("m"), "x".repeat(3_900));
        match send(client, conversation_id, &content).await {
            Answer::Stored(id) => {
                self.stored.push((id, content));
                None
            }
            Answer::Refused(code) => {
                self.refused.push(content);
                Some(code)
            }
        }
    }

    async fn account(&mut self, server: &TestServer) -> u16 {
        let name = unique_name("acct");
        let status = register(server, &name).await;
        if status == 201 {
            self.registered.push(name);
        } else {
            self.not_registered.push(name);
        }
        status
    }

    /// After a restart: the history is exactly the stored messages, each acknowledged account
    /// can log in and each refused one does not exist.
    async fn check(&self, server: &TestServer, reader: &Person, conversation_id: i64) {
        let mut client = reader.connect(server).await;
        client
            .send(&ClientMsg::GetMessages {
                conversation_id,
                before_id: None,
                limit: Some(1_000),
            })
            .await;
        let history = client
            .recv_until(|frame| match frame {
                ServerMsg::Messages { messages, .. } => Some(messages),
                _ => None,
            })
            .await;
        assert!(history.len() < 1_000, "the history fits one page");
        let kept: Vec<(i64, String)> = history.into_iter().map(|m| (m.id, m.content)).collect();
        assert_eq!(
            kept.len(),
            self.stored.len(),
            "stored messages after the restart: {} acknowledged, {} refused",
            self.stored.len(),
            self.refused.len()
        );
        assert!(kept == self.stored, "the history is what was acknowledged");
        for name in &self.registered {
            let body = serde_json::json!({ "username": name, "password": PASSWORD });
            let status = post_json(server, "/api/token/", &body).await.status();
            assert_eq!(status, 200, "acknowledged account {name} logs in");
        }
        for name in &self.not_registered {
            let body = serde_json::json!({ "username": name, "password": PASSWORD });
            let status = post_json(server, "/api/token/", &body).await.status();
            assert_eq!(status, 401, "refused account {name} does not exist");
        }
    }
}

/// A tmpfs mounted for the test's life: a filesystem that fills up for real.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            // Only root can mount; CI runs as root and so runs this test.
            let root = std::fs::read_to_string("/proc/self/status")
                .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:\t0\t")));
            assert!(!root, "running as root but could not mount a tmpfs");
            eprintln!("not root: cannot mount a small filesystem; skipping");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem is full.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("create filler");
        let block = vec![0u8; 64 * 1024];
        loop {
            if file
                .write_all(&block)
                .and_then(|_| file.sync_all())
                .is_err()
            {
                // The last bytes that fit, so that not even a page is left.
                let small = [0u8; 512];
                while file.write_all(&small).and_then(|_| file.sync_all()).is_ok() {}
                return path;
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Sends until `FAILURES` writes failed; after each failure, registers until a registration
/// fails too and asks `/healthz` until it answers 503 (a small write can still fit in what a
/// failed larger one left, so these may succeed a few times first: they count as acknowledged).
async fn send_until_failures(
    ledger: &mut Ledger,
    server: &TestServer,
    client: &mut WsClient,
    conversation_id: i64,
) {
    let mut failures = 0;
    for _ in 0..MAX_SENDS {
        let Some(code) = ledger.message(client, conversation_id).await else {
            continue;
        };
        assert_eq!(code, ErrorCode::Internal, "a failed write is `internal`");
        failures += 1;
        let refused = loop {
            let status = ledger.account(server).await;
            assert!(
                [201, 500, 503].contains(&status),
                "a registration while writes fail answers 201, 500 or 503, got {status}"
            );
            if status != 201 {
                break true;
            }
            if ledger.registered.len() > 100 {
                break false;
            }
        };
        assert!(refused, "registrations failed while the disk was full");
        await_health(server, 503).await;
        if failures == FAILURES {
            return;
        }
    }
    panic!("only {failures} of {MAX_SENDS} writes failed on a full disk");
}

/// Once the fault is gone, every message and registration succeeds.
async fn send_after_recovery(
    ledger: &mut Ledger,
    server: &TestServer,
    client: &mut WsClient,
    conversation_id: i64,
) {
    await_health(server, 200).await;
    for _ in 0..AFTER {
        assert!(
            ledger.message(client, conversation_id).await.is_none(),
            "a message once writes work again"
        );
    }
    for _ in 0..3 {
        assert_eq!(ledger.account(server).await, 201, "registering again");
    }
}

#[tokio::test]
async fn a_full_disk_loses_nothing_acknowledged() {
    let Some(disk) = SmallDisk::mount(6 * 1024 * 1024) else {
        return;
    };
    let database = disk.path().join("chat.db");
    let server = TestServer::start_on(
        &database,
        &["--auth-ip-burst", "1000", "--rate-limit-burst", "10000"],
    )
    .await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut client = alice.connect(&server).await;
    let conversation_id = client.start_conversation(bob.id).await;
    let mut ledger = Ledger::default();

    let filler = disk.fill();
    send_until_failures(&mut ledger, &server, &mut client, conversation_id).await;
    std::fs::remove_file(&filler).expect("free the space");
    send_after_recovery(&mut ledger, &server, &mut client, conversation_id).await;

    client.close().await;
    server.stop().await;
    let server = TestServer::start_on(&database, &[]).await;
    ledger.check(&server, &bob, conversation_id).await;
    server.stop().await;
}

/// Makes every commit that stored a message or an account fail while switched on: a deferred
/// constraint trigger raises at `COMMIT`, after every statement succeeded (the case where a
/// client could believe a write went through).
const FAULT: &[&str] = &[
    "CREATE TABLE fault (active BOOLEAN NOT NULL)",
    "INSERT INTO fault VALUES (false)",
    "CREATE FUNCTION fail_when_faulty() RETURNS trigger AS $$
     BEGIN
       IF (SELECT active FROM fault) THEN RAISE EXCEPTION 'injected write failure'; END IF;
       RETURN NULL;
     END $$ LANGUAGE plpgsql",
    "CREATE CONSTRAINT TRIGGER messages_fault AFTER INSERT ON messages
     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_when_faulty()",
    "CREATE CONSTRAINT TRIGGER users_fault AFTER INSERT ON users
     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_when_faulty()",
];

async fn set_fault(db: &mut sqlx::PgConnection, active: bool) {
    sqlx::query("UPDATE fault SET active = $1")
        .bind(active)
        .execute(db)
        .await
        .expect("switch the fault");
}

#[tokio::test]
async fn a_failing_commit_on_postgres_loses_nothing_acknowledged() {
    if test_database_url().is_none() {
        return;
    }
    use sqlx::Connection;
    let server = TestServer::start_with(&["--auth-ip-burst", "1000"]).await;
    let url = server.database_url.clone();
    let mut db = sqlx::PgConnection::connect(&url).await.expect("PostgreSQL");
    for statement in FAULT {
        sqlx::query(statement)
            .execute(&mut db)
            .await
            .expect("install the fault");
    }
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut client = alice.connect(&server).await;
    let conversation_id = client.start_conversation(bob.id).await;
    let mut ledger = Ledger::default();
    for _ in 0..5 {
        assert!(ledger.message(&mut client, conversation_id).await.is_none());
    }

    set_fault(&mut db, true).await;
    for _ in 0..FAILURES {
        assert_eq!(
            ledger.message(&mut client, conversation_id).await,
            Some(ErrorCode::Internal),
            "a message whose commit fails"
        );
        let status = ledger.account(&server).await;
        assert!(status == 500 || status == 503, "registration: {status}");
    }
    set_fault(&mut db, false).await;
    // Every pooled connection is used at least once after the failures.
    for _ in 0..AFTER {
        assert!(ledger.message(&mut client, conversation_id).await.is_none());
        assert_eq!(ledger.account(&server).await, 201);
    }

    client.close().await;
    server.stop().await;
    let server = TestServer::start_on_url(&url, &[], Bus::Local).await;
    ledger.check(&server, &bob, conversation_id).await;
    server.stop().await;
}
