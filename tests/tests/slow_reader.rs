//! A client that never reads: its queue fills, it is closed with 1013, and meanwhile the others'
//! latency stays flat and the server's memory (this process's: the server runs in it) bounded.

use std::time::Duration;

use chat_e2e::{Person, TestServer};
use tokio_tungstenite::tungstenite::Message;

/// Frames queued per connection in this test.
const QUEUE: &str = "32";
/// Large messages fill the kernel's socket buffers in a few hundred frames.
const CONTENT_CHARS: usize = 32_000;
/// Messages sent after the slow reader was closed, to check the latency did not degrade.
const AFTER: usize = 30;
/// Allowed growth of the talker's median round trip, on top of tripling. Each round trip commits
/// a 32 KB message, so the machine's disk and CPU move it: a CI run on PostgreSQL once saw the
/// median go from 4 ms to 69 ms with nothing of ours involved (the same run locally: 2.7 ms both
/// ways). A server that waited on the stalled socket would stall the talker for good (the
/// round trip times out after `chat_e2e::WAIT`) or for a write timeout's length, far above this.
const SLACK: Duration = Duration::from_millis(250);
/// Upper bound on messages before the slow reader must be closed: socket buffers (a few MiB on
/// loopback) plus the queue. Without a bounded queue it would never be closed.
const MAX_BEFORE_CLOSE: usize = 2_000;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_and_slows_nobody() {
    let server = TestServer::start_with(&[
        "--send-queue",
        QUEUE,
        "--max-message-chars",
        "40000",
        "--rate-limit-per-second",
        "100000",
        "--rate-limit-burst",
        "100000",
    ])
    .await;
    let talker = Person::new(&server, "talker").await;
    let sleeper = Person::new(&server, "sleeper").await;
    let mut t = talker.connect(&server).await;
    // The sleeper connects and then never reads again.
    let mut s = sleeper.connect(&server).await;
    let conversation = t.start_conversation(sleeper.id).await;
    let body = "z".repeat(CONTENT_CHARS - 10);

    let connections = || server.state.hub.connection_count();
    assert_eq!(connections(), 2);
    let mut before = Vec::new();
    for i in 0..20 {
        before.push(t.round_trip(conversation, &format!("{i:08} {body}")).await);
    }
    let rss_start = chat_e2e::resident_kib();
    let mut sent = before.len();
    // Round trips while the sleeper's socket buffers and queue fill up: the stall itself.
    let mut during = Vec::new();
    while connections() == 2 {
        assert!(
            sent < MAX_BEFORE_CLOSE,
            "the slow reader is still connected after {sent} messages"
        );
        during.push(
            t.round_trip(conversation, &format!("{sent:08} {body}"))
                .await,
        );
        sent += 1;
    }
    // The server gives a closing slow reader a second to take its close frame: read now.
    let mut frames = 0;
    let close = loop {
        match s.next_message().await {
            Some(Message::Text(_)) => frames += 1,
            Some(Message::Close(frame)) => break frame,
            Some(_) => {}
            None => break None,
        }
        assert!(frames <= MAX_BEFORE_CLOSE, "too many frames");
    };
    let close = close.expect("the slow reader gets a close frame");
    assert_eq!(u16::from(close.code), 1013, "{close:?}");
    assert!(frames < sent, "it was closed before receiving everything");

    let mut after = Vec::new();
    for i in 0..AFTER {
        after.push(
            t.round_trip(conversation, &format!("after{i:08} {body}"))
                .await,
        );
    }
    let rss_growth_mib = chat_e2e::resident_kib().saturating_sub(rss_start) / 1024;
    let (before, during, after) = (median(before), median(during), median(after));
    eprintln!(
        "slow reader closed after {sent} messages ({frames} read); median round trip \
         {before:?} before, {during:?} during the stall, {after:?} after; RSS grew \
         {rss_growth_mib} MiB"
    );
    // The talker's latency stays flat, during the stall and after it: a stalled peer costs it
    // nothing.
    for (when, median) in [("during the stall", during), ("after the close", after)] {
        assert!(
            median <= before * 3 + SLACK,
            "latency {when} grew from {before:?} to {median:?}"
        );
    }
    // The server kept at most a queue's worth of frames (32 × 32 KB) for the sleeper, not
    // everything sent (over the whole test: several tens of MiB).
    assert!(rss_growth_mib < 48, "memory grew by {rss_growth_mib} MiB");
}
