//! Prometheus metrics: what `GET /metrics` reports.

use std::time::Duration;

use chat_shared::ErrorCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A frame's `type` (only known ones, so labels stay few).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    pub r#type: String,
}

/// A `chat.error` code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

/// Every metric the server keeps, and the registry that names them.
pub struct Metrics {
    registry: Registry,
    pub connections: Gauge,
    pub frames_in: Family<TypeLabel, Counter>,
    pub frames_out: Family<TypeLabel, Counter>,
    pub messages_stored: Counter,
    pub store_seconds: Histogram,
    pub fanout_seconds: Histogram,
    pub bus_reconnects: Counter,
    pub bus_dropped: Counter,
    pub errors: Family<CodeLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let seconds = || Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        let mut metrics = Metrics {
            registry: Registry::with_prefix("chat"),
            connections: Gauge::default(),
            frames_in: Family::default(),
            frames_out: Family::default(),
            messages_stored: Counter::default(),
            store_seconds: seconds(),
            fanout_seconds: seconds(),
            bus_reconnects: Counter::default(),
            bus_dropped: Counter::default(),
            errors: Family::default(),
        };
        let r = &mut metrics.registry;
        r.register(
            "connections",
            "Open WebSocket connections",
            metrics.connections.clone(),
        );
        r.register(
            "frames_in",
            "Frames received, by type",
            metrics.frames_in.clone(),
        );
        r.register(
            "frames_out",
            "Frames fanned out to connections (replies excluded), by type",
            metrics.frames_out.clone(),
        );
        r.register(
            "messages_stored",
            "Chat messages stored",
            metrics.messages_stored.clone(),
        );
        r.register(
            "store_seconds",
            "Time to store a chat message",
            metrics.store_seconds.clone(),
        );
        r.register(
            "fanout_seconds",
            "Time from a stored message to its frames queued everywhere on this instance",
            metrics.fanout_seconds.clone(),
        );
        r.register(
            "bus_reconnects",
            "Reconnections to the Redis bus",
            metrics.bus_reconnects.clone(),
        );
        r.register(
            "bus_dropped",
            "Frames for other instances dropped because the bus was backed up",
            metrics.bus_dropped.clone(),
        );
        r.register(
            "errors",
            "chat.error frames sent, by code",
            metrics.errors.clone(),
        );
        metrics
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    pub fn frame_in(&self, kind: &str) {
        self.frames_in
            .get_or_create(&TypeLabel {
                r#type: kind.to_string(),
            })
            .inc();
    }

    /// Counts `n` copies of a frame of type `kind` queued.
    pub fn frames_out(&self, kind: &str, n: u64) {
        if n > 0 {
            let label = TypeLabel {
                r#type: kind.to_string(),
            };
            self.frames_out.get_or_create(&label).inc_by(n);
        }
    }

    pub fn error(&self, code: ErrorCode) {
        self.errors
            .get_or_create(&CodeLabel {
                code: code.as_str().to_string(),
            })
            .inc();
    }
}

/// Observes a duration in seconds.
pub fn observe(histogram: &Histogram, elapsed: Duration) {
    histogram.observe(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_names_every_family() {
        let metrics = Metrics::default();
        metrics.frame_in("chat.message");
        metrics.frames_out("chat.message", 2);
        metrics.error(ErrorCode::NotFound);
        let text = metrics.render();
        assert!(
            text.contains(r#"chat_frames_in_total{type="chat.message"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"chat_frames_out_total{type="chat.message"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"chat_errors_total{code="not_found"} 1"#),
            "{text}"
        );
        assert!(text.contains("chat_connections 0"), "{text}");
    }
}
