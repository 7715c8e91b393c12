#!/usr/bin/env python3
"""Medians of a bench/full.sh results file: one table row per figure, the rounds beside it.

    python3 bench/summary.py RESULTS.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict

# (label, what, path into the scenario's JSON, unit)
FIGURES = [
    ("pairs-saturation", "delivered/s, default durability", "delivered_per_s", ""),
    ("pairs-saturation", "  p50 latency (closed loop)", "latency.p50_ms", "ms"),
    ("pairs-10000", "p50 at 10,000/s", "latency.p50_ms", "ms"),
    ("pairs-10000", "p99 at 10,000/s", "latency.p99_ms", "ms"),
    ("full-saturation", "delivered/s, --durability full", "delivered_per_s", ""),
    ("full-5000", "p50 at 5,000/s, full", "latency.p50_ms", "ms"),
    ("full-5000", "p99 at 5,000/s, full", "latency.p99_ms", "ms"),
    ("relay-saturation", "relay delivered/s (no database)", "delivered_per_s", ""),
    ("relay-10000", "relay p50 at 10,000/s", "latency.p50_ms", "ms"),
    ("relay-10000", "relay p99 at 10,000/s", "latency.p99_ms", "ms"),
    ("insert", "store insert/s, groups of 500", "batched_per_s", ""),
    ("insert", "store insert/s, one per transaction", "single_per_s", ""),
    ("insert-full", "store insert/s, groups of 500, FULL", "batched_per_s", ""),
    ("history", "history pages/s (100 clients)", "pages_per_s", ""),
    ("history", "  page p50", "latency.p50_ms", "ms"),
    ("history", "  page p99", "latency.p99_ms", "ms"),
    ("history-5000", "history page p50 at 5,000/s", "latency.p50_ms", "ms"),
    ("history-5000", "history page p99 at 5,000/s", "latency.p99_ms", "ms"),
    ("sync-10000", "sync: 10,000 missed events, seconds", "secs", "s"),
    ("sync-10000", "  events/s", "events_per_s", ""),
    ("history", "get_conversations (1,000) p50", "list_latency.p50_ms", "ms"),
    ("history", "get_conversations (1,000) p99", "list_latency.p99_ms", "ms"),
    ("handshake-closed", "handshakes/s (32 in flight)", "handshakes_per_s", ""),
    ("relay-handshake-closed", "relay handshakes/s (32 in flight)", "handshakes_per_s", ""),
    ("handshake-2000", "handshake p50 at 2,000/s", "latency.p50_ms", "ms"),
    ("handshake-2000", "handshake p99 at 2,000/s", "latency.p99_ms", "ms"),
    ("handshake-during-pairs", "handshake p99 at 2,000/s during pairs", "latency.p99_ms", "ms"),
    ("conns", "idle connections held", "opened", ""),
    ("conns", "server RSS bytes per connection", "rss_per_conn_bytes", "B"),
    ("conns", "idle CPU % of a core", "idle_cpu_pct", "%"),
    ("conns", "connects/s", "connects_per_s", ""),
    ("hold", "bare hold RSS bytes per connection", "rss_per_conn_bytes", "B"),
    ("login-flood", "RSS before 200 registrations + 200 logins", "rss_before_mib", "MiB"),
    ("login-flood", "  RSS at the peak", "rss_peak_mib", "MiB"),
    ("login-flood", "  RSS 5 s after", "rss_after_mib", "MiB"),
    ("login-flood", "  chat round trip p50 meanwhile", "chat_round_trip.p50_ms", "ms"),
    ("login-flood", "  chat round trip p99 meanwhile", "chat_round_trip.p99_ms", "ms"),
]

RATIOS = [
    ("server / relay saturation", ("pairs-saturation", "delivered_per_s"), ("relay-saturation", "delivered_per_s")),
    ("server / relay handshakes", ("handshake-closed", "handshakes_per_s"), ("relay-handshake-closed", "handshakes_per_s")),
    ("full / default durability", ("full-saturation", "delivered_per_s"), ("pairs-saturation", "delivered_per_s")),
    ("server RSS / bare hold RSS", ("conns", "rss_per_conn_bytes"), ("hold", "rss_per_conn_bytes")),
]


def lookup(result, path):
    for key in path.split("."):
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


def main(path):
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            runs[row["label"]].append(row["result"])

    def values(label, key):
        return [v for v in (lookup(r, key) for r in runs.get(label, [])) if v is not None]

    print(f"| figure | median | rounds |")
    print(f"|---|---|---|")
    for label, what, key, unit in FIGURES:
        vs = values(label, key)
        if not vs:
            continue
        median = statistics.median(vs)
        rounds = ", ".join(f"{v:,.1f}" if isinstance(v, float) else f"{v:,}" for v in vs)
        print(f"| {what} | {median:,.1f} {unit} | {rounds} |")
    for what, (a_label, a_key), (b_label, b_key) in RATIOS:
        a, b = values(a_label, a_key), values(b_label, b_key)
        if a and b:
            print(f"| {what} | {statistics.median(a) / statistics.median(b):.2f} | medians |")
    failed = [label for label, results in runs.items() for r in results if not r.get("ok", True)]
    if failed:
        print(f"not ok: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1])
