//! Latency histograms and the output contract: human lines, then one JSON line per scenario.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Latencies in microseconds, 1 µs to 5 min, three significant figures.
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency(
            Histogram::new_with_bounds(1, 300_000_000, 3)
                .expect("static histogram bounds are valid"),
        )
    }
}

impl Latency {
    /// Records one latency; values past the range are clamped to its top.
    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 300_000_000);
        // `saturating_record` cannot fail; it clamps into range.
        self.0.saturating_record(us);
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    fn ms_at(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        round3(self.0.value_at_quantile(q) as f64 / 1000.0)
    }

    /// p50/p90/p99/p99.9/max in milliseconds, as a JSON object.
    pub fn json(&self) -> Value {
        json!({
            "count": self.count(),
            "p50_ms": self.ms_at(0.5),
            "p90_ms": self.ms_at(0.9),
            "p99_ms": self.ms_at(0.99),
            "p999_ms": self.ms_at(0.999),
            "max_ms": round3(if self.0.is_empty() { 0.0 } else { self.0.max() as f64 / 1000.0 }),
        })
    }

    /// One human line: `name: n=… p50=… p90=… p99=… p99.9=… max=…`.
    pub fn human(&self, name: &str) -> String {
        format!(
            "{name}: n={} p50={:.3}ms p90={:.3}ms p99={:.3}ms p99.9={:.3}ms max={:.3}ms",
            self.count(),
            self.ms_at(0.5),
            self.ms_at(0.9),
            self.ms_at(0.99),
            self.ms_at(0.999),
            if self.0.is_empty() {
                0.0
            } else {
                self.0.max() as f64 / 1000.0
            }
        )
    }
}

/// Rounds to three decimals, for readable JSON.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A per-second rate, zero when no time passed.
pub fn per_sec(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        0.0
    } else {
        round3(count as f64 / secs)
    }
}

/// Prints the human lines, then the scenario's JSON line (with `"scenario"` added) last.
pub fn emit(scenario: &str, human: &[String], mut fields: Value) {
    for line in human {
        println!("{line}");
    }
    if let Value::Object(map) = &mut fields {
        map.insert("scenario".into(), Value::String(scenario.into()));
    }
    println!("{fields}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_recorded_values() {
        let mut h = Latency::default();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let v = h.json();
        assert_eq!(v["count"], 100);
        assert!((v["p50_ms"].as_f64().unwrap() - 50.0).abs() < 0.1);
        assert!((v["p99_ms"].as_f64().unwrap() - 99.0).abs() < 0.1);
        assert!((v["max_ms"].as_f64().unwrap() - 100.0).abs() < 0.1);
        let mut other = Latency::default();
        other.record(Duration::from_secs(2));
        h.merge(&other);
        assert_eq!(h.count(), 101);
        assert!((h.json()["max_ms"].as_f64().unwrap() - 2000.0).abs() < 2.0);
    }

    #[test]
    fn rates_handle_zero_time() {
        assert_eq!(per_sec(10, Duration::ZERO), 0.0);
        assert_eq!(per_sec(10, Duration::from_millis(500)), 20.0);
    }
}
