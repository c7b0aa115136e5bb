//! The conversions between Lua values and replies that Redis documents:
//! a `redis.call`'s arguments, a reply as Lua sees it, and a script's
//! result (or error) as the reply its caller gets.

use crate::errors::{CommandError, ReplyError};
use crate::reply::Reply;
use mlua::{Lua, MultiValue, Table, Value};

/// Deepest nesting of tables a script may return.
const MAX_DEPTH: usize = 128;

/// `value` as Lua's `tostring` of a string or a number gives it; `None` for
/// any other type.
pub(super) fn lua_text(lua: &Lua, value: &Value) -> Option<String> {
    lua.coerce_string(value.clone())
        .ok()
        .flatten()
        .map(|s| s.to_string_lossy())
}

/// A Lua array of the byte strings `items` (`KEYS`, `ARGV`).
pub(super) fn strings_table(lua: &Lua, items: &[Vec<u8>]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}

/// The words of a `redis.call`: strings, or numbers as Lua writes them.
pub(super) fn arguments(args: MultiValue) -> Result<Vec<Vec<u8>>, CommandError> {
    if args.is_empty() {
        return Err(CommandError::ScriptNoArguments);
    }
    args.into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            Value::Integer(n) => Ok(n.to_string().into_bytes()),
            Value::Number(n) => Ok(lua_number(n).into_bytes()),
            _ => Err(CommandError::ScriptBadArgument),
        })
        .collect()
}

/// A number as Lua 5.1 writes it (`%.14g`): integers without a point.
fn lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    let text = format!("{:.13e}", n);
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-5..14).contains(&exp) {
        let decimals = (13 - exp).max(0) as usize;
        let fixed = format!("{n:.decimals$}");
        let fixed = if fixed.contains('.') {
            fixed
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            fixed
        };
        return fixed;
    }
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
}

/// A reply as Lua sees it (Redis's RESP2 conversion).
pub(super) fn to_lua(lua: &Lua, reply: &Reply) -> mlua::Result<Value> {
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
        Reply::Error(e) => Value::Table(lua.create_table_from([("err", e.line())])?),
        Reply::Double(d) => Value::String(lua.create_string(crate::reply::format_double(*d))?),
        Reply::Array(items) | Reply::Set(items) => list(&mut items.iter())?,
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            list(&mut pairs.iter().flat_map(|(k, v)| [k, v]))?
        }
    })
}

/// The reply of a script that returned `value` (`failed`: raised it, and
/// the handler made it a table).
pub(super) fn result_reply(lua: &Lua, failed: bool, value: Value, sha: &str) -> Reply {
    if !failed {
        return from_lua(&value, 0);
    }
    match &value {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(e)) => {
                let mut line = e.to_string_lossy();
                // A raised error names the script and where it was raised,
                // as Redis 7.0 writes it.
                if let (Ok(Value::String(source)), Ok(Value::Integer(at))) =
                    (t.raw_get::<Value>("source"), t.raw_get::<Value>("line"))
                {
                    let source = source.to_string_lossy();
                    line = format!("{line} script: {sha}, on {source}:{at}.");
                }
                Reply::Error(ReplyError::from_line(&line))
            }
            _ => running_error(sha, "the script raised a table without 'err'"),
        },
        other => {
            let text = lua_text(lua, other).unwrap_or_else(|| format!("{other:?}"));
            running_error(sha, &text)
        }
    }
}

pub(super) fn running_error(sha: &str, text: &str) -> Reply {
    CommandError::ScriptFailed {
        sha: sha.to_string(),
        reason: first_line(text).to_string(),
    }
    .into()
}

pub(super) fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// A Lua value as a reply (Redis's conversion): numbers truncate to
/// integers, `true` is 1, `false` and nil are the nil bulk, a table is its
/// `err` / `ok` field or the array up to its first nil.
pub(super) fn from_lua(value: &Value, depth: usize) -> Reply {
    match value {
        Value::String(s) => Reply::Bulk(Some(s.as_bytes().to_vec())),
        Value::Number(n) => Reply::Int(*n as i64),
        Value::Integer(n) => Reply::Int(*n),
        Value::Boolean(true) => Reply::Int(1),
        Value::Table(_) if depth >= MAX_DEPTH => CommandError::LuaStackLimit.into(),
        Value::Table(t) => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                return Reply::Error(ReplyError::from_line(&e.to_string_lossy()));
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
