//! What every handler can reach: handles only, cheap to clone.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Keys;
use crate::config::Config;
use crate::fanout::Fanout;
use crate::hasher::Hasher;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::writer::Writer;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// This instance's connections (registration, counts).
    pub hub: Hub,
    /// Delivery to users' connections here and on the other instances.
    pub fanout: Fanout,
    /// Stores chat messages in groups and delivers them.
    pub writer: Writer,
    /// The writer's task, awaited on shutdown before the store closes.
    pub writer_task: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
    pub keys: Arc<Keys>,
    /// Hashes and checks passwords on a bounded number of threads.
    pub hasher: Hasher,
    /// Abuse limits shared by every request: login attempts, connections per user.
    pub limits: Arc<Limits>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server stops: every connection closes with 1001.
    pub shutdown: CancellationToken,
    /// Every WebSocket connection's task, so that shutdown can wait for them.
    pub connections: TaskTracker,
}
