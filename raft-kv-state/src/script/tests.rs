//! The interpreter alone, with a host that records the calls and a gate
//! that can stop the script.

use super::*;
use crate::entry::ScriptCall;
use crate::limits::Limits;
use crate::reply::Reply;
use std::cell::RefCell;
use std::rc::Rc;

/// Answers each call from a script: `GET x` -> "vx", `ERR` -> an error,
/// `N` -> 42, `NIL` -> nil, `OK` -> +OK; records the words.
#[derive(Default)]
struct Recorder {
    calls: Vec<Vec<Vec<u8>>>,
}

impl Host for Recorder {
    fn call(&mut self, argv: Vec<Vec<u8>>) -> Result<Reply, Abort> {
        let reply = match argv[0].as_slice() {
            b"GET" => Reply::Bulk(Some([b"v".as_slice(), &argv[1]].concat())),
            b"ERR" => Reply::Error(crate::errors::ReplyError::from_line("WRONGTYPE not a list")),
            b"N" => Reply::Int(42),
            b"NIL" => Reply::Bulk(None),
            _ => Reply::ok(),
        };
        self.calls.push(argv);
        Ok(reply)
    }
}

/// Stops the script at tick `kill_at` (never if `None`).
struct Ticks {
    ticks: u64,
    kill_at: Option<u64>,
    aborted: Option<Abort>,
    finished: bool,
}

impl Gate for Ticks {
    fn tick(&mut self) -> Result<(), Abort> {
        self.ticks += 1;
        if let Some(why) = self.aborted {
            return Err(why);
        }
        if self.kill_at.is_some_and(|k| self.ticks >= k) {
            self.aborted = Some(Abort::Killed(7));
            return Err(Abort::Killed(7));
        }
        Ok(())
    }
    fn before_write(&mut self) -> Result<(), Abort> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), Abort> {
        self.finished = true;
        Ok(())
    }
    fn aborted(&self) -> Option<Abort> {
        self.aborted
    }
}

fn call(body: &str, keys: &[&str], args: &[&str], seed: u64) -> ScriptCall {
    let words = |ws: &[&str]| ws.iter().map(|w| w.as_bytes().to_vec()).collect();
    ScriptCall {
        body: body.as_bytes().to_vec(),
        keys: words(keys),
        args: words(args),
        seed,
        read_only: false,
        limits: Limits::default(),
    }
}

fn gate(kill_at: Option<u64>) -> Rc<RefCell<Ticks>> {
    Rc::new(RefCell::new(Ticks {
        ticks: 0,
        kill_at,
        aborted: None,
        finished: false,
    }))
}

fn eval_with(body: &str, keys: &[&str], args: &[&str], host: &mut Recorder) -> Reply {
    let script = call(body, keys, args, 1);
    run(&script, "sha", host, gate(None)).expect("not aborted")
}

fn eval(body: &str) -> Reply {
    eval_with(body, &[], &[], &mut Recorder::default())
}

fn assert_error_starts(reply: &Reply, prefix: &str) {
    assert!(
        matches!(reply, Reply::Error(e) if e.line().starts_with(prefix)),
        "{reply:?} should start with {prefix}"
    );
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

#[test]
fn lua_values_become_replies_as_redis_converts_them() {
    assert_eq!(eval("return 3.99"), Reply::Int(3));
    assert_eq!(eval("return -2.5"), Reply::Int(-2));
    assert_eq!(eval("return 'text'"), bulk("text"));
    assert_eq!(eval("return true"), Reply::Int(1));
    assert_eq!(eval("return false"), Reply::Bulk(None));
    assert_eq!(eval("return nil"), Reply::Bulk(None));
    assert_eq!(eval("return {ok='fine'}"), Reply::Simple("fine".into()));
    assert_eq!(
        eval("return {err='BAD thing'}"),
        Reply::Error(crate::errors::ReplyError::from_line("BAD thing"))
    );
    assert_eq!(
        eval("return {1, 'two', {3}, nil, 5}"),
        Reply::Array(vec![
            Reply::Int(1),
            bulk("two"),
            Reply::Array(vec![Reply::Int(3)])
        ]),
        "an array stops at its first nil"
    );
    assert_eq!(
        eval("return redis.status_reply('X')"),
        Reply::Simple("X".into())
    );
    assert_eq!(
        eval("return redis.error_reply('E y')"),
        Reply::Error(crate::errors::ReplyError::from_line("E y"))
    );
}

#[test]
fn replies_become_lua_values_and_calls_get_keys_argv_and_lua_numbers() {
    let mut host = Recorder::default();
    let body = "local v = redis.call('GET', KEYS[1]) \
                local n = redis.call('N') \
                local nothing = redis.call('NIL') \
                local ok = redis.call('OK') \
                redis.call('SET', ARGV[1], 1.5, 3) \
                return {v, n + 1, tostring(nothing), ok.ok}";
    let reply = eval_with(body, &["k"], &["a"], &mut host);
    assert_eq!(
        reply,
        Reply::Array(vec![bulk("vk"), Reply::Int(43), bulk("false"), bulk("OK")])
    );
    let set: Vec<&[u8]> = host.calls[4].iter().map(Vec::as_slice).collect();
    assert_eq!(set, [b"SET".as_slice(), b"a", b"1.5", b"3"]);
}

#[test]
fn call_raises_an_error_reply_and_pcall_returns_it() {
    let mut host = Recorder::default();
    let reply = eval_with("redis.call('ERR') redis.call('AFTER')", &[], &[], &mut host);
    assert_eq!(
        reply,
        Reply::Error(crate::errors::ReplyError::from_line(
            "WRONGTYPE not a list script: sha, on @user_script:1."
        )),
        "Redis 7.0 names the script and the line"
    );
    assert_eq!(host.calls.len(), 1, "nothing runs after the failed call");
    let caught = eval("local r = redis.pcall('ERR') return r.err");
    assert_eq!(caught, bulk("WRONGTYPE not a list"));
    let bad_arg = eval("return redis.call('GET', {})");
    assert_error_starts(
        &bad_arg,
        "ERR Lua redis lib command arguments must be strings or integers script: sha, on @user_script:1.",
    );
    let caught = eval("local ok, e = pcall(redis.call, 'ERR') return e.err");
    assert_eq!(
        caught,
        bulk("WRONGTYPE not a list"),
        "a script's pcall catches Redis's table"
    );
}

#[test]
fn errors_name_compilation_and_running() {
    let syntax = eval("this is not lua");
    assert_error_starts(
        &syntax,
        "ERR Error compiling script (new function): user_script:1:",
    );
    assert_eq!(
        check_syntax(b"this is not lua").map_err(Reply::from),
        Err(syntax)
    );
    assert_eq!(check_syntax(b"return 1"), Ok(()));
    let runtime = eval("local t = nil return t.x");
    let text = "ERR user_script:1: attempt to index local 't' (a nil value) script: sha, on @user_script:1.";
    assert_error_starts(&runtime, text);
    assert_error_starts(
        &eval("error('boom')"),
        "ERR user_script:1: boom script: sha, on @user_script:1.",
    );
    assert_error_starts(
        &eval("error({err='X y'})"),
        "X y script: sha, on @user_script:1.",
    );
}

#[test]
fn nothing_outside_the_data_is_reachable() {
    for name in [
        "os",
        "io",
        "coroutine",
        "loadstring",
        "load",
        "dofile",
        "loadfile",
        "print",
        "require",
        "debug",
    ] {
        let reply = eval(&format!("return type({name})"));
        assert_eq!(reply, bulk("nil"), "{name} must not exist");
    }
}

#[test]
fn math_random_draws_from_the_entry_seed() {
    let draw = |seed| {
        let script = call(
            "return {math.random(1000000), math.random(5, 6), math.random() < 1}",
            &[],
            &[],
            seed,
        );
        run(&script, "s", &mut Recorder::default(), gate(None)).expect("runs")
    };
    assert_eq!(
        draw(9),
        draw(9),
        "the same seed, the same numbers on every replica"
    );
    assert_ne!(draw(9), draw(10));
    let Reply::Array(items) = draw(3) else {
        panic!("an array")
    };
    assert!(matches!(items[1], Reply::Int(5 | 6)), "{items:?}");
    assert_eq!(items[2], Reply::Int(1));
}

#[test]
fn the_gate_stops_a_loop_that_never_ends_even_inside_pcall() {
    for body in [
        "while true do end",
        "while true do pcall(function() while true do end end) end",
    ] {
        let g = gate(Some(5));
        let outcome = run(
            &call(body, &[], &[], 1),
            "s",
            &mut Recorder::default(),
            g.clone(),
        );
        assert_eq!(outcome, Err(Abort::Killed(7)), "{body}");
        assert!(!g.borrow().finished, "a stopped script does not finish");
    }
    let g = gate(None);
    let outcome = run(
        &call("return 1", &[], &[], 1),
        "s",
        &mut Recorder::default(),
        g.clone(),
    );
    assert_eq!(outcome, Ok(Reply::Int(1)));
    assert!(
        g.borrow().finished,
        "the gate has the last word on a script that returned"
    );
}

#[test]
fn a_table_that_contains_itself_is_answered_without_overflowing() {
    let reply = eval("local t = {} t[1] = t return t");
    let mut depth = 0;
    let mut at = &reply;
    while let Reply::Array(items) = at {
        depth += 1;
        at = &items[0];
    }
    assert!(depth <= 200, "bounded nesting: {depth}");
    assert!(matches!(at, Reply::Error(_)), "{at:?}");
}

#[test]
fn a_scripts_sha1_is_redis_s() {
    assert_eq!(
        sha1_hex(b"return 1"),
        "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
        "Redis's SHA1 of it"
    );
}

#[test]
fn cjson_encodes_and_decodes_as_redis_scripts_expect() {
    assert_eq!(
        eval("return cjson.encode({1, 'two', {a = true}, cjson.null})"),
        bulk(r#"[1,"two",{"a":true},null]"#)
    );
    assert_eq!(eval("return cjson.encode({x = 0.5})"), bulk(r#"{"x":0.5}"#));
    assert_eq!(eval("return cjson.encode({})"), bulk("{}"));
    assert_eq!(
        eval("return cjson.encode({[1] = 1, [3] = 3})"),
        bulk("[1,null,3]")
    );
    let sparse = eval("return cjson.encode({[1] = 1, [1000] = 2})");
    assert_error_starts(
        &sparse,
        "ERR user_script:1: Cannot serialise table: excessively sparse array script: sha",
    );
    let decoded = eval(
        "local t = cjson.decode('{\"a\":[1,2,{\"b\":\"c\"}],\"n\":null}') \
         return {t.a[1], t.a[3].b, t.n == cjson.null, #t.a}",
    );
    assert_eq!(
        decoded,
        Reply::Array(vec![Reply::Int(1), bulk("c"), Reply::Int(1), Reply::Int(3)])
    );
    assert_error_starts(
        &eval("return cjson.decode('{nope')"),
        "ERR user_script:1: Expected value but found invalid token",
    );
    let round_trip = "local t = {} for i = 1, 50 do t['k' .. i] = i end \
                      return cjson.encode(cjson.decode(cjson.encode(t))) == cjson.encode(t)";
    assert_eq!(eval(round_trip), Reply::Int(1));
}

#[test]
fn no_memory_address_reaches_a_script() {
    assert_eq!(
        eval("return {tostring({}), tostring(tostring), tostring(1.5), tostring(nil)}"),
        Reply::Array(vec![
            bulk("table"),
            bulk("function"),
            bulk("1.5"),
            bulk("nil")
        ])
    );
    let custom = "return tostring(setmetatable({}, {__tostring = function() return 'mine' end}))";
    assert_eq!(eval(custom), bulk("mine"));
}

#[test]
fn a_script_compiled_before_runs_the_same_from_its_bytecode() {
    let body = "local t = nil return t.x";
    let first = eval(body);
    assert_eq!(
        eval(body),
        first,
        "the cached bytecode keeps the line numbers"
    );
    assert_eq!(eval("return 2"), Reply::Int(2));
    assert_eq!(
        eval("return 3"),
        Reply::Int(3),
        "each source its own bytecode"
    );
}

/// Bytes as a bulk reply.
fn raw(b: &[u8]) -> Reply {
    Reply::Bulk(Some(b.to_vec()))
}

#[test]
fn cmsgpack_packs_byte_for_byte_as_redis_7_0_does() {
    // Each expected encoding is what Redis 7.0.15 answered.
    let cases: &[(&str, &[u8])] = &[
        ("{1,2,3}", b"\x93\x01\x02\x03"),
        ("'abc'", b"\xa3abc"),
        ("1.5", b"\xca\x3f\xc0\x00\x00"),
        ("0.1", b"\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a"),
        ("-1", b"\xff"),
        ("300", b"\xcd\x01\x2c"),
        ("-40000", b"\xd2\xff\xff\x63\xc0"),
        ("5000000000", b"\xcf\x00\x00\x00\x01\x2a\x05\xf2\x00"),
        ("{}", b"\x90"),
        ("{a=1, b={true,false}}", b"\x82\xa1a\x01\xa1b\x92\xc3\xc2"),
        ("nil", b"\xc0"),
    ];
    for (lua, bytes) in cases {
        assert_eq!(
            eval(&format!("return cmsgpack.pack({lua})")),
            raw(bytes),
            "{lua}"
        );
    }
    let long = eval("return cmsgpack.pack(string.rep('x', 40))");
    assert_eq!(long, raw(&[b"\xd9\x28".as_slice(), &[b'x'; 40]].concat()));
    let deep = eval(
        "local t = {} local c = t for i = 1, 20 do c[1] = {} c = c[1] end return cmsgpack.pack(t)",
    );
    let Reply::Bulk(Some(b)) = deep else {
        panic!("{deep:?}")
    };
    assert_eq!(
        b.iter().filter(|x| **x == 0x91).count(),
        16,
        "nesting past 16 is nil"
    );
}

#[test]
fn cmsgpack_unpacks_every_object_and_refuses_bad_input_with_redis_errors() {
    assert_eq!(
        eval(
            "local a, b, c = cmsgpack.unpack(cmsgpack.pack({1, {2, 'x'}}, 'y', {k = 'v'})) return {a[2][2], b, c.k}"
        ),
        Reply::Array(vec![bulk("x"), bulk("y"), bulk("v")])
    );
    assert_eq!(
        eval("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)}"),
        Reply::Array(vec![Reply::Int(-1), Reply::Int(2), Reply::Int(3)])
    );
    assert_eq!(
        eval("return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}"),
        Reply::Array(vec![Reply::Int(1), Reply::Int(1)])
    );
    assert_error_starts(
        &eval("return cmsgpack.unpack('\\193')"),
        "ERR user_script:1: Bad data format in input.",
    );
    assert_error_starts(
        &eval("return cmsgpack.unpack('\\146\\1')"),
        "ERR user_script:1: Missing bytes in input.",
    );
    assert_error_starts(
        &eval("return cmsgpack.unpack(string.rep('\\145', 5000) .. '\\1')"),
        "ERR user_script:1: Too deep nesting",
    );
    assert_error_starts(
        &eval("return cmsgpack.pack()"),
        "ERR user_script:1: bad argument #0 to 'pack'",
    );
}

#[test]
fn bit_operates_on_signed_32_bit_numbers_as_luabitop_does() {
    assert_eq!(
        eval(
            "return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(1, 33), bit.bswap(0x12345678), bit.tobit(2^32 + 3)}"
        ),
        Reply::Array(
            [15, 7, 6, -1, -2147483648, 15, -16, 2, 2018915346, 3]
                .into_iter()
                .map(Reply::Int)
                .collect()
        )
    );
    assert_eq!(
        eval("return bit.tohex(-1) .. bit.tohex(255, -4)"),
        bulk("ffffffff00FF")
    );
}
