//! `cjson` for scripts, as Redis offers it (`cjson.encode`, `cjson.decode`,
//! `cjson.null`), on serde_json. A table whose keys are exactly 1..n is a
//! JSON array, any other table an object (number keys written as strings);
//! an array with holes is written with nulls unless it is excessively
//! sparse, as lua-cjson decides. Numbers are written as lua-cjson writes
//! them (`%.14g`). An object's keys are written sorted (lua-cjson writes
//! them in the table's iteration order, which no client may rely on), so
//! every replica, whatever its build, encodes a table the same way.

use mlua::{Lua, Table, Value};

/// An error of the library as `luaL_error` raises it: the calling script's
/// position first (`user_script:1: ...`).
pub(super) fn lib_error(lua: &Lua, message: impl std::fmt::Display) -> mlua::Error {
    let place = lua.inspect_stack(1, |d| {
        let src = d.source().short_src.map(|s| s.into_owned());
        (src, d.current_line())
    });
    match place {
        Some((Some(src), Some(line))) => mlua::Error::runtime(format!("{src}:{line}: {message}")),
        _ => mlua::Error::runtime(message.to_string()),
    }
}

/// Deepest nesting encoded or decoded (lua-cjson's default).
const MAX_DEPTH: usize = 1000;

/// Installs the global `cjson` table.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let cjson = lua.create_table()?;
    cjson.raw_set(
        "encode",
        lua.create_function(|lua, value: Value| {
            let json = to_json(lua, &value, 0)?;
            serde_json::to_string(&json).map_err(|e| lib_error(lua, e))
        })?,
    )?;
    cjson.raw_set(
        "decode",
        lua.create_function(|lua, text: mlua::LuaString| {
            let json: serde_json::Value =
                serde_json::from_slice(&text.as_bytes()).map_err(|e| {
                    lib_error(lua, format!("Expected value but found invalid token: {e}"))
                })?;
            from_json(lua, &json, 0)
        })?,
    )?;
    cjson.raw_set("null", Value::NULL)?;
    lua.globals().raw_set("cjson", cjson)
}

fn to_json(lua: &Lua, value: &Value, depth: usize) -> mlua::Result<serde_json::Value> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return Err(lib_error(
            lua,
            format!("Cannot serialise, excessive nesting ({})", depth),
        ));
    }
    Ok(match value {
        Value::Nil => J::Null,
        Value::LightUserData(p) if p.0.is_null() => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Integer(n) => J::from(*n),
        Value::Number(n) => number(lua, *n)?,
        Value::String(s) => J::String(s.to_string_lossy()),
        Value::Table(t) => table_to_json(lua, t, depth)?,
        other => {
            return Err(lib_error(
                lua,
                format!("Cannot serialise {}: type not supported", other.type_name()),
            ));
        }
    })
}

/// A number as lua-cjson writes it: integers exactly, others as `%.14g`.
fn number(lua: &Lua, n: f64) -> mlua::Result<serde_json::Value> {
    if !n.is_finite() {
        return Err(lib_error(
            lua,
            "Cannot serialise number: must not be NaN or Inf",
        ));
    }
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return Ok(serde_json::Value::from(n as i64));
    }
    let shortest: f64 = format!("{n:.13e}").parse().unwrap_or(n);
    Ok(serde_json::Number::from_f64(shortest)
        .map_or(serde_json::Value::Null, serde_json::Value::Number))
}

fn table_to_json(lua: &Lua, t: &Table, depth: usize) -> mlua::Result<serde_json::Value> {
    let mut pairs = Vec::new();
    for pair in t.clone().pairs::<Value, Value>() {
        pairs.push(pair?);
    }
    let index = |k: &Value| match k {
        Value::Integer(i) if *i >= 1 => Some(*i as usize),
        Value::Number(n) if *n >= 1.0 && n.fract() == 0.0 => Some(*n as usize),
        _ => None,
    };
    let indices: Option<Vec<usize>> = pairs.iter().map(|(k, _)| index(k)).collect();
    if let Some(indices) = indices.filter(|i| !i.is_empty()) {
        let max = indices.iter().copied().max().unwrap_or(0);
        if max > 10 && max > indices.len() * 2 {
            return Err(lib_error(
                lua,
                "Cannot serialise table: excessively sparse array",
            ));
        }
        let mut items = vec![serde_json::Value::Null; max];
        for (k, v) in &pairs {
            if let Some(i) = index(k) {
                items[i - 1] = to_json(lua, v, depth + 1)?;
            }
        }
        return Ok(serde_json::Value::Array(items));
    }
    let mut object = serde_json::Map::new();
    for (k, v) in &pairs {
        let key = match k {
            Value::String(s) => s.to_string_lossy(),
            Value::Integer(_) | Value::Number(_) => lua
                .coerce_string(k.clone())?
                .map(|s| s.to_string_lossy())
                .unwrap_or_default(),
            _ => {
                return Err(lib_error(
                    lua,
                    "Cannot serialise table: table key must be a number or string",
                ));
            }
        };
        object.insert(key, to_json(lua, v, depth + 1)?);
    }
    Ok(serde_json::Value::Object(object))
}

fn from_json(lua: &Lua, json: &serde_json::Value, depth: usize) -> mlua::Result<Value> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return Err(lib_error(lua, "Found too many nested data structures"));
    }
    Ok(match json {
        J::Null => Value::NULL,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, from_json(lua, item, depth + 1)?)?;
            }
            Value::Table(t)
        }
        J::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(lua.create_string(k)?, from_json(lua, v, depth + 1)?)?;
            }
            Value::Table(t)
        }
    })
}
