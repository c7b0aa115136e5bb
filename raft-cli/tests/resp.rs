//! The RESP port against real Redis tools (`redis-cli`, `redis-benchmark`) and
//! against malformed or oversized input.

mod common;

use common::{Cluster, connect};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn port(addr: &str) -> &str {
    addr.rsplit(':').next().expect("host:port")
}

fn redis_cli(addr: &str, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", port(addr)])
        .args(args)
        .output()
        .expect("redis-cli is installed (.ci/run installs redis-tools)");
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

fn reply(r: &mut BufReader<TcpStream>) -> raft_kv::Reply {
    raft_kv_server::client::read_reply(r).expect("a reply")
}

fn closed(r: &mut BufReader<TcpStream>) -> bool {
    let mut b = [0u8; 1];
    matches!(r.read(&mut b), Ok(0))
}

#[test]
fn redis_cli_runs_the_basic_commands() {
    let c = Cluster::start(3);
    let a = &c.client[0];
    assert_eq!(redis_cli(a, &["SET", "k1", "v1"]), "OK");
    assert_eq!(redis_cli(a, &["GET", "k1"]), "v1");
    assert_eq!(redis_cli(a, &["SET", "k2", "v2"]), "OK");
    assert_eq!(
        redis_cli(a, &["MGET", "k1", "k2", "nope"]),
        "v1\nv2",
        "the trailing nil prints as an empty line"
    );
    assert_eq!(redis_cli(a, &["EXISTS", "k1", "k2", "nope"]), "2");
    assert_eq!(redis_cli(a, &["DEL", "k1", "nope"]), "1");
    assert_eq!(redis_cli(a, &["GET", "k1"]), "");
    assert_eq!(redis_cli(a, &["INCR", "n"]), "1");
    assert_eq!(redis_cli(a, &["INCRBY", "n", "41"]), "42");
    assert!(
        redis_cli(a, &["INCR", "k2"]).contains("ERR"),
        "INCR of a non-integer is an error"
    );
    // Integers as Redis reads them: no sign '+', no leading zeros.
    for (stored, incr) in [
        ("+5", "INCR"),
        ("007", "INCR"),
        ("5", "INCRBY +5"),
        ("5", "INCRBY 007"),
    ] {
        assert_eq!(redis_cli(a, &["SET", "strict", stored]), "OK");
        let mut args = incr.split(' ').collect::<Vec<_>>();
        args.insert(1, "strict");
        assert!(
            redis_cli(a, &args).starts_with("ERR value is not an integer"),
            "{stored} then {incr} is refused"
        );
    }
    assert_eq!(redis_cli(a, &["CAS", "n", "42", "43"]), "1");
    assert_eq!(redis_cli(a, &["CAS", "n", "42", "44"]), "0");
    assert_eq!(redis_cli(a, &["PING"]), "PONG");
    assert!(redis_cli(a, &["INFO"]).contains("role:"));
    // Every node serves every command: read the write back through node 3.
    assert_eq!(redis_cli(&c.client[2], &["GET", "n"]), "43");
    // Strings and keyspace beyond SET/GET.
    let b = &c.client[1];
    for (args, want) in [
        (&["SETNX", "s", "a"][..], "1"),
        (&["SETNX", "s", "b"], "0"),
        (&["APPEND", "s", "bc"], "3"),
        (&["STRLEN", "s"], "3"),
        (&["GETSET", "s", "x"], "abc"),
        (&["TYPE", "s"], "string"),
        (&["TYPE", "missing"], "none"),
        (&["MSETNX", "m1", "1", "m2", "2"], "1"),
        (&["RENAME", "m1", "m3"], "OK"),
        (&["RENAMENX", "m3", "m2"], "0"),
        (&["KEYS", "m*"], "m2\nm3"),
        (&["DECRBY", "n", "3"], "40"),
        (&["DECR", "n"], "39"),
        (&["GETDEL", "s"], "x"),
        (&["UNLINK", "m2", "m3"], "2"),
        (&["FLUSHDB"], "OK"),
        (&["DBSIZE"], "0"),
    ] {
        assert_eq!(redis_cli(b, args), want, "{args:?}");
    }
    assert_eq!(
        redis_cli(b, &["TIME"]).lines().count(),
        2,
        "seconds and microseconds"
    );
}

#[test]
fn redis_cli_binary_values_round_trip() {
    let c = Cluster::start(1);
    let value: Vec<u8> = (0..=255u8).chain(b"\r\n\0end".iter().copied()).collect();
    let mut child = Command::new("redis-cli")
        .args(["-p", port(&c.client[0]), "-x", "SET", "bin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&value)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    let got = c.client().get(b"bin").expect("get");
    assert_eq!(got, Some(value), "binary-safe value");
}

#[test]
fn pipelined_requests_get_replies_in_order() {
    let c = Cluster::start(3);
    let (mut s, mut r) = connect(&c.client[1]);
    let mut req = Vec::new();
    for i in 0..200 {
        req.extend_from_slice(format!("SET p{i} {i}\r\nGET p{i}\r\nINCR ctr\r\n").as_bytes());
    }
    s.write_all(&req).expect("write all at once");
    for i in 0..200 {
        assert_eq!(reply(&mut r), raft_kv::Reply::Simple("OK".into()));
        assert_eq!(
            reply(&mut r),
            raft_kv::Reply::Bulk(Some(i.to_string().into_bytes()))
        );
        assert_eq!(reply(&mut r), raft_kv::Reply::Int(i + 1));
    }
    // redis-cli --pipe (mass insertion) also works.
    let mut child = Command::new("redis-cli")
        .args(["-p", port(&c.client[0]), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli");
    let mut input = Vec::new();
    for i in 0..500 {
        input.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$4\r\nm{i:03}\r\n$1\r\nx\r\n").as_bytes(),
        );
    }
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 500"), "{text}");
}

#[test]
fn malformed_resp_gets_an_error_and_the_connection_is_closed() {
    let c = Cluster::start(1);
    for bad in [
        &b"*1\r\n$x\r\n"[..],
        b"*2\r\n$3\r\nGET\r\n:5\r\n",
        b"*1\r\n$3\r\nGETT\r\n",
    ] {
        let (mut s, mut r) = connect(&c.client[0]);
        s.write_all(bad).expect("write");
        match reply(&mut r) {
            raft_kv::Reply::Error(e) => assert!(e.line().starts_with("ERR Protocol error"), "{e}"),
            other => panic!("expected an error, got {other:?}"),
        }
        assert!(closed(&mut r), "connection closed after a protocol error");
    }
    let (mut s, mut r) = connect(&c.client[0]);
    s.write_all(b"FROB x\r\nPING\r\n").expect("write");
    assert!(
        matches!(reply(&mut r), raft_kv::Reply::Error(e) if e.line().starts_with("ERR unknown command"))
    );
    assert_eq!(
        reply(&mut r),
        raft_kv::Reply::Simple("PONG".into()),
        "still usable"
    );
}

#[test]
fn oversized_requests_get_an_error_and_nothing_is_applied() {
    let c = Cluster::start(1);
    // A request declared beyond 16 MiB: refused before it is read, connection closed.
    let (mut s, mut r) = connect(&c.client[0]);
    s.write_all(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$20000000\r\n")
        .expect("write");
    assert!(matches!(reply(&mut r), raft_kv::Reply::Error(e) if e.line().starts_with("ERR")));
    assert!(closed(&mut r));
    // A value over 8 MiB but within the request limit: -ERR and the connection stays usable.
    let (mut s, mut r) = connect(&c.client[0]);
    let value = vec![b'v'; (8 << 20) + 1];
    let mut req = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", value.len()).into_bytes();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\nGET big\r\n");
    s.write_all(&req).expect("write");
    assert!(
        matches!(reply(&mut r), raft_kv::Reply::Error(e) if e.line().contains("value too large"))
    );
    assert_eq!(
        reply(&mut r),
        raft_kv::Reply::Bulk(None),
        "nothing was applied"
    );
}

/// `redis-cli -x` with a value far beyond the request limit: the user sees the
/// limit error, not `Connection reset by peer` (the node reads and drops the
/// rest of the value before it closes, so the error is not lost in a reset).
#[test]
fn a_value_beyond_the_limit_from_redis_cli_shows_the_limit_error() {
    let c = Cluster::start(1);
    let mut child = Command::new("redis-cli")
        .args(["-p", port(&c.client[0]), "-x", "SET", "huge"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("redis-cli");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..40 {
            stdin.write_all(&chunk).expect("feed redis-cli");
        }
    }
    let out = child.wait_with_output().expect("redis-cli ends");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("exceeds the limit"),
        "the limit error reaches the user: {text}"
    );
    assert!(!text.contains("reset by peer"), "{text}");
}

#[test]
fn redis_benchmark_runs_against_a_node() {
    let c = Cluster::start(3);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            port(&c.client[0]),
            "-t",
            "set,get",
            "-n",
            "2000",
            "-c",
            "10",
            "-d",
            "64",
            "-q",
        ])
        .output()
        .expect("redis-benchmark is installed (.ci/run installs redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("SET:") && text.contains("GET:") && text.contains("requests per second"),
        "{text}"
    );
}

#[test]
fn requirepass_refuses_every_command_until_auth_and_tools_pass_the_password() {
    let c = Cluster::start_with(1, &["--requirepass", "s3cret pass"]);
    let a = &c.client[0];
    let (mut s, mut r) = connect(a);
    let mut ask = |cmd: &[u8]| {
        s.write_all(cmd).expect("send");
        reply(&mut r)
    };
    assert_eq!(
        ask(b"PING\r\n"),
        raft_kv::Reply::Simple("PONG".into()),
        "PING needs no AUTH (the contract's health check; Redis 7.0 refuses it)"
    );
    for cmd in [
        &b"GET k\r\n"[..],
        b"SET k v\r\n",
        b"INFO\r\n",
        b"RAFT.SNAPSHOT\r\n",
    ] {
        assert_eq!(
            ask(cmd),
            raft_kv::Reply::Error("NOAUTH Authentication required.".into()),
            "{}",
            String::from_utf8_lossy(cmd)
        );
    }
    let wrong = ask(b"AUTH nope\r\n");
    assert!(
        matches!(&wrong, raft_kv::Reply::Error(e) if e.line().starts_with("WRONGPASS invalid username-password pair")),
        "{wrong:?}"
    );
    let wrong_user = ask(b"*3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$11\r\ns3cret pass\r\n");
    assert!(
        matches!(wrong_user, raft_kv::Reply::Error(_)),
        "only the default user exists"
    );
    assert_eq!(
        ask(b"*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$11\r\ns3cret pass\r\n"),
        raft_kv::Reply::Simple("OK".into())
    );
    assert_eq!(ask(b"SET k v\r\n"), raft_kv::Reply::Simple("OK".into()));
    // redis-cli with -a, and raft-cli with --password or REDISCLI_AUTH.
    assert_eq!(
        redis_cli(a, &["-a", "s3cret pass", "--no-auth-warning", "GET", "k"]),
        "v"
    );
    let out = common::run_cli(&["--endpoints", a, "--password", "s3cret pass", "get", "k"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v");
    let out = Command::new(common::BIN)
        .args(["--endpoints", a, "put", "k", "w"])
        .env("REDISCLI_AUTH", "s3cret pass")
        .output()
        .expect("raft-cli runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = common::run_cli(&["--endpoints", a, "--password", "wrong", "get", "k"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("WRONGPASS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads raw bytes until `expected` arrived (or fails after 10 s).
fn raw_reply(r: &mut BufReader<TcpStream>, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)
        .expect("a reply of the expected length");
    buf
}

#[test]
fn hello_switches_the_connection_to_resp3_and_client_commands_answer() {
    let c = Cluster::start_with(1, &["--requirepass", "pw"]);
    let (mut s, mut r) = connect(&c.client[0]);
    s.write_all(b"HELLO 3\r\n").expect("send");
    let refused = reply(&mut r);
    assert!(
        matches!(&refused, raft_kv::Reply::Error(e) if e.line().starts_with("NOAUTH HELLO must be called")),
        "HELLO without AUTH while a password is required: {refused:?}"
    );
    s.write_all(b"HELLO 4\r\n").expect("send");
    assert_eq!(
        reply(&mut r),
        raft_kv::Reply::Error("NOPROTO unsupported protocol version".into())
    );
    s.write_all(b"HELLO 3 AUTH default pw SETNAME app1\r\n")
        .expect("send");
    let head = raw_reply(&mut r, 4);
    assert_eq!(&head, b"%7\r\n", "RESP3 map of 7 fields");
    let mut rest = Vec::new();
    // The map's fields end with "modules" and an empty array.
    while !rest.ends_with(b"$7\r\nmodules\r\n*0\r\n") {
        rest.extend(raw_reply(&mut r, 1));
    }
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains("$6\r\nserver\r\n$5\r\nredis\r\n"), "{text}");
    assert!(text.contains("$5\r\nproto\r\n:3\r\n"), "{text}");
    s.write_all(b"GET missing\r\n").expect("send");
    assert_eq!(raw_reply(&mut r, 3), b"_\r\n", "RESP3 null");
    s.write_all(b"CLIENT GETNAME\r\nCLIENT ID\r\n")
        .expect("send");
    assert_eq!(raw_reply(&mut r, 10), b"$4\r\napp1\r\n");
    assert_eq!(raw_reply(&mut r, 1), b":");
    s.write_all(b"HELLO 2\r\n").expect("send");
    let mut line = Vec::new();
    std::io::BufRead::read_until(&mut r, b'\n', &mut line).expect("line");
    line.clear();
    std::io::BufRead::read_until(&mut r, b'\n', &mut line).expect("line");
    assert_eq!(line, b"*14\r\n", "back to RESP2: the map is a flat array");
    let (mut s, mut r) = connect(&c.client[0]);
    s.write_all(
        b"AUTH pw\r\nCLIENT SETNAME web\r\nCLIENT LIST\r\nCLIENT KILL x\r\nCOMMAND COUNT\r\n",
    )
    .expect("send");
    assert_eq!(reply(&mut r), raft_kv::Reply::Simple("OK".into()));
    assert_eq!(reply(&mut r), raft_kv::Reply::Simple("OK".into()));
    let raft_kv::Reply::Bulk(Some(list)) = reply(&mut r) else {
        panic!("CLIENT LIST is a bulk string");
    };
    let list = String::from_utf8_lossy(&list).to_string();
    assert!(
        list.starts_with("id=") && list.contains(" name=web "),
        "{list}"
    );
    assert!(
        matches!(reply(&mut r), raft_kv::Reply::Error(e) if e.line().starts_with("ERR unknown subcommand 'x'") || e.line().starts_with("ERR unknown subcommand"))
    );
    assert!(matches!(reply(&mut r), raft_kv::Reply::Int(n) if n > 20));
}

#[test]
fn string_commands_with_options_and_offsets_answer_as_redis_does() {
    use raft_kv::Reply::{Bulk, Error, Int};
    let c = Cluster::start(1);
    let (mut s, mut r) = connect(&c.client[0]);
    s.write_all(
        b"SET k v NX\r\nSET k w NX\r\nSET k w XX GET\r\nSET k v NX XX\r\nSET k v EX 10\r\n\
          SETRANGE k 1 bc\r\nGETRANGE k 0 -1\r\nGETRANGE k x 1\r\nSETRANGE k -1 a\r\n\
          INCRBYFLOAT f 1.5\r\nINCRBYFLOAT f abc\r\nSETBIT b 7 1\r\nGETBIT b 7\r\n\
          SETBIT b 7 2\r\nSETBIT b -1 1\r\nBITCOUNT b\r\nBITCOUNT b 0\r\nBITCOUNT b 0 0 BIT\r\n",
    )
    .expect("send");
    let bulk = |v: &str| Bulk(Some(v.as_bytes().to_vec()));
    let err = |e: &str| Error(e.into());
    let expected = [
        raft_kv::Reply::ok(),
        Bulk(None),
        bulk("v"),
        err("ERR syntax error"),
        raft_kv::Reply::ok(),
        Int(3),
        bulk("vbc"),
        err("ERR value is not an integer or out of range"),
        err("ERR offset is out of range"),
        bulk("1.5"),
        err("ERR value is not a valid float"),
        Int(0),
        Int(1),
        err("ERR bit is not an integer or out of range"),
        err("ERR bit offset is not an integer or out of range"),
        Int(1),
        err("ERR syntax error"),
        Int(0),
    ];
    for (i, want) in expected.into_iter().enumerate() {
        assert_eq!(reply(&mut r), want, "reply {i}");
    }
}
