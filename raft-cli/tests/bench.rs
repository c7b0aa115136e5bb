//! `raft-cli bench` against a real node: pipelined load, JSON output, and a
//! quiet progress bar when stderr is not a terminal.

mod common;

use common::{Cluster, run_cli};

#[test]
fn bench_reports_json_with_percentiles_and_stays_quiet_off_a_terminal() {
    let c = Cluster::start(1);
    let out = run_cli(&[
        "--endpoints",
        &c.client[0],
        "bench",
        "--clients",
        "4",
        "--requests",
        "2000",
        "--pipeline",
        "8",
        "--ratio",
        "1:1",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["requests"], 2000);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["pipeline"], 8);
    let lat = &v["latency_ms"];
    let (p50, p99, max) = (
        lat["p50"].as_f64().expect("p50"),
        lat["p99"].as_f64().expect("p99"),
        lat["max"].as_f64().expect("max"),
    );
    assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "{lat}");
    assert!(v["throughput_per_s"].as_f64().expect("throughput") > 0.0);
    assert!(
        out.stderr.is_empty(),
        "no progress bar off a terminal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let timed = run_cli(&[
        "--endpoints",
        &c.client[0],
        "bench",
        "--clients",
        "2",
        "--duration",
        "1",
        "--json",
    ]);
    assert!(
        timed.status.success(),
        "{}",
        String::from_utf8_lossy(&timed.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&timed.stdout).expect("JSON");
    let secs = v["seconds"].as_f64().expect("seconds");
    assert!((1.0..5.0).contains(&secs), "ran about a second: {secs}");
}
