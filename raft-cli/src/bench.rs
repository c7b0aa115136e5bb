//! `raft-cli bench`: closed-loop load from many client connections, with a
//! progress bar, then throughput and latency percentiles.

use clap::Args;
use raft_kv::Client;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Flags of `raft-cli bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Concurrent client connections.
    #[arg(long, default_value_t = 64)]
    clients: u64,
    /// Total requests.
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Value size in bytes for writes.
    #[arg(long, default_value_t = 256)]
    value_size: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Writes to reads, as W:R (1:0 is all writes).
    #[arg(long, default_value = "1:0")]
    ratio: String,
}

fn parse_ratio(s: &str) -> Result<(u64, u64), String> {
    let (w, r) = s
        .split_once(':')
        .ok_or_else(|| format!("--ratio '{s}' is not W:R"))?;
    let w: u64 = w.parse().map_err(|_| format!("--ratio '{s}' is not W:R"))?;
    let r: u64 = r.parse().map_err(|_| format!("--ratio '{s}' is not W:R"))?;
    if w + r == 0 {
        return Err("--ratio must not be 0:0".into());
    }
    Ok((w, r))
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Counters the client threads share.
#[derive(Default)]
struct Progress {
    issued: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
}

/// Runs the benchmark against `endpoints`.
pub fn run(t: &crate::client_cmds::Target, args: BenchArgs) -> Result<(), String> {
    let (w, r) = parse_ratio(&args.ratio)?;
    if args.clients == 0 || args.requests == 0 || args.keys == 0 {
        return Err("--clients, --requests and --keys must be positive".into());
    }
    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let threads: Vec<_> = (0..args.clients)
        .map(|c| spawn_client(c, t, &args, (w, r), progress.clone()))
        .collect();
    while progress.done.load(Ordering::Relaxed) < args.requests
        && !threads.iter().all(|t| t.is_finished())
    {
        show_progress(progress.done.load(Ordering::Relaxed), args.requests, start);
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut lat: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap_or_default())
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    eprintln!("\r[{}] 100.0%", "#".repeat(40));
    lat.sort_unstable();
    report(&lat, elapsed, &args, (w, r));
    let errors = progress.errors.load(Ordering::Relaxed);
    say!("errors: {errors}");
    if errors > 0 {
        return Err(format!("{errors} requests failed"));
    }
    Ok(())
}

/// Client `c`: issues requests until `args.requests` are issued in all, and
/// returns its latencies in microseconds.
fn spawn_client(
    c: u64,
    t: &crate::client_cmds::Target,
    args: &BenchArgs,
    (w, r): (u64, u64),
    progress: Arc<Progress>,
) -> std::thread::JoinHandle<Vec<u64>> {
    let endpoints = &t.endpoints;
    let ep = endpoints[(c as usize) % endpoints.len()].clone();
    let all: Vec<String> = std::iter::once(ep)
        .chain(endpoints.iter().cloned())
        .collect();
    let password = t.password.clone();
    let value = vec![b'x'; args.value_size];
    let (total, keys) = (args.requests, args.keys);
    std::thread::spawn(move || {
        let mut client = Client::new(all)
            .expect("endpoints are non-empty")
            .with_password(password);
        let mut lat = Vec::new();
        let mut rng = raft_core::DetRng::new(c + 1);
        while progress.issued.fetch_add(1, Ordering::Relaxed) < total {
            let x = rng.next_u64();
            let key = format!("key:{:012}", x % keys);
            let t0 = Instant::now();
            let ok = if x % (w + r) < w {
                client.set(key.as_bytes(), &value).is_ok()
            } else {
                client.get(key.as_bytes()).is_ok()
            };
            lat.push(t0.elapsed().as_micros() as u64);
            if !ok {
                progress.errors.fetch_add(1, Ordering::Relaxed);
            }
            progress.done.fetch_add(1, Ordering::Relaxed);
        }
        lat
    })
}

fn show_progress(done: u64, total: u64, start: Instant) {
    let frac = done as f64 / total as f64;
    let bar = (frac * 40.0) as usize;
    let rate = done as f64 / start.elapsed().as_secs_f64().max(1e-9);
    eprint!(
        "\r[{}{}] {:>5.1}% {:>9.0} req/s",
        "#".repeat(bar),
        " ".repeat(40 - bar),
        frac * 100.0,
        rate
    );
    let _ = std::io::stderr().flush();
}

fn report(lat: &[u64], elapsed: f64, args: &BenchArgs, (w, r): (u64, u64)) {
    let n = lat.len() as f64;
    say!(
        "requests: {}  clients: {}  value size: {} B  ratio {}:{}",
        lat.len(),
        args.clients,
        args.value_size,
        w,
        r
    );
    say!("throughput: {:.0} req/s over {elapsed:.2} s", n / elapsed);
    say!(
        "latency (ms): p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        percentile(lat, 0.50) as f64 / 1000.0,
        percentile(lat, 0.90) as f64 / 1000.0,
        percentile(lat, 0.99) as f64 / 1000.0,
        lat.last().copied().unwrap_or(0) as f64 / 1000.0
    );
}
