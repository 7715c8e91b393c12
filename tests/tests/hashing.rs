//! Password hashing is bounded: past `--hash-workers` running and `--hash-queue` waiting,
//! register and login answer 503 `busy` with `Retry-After` (never 500, never a 401 for the right
//! password, never counted as an attempt), and a flood leaves the process's memory bounded.

use std::time::{Duration, Instant};

use chat_e2e::server_process::ServerProcess;
use chat_e2e::{PASSWORD, TestServer, credentials, post_json, unique_name};
use futures_util::future::join_all;
use serde_json::Value;

/// One worker and one waiting place: a handful of simultaneous requests fill them.
const TINY: [&str; 4] = ["--hash-workers", "1", "--hash-queue", "1"];

/// The status of each of `bodies` posted to `path` at once.
async fn flood(server: &TestServer, path: &str, bodies: &[Value]) -> Vec<reqwest::Response> {
    join_all(bodies.iter().map(|body| post_json(server, path, body))).await
}

/// A 503 answer says when to come back and why, in the usual error shape.
async fn assert_busy(response: reqwest::Response) {
    chat_e2e::assert_retry_later(response, 503, "busy").await;
}

#[tokio::test]
async fn a_flood_of_registrations_gets_201_or_503_and_every_one_succeeds_later() {
    let mut flags = TINY.to_vec();
    flags.extend(["--auth-ip-burst", "10000"]);
    let server = TestServer::start_with(&flags).await;
    let names: Vec<String> = (0..20).map(|_| unique_name("flood")).collect();
    let bodies: Vec<Value> = names.iter().map(|n| credentials(n, PASSWORD)).collect();
    let mut refused = Vec::new();
    let mut created = 0;
    for (response, body) in flood(&server, "/api/register/", &bodies)
        .await
        .into_iter()
        .zip(&bodies)
    {
        match response.status().as_u16() {
            201 => created += 1,
            503 => {
                assert_busy(response).await;
                refused.push(body.clone());
            }
            other => panic!("a registration answered {other}"),
        }
    }
    assert!(created >= 1, "nothing was registered");
    assert!(
        !refused.is_empty(),
        "20 at once never filled one worker and one place"
    );
    // Once the flood is over, each refused one goes through.
    for body in &refused {
        assert_eq!(
            post_json(&server, "/api/register/", body).await.status(),
            201
        );
    }
    for body in &bodies {
        assert_eq!(post_json(&server, "/api/token/", body).await.status(), 200);
    }
}

#[tokio::test]
async fn logins_during_a_full_queue_get_503_not_401_and_do_not_count() {
    // 40 attempts for one name at once fit its burst exactly; none are regained meanwhile.
    let mut flags = TINY.to_vec();
    flags.extend([
        "--auth-user-burst",
        "40",
        "--auth-user-per-minute",
        "0",
        "--auth-ip-burst",
        "10000",
    ]);
    let server = TestServer::start_with(&flags).await;
    let name = unique_name("busy");
    let right = credentials(&name, PASSWORD);
    let wrong = credentials(&name, "not the password");
    assert_eq!(
        post_json(&server, "/api/register/", &right).await.status(),
        201
    );

    // The right password: logged in, or told to come back; never refused as wrong.
    let mut busy = 0;
    for response in flood(&server, "/api/token/", &vec![right.clone(); 40]).await {
        match response.status().as_u16() {
            200 => {}
            503 => {
                assert_busy(response).await;
                busy += 1;
            }
            other => panic!("the right password answered {other}"),
        }
    }
    assert!(
        busy >= 1,
        "40 logins at once never filled one worker and one place"
    );

    // A wrong one: refused, or told to come back; never 429, which a counted 503 would cause.
    let mut failed = 0;
    for response in flood(&server, "/api/token/", &vec![wrong.clone(); 40]).await {
        match response.status().as_u16() {
            401 => failed += 1,
            503 => assert_busy(response).await,
            other => panic!("a wrong password answered {other}"),
        }
    }
    assert!(failed < 40, "no wrong login was turned away busy");
    // Only the failures that were checked count against the name: there is room for more.
    assert_eq!(
        post_json(&server, "/api/token/", &right).await.status(),
        200
    );
    assert_eq!(
        post_json(&server, "/api/token/", &wrong).await.status(),
        401
    );
}

#[tokio::test]
async fn a_flood_of_registrations_and_logins_leaves_memory_bounded() {
    const MIB: u64 = 1024;
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(
        &dir.path().join("chat.db"),
        &[
            "--auth-ip-burst",
            "100000",
            "--auth-ip-login-burst",
            "100000",
        ],
        &[],
    )
    .await;
    let (start, _) = chat_e2e::memory_kib(server.pid());
    let http = reqwest::Client::new();
    let post = |path: &'static str, body: Value| {
        let request = http
            .post(format!("{}{path}", server.http_url()))
            .json(&body);
        async move {
            request
                .send()
                .await
                .expect("HTTP request")
                .status()
                .as_u16()
        }
    };
    let names: Vec<String> = (0..200).map(|_| unique_name("mem")).collect();
    let registered = join_all(
        names
            .iter()
            .map(|n| post("/api/register/", credentials(n, PASSWORD))),
    )
    .await;
    assert!(
        registered.iter().all(|s| [201, 503].contains(s)),
        "{registered:?}"
    );
    // 100 valid logins (of the names that exist) and 100 for names that do not.
    let logins = join_all((0..200).map(|i| match i % 2 {
        0 => post("/api/token/", credentials(&names[i], PASSWORD)),
        _ => post("/api/token/", credentials(&unique_name("ghost"), PASSWORD)),
    }))
    .await;
    for (i, status) in logins.iter().enumerate() {
        let exists = i % 2 == 0 && registered[i] == 201;
        let allowed: &[u16] = if exists { &[200, 503] } else { &[401, 503] };
        assert!(allowed.contains(status), "login {i}: {status}");
    }
    let (_, peak) = chat_e2e::memory_kib(server.pid());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let bound = 64 * MIB + workers * 20 * MIB;
    assert!(
        peak <= bound,
        "peak RSS {peak} KiB over {bound} KiB (start {start} KiB)"
    );
    // The workers give their memory back once idle.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (now, _) = chat_e2e::memory_kib(server.pid());
        if now <= start + 32 * MIB {
            eprintln!("RSS: {start} KiB at start, {peak} KiB at the peak, {now} KiB after");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "RSS {now} KiB, not back within 32 MiB of {start} KiB"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
