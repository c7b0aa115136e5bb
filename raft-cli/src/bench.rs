//! `raft-cli bench`: closed-loop load from many client connections (each with
//! up to `--pipeline` requests in flight), with a progress bar on a terminal,
//! then throughput and latency percentiles from an HDR histogram.

use crate::client_cmds::Target;
use crate::error::CliError;
use clap::Args;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use raft_core::DetRng;
use raft_kv::Reply;
use raft_kv_server::resp::encode_request;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Flags of `raft-cli bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Concurrent client connections.
    #[arg(long, default_value_t = 64)]
    clients: u64,
    /// Total requests (ignored with --duration).
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Run for this many seconds instead of a number of requests.
    #[arg(long)]
    duration: Option<u64>,
    /// Requests each connection sends before it reads the replies.
    #[arg(long, default_value_t = 1)]
    pipeline: u64,
    /// Value size in bytes for writes.
    #[arg(long, default_value_t = 256)]
    value_size: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Writes to reads, as W:R (1:0 is all writes).
    #[arg(long, default_value = "1:0")]
    ratio: String,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

fn parse_ratio(s: &str) -> Result<(u64, u64), CliError> {
    let not_a_ratio = || CliError::OutOfRange(format!("--ratio '{s}' is not W:R"));
    let (w, r) = s.split_once(':').ok_or_else(not_a_ratio)?;
    let w: u64 = w.parse().map_err(|_| not_a_ratio())?;
    let r: u64 = r.parse().map_err(|_| not_a_ratio())?;
    if w + r == 0 {
        return Err(CliError::OutOfRange("--ratio must not be 0:0".into()));
    }
    Ok((w, r))
}

/// What the client threads share.
struct Load {
    issued: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
    /// Requests to issue in all (`u64::MAX` with --duration).
    total: u64,
    ratio: (u64, u64),
    keys: u64,
    value: Vec<u8>,
    pipeline: u64,
    password: Option<String>,
    tls: Option<raft_kv::ClientTls>,
}

impl Load {
    /// Claims up to `n` requests to send; 0 once the run is over.
    fn claim(&self, n: u64) -> u64 {
        if self.stop.load(Ordering::Relaxed) {
            return 0;
        }
        let before = self.issued.fetch_add(n, Ordering::Relaxed);
        n.min(self.total.saturating_sub(before))
    }
}

/// A new histogram of microseconds from 1 µs to 1 h, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("the bounds are valid constants")
}

/// Runs the benchmark against `t`'s endpoints.
pub fn run(t: &Target, args: BenchArgs) -> Result<(), CliError> {
    let ratio = parse_ratio(&args.ratio)?;
    if args.clients == 0 || args.requests == 0 || args.keys == 0 || args.pipeline == 0 {
        return Err(CliError::OutOfRange(
            "--clients, --requests, --keys and --pipeline must be positive".into(),
        ));
    }
    let load = Arc::new(Load {
        issued: AtomicU64::new(0),
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        total: if args.duration.is_some() {
            u64::MAX
        } else {
            args.requests
        },
        ratio,
        keys: args.keys,
        value: vec![b'x'; args.value_size],
        pipeline: args.pipeline,
        password: t.password.clone(),
        tls: t.tls.clone(),
    });
    let start = Instant::now();
    let threads: Vec<_> = (0..args.clients)
        .map(|c| {
            let endpoint = t.endpoints[(c as usize) % t.endpoints.len()].clone();
            let load = load.clone();
            std::thread::spawn(move || client_loop(c, &endpoint, &load))
        })
        .collect();
    watch(&load, &args, start, &threads);
    let mut lat = histogram();
    for t in threads {
        match t.join() {
            Ok(Ok(h)) => lat.add(h)?,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(CliError::ClientPanicked),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let errors = load.errors.load(Ordering::Relaxed);
    report(&lat, elapsed, errors, &args);
    if errors > 0 {
        return Err(CliError::RequestsFailed(errors));
    }
    Ok(())
}

/// Shows progress until the run ends (by count, by --duration, or because
/// every client stopped).
fn watch(
    load: &Load,
    args: &BenchArgs,
    start: Instant,
    threads: &[std::thread::JoinHandle<Result<Histogram<u64>, CliError>>],
) {
    let bar = match args.duration {
        Some(secs) => ProgressBar::new(secs),
        None => ProgressBar::new(args.requests),
    };
    bar.set_style(
        ProgressStyle::with_template("[{bar:40}] {percent:>3}% {msg}")
            .expect("the template is a valid constant")
            .progress_chars("#>-"),
    );
    loop {
        let done = load.done.load(Ordering::Relaxed);
        let elapsed = start.elapsed();
        let over = match args.duration {
            Some(secs) => elapsed >= Duration::from_secs(secs),
            None => done >= args.requests,
        };
        if over || threads.iter().all(|t| t.is_finished()) {
            break;
        }
        bar.set_position(args.duration.map_or(done, |_| elapsed.as_secs()));
        bar.set_message(format!(
            "{:.0} req/s",
            done as f64 / elapsed.as_secs_f64().max(1e-9)
        ));
        std::thread::sleep(Duration::from_millis(100));
    }
    load.stop.store(true, Ordering::Relaxed);
    bar.finish_and_clear();
}

/// One connection: sends up to `pipeline` requests, reads their replies, and
/// records each request's latency (from the batch's send to its reply).
fn client_loop(c: u64, endpoint: &str, load: &Load) -> Result<Histogram<u64>, CliError> {
    run_client(c, endpoint, load).map_err(|e| e.at(endpoint))
}

fn run_client(c: u64, endpoint: &str, load: &Load) -> Result<Histogram<u64>, CliError> {
    let stream = TcpStream::connect(endpoint).map_err(CliError::io("connect"))?;
    stream
        .set_nodelay(true)
        .map_err(CliError::io("set TCP_NODELAY"))?;
    let conn = match &load.tls {
        Some(tls) => tls.connect(endpoint, stream),
        None => Ok(raft_kv_server::client::Conn::Plain(stream)),
    }
    .map_err(CliError::io("start TLS"))?;
    let mut reader = BufReader::new(conn);
    let mut lat = histogram();
    let mut rng = DetRng::new(c + 1);
    let mut buf = Vec::new();
    if let Some(p) = &load.password {
        encode_request(&[&b"AUTH"[..], p.as_bytes()], &mut buf);
        let writer = reader.get_mut();
        writer
            .write_all(&buf)
            .and_then(|()| writer.flush())
            .map_err(CliError::io("send AUTH"))?;
        if !matches!(
            raft_kv_server::client::read_reply(&mut reader),
            Ok(Reply::Simple(_))
        ) {
            return Err(CliError::AuthFailed);
        }
    }
    loop {
        let n = load.claim(load.pipeline);
        if n == 0 {
            return Ok(lat);
        }
        buf.clear();
        for _ in 0..n {
            let x = rng.next_u64();
            let key = format!("key:{:012}", x % load.keys);
            let (w, r) = load.ratio;
            if x % (w + r) < w {
                encode_request(&[&b"SET"[..], key.as_bytes(), &load.value], &mut buf);
            } else {
                encode_request(&[&b"GET"[..], key.as_bytes()], &mut buf);
            }
        }
        let t0 = Instant::now();
        let writer = reader.get_mut();
        writer
            .write_all(&buf)
            .and_then(|()| writer.flush())
            .map_err(CliError::io("send"))?;
        for _ in 0..n {
            let reply = raft_kv_server::client::read_reply(&mut reader)?;
            let micros = t0.elapsed().as_micros().max(1) as u64;
            let _ = lat.record(micros.min(3_600_000_000));
            if matches!(reply, Reply::Error(_)) {
                load.errors.fetch_add(1, Ordering::Relaxed);
            }
            load.done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn report(lat: &Histogram<u64>, elapsed: f64, errors: u64, args: &BenchArgs) {
    let ms = |q: f64| lat.value_at_quantile(q) as f64 / 1000.0;
    let n = lat.len();
    let throughput = n as f64 / elapsed.max(1e-9);
    if args.json {
        let out = serde_json::json!({
            "requests": n,
            "errors": errors,
            "clients": args.clients,
            "pipeline": args.pipeline,
            "value_size": args.value_size,
            "ratio": args.ratio,
            "seconds": elapsed,
            "throughput_per_s": throughput,
            "latency_ms": {
                "p50": ms(0.50), "p90": ms(0.90), "p99": ms(0.99), "p999": ms(0.999),
                "max": lat.max() as f64 / 1000.0,
            },
        });
        say!("{out}");
        return;
    }
    say!(
        "requests: {n}  clients: {}  pipeline: {}  value size: {} B  ratio {}",
        args.clients,
        args.pipeline,
        args.value_size,
        args.ratio
    );
    say!("throughput: {throughput:.0} req/s over {elapsed:.2} s");
    say!(
        "latency (ms): p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        ms(0.50),
        ms(0.90),
        ms(0.99),
        ms(0.999),
        lat.max() as f64 / 1000.0
    );
    say!("errors: {errors}");
}
