//! One script run: a fresh Lua 5.1 interpreter (Redis's language version)
//! with Redis's `redis` table, `KEYS` and `ARGV`, the conversions between
//! Lua values and replies that Redis documents, and a count hook through
//! which the [`Gate`] can stop a script that never ends.

use crate::command::{Reply, ScriptCall};
use crate::error::ErrorCode;
use crate::store::words::Rng;
use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::OnceLock;

/// Lua instructions between two calls of [`Gate::tick`].
pub(crate) const HOOK_EVERY: u32 = 100_000;

/// Most memory one script's interpreter may hold.
const MEMORY_LIMIT: usize = 256 << 20;

/// Deepest nesting of tables a script may return.
const MAX_DEPTH: usize = 128;

/// Why a script stopped before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abort {
    /// `SCRIPT KILL`, decided by the marker entry at this log index.
    Killed(u64),
    /// This replica stops, or a snapshot replaces its state: the script's
    /// outcome no longer matters here.
    Interrupted,
}

/// Decides, while a script runs, whether it may go on.
pub(crate) trait Gate {
    /// Called every [`HOOK_EVERY`] Lua instructions (the same points of the
    /// computation on every replica).
    fn tick(&mut self) -> Result<(), Abort>;
    /// Called when the script returned, before its result counts.
    fn finish(&mut self) -> Result<(), Abort>;
    /// The abort decided so far (it stays decided).
    fn aborted(&self) -> Option<Abort>;
}

/// Runs the commands a script calls.
pub(crate) trait Host {
    /// Runs one command (`argv[0]` its name): its reply, errors included;
    /// `Err` if the script must stop instead.
    fn call(&mut self, argv: Vec<Vec<u8>>) -> Result<Reply, Abort>;
}

/// Runs `script` (whose SHA1 is `sha`): its reply, or why it was stopped.
pub(crate) fn run(
    script: &ScriptCall,
    sha: &str,
    host: &mut dyn Host,
    gate: Rc<RefCell<dyn Gate>>,
) -> Result<Reply, Abort> {
    let outcome = interpret(script, sha, host, gate.clone());
    if let Some(abort) = gate.borrow().aborted() {
        return Err(abort);
    }
    let reply = match outcome {
        Ok(reply) => reply,
        Err(e) => Reply::error(ErrorCode::Err, format!("Error running script: {e}")),
    };
    // A script past its fast phase that wrote nothing is killable up to
    // here: the gate decides, the same way on every replica.
    gate.borrow_mut().finish()?;
    Ok(reply)
}

fn interpret(
    script: &ScriptCall,
    sha: &str,
    host: &mut dyn Host,
    gate: Rc<RefCell<dyn Gate>>,
) -> mlua::Result<Reply> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )?;
    lua.set_memory_limit(MEMORY_LIMIT)?;
    let stopped = gate.clone();
    let stopped = lua.create_function(move |_, ()| Ok(stopped.borrow().aborted().is_some()))?;
    sandbox(&lua, script.seed, stopped)?;
    let function = match compiled(&lua, &script.body) {
        Ok(f) => f,
        Err(e) => return Ok(compile_error(&e)),
    };
    let globals = lua.globals();
    globals.raw_set("KEYS", strings_table(&lua, &script.keys)?)?;
    globals.raw_set("ARGV", strings_table(&lua, &script.args)?)?;
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| match gate.borrow_mut().tick() {
            Ok(()) => Ok(VmState::Continue),
            Err(_) => Err(mlua::Error::runtime(
                "Script killed by user with SCRIPT KILL...",
            )),
        },
    )?;
    lua.scope(|scope| {
        let raw_call = scope.create_function_mut(|lua, args: MultiValue| {
            let argv = arguments(lua, args)?;
            let reply = host
                .call(argv)
                .map_err(|_| mlua::Error::runtime("the script was stopped"))?;
            let failed = matches!(reply, Reply::Error(_));
            Ok((to_lua(lua, &reply)?, failed))
        })?;
        let redis: Table = lua.globals().raw_get("redis")?;
        redis.raw_set("__raw_call", raw_call)?;
        let runner: mlua::Function = lua.load(bytecode(&RUNNER_CODE, RUNNER)).call(())?;
        let (failed, value): (bool, Value) = runner.call(function)?;
        Ok(result_reply(&lua, failed, value, sha))
    })
}

/// `Err` (the reply `EVAL` would give) if `body` does not compile.
pub fn check_syntax(body: &[u8]) -> Result<(), Reply> {
    let lua = Lua::new_with(StdLib::NONE, LuaOptions::default()).map_err(|e| compile_error(&e))?;
    lua.set_memory_limit(MEMORY_LIMIT)
        .map_err(|e| compile_error(&e))?;
    match lua.load(body).set_name("@user_script").into_function() {
        Ok(_) => Ok(()),
        Err(e) => Err(compile_error(&e)),
    }
}

fn compile_error(e: &mlua::Error) -> Reply {
    let text = match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    };
    Reply::error(
        ErrorCode::Err,
        format!(
            "Error compiling script (new function): {}",
            first_line(&text)
        ),
    )
}

/// Calls the script in protected mode: `(failed, value)`.
const RUNNER: &str = r#"
return function(f)
  local ok, v = pcall(f)
  return not ok, v
end
"#;

/// The `redis` table and the library changes: no file loading, no output,
/// a `math.random` every replica draws the same numbers from.
const PRELUDE: &str = r#"
local raw = redis
redis.call = function(...)
  local reply, failed = raw.__raw_call(...)
  if failed then error(reply, 0) end
  return reply
end
redis.pcall = function(...)
  local reply = raw.__raw_call(...)
  return reply
end
redis.error_reply = function(e)
  if type(e) ~= 'string' then error('wrong number or type of arguments', 2) end
  return { err = e }
end
redis.status_reply = function(s)
  if type(s) ~= 'string' then error('wrong number or type of arguments', 2) end
  return { ok = s }
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.setresp = function(v)
  if v ~= 2 then error('RESP3 replies inside scripts are not supported', 2) end
end
redis.set_repl = function() end
redis.replicate_commands = function() return true end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
dofile, loadfile, load, loadstring, print = nil, nil, nil, nil, nil
-- No memory address reaches a script: it would differ on every replica.
local raw_tostring, raw_type, raw_getmetatable = tostring, type, getmetatable
tostring = function(v)
  local t = raw_type(v)
  if t == 'table' or t == 'userdata' then
    local mt = raw_getmetatable(v)
    if raw_type(mt) == 'table' and mt.__tostring then return raw_tostring(v) end
    return t
  end
  if t == 'function' or t == 'thread' then return t end
  return raw_tostring(v)
end
-- A stopped script stays stopped: a protected call does not swallow the
-- stop (and coroutines, which would, are not offered).
coroutine = nil
local raw_pcall, raw_xpcall, stopped = pcall, xpcall, raw.__stopped
raw.__stopped = nil
local function rethrow(ok, ...)
  if not ok and stopped() then error((...), 0) end
  return ok, ...
end
pcall = function(f, ...) return rethrow(raw_pcall(f, ...)) end
xpcall = function(f, h) return rethrow(raw_xpcall(f, h)) end
"#;

fn sandbox(lua: &Lua, seed: u64, stopped: mlua::Function) -> mlua::Result<()> {
    let redis = lua.create_table()?;
    redis.raw_set("__stopped", stopped)?;
    redis.raw_set(
        "sha1hex",
        lua.create_function(|_, s: mlua::LuaString| Ok(super::cache::sha1_hex(&s.as_bytes())))?,
    )?;
    redis.raw_set(
        "log",
        lua.create_function(|_, (level, msg): (i64, mlua::LuaString)| {
            log::info!("script log ({level}): {}", msg.to_string_lossy());
            Ok(())
        })?,
    )?;
    lua.globals().raw_set("redis", redis)?;
    let rng = Rc::new(RefCell::new(Rng::new(seed)));
    let math: Table = lua.globals().raw_get("math")?;
    let draw = rng.clone();
    math.raw_set(
        "random",
        lua.create_function(move |_, bounds: MultiValue| random(&mut draw.borrow_mut(), &bounds))?,
    )?;
    math.raw_set(
        "randomseed",
        lua.create_function(move |_, seed: f64| {
            *rng.borrow_mut() = Rng::new(seed as i64 as u64);
            Ok(())
        })?,
    )?;
    super::json::install(lua)?;
    lua.load(bytecode(&PRELUDE_CODE, PRELUDE)).exec()
}

/// The prelude and the runner, compiled once per process: parsing them
/// took half of a short script's run.
static PRELUDE_CODE: OnceLock<Vec<u8>> = OnceLock::new();
static RUNNER_CODE: OnceLock<Vec<u8>> = OnceLock::new();

/// The bytecode of `source` (a chunk of this module), compiled on first use.
fn bytecode<'a>(cell: &'a OnceLock<Vec<u8>>, source: &str) -> &'a [u8] {
    cell.get_or_init(|| {
        let lua = Lua::new_with(StdLib::NONE, LuaOptions::default())
            .expect("a bare Lua state can always be made");
        lua.load(source)
            .set_name("=builtin")
            .into_function()
            .expect("the built-in chunks compile")
            .dump(true)
    })
}

/// Most compiled scripts, and most bytes of source and bytecode, one thread
/// keeps (past either it starts over).
const COMPILED_KEPT: usize = 1024;
const COMPILED_BYTES: usize = 64 << 20;

/// The bytecode of the scripts one thread compiled, by source: the same
/// program (with its line numbers), without the parse.
#[derive(Default)]
struct Compiled {
    by_source: HashMap<Vec<u8>, Vec<u8>>,
    bytes: usize,
}

thread_local! {
    static COMPILED: RefCell<Compiled> = RefCell::new(Compiled::default());
}

/// `body` as a function of `lua`.
fn compiled(lua: &Lua, body: &[u8]) -> mlua::Result<mlua::Function> {
    if let Some(code) = COMPILED.with(|c| c.borrow().by_source.get(body).cloned()) {
        return lua.load(code).set_name("@user_script").into_function();
    }
    let function = lua.load(body).set_name("@user_script").into_function()?;
    let code = function.dump(false);
    COMPILED.with(|c| {
        let mut c = c.borrow_mut();
        let size = body.len() + code.len();
        if c.by_source.len() >= COMPILED_KEPT || c.bytes + size > COMPILED_BYTES {
            *c = Compiled::default();
        }
        if size <= COMPILED_BYTES {
            c.bytes += size;
            c.by_source.insert(body.to_vec(), code);
        }
    });
    Ok(function)
}

/// `math.random()`, `math.random(m)`, `math.random(m, n)` as Lua 5.1
/// defines them, from `rng`.
fn random(rng: &mut Rng, bounds: &MultiValue) -> mlua::Result<f64> {
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let bound = |v: &Value| match v {
        Value::Number(n) => Ok(n.floor()),
        Value::Integer(n) => Ok(*n as f64),
        _ => Err(mlua::Error::runtime(
            "bad argument to 'random' (number expected)",
        )),
    };
    let (low, high) = match bounds.len() {
        0 => return Ok(unit),
        1 => (1.0, bound(&bounds[0])?),
        2 => (bound(&bounds[0])?, bound(&bounds[1])?),
        _ => return Err(mlua::Error::runtime("wrong number of arguments")),
    };
    if low > high {
        return Err(mlua::Error::runtime(
            "bad argument to 'random' (interval is empty)",
        ));
    }
    Ok((unit * (high - low + 1.0)).floor() + low)
}

fn strings_table(lua: &Lua, items: &[Vec<u8>]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}

/// The words of a `redis.call`: strings, or numbers as Lua writes them.
fn arguments(lua: &Lua, args: MultiValue) -> mlua::Result<Vec<Vec<u8>>> {
    if args.is_empty() {
        return Err(mlua::Error::runtime(
            "Please specify at least one argument for this redis lib call",
        ));
    }
    args.into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            v @ (Value::Number(_) | Value::Integer(_)) => Ok(lua
                .coerce_string(v)?
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_default()),
            _ => Err(mlua::Error::runtime(
                "Lua redis lib command arguments must be strings or integers",
            )),
        })
        .collect()
}

/// A reply as Lua sees it (Redis's RESP2 conversion).
fn to_lua(lua: &Lua, reply: &Reply) -> mlua::Result<Value> {
    let list = |items: &mut dyn Iterator<Item = &Reply>| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        for (i, r) in items.enumerate() {
            t.raw_set(i + 1, to_lua(lua, r)?)?;
        }
        Ok(Value::Table(t))
    };
    Ok(match reply {
        Reply::Int(n) => Value::Number(*n as f64),
        Reply::Bulk(Some(b)) => Value::String(lua.create_string(b)?),
        Reply::Bulk(None) | Reply::NullArray => Value::Boolean(false),
        Reply::Simple(s) => Value::Table(lua.create_table_from([("ok", s.as_str())])?),
        Reply::Error(e) => Value::Table(lua.create_table_from([("err", e.as_str())])?),
        Reply::Double(d) => Value::String(lua.create_string(crate::reply::format_double(*d))?),
        Reply::Array(items) | Reply::Set(items) => list(&mut items.iter())?,
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            list(&mut pairs.iter().flat_map(|(k, v)| [k, v]))?
        }
    })
}

/// The reply of a script that returned `value` (`failed`: raised it).
fn result_reply(lua: &Lua, failed: bool, value: Value, sha: &str) -> Reply {
    if !failed {
        return from_lua(&value, 0);
    }
    match &value {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(e)) => Reply::Error(e.to_string_lossy()),
            _ => running_error(sha, "the script raised a table without 'err'"),
        },
        other => {
            let text = lua
                .coerce_string(other.clone())
                .ok()
                .flatten()
                .map(|s| s.to_string_lossy())
                .unwrap_or_else(|| format!("{other:?}"));
            running_error(sha, &text)
        }
    }
}

fn running_error(sha: &str, text: &str) -> Reply {
    Reply::error(
        ErrorCode::Err,
        format!(
            "Error running script (call to f_{sha}): @user_script: {}",
            first_line(text)
        ),
    )
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// A Lua value as a reply (Redis's conversion): numbers truncate to
/// integers, `true` is 1, `false` and nil are the nil bulk, a table is its
/// `err` / `ok` field or the array up to its first nil.
fn from_lua(value: &Value, depth: usize) -> Reply {
    match value {
        Value::String(s) => Reply::Bulk(Some(s.as_bytes().to_vec())),
        Value::Number(n) => Reply::Int(*n as i64),
        Value::Integer(n) => Reply::Int(*n),
        Value::Boolean(true) => Reply::Int(1),
        Value::Table(_) if depth >= MAX_DEPTH => {
            Reply::error(ErrorCode::Err, "reached lua stack limit")
        }
        Value::Table(t) => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                return Reply::Error(e.to_string_lossy());
            }
            if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
                return Reply::Simple(s.to_string_lossy());
            }
            let mut items = Vec::new();
            for i in 1.. {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(v) => items.push(from_lua(&v, depth + 1)),
                }
            }
            Reply::Array(items)
        }
        _ => Reply::Bulk(None),
    }
}
