//! `cmsgpack` for scripts, as Redis 7.0 ships it (lua-cmsgpack 0.4.0):
//! `cmsgpack.pack(v, ...)`, `cmsgpack.unpack(s)`, `cmsgpack.unpack_one(s
//! [, offset])` and `cmsgpack.unpack_limit(s, limit [, offset])`, with its
//! encodings byte for byte: a number without a fraction is the smallest
//! integer form, others a float32 when exact, else a float64; a string is a
//! fixstr, str8, str16 or str32; a table whose keys are exactly 1..n is an
//! array, any other a map; nesting beyond 16 tables is written as nil. A
//! map's pairs are written in the order of their encoded keys (lua-cmsgpack
//! writes them in the table's iteration order, which no reader may rely
//! on), so every replica packs a table the same way.

use mlua::{Lua, MultiValue, Table, Value};

/// Deepest nesting packed (lua-cmsgpack's `LUACMSGPACK_MAX_NESTING`).
const MAX_NESTING: usize = 16;

/// Deepest nesting unpacked: deeper input is refused, not recursed into
/// (the applier's stack is the limit of every replica at once; Redis's
/// own decoder overflows the Lua stack a little deeper).
const MAX_UNPACK_DEPTH: usize = 64;

/// Installs the global `cmsgpack` table.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                let why = "bad argument #0 to 'pack' (MessagePack pack needs input.)";
                return Err(super::json::lib_error(lua, why));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                pack(v, 0, &mut out)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::LuaString| {
            let bytes = s.as_bytes();
            let (values, _) = unpack_many(lua, &bytes, 0, 0)?;
            Ok(MultiValue::from_vec(values))
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, (s, offset): (mlua::LuaString, Option<i64>)| {
            unpack_limited(lua, &s.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(
            |lua, (s, limit, offset): (mlua::LuaString, i64, Option<i64>)| {
                unpack_limited(lua, &s.as_bytes(), limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    lua.globals().raw_set("cmsgpack", t)
}

/// `unpack_limit`: up to `limit` objects (0: all) from `offset`; the
/// offset after them (-1 at the end) first, then the objects.
fn unpack_limited(lua: &Lua, bytes: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    let start = usize::try_from(offset)
        .ok()
        .filter(|o| *o <= bytes.len())
        .ok_or_else(|| mlua::Error::runtime("Start offset greater than input length."))?;
    let limit = usize::try_from(limit).unwrap_or(0);
    let (mut values, end) = unpack_many(lua, bytes, start, limit)?;
    let next = if end >= bytes.len() {
        -1
    } else {
        i64::try_from(end).unwrap_or(-1)
    };
    values.insert(0, Value::Integer(next));
    Ok(MultiValue::from_vec(values))
}

/// Decodes objects from `at` until the end or `limit` of them (0: no limit).
fn unpack_many(
    lua: &Lua,
    bytes: &[u8],
    mut at: usize,
    limit: usize,
) -> mlua::Result<(Vec<Value>, usize)> {
    let mut values = Vec::new();
    while at < bytes.len() && (limit == 0 || values.len() < limit) {
        let (v, next) = Decoder { lua, bytes }.value(at, 0)?;
        values.push(v);
        at = next;
    }
    Ok((values, at))
}

fn pack(v: &Value, depth: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => pack_int(*i, out),
        Value::Number(n) => pack_number(*n, out),
        Value::String(s) => pack_bytes(&s.as_bytes(), out),
        Value::Table(t) if depth < MAX_NESTING => pack_table(t, depth, out)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn pack_number(n: f64, out: &mut Vec<u8>) {
    // An integer when int64 holds it exactly (lua-cmsgpack's test).
    if n.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&n) {
        return pack_int(n as i64, out);
    }
    let single = n as f32;
    if f64::from(single) == n {
        out.push(0xca);
        out.extend_from_slice(&single.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_int(n: i64, out: &mut Vec<u8>) {
    match n {
        0..=127 => out.push(n as u8),
        128..=0xff => out.extend_from_slice(&[0xcc, n as u8]),
        0x100..=0xffff => {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        n if n > 0 => {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
        -32..=-1 => out.push(n as i8 as u8),
        -128..=-33 => out.extend_from_slice(&[0xd0, n as i8 as u8]),
        -32768..=-129 => {
            out.push(0xd1);
            out.extend_from_slice(&(n as i16).to_be_bytes());
        }
        -2_147_483_648..=-32769 => {
            out.push(0xd2);
            out.extend_from_slice(&(n as i32).to_be_bytes());
        }
        n => {
            out.push(0xd3);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn pack_bytes(b: &[u8], out: &mut Vec<u8>) {
    let len = b.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(u32::try_from(len).unwrap_or(u32::MAX)).to_be_bytes());
    }
    out.extend_from_slice(b);
}

/// The header of an array or map of `len` items.
fn pack_len(len: usize, fix: u8, sixteen: u8, out: &mut Vec<u8>) {
    if len <= 15 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(sixteen);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(sixteen + 1);
        out.extend_from_slice(&(u32::try_from(len).unwrap_or(u32::MAX)).to_be_bytes());
    }
}

fn pack_table(t: &Table, depth: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    let pairs: Vec<(Value, Value)> = t.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
    let index = |k: &Value| match k {
        Value::Integer(i) if *i >= 1 => usize::try_from(*i).ok(),
        Value::Number(n) if *n >= 1.0 && n.fract() == 0.0 => Some(*n as usize),
        _ => None,
    };
    let max = pairs
        .iter()
        .map(|(k, _)| index(k))
        .try_fold(0usize, |m, i| i.map(|i| m.max(i)));
    if max == Some(pairs.len()) {
        pack_len(pairs.len(), 0x90, 0xdc, out);
        for i in 1..=pairs.len() {
            pack(&t.raw_get::<Value>(i)?, depth + 1, out)?;
        }
        return Ok(());
    }
    let mut encoded = Vec::with_capacity(pairs.len());
    for (k, v) in &pairs {
        let mut key = Vec::new();
        pack(k, depth + 1, &mut key)?;
        let mut value = Vec::new();
        pack(v, depth + 1, &mut value)?;
        encoded.push((key, value));
    }
    encoded.sort();
    pack_len(encoded.len(), 0x80, 0xde, out);
    for (k, v) in encoded {
        out.extend_from_slice(&k);
        out.extend_from_slice(&v);
    }
    Ok(())
}

/// Reads objects from `bytes`.
struct Decoder<'a> {
    lua: &'a Lua,
    bytes: &'a [u8],
}

impl Decoder<'_> {
    fn missing(&self) -> mlua::Error {
        super::json::lib_error(self.lua, "Missing bytes in input.")
    }

    fn take(&self, at: usize, n: usize) -> mlua::Result<&[u8]> {
        self.bytes
            .get(at..at.checked_add(n).ok_or_else(|| self.missing())?)
            .ok_or_else(|| self.missing())
    }

    fn uint(&self, at: usize, n: usize) -> mlua::Result<u64> {
        Ok(self
            .take(at, n)?
            .iter()
            .fold(0u64, |v, b| (v << 8) | u64::from(*b)))
    }

    /// The object at `at` and the position after it.
    fn value(&self, at: usize, depth: usize) -> mlua::Result<(Value, usize)> {
        if depth > MAX_UNPACK_DEPTH {
            return Err(super::json::lib_error(
                self.lua,
                "Too deep nesting in input.",
            ));
        }
        let tag = *self.bytes.get(at).ok_or_else(|| self.missing())?;
        let body = at + 1;
        let int = |v: i64| Value::Integer(v);
        Ok(match tag {
            0x00..=0x7f => (int(i64::from(tag)), body),
            0xe0..=0xff => (int(i64::from(tag as i8)), body),
            0xc0 => (Value::Nil, body),
            0xc2 => (Value::Boolean(false), body),
            0xc3 => (Value::Boolean(true), body),
            0xcc..=0xce => {
                let n = 1 << (tag - 0xcc);
                (int(self.uint(body, n)? as i64), body + n)
            }
            0xcf => {
                let v = self.uint(body, 8)?;
                let v = i64::try_from(v).map_or(Value::Number(v as f64), int);
                (v, body + 8)
            }
            0xd0 => (int(i64::from(self.uint(body, 1)? as u8 as i8)), body + 1),
            0xd1 => (int(i64::from(self.uint(body, 2)? as u16 as i16)), body + 2),
            0xd2 => (int(i64::from(self.uint(body, 4)? as u32 as i32)), body + 4),
            0xd3 => (int(self.uint(body, 8)? as i64), body + 8),
            0xca => {
                let f = f32::from_bits(self.uint(body, 4)? as u32);
                (Value::Number(f64::from(f)), body + 4)
            }
            0xcb => (Value::Number(f64::from_bits(self.uint(body, 8)?)), body + 8),
            0xa0..=0xbf => self.string(body, usize::from(tag & 0x1f))?,
            0xd9 | 0xc4 => self.sized_string(body, 1)?,
            0xda | 0xc5 => self.sized_string(body, 2)?,
            0xdb | 0xc6 => self.sized_string(body, 4)?,
            0x90..=0x9f => self.array(body, usize::from(tag & 0x0f), depth)?,
            0xdc => self.array(body + 2, self.uint(body, 2)? as usize, depth)?,
            0xdd => self.array(body + 4, self.uint(body, 4)? as usize, depth)?,
            0x80..=0x8f => self.map(body, usize::from(tag & 0x0f), depth)?,
            0xde => self.map(body + 2, self.uint(body, 2)? as usize, depth)?,
            0xdf => self.map(body + 4, self.uint(body, 4)? as usize, depth)?,
            _ => {
                return Err(super::json::lib_error(
                    self.lua,
                    "Bad data format in input.",
                ));
            }
        })
    }

    fn sized_string(&self, at: usize, width: usize) -> mlua::Result<(Value, usize)> {
        let len = self.uint(at, width)? as usize;
        self.string(at + width, len)
    }

    fn string(&self, at: usize, len: usize) -> mlua::Result<(Value, usize)> {
        let s = self.lua.create_string(self.take(at, len)?)?;
        Ok((Value::String(s), at + len))
    }

    fn array(&self, mut at: usize, len: usize, depth: usize) -> mlua::Result<(Value, usize)> {
        // Every item takes a byte at least: a length past the input is cut.
        if len > self.bytes.len().saturating_sub(at) {
            return Err(self.missing());
        }
        let t = self.lua.create_table_with_capacity(len, 0)?;
        for i in 1..=len {
            let (v, next) = self.value(at, depth + 1)?;
            t.raw_set(i, v)?;
            at = next;
        }
        Ok((Value::Table(t), at))
    }

    fn map(&self, mut at: usize, len: usize, depth: usize) -> mlua::Result<(Value, usize)> {
        if len > self.bytes.len().saturating_sub(at) / 2 {
            return Err(self.missing());
        }
        let t = self.lua.create_table_with_capacity(0, len)?;
        for _ in 0..len {
            let (k, next) = self.value(at, depth + 1)?;
            let (v, next) = self.value(next, depth + 1)?;
            if !k.is_nil() {
                t.raw_set(k, v)?;
            }
            at = next;
        }
        Ok((Value::Table(t), at))
    }
}
