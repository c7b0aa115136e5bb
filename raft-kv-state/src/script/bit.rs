//! `bit` for scripts, as Redis 7.0 ships it (LuaBitOp 1.0): every operation
//! on 32-bit two's-complement integers, its arguments first normalized as
//! `bit.tobit` does (rounded to the nearest integer, ties to even, then
//! taken modulo 2^32), its result a signed 32-bit number.

use mlua::{Lua, MultiValue, Value};

/// `x` as LuaBitOp's `tobit` makes it.
fn tobit(x: f64) -> i32 {
    if !x.is_finite() {
        return 0;
    }
    x.round_ties_even().rem_euclid(4_294_967_296.0) as u64 as u32 as i32
}

/// A number argument of a bit operation.
fn number(v: &Value, at: usize) -> mlua::Result<i32> {
    match v {
        Value::Integer(i) => Ok(tobit(*i as f64)),
        Value::Number(n) => Ok(tobit(*n)),
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(tobit)
            .ok_or_else(|| bad_argument(at)),
        _ => Err(bad_argument(at)),
    }
}

fn bad_argument(at: usize) -> mlua::Error {
    mlua::Error::runtime(format!("bad argument #{at} (number expected)"))
}

fn numbers(args: &MultiValue) -> mlua::Result<Vec<i32>> {
    let all: Vec<i32> = args
        .iter()
        .enumerate()
        .map(|(i, v)| number(v, i + 1))
        .collect::<mlua::Result<_>>()?;
    if all.is_empty() {
        return Err(bad_argument(1));
    }
    Ok(all)
}

/// `bit.tohex(x [, n])`: the low `|n|` hex digits (default 8), upper case
/// for a negative `n`.
fn tohex(x: i32, n: Option<i32>) -> String {
    let n = n.unwrap_or(8);
    let digits = n.unsigned_abs().min(8) as usize;
    let text = match n < 0 {
        true => format!("{:08X}", x as u32),
        false => format!("{:08x}", x as u32),
    };
    text[8 - digits..].to_string()
}

/// Installs the global `bit` table.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table()?;
    let unary = |f: fn(i32) -> i32| {
        lua.create_function(move |_, args: MultiValue| Ok(f(numbers(&args)?[0])))
    };
    t.raw_set("tobit", unary(|x| x)?)?;
    t.raw_set("bnot", unary(|x| !x)?)?;
    t.raw_set("bswap", unary(i32::swap_bytes)?)?;
    let fold = |f: fn(i32, i32) -> i32| {
        lua.create_function(move |_, args: MultiValue| {
            let all = numbers(&args)?;
            Ok(all[1..].iter().fold(all[0], |a, b| f(a, *b)))
        })
    };
    t.raw_set("band", fold(|a, b| a & b)?)?;
    t.raw_set("bor", fold(|a, b| a | b)?)?;
    t.raw_set("bxor", fold(|a, b| a ^ b)?)?;
    let shift = |f: fn(i32, u32) -> i32| {
        lua.create_function(move |_, args: MultiValue| {
            let all = numbers(&args)?;
            let by = all.get(1).copied().ok_or_else(|| bad_argument(2))?;
            Ok(f(all[0], (by & 31) as u32))
        })
    };
    t.raw_set("lshift", shift(|x, n| ((x as u32) << n) as i32)?)?;
    t.raw_set("rshift", shift(|x, n| ((x as u32) >> n) as i32)?)?;
    t.raw_set("arshift", shift(|x, n| x >> n)?)?;
    t.raw_set("rol", shift(|x, n| (x as u32).rotate_left(n) as i32)?)?;
    t.raw_set("ror", shift(|x, n| (x as u32).rotate_right(n) as i32)?)?;
    t.raw_set(
        "tohex",
        lua.create_function(|_, args: MultiValue| {
            let x = number(args.front().unwrap_or(&Value::Nil), 1)?;
            let n = match args.get(1) {
                None | Some(Value::Nil) => None,
                Some(v) => Some(number(v, 2)?),
            };
            Ok(tohex(x, n))
        })?,
    )?;
    lua.globals().raw_set("bit", t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tobit_rounds_ties_to_even_and_wraps_to_signed_32_bits() {
        assert_eq!(tobit(0xffff_ffff_u32 as f64), -1);
        assert_eq!(tobit(4_294_967_296.0 + 5.0), 5);
        assert_eq!(tobit(2.5), 2);
        assert_eq!(tobit(3.5), 4);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tohex(255, None), "000000ff");
        assert_eq!(tohex(-1, Some(-4)), "FFFF");
    }
}
