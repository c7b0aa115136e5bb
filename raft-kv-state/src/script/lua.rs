//! One script run: a fresh Lua 5.1 interpreter (Redis's language version)
//! with Redis's `redis` table, `KEYS` and `ARGV`, the conversions between
//! Lua values and replies that Redis documents, and a count hook through
//! which the [`Gate`] can stop a script that never ends.

use super::convert::{arguments, first_line, lua_text, result_reply, strings_table, to_lua};
use crate::entry::ScriptCall;
use crate::errors::{CommandError, ReplyError};
use crate::reply::Reply;
use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use raft_core::SplitMix64;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::OnceLock;

/// Lua instructions between two calls of [`Gate::tick`].
pub const HOOK_EVERY: u32 = 100_000;

/// Most memory one script's interpreter may hold.
const MEMORY_LIMIT: usize = 256 << 20;

/// Why a script stopped before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abort {
    /// `SCRIPT KILL`, decided by the marker entry at this log index.
    Killed(u64),
    /// This replica stops, or a snapshot replaces its state: the script's
    /// outcome no longer matters here.
    Interrupted,
}

/// Decides, while a script runs, whether it may go on.
pub trait Gate {
    /// Called every [`HOOK_EVERY`] Lua instructions (the same points of the
    /// computation on every replica).
    fn tick(&mut self) -> Result<(), Abort>;
    /// Called before each write the script makes.
    fn before_write(&mut self) -> Result<(), Abort>;
    /// Called when the script returned, before its result counts.
    fn finish(&mut self) -> Result<(), Abort>;
    /// The abort decided so far (it stays decided).
    fn aborted(&self) -> Option<Abort>;
}

/// Runs the commands a script calls.
pub trait Host {
    /// Runs one command (`argv[0]` its name): its reply, errors included;
    /// `Err` if the script must stop instead.
    fn call(&mut self, argv: Vec<Vec<u8>>) -> Result<Reply, Abort>;
}

/// Runs `script` (whose SHA1 is `sha`): its reply, or why it was stopped.
pub fn run(
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
        Err(e) => CommandError::ScriptFailed {
            sha: sha.to_string(),
            reason: first_line(&e.to_string()).to_string(),
        }
        .into(),
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
        Err(e) => return Ok(compile_error(&e).into()),
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
    let host = RefCell::new(host);
    let host = &host;
    lua.scope(|scope| {
        // Both are functions of this module's host, not Lua code: a
        // `return redis.call(...)` keeps the script's frame, whose line the
        // error names.
        let raising =
            scope.create_function(move |lua, args: MultiValue| match call_host(host, args)? {
                Reply::Error(e) => Err(mlua::Error::external(CallFailed(e))),
                reply => to_lua(lua, &reply),
            })?;
        let protected = scope
            .create_function(move |lua, args: MultiValue| to_lua(lua, &call_host(host, args)?))?;
        let redis: Table = lua.globals().raw_get("redis")?;
        redis.raw_set("call", raising)?;
        redis.raw_set("pcall", protected)?;
        let handler = lua.create_function(|lua, err: Value| error_table(lua, err))?;
        let runner: mlua::Function = lua.load(bytecode(&RUNNER_CODE, RUNNER)).call(())?;
        let runner: mlua::Function = runner.call(handler)?;
        let (failed, value): (bool, Value) = runner.call(function)?;
        Ok(result_reply(&lua, failed, value, sha))
    })
}

/// Runs one `redis.call` / `redis.pcall` on `host`: its reply, errors
/// included; `Err` if the script must stop.
fn call_host(host: &RefCell<&mut dyn Host>, args: MultiValue) -> mlua::Result<Reply> {
    let argv = match arguments(args) {
        Ok(argv) => argv,
        Err(refused) => return Ok(refused.into()),
    };
    host.borrow_mut()
        .call(argv)
        .map_err(|_| mlua::Error::runtime("the script was stopped"))
}

/// `Err` (what `EVAL` answers) if `body` does not compile.
pub fn check_syntax(body: &[u8]) -> Result<(), CommandError> {
    let lua = Lua::new_with(StdLib::NONE, LuaOptions::default()).map_err(|e| compile_error(&e))?;
    lua.set_memory_limit(MEMORY_LIMIT)
        .map_err(|e| compile_error(&e))?;
    match lua.load(body).set_name("@user_script").into_function() {
        Ok(_) => Ok(()),
        Err(e) => Err(compile_error(&e)),
    }
}

fn compile_error(e: &mlua::Error) -> CommandError {
    let text = match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    };
    CommandError::ScriptCompile(first_line(&text).to_string())
}

/// Calls the script in protected mode: `(failed, value)`.
/// Runs the script under the error handler ([`error_table`]).
const RUNNER: &str = r#"
return function(handler)
  return function(f)
    local ok, v = xpcall(f, handler)
    return not ok, v
  end
end
"#;

/// The error `redis.call` raises: the command's error reply.
#[derive(Debug)]
struct CallFailed(ReplyError);

impl std::fmt::Display for CallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for CallFailed {}

/// What a script's error says: a failed call's reply, or the message of a
/// Lua or library error with `ERR ` before it.
fn error_line(lua: &Lua, err: &Value) -> String {
    match err {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(e)) => e.to_string_lossy(),
            _ => "ERR the script raised a table without 'err'".into(),
        },
        Value::Error(e) => {
            let mut cause: &mlua::Error = e;
            while let mlua::Error::CallbackError { cause: inner, .. } = cause {
                cause = inner;
            }
            match cause {
                mlua::Error::ExternalError(x) => match x.downcast_ref::<CallFailed>() {
                    Some(CallFailed(reply)) => reply.line(),
                    None => format!("ERR {x}"),
                },
                mlua::Error::RuntimeError(m) => format!("ERR {m}"),
                other => format!("ERR {other}"),
            }
        }
        other => {
            let text = lua_text(lua, other).unwrap_or_else(|| other.type_name().to_string());
            format!("ERR {text}")
        }
    }
}

/// An error as a table with `err` and where it was raised (the script's
/// innermost frame, past C functions and this module's chunks), as Redis
/// 7.0's error handler makes it. Level 0 of the stack is this handler.
fn error_table(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.raw_set("err", error_line(lua, &err))?;
    for level in 1..64 {
        let frame = lua.inspect_stack(level, |d| {
            let source = d.source().source.map(|s| s.into_owned());
            (source, d.current_line())
        });
        match frame {
            None => break,
            Some((Some(source), Some(line))) if source.starts_with('@') => {
                table.raw_set("source", source)?;
                table.raw_set("line", line)?;
                break;
            }
            Some(_) => {}
        }
    }
    Ok(table)
}

/// The `redis` table and the library changes: no file loading, no output,
/// a `math.random` every replica draws the same numbers from.
const PRELUDE: &str = r#"
local raw = redis
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
local error_table = raw.__error_table
raw.__stopped, raw.__error_table = nil, nil
local function rethrow(ok, ...)
  if not ok then
    if stopped() then error((...), 0) end
    return ok, error_table((...))
  end
  return ok, ...
end
pcall = function(f, ...) return rethrow(raw_pcall(f, ...)) end
xpcall = function(f, h) return rethrow(raw_xpcall(f, h)) end
"#;

fn sandbox(lua: &Lua, seed: u64, stopped: mlua::Function) -> mlua::Result<()> {
    let redis = lua.create_table()?;
    redis.raw_set("__stopped", stopped)?;
    // What a script's own pcall catches: an error as Redis's table.
    redis.raw_set(
        "__error_table",
        lua.create_function(|lua, err: Value| {
            Ok(match err {
                Value::Table(t) => Value::Table(t),
                Value::Error(_) => {
                    let t = lua.create_table()?;
                    t.raw_set("err", error_line(lua, &err))?;
                    Value::Table(t)
                }
                other => other,
            })
        })?,
    )?;
    redis.raw_set(
        "sha1hex",
        lua.create_function(|_, s: mlua::LuaString| Ok(super::sha1_hex(&s.as_bytes())))?,
    )?;
    redis.raw_set(
        "log",
        lua.create_function(|_, (level, msg): (i64, mlua::LuaString)| {
            log::info!("script log ({level}): {}", msg.to_string_lossy());
            Ok(())
        })?,
    )?;
    lua.globals().raw_set("redis", redis)?;
    let rng = Rc::new(RefCell::new(SplitMix64::new(seed)));
    let math: Table = lua.globals().raw_get("math")?;
    let draw = rng.clone();
    math.raw_set(
        "random",
        lua.create_function(move |_, bounds: MultiValue| random(&mut draw.borrow_mut(), &bounds))?,
    )?;
    math.raw_set(
        "randomseed",
        lua.create_function(move |_, seed: f64| {
            *rng.borrow_mut() = SplitMix64::new(seed as i64 as u64);
            Ok(())
        })?,
    )?;
    super::json::install(lua)?;
    super::msgpack::install(lua)?;
    super::bit::install(lua)?;
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
fn random(rng: &mut SplitMix64, bounds: &MultiValue) -> mlua::Result<f64> {
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
