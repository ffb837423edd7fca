//! The text arguments of the protocol-0 opcodes (INT, LONG, FLOAT, STRING, UNICODE, PUT, GET,
//! GLOBAL, INST, PERSID), parsed exactly as CPython's C unpickler (`Modules/_pickle.c`, the one
//! `pickle.load` and `torch.load` use) parses them.
//!
//! Hand-written because no crate reproduces `strtol(…, 0)`, `PyLong_FromString`,
//! `PyOS_string_to_double`, `PyBytes_DecodeEscape` and `raw-unicode-escape` with their quirks,
//! and every difference is a way for a pickle to mean one thing to this scanner and another to
//! the loader (a literal the scanner refused used to hide the `os.system` after it). The C
//! parsers see a line as a C string: it ends at the newline *or* the first NUL byte, so the
//! same cut is made here.
//!
//! `line` is always the argument without its newline.

use std::rc::Rc;

use super::value::Value;

/// CPython's cap on decimal digits converted to an int (`sys.get_int_max_str_digits()`).
const MAX_STR_DIGITS: usize = 4300;

/// The C string a line holds: up to the first NUL.
fn c_str(line: &[u8]) -> &[u8] {
    match line.iter().position(|&b| b == 0) {
        Some(i) => &line[..i],
        None => line,
    }
}

/// `isspace` in the C locale, and `Py_ISSPACE` (the same six bytes).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn digit(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some((b - b'0') as u32),
        b'a'..=b'z' => Some((b - b'a') as u32 + 10),
        b'A'..=b'Z' => Some((b - b'A') as u32 + 10),
        _ => None,
    }
}

/// glibc `strtol(s, &end, 0)` on a NUL-free string: the value (`None` on ERANGE) and the
/// offset where parsing stopped (0 when no digits were read, as C sets `end = s` then).
fn strtol0(s: &[u8]) -> (Option<i64>, usize) {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let base = if s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && s.get(i + 2).and_then(|&b| digit(b)).is_some_and(|d| d < 16)
    {
        i += 2;
        16
    } else if s.get(i) == Some(&b'0') {
        8
    } else {
        10
    };
    let start = i;
    let mut mag: u128 = 0;
    let mut overflow = false;
    while let Some(d) = s.get(i).and_then(|&b| digit(b)).filter(|&d| d < base) {
        mag = mag * base as u128 + d as u128;
        if mag > 1 << 63 {
            overflow = true;
            mag = 1 << 63;
        }
        i += 1;
    }
    if i == start {
        return (Some(0), 0);
    }
    let v = if neg {
        (mag <= 1 << 63).then(|| (mag as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(mag).ok()
    };
    (if overflow { None } else { v }, i)
}

/// `PyLong_FromString(s, NULL, base)` with base 0 (Python literal rules: `0x`/`0o`/`0b`,
/// underscores between digits, no C-style octal) or 10; `s` is NUL-free.
fn py_long(s: &[u8], base: u32) -> Result<Value, String> {
    let bad = || format!("invalid literal for int() with base {base}: {:?}", lossy(s));
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut base = base;
    let mut error_if_nonzero = false;
    if base == 0 {
        base = if s.get(i) != Some(&b'0') {
            10
        } else {
            match s.get(i + 1) {
                Some(b'x' | b'X') => 16,
                Some(b'o' | b'O') => 8,
                Some(b'b' | b'B') => 2,
                _ => {
                    error_if_nonzero = true;
                    10
                }
            }
        };
    }
    let prefix = match base {
        16 => Some(b'x'),
        8 => Some(b'o'),
        2 => Some(b'b'),
        _ => None,
    };
    if s.get(i) == Some(&b'0')
        && prefix.is_some_and(|p| s.get(i + 1).map(u8::to_ascii_lowercase) == Some(p))
    {
        i += 2;
        if s.get(i) == Some(&b'_') {
            i += 1;
        }
    }
    if s.get(i) == Some(&b'_') {
        return Err(bad());
    }
    let mut digits = 0usize;
    let mut after_underscore = false;
    let mut mag: u128 = 0;
    let mut huge = false;
    while i < s.len() {
        let b = s[i];
        if b == b'_' {
            if after_underscore {
                return Err(bad());
            }
            after_underscore = true;
            i += 1;
            continue;
        }
        let Some(d) = digit(b).filter(|&d| d < base) else {
            break;
        };
        after_underscore = false;
        digits += 1;
        match mag
            .checked_mul(base as u128)
            .and_then(|m| m.checked_add(d as u128))
        {
            Some(m) => mag = m,
            None => huge = true,
        }
        i += 1;
    }
    if after_underscore || digits == 0 {
        return Err(bad());
    }
    if error_if_nonzero && (mag != 0 || huge) {
        return Err(bad());
    }
    if base == 10 && digits > MAX_STR_DIGITS {
        return Err(format!(
            "integer literal of {digits} digits exceeds the limit of {MAX_STR_DIGITS}"
        ));
    }
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    if i != s.len() {
        return Err(bad());
    }
    if huge || mag > i128::MAX as u128 {
        return Ok(Value::BigInt(Rc::new(Vec::new())));
    }
    let v = mag as i128;
    Ok(big_from_i128(if neg { -v } else { v }))
}

/// An int as pickle's LONG1 would encode it: `Int` when it fits in i64, else minimal two's
/// complement bytes.
pub fn big_from_i128(i: i128) -> Value {
    if let Ok(v) = i64::try_from(i) {
        return Value::Int(v);
    }
    let bytes = i.to_le_bytes();
    let mut n = 16;
    while n > 1 {
        let b = bytes[n - 1];
        let next_sign = bytes[n - 2] & 0x80;
        if (b == 0 && next_sign == 0) || (b == 0xFF && next_sign != 0) {
            n -= 1;
        } else {
            break;
        }
    }
    Value::BigInt(Rc::new(bytes[..n].to_vec()))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn empty(op: &str) -> String {
    format!("{op}: empty argument line (pickle data was truncated)")
}

/// INT (`load_int`): `strtol` base 0 first — `00`/`01` as the whole line are False/True, as
/// is any other two-byte line whose value is 0 or 1 — else a Python int literal.
pub fn int(line: &[u8]) -> Result<Value, String> {
    if line.is_empty() {
        return Err(empty("INT"));
    }
    let s = c_str(line);
    match strtol0(s) {
        (Some(x), end) if end == s.len() => Ok(if line.len() == 2 && (x == 0 || x == 1) {
            Value::Bool(x == 1)
        } else {
            Value::Int(x)
        }),
        _ => py_long(s, 0).map_err(|e| format!("INT: could not convert string to int ({e})")),
    }
}

/// LONG (`load_long`): one trailing `L` dropped, then a Python int literal.
pub fn long(line: &[u8]) -> Result<Value, String> {
    if line.is_empty() {
        return Err(empty("LONG"));
    }
    let body = line.strip_suffix(b"L").unwrap_or(line);
    py_long(c_str(body), 0).map_err(|e| format!("LONG: {e}"))
}

/// FLOAT (`load_float`, `PyOS_string_to_double`): no whitespace, no underscores; a finite
/// literal that overflows is an OverflowError.
pub fn float(line: &[u8]) -> Result<f64, String> {
    if line.is_empty() {
        return Err(empty("FLOAT"));
    }
    let s = c_str(line);
    let bad = || format!("FLOAT: could not convert string to float: {:?}", lossy(s));
    // Rust's grammar is Python's (sign, digits, '.', exponent, inf/infinity/nan in any case)
    // once these bytes are the only ones allowed.
    if !s
        .iter()
        .all(|b| b"0123456789+-.eE".contains(b) || b"infatyINFATY".contains(b))
    {
        return Err(bad());
    }
    let text = std::str::from_utf8(s).map_err(|_| bad())?;
    let f: f64 = text.parse().map_err(|_| bad())?;
    let word = text.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if f.is_infinite() && word != "inf" && word != "infinity" {
        return Err(format!(
            "FLOAT: value too large to convert to float: {text:?}"
        ));
    }
    Ok(f)
}

/// PUT/GET index (`PyLong_FromString(…, 10)` then `PyLong_AsSsize_t`, never negative).
pub fn memo_key(op: &str, line: &[u8]) -> Result<u64, String> {
    if line.is_empty() {
        return Err(empty(op));
    }
    match py_long(c_str(line), 10).map_err(|e| format!("{op}: {e}"))? {
        Value::Int(i) if i >= 0 => Ok(i as u64),
        Value::Int(_) => Err(format!("{op}: negative memo index")),
        _ => Err(format!("{op}: memo index out of range")),
    }
}

/// A GLOBAL/INST module or name line: non-empty, strict UTF-8.
pub fn name(op: &str, line: &[u8]) -> Result<String, String> {
    if line.is_empty() {
        return Err(empty(op));
    }
    String::from_utf8(line.to_vec())
        .map_err(|_| format!("{op}: name is not UTF-8: {:?}", lossy(line)))
}

/// PERSID: ASCII only.
pub fn persistent_id(line: &[u8]) -> Result<String, String> {
    if !line.is_ascii() {
        return Err("PERSID: persistent IDs in protocol 0 must be ASCII strings".into());
    }
    Ok(lossy(line))
}

/// STRING (`load_string`): outer quotes of one kind, `PyBytes_DecodeEscape`, then UTF-8
/// (torch.load's encoding), strictly.
pub fn string(line: &[u8]) -> Result<String, String> {
    let quoted =
        line.len() >= 2 && line[0] == line[line.len() - 1] && (line[0] == b'\'' || line[0] == b'"');
    if !quoted {
        return Err("the STRING opcode argument must be quoted".into());
    }
    let body = &line[1..line.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = body.get(i) else {
            return Err("STRING: trailing \\ in string".into());
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'a' => out.push(0x07),
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                for _ in 0..2 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + (d - b'0') as u32;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let hex = |k: usize| body.get(k).and_then(|&b| digit(b)).filter(|&d| d < 16);
                match (hex(i), hex(i + 1)) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => {
                        return Err(format!("STRING: invalid \\x escape at position {}", i - 2));
                    }
                }
            }
            // Unknown escapes stay as written, backslash included.
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    String::from_utf8(out).map_err(|e| format!("STRING: not UTF-8: {e}"))
}

/// UNICODE (`raw-unicode-escape`, strict): bytes are Latin-1; `\uXXXX`/`\UXXXXXXXX` after an
/// odd number of backslashes are escapes and must be complete and in range. A lone surrogate
/// (valid in a Python str) becomes U+FFFD.
pub fn unicode(line: &[u8]) -> Result<String, String> {
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] != b'\\' {
            out.push(line[i] as char);
            i += 1;
            continue;
        }
        let run = line[i..].iter().take_while(|&&b| b == b'\\').count();
        i += run;
        let escape = run % 2 == 1 && matches!(line.get(i), Some(b'u' | b'U'));
        let kept = if escape { run - 1 } else { run };
        out.extend(std::iter::repeat_n('\\', kept));
        if !escape {
            continue;
        }
        let count = if line[i] == b'u' { 4 } else { 8 };
        i += 1;
        let mut ch: u32 = 0;
        for _ in 0..count {
            let Some(d) = line.get(i).and_then(|&b| digit(b)).filter(|&d| d < 16) else {
                return Err(format!(
                    "UNICODE: truncated \\{} escape",
                    if count == 4 { "uXXXX" } else { "UXXXXXXXX" }
                ));
            };
            ch = ch * 16 + d;
            i += 1;
        }
        if ch > 0x10FFFF {
            return Err("UNICODE: \\Uxxxxxxxx out of range".into());
        }
        out.push(char::from_u32(ch).unwrap_or('\u{FFFD}'));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(s: &str) -> Result<Value, String> {
        int(s.as_bytes())
    }

    #[test]
    fn int_like_cpython() {
        // Python literal rules after strtol gives up.
        assert_eq!(i("1_000"), Ok(Value::Int(1000)));
        assert_eq!(i("-1_0"), Ok(Value::Int(-10)));
        assert_eq!(i("0x_1f"), Ok(Value::Int(31)));
        assert_eq!(i("0o17"), Ok(Value::Int(15)));
        assert_eq!(i("0b101"), Ok(Value::Int(5)));
        assert_eq!(i(" 7 "), Ok(Value::Int(7)));
        // strtol's own: C octal, hex, signs, leading blanks, a NUL ending the string.
        assert_eq!(i("012"), Ok(Value::Int(10)));
        assert_eq!(i("0x1A"), Ok(Value::Int(26)));
        assert_eq!(i("+5"), Ok(Value::Int(5)));
        assert_eq!(i("\t-3"), Ok(Value::Int(-3)));
        assert_eq!(i("5\0junk"), Ok(Value::Int(5)));
        assert_eq!(i("\0"), Ok(Value::Int(0)));
        // Booleans: a two-byte line worth 0 or 1.
        assert_eq!(i("00"), Ok(Value::Bool(false)));
        assert_eq!(i("01"), Ok(Value::Bool(true)));
        assert_eq!(i("+1"), Ok(Value::Bool(true)));
        assert_eq!(i("1"), Ok(Value::Int(1)));
        assert_eq!(i("001"), Ok(Value::Int(1)));
        // Big values.
        assert_eq!(i("9223372036854775807"), Ok(Value::Int(i64::MAX)));
        assert!(matches!(i("9223372036854775808"), Ok(Value::BigInt(_))));
        assert!(matches!(i(&"9".repeat(60)), Ok(Value::BigInt(_))));
        // What CPython refuses.
        for bad in [
            "", "1__0", "_1", "1_", "09", "0_1", "1x", "0x", "-", "1 2", "1.0",
        ] {
            assert!(i(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(i(&"1".repeat(4301)).is_err());
        assert_eq!(i("0_0"), Ok(Value::Int(0)));
    }

    #[test]
    fn long_float_memo() {
        assert_eq!(long(b"1_000L"), Ok(Value::Int(1000)));
        assert_eq!(long(b"12"), Ok(Value::Int(12)));
        assert!(long(b"12LL").is_err());
        assert!(long(b"012L").is_err());
        assert!(long(b"L").is_err());
        assert_eq!(float(b"1.5"), Ok(1.5));
        assert_eq!(float(b"-1e3\0x"), Ok(-1000.0));
        assert_eq!(float(b"inf"), Ok(f64::INFINITY));
        assert!(float(b"nan").unwrap().is_nan());
        for bad in [&b" 1.5"[..], b"1_0.5", b"1e400", b"0x1p3", b"", b"1e"] {
            assert!(float(bad).is_err(), "{bad:?}");
        }
        assert_eq!(memo_key("PUT", b"0_7"), Ok(7));
        assert_eq!(memo_key("PUT", b" +3\n"), Ok(3));
        assert!(memo_key("PUT", b"-1").is_err());
        assert!(memo_key("GET", b"0x1").is_err());
    }

    #[test]
    fn strings() {
        assert_eq!(string(b"'a\\nb'").as_deref(), Ok("a\nb"));
        assert_eq!(string(b"\"x\\x41\"").as_deref(), Ok("xA"));
        assert_eq!(string(b"'\\157s'").as_deref(), Ok("os"));
        assert_eq!(string(b"'tor\\ch'").as_deref(), Ok("tor\\ch"));
        assert!(string(b"'abc").is_err());
        assert!(string(b"'a\"").is_err());
        assert!(string(b"'\\x4'").is_err());
        assert!(string(b"'a\\'").is_err());
        assert_eq!(unicode(b"a\\u00e9").as_deref(), Ok("a\u{e9}"));
        assert_eq!(unicode(b"\\\\u0041").as_deref(), Ok("\\\\u0041"));
        assert_eq!(unicode(b"\\\\\\u0041").as_deref(), Ok("\\\\A"));
        assert_eq!(unicode(b"\xe9").as_deref(), Ok("\u{e9}"));
        assert!(unicode(b"\\u00").is_err());
        assert!(unicode(b"\\U00110000").is_err());
        assert!(name("GLOBAL", b"").is_err());
        assert!(name("GLOBAL", b"o\xffs").is_err());
    }
}
