//! The chat server as a library: build the state, build the router, serve until told to stop.
//!
//! `main.rs` wires these to flags and signals; the end-to-end tests call them directly.

pub mod account;
pub mod auth;
pub mod bus;
pub mod config;
pub mod conn;
pub mod error;
pub mod fanout;
pub mod hasher;
pub mod http;
pub mod hub;
pub mod limits;
pub mod listen;
pub mod metrics;
pub mod names;
pub mod presence;
pub mod search;
pub mod sessions;
pub mod state;
pub mod store;
pub mod web;
pub mod writer;
pub mod ws;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
pub use state::AppState;

use auth::Keys;
pub use bus::Bus;
use fanout::Fanout;
use hasher::Hasher;
use hub::Hub;
use limits::Limits;
use metrics::Metrics;
use store::Store;
use writer::Writer;

/// Longest wait for connections to close after a stop, before the server exits anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects the database (applying migrations, then computing the name keys of accounts without
/// them and indexing messages without search words), loads or creates the JWT secret, and joins the Redis bus when `--redis-url` is set.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    build_state_on(config, Bus::Local).await
}

/// Like [`build_state`], on the given bus when `--redis-url` is not set (tests hand several
/// servers one [`Bus::Memory`]).
pub async fn build_state_on(config: Config, bus: Bus) -> anyhow::Result<AppState> {
    config.validate()?;
    let store = Store::connect(&config.database_url, config.durability).await?;
    // Before the first registration: a new name is checked against every account's keys.
    for collision in store.key_usernames().await? {
        tracing::warn!(
            key = collision.key.as_str(),
            user_ids = ?collision.user_ids,
            "existing accounts' usernames collide (they keep working; no new name like theirs \
             can be registered)"
        );
    }
    // Messages written before search existed are found once this is done.
    let indexed = store.index_messages().await?;
    if indexed > 0 {
        tracing::info!(indexed, "older messages indexed for search");
    }
    let secret = auth::load_or_create_secret(
        config.jwt_secret.as_deref(),
        Store::sqlite_file(&config.database_url).as_deref(),
    )?;
    let keys = Keys::new(
        &secret,
        config.access_token_lifetime,
        config.refresh_token_lifetime,
    );
    let shutdown = CancellationToken::new();
    let metrics = Arc::new(Metrics::default());
    let hub = Hub::new(metrics.clone());
    let redis = config
        .redis_url
        .as_deref()
        .map(|url| (url, config.redis_prefix.as_str()));
    let link = bus::join(bus, redis, &hub, &store, metrics.clone(), shutdown.clone())?;
    let fanout = Fanout::new(hub.clone(), link, metrics.clone());
    let (writer, writer_task) = Writer::start(
        store.clone(),
        fanout.clone(),
        metrics.clone(),
        shutdown.clone(),
    );
    let hasher = Hasher::start(config.hash_workers(), config.hash_queue)?;
    Ok(AppState {
        store,
        hub,
        fanout,
        writer,
        writer_task: Arc::new(std::sync::Mutex::new(Some(writer_task))),
        keys: Arc::new(keys),
        hasher,
        limits: Arc::new(Limits::new(&config)),
        config: Arc::new(config),
        metrics,
        shutdown,
        connections: TaskTracker::new(),
    })
}

/// Serves on `listener` until `stop` completes; then stops accepting, closes every WebSocket
/// with 1001 after its queued frames, and closes the database.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = state.config.clone();
    let shutdown = state.shutdown.clone();
    let cap = listen::connection_cap(&config);
    tracing::info!(max_open_connections = cap, "connection cap");
    let http_tasks = TaskTracker::new();
    let (heartbeat, beating) = ws::Heartbeat::start(config.ws_ping_interval, shutdown.clone());
    http_tasks.spawn(beating);
    // Events past the sync retention go, at start and then hourly.
    http_tasks.spawn(store::prune_events_every(
        state.store.clone(),
        config.sync_retention,
        Duration::from_secs(3600),
        shutdown.clone(),
    ));
    // Names of deleted accounts are freed once held long enough, checked a few times a hold.
    http_tasks.spawn(store::free_held_names_every(
        state.store.clone(),
        config.deleted_name_hold,
        (config.deleted_name_hold / 4).clamp(Duration::from_millis(100), Duration::from_secs(3600)),
        shutdown.clone(),
    ));
    // Presence watches the hub from before the first connection.
    http_tasks.spawn(presence::Presence::watch(&state).run(state.clone(), shutdown.clone()));
    let app = http::router(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            config.http_body_timeout,
            listen::body_deadline,
        ))
        .layer(axum::Extension(heartbeat));
    let stopping = shutdown.clone();
    tokio::spawn(async move {
        stop.await;
        stopping.cancel();
    });
    listen::accept_loop(
        listener,
        app,
        cap,
        config.http_header_timeout,
        shutdown.clone(),
        &http_tasks,
    )
    .await;
    state.connections.close();
    http_tasks.close();
    let drained = async {
        http_tasks.wait().await;
        state.connections.wait().await;
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
        tracing::warn!("some connections did not close in time");
    }
    // Every message the writer had queued is stored before the database closes.
    let writer = state.writer_task.lock().expect("writer lock").take();
    if let Some(writer) = writer
        && tokio::time::timeout(DRAIN_TIMEOUT, writer).await.is_err()
    {
        tracing::warn!("the message writer did not finish in time");
    }
    state.store.close().await;
    Ok(())
}
