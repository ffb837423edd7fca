//! NumPy `descr` values → the dtype name numpy prints (`str(dtype)`), item size and whether the
//! array holds Python objects.
//!
//! Names follow numpy 2 on a little-endian machine: native/little numeric types by name
//! (`float64`, `int32`, `bool`, `object`, `datetime64[ns]`), big-endian ones by their type
//! string (`>f8`), strings as `|S5` / `<U5` / `|V8`, structured types as numpy's list form
//! `[('a', '<i4'), ('b', '<f8', (2,))]` (dict form when the descr has padding fields).

use crate::literal::Lit;

/// A parsed dtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DType {
    /// `str(dtype)` as numpy prints it.
    pub name: String,
    /// The short form numpy uses for a field inside a structured dtype.
    pub field_repr: String,
    /// Bytes per element.
    pub itemsize: u64,
    /// True when any part is `object` (the array payload is then a pickle).
    pub has_object: bool,
    /// `little`, `big` or `not-applicable`.
    pub byte_order: &'static str,
}

const MAX_DEPTH: usize = 16;
/// Structured dtypes with more fields than this are refused.
const MAX_FIELDS: usize = 4096;

fn simple_kind(code: char) -> Option<(char, u64)> {
    // Single-character type codes numpy also accepts (`d`, `f`, `l`…).
    Some(match code {
        '?' => ('b', 1),
        'b' => ('i', 1),
        'B' => ('u', 1),
        'h' => ('i', 2),
        'H' => ('u', 2),
        'i' => ('i', 4),
        'I' | 'u' => ('u', 4),
        'l' | 'q' | 'p' => ('i', 8),
        'L' | 'Q' | 'P' => ('u', 8),
        'e' => ('f', 2),
        'f' => ('f', 4),
        'd' => ('f', 8),
        'g' => ('f', 16),
        'F' => ('c', 8),
        // Kind letter for complex; a bare `c` is numpy's one-byte char type.
        'c' => ('c', 0),
        'D' => ('c', 16),
        'G' => ('c', 32),
        'O' => ('O', 8),
        'S' | 'a' => ('S', 0),
        'U' => ('U', 0),
        'V' => ('V', 0),
        'M' => ('M', 8),
        'm' => ('m', 8),
        _ => return None,
    })
}

/// Parses a type string such as `<f8`, `|b1`, `<U10`, `>M8[ns]`, `|O`.
pub fn parse_simple(s: &str) -> Result<DType, String> {
    let (order, rest) = match s.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &s[1..]),
        _ => ('=', s),
    };
    let mut chars = rest.chars();
    let code = chars
        .next()
        .ok_or_else(|| format!("empty dtype string {s:?}"))?;
    let after = chars.as_str();
    let (digits, unit) = match after.find('[') {
        Some(i) => (&after[..i], Some(&after[i..])),
        None => (after, None),
    };
    let (mut kind, default_size) =
        simple_kind(code).ok_or_else(|| format!("unsupported dtype {s:?}"))?;
    let size: u64 = if digits.is_empty() {
        // `b1`/`?`/`b` spellings: a bare `b` is int8, `b1` is bool.
        if code == 'c' {
            kind = 'S';
            1
        } else {
            default_size
        }
    } else {
        if code == 'b' {
            kind = 'b';
        }
        digits
            .parse()
            .map_err(|_| format!("unsupported dtype {s:?}"))?
    };
    if let Some(u) = unit {
        let ok = u.len() > 2
            && u.ends_with(']')
            && u[1..u.len() - 1].chars().all(|c| c.is_ascii_alphanumeric());
        if !ok || !matches!(kind, 'M' | 'm') {
            return Err(format!("unsupported dtype {s:?}"));
        }
    }
    let big = order == '>';
    let one_byte = size == 1 || matches!(kind, 'b' | 'O' | 'S' | 'V');
    let byte_order = if one_byte && kind != 'U' {
        "not-applicable"
    } else if big {
        "big"
    } else {
        "little"
    };
    let bo = if big { '>' } else { '<' };
    let unit = unit.unwrap_or("");
    let (name, field_repr, itemsize) = match (kind, size) {
        ('b', 1) => ("bool".to_string(), "?".to_string(), 1),
        ('i' | 'u', 1) => {
            let n = if kind == 'i' { "int8" } else { "uint8" };
            (n.to_string(), format!("{kind}1"), 1)
        }
        ('i' | 'u', 2 | 4 | 8) => {
            let t = format!("{bo}{kind}{size}");
            let n = if big {
                t.clone()
            } else {
                format!("{}{}", if kind == 'i' { "int" } else { "uint" }, size * 8)
            };
            (n, t, size)
        }
        ('f', 2 | 4 | 8 | 12 | 16) | ('c', 8 | 16 | 24 | 32) => {
            let t = format!("{bo}{kind}{size}");
            let n = if big {
                t.clone()
            } else {
                format!(
                    "{}{}",
                    if kind == 'f' { "float" } else { "complex" },
                    size * 8
                )
            };
            (n, t, size)
        }
        ('O', 8) | ('O', 4) => ("object".to_string(), "O".to_string(), 8),
        ('S', n) => (format!("|S{n}"), format!("S{n}"), n),
        ('V', n) => (format!("|V{n}"), format!("V{n}"), n),
        ('U', n) => {
            let t = format!("{bo}U{n}");
            let bytes = n
                .checked_mul(4)
                .ok_or_else(|| format!("dtype {s:?} too large"))?;
            (t.clone(), t, bytes)
        }
        ('M' | 'm', 8) => {
            let t = format!("{bo}{kind}8{unit}");
            let word = if kind == 'M' {
                "datetime64"
            } else {
                "timedelta64"
            };
            let n = if big {
                t.clone()
            } else {
                format!("{word}{unit}")
            };
            (n, t, 8)
        }
        _ => return Err(format!("unsupported dtype {s:?}")),
    };
    Ok(DType {
        name,
        field_repr,
        itemsize,
        has_object: kind == 'O',
        byte_order,
    })
}

fn shape_of(l: &Lit) -> Option<Vec<u64>> {
    match l {
        Lit::Tuple(v) => v
            .iter()
            .map(|x| match x {
                Lit::Int(i) => u64::try_from(*i).ok(),
                _ => None,
            })
            .collect(),
        Lit::Int(i) => Some(vec![u64::try_from(*i).ok()?]),
        _ => None,
    }
}

fn shape_repr(shape: &[u64]) -> String {
    if shape.len() == 1 {
        format!("({},)", shape[0])
    } else {
        let parts: Vec<String> = shape.iter().map(u64::to_string).collect();
        format!("({})", parts.join(", "))
    }
}

/// A field's type as numpy prints it inside a tuple: quoted unless it is itself composite.
fn quoted(t: &DType) -> String {
    if t.field_repr.starts_with(['[', '(', '{']) {
        t.field_repr.clone()
    } else {
        format!("'{}'", t.field_repr)
    }
}

fn product(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
}

/// Parses a `descr` value: a type string, a list of fields, or `(base, shape)`.
pub fn parse(descr: &Lit) -> Result<DType, String> {
    parse_at(descr, 0)
}

fn parse_at(descr: &Lit, depth: usize) -> Result<DType, String> {
    if depth > MAX_DEPTH {
        return Err("dtype nested too deeply".into());
    }
    match descr {
        Lit::Str(s) | Lit::Bytes(s) => parse_simple(s),
        Lit::Tuple(v) if v.len() == 2 => {
            let base = parse_at(&v[0], depth + 1)?;
            let shape =
                shape_of(&v[1]).ok_or_else(|| format!("bad subarray shape {}", v[1].repr()))?;
            let n = product(&shape).ok_or("subarray too large")?;
            let repr = format!("({}, {})", quoted(&base), shape_repr(&shape));
            Ok(DType {
                name: repr.clone(),
                field_repr: repr,
                itemsize: base.itemsize.checked_mul(n).ok_or("subarray too large")?,
                has_object: base.has_object,
                byte_order: base.byte_order,
            })
        }
        Lit::List(fields) => structured(fields, depth),
        other => Err(format!("unsupported descr {}", other.repr())),
    }
}

fn structured(fields: &[Lit], depth: usize) -> Result<DType, String> {
    if fields.len() > MAX_FIELDS {
        return Err(format!("structured dtype with {} fields", fields.len()));
    }
    struct Field {
        name: String,
        fmt: String,
        offset: u64,
        padding: bool,
    }
    let mut out = Vec::with_capacity(fields.len());
    let mut offset = 0u64;
    let mut has_object = false;
    for f in fields {
        let Lit::Tuple(parts) = f else {
            return Err(format!("structured field {} is not a tuple", f.repr()));
        };
        if parts.len() != 2 && parts.len() != 3 {
            return Err(format!("structured field {} needs 2 or 3 items", f.repr()));
        }
        let name = match &parts[0] {
            Lit::Str(s) => s.clone(),
            other => other.repr(),
        };
        let base = parse_at(&parts[1], depth + 1)?;
        let (fmt, size) = match parts.get(2) {
            Some(s) => {
                let shape = shape_of(s).ok_or_else(|| format!("bad field shape {}", s.repr()))?;
                let n = product(&shape).ok_or("field too large")?;
                (
                    format!("{}, {}", quoted(&base), shape_repr(&shape)),
                    base.itemsize.checked_mul(n).ok_or("field too large")?,
                )
            }
            None => (quoted(&base), base.itemsize),
        };
        has_object |= base.has_object;
        // numpy writes padding as unnamed void fields and turns them back into offsets.
        let padding = name.is_empty() && base.field_repr.starts_with('V');
        out.push(Field {
            name,
            fmt,
            offset,
            padding,
        });
        offset = offset
            .checked_add(size)
            .ok_or("structured dtype too large")?;
    }
    let list_form = || {
        let parts: Vec<String> = out
            .iter()
            .map(|f| format!("('{}', {})", f.name, f.fmt))
            .collect();
        format!("[{}]", parts.join(", "))
    };
    let name = if out.iter().any(|f| f.padding) {
        let real: Vec<&Field> = out.iter().filter(|f| !f.padding).collect();
        let names: Vec<String> = real.iter().map(|f| format!("'{}'", f.name)).collect();
        let formats: Vec<String> = real.iter().map(|f| f.fmt.clone()).collect();
        let offsets: Vec<String> = real.iter().map(|f| f.offset.to_string()).collect();
        format!(
            "{{'names': [{}], 'formats': [{}], 'offsets': [{}], 'itemsize': {offset}}}",
            names.join(", "),
            formats.join(", "),
            offsets.join(", ")
        )
    } else {
        list_form()
    };
    Ok(DType {
        field_repr: name.clone(),
        name,
        itemsize: offset,
        has_object,
        byte_order: "not-applicable",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literal;

    fn name(descr: &str) -> String {
        parse(&literal::parse(descr).unwrap()).unwrap().name
    }

    #[test]
    fn simple_names_match_numpy() {
        // Checked against numpy 2.4: str(np.dtype(x)).
        for (d, want, size) in [
            ("<f8", "float64", 8),
            (">f8", ">f8", 8),
            ("|b1", "bool", 1),
            ("<U5", "<U5", 20),
            (">U5", ">U5", 20),
            ("|S5", "|S5", 5),
            ("|V8", "|V8", 8),
            ("<M8[ns]", "datetime64[ns]", 8),
            (">M8[ns]", ">M8[ns]", 8),
            ("<m8", "timedelta64", 8),
            ("<f16", "float128", 16),
            ("<c16", "complex128", 16),
            (">c8", ">c8", 8),
            ("|O", "object", 8),
            ("|O8", "object", 8),
            ("<i2", "int16", 2),
            ("=i4", "int32", 4),
            ("|u1", "uint8", 1),
            ("|i1", "int8", 1),
            ("<f2", "float16", 2),
        ] {
            let t = parse_simple(d).unwrap();
            assert_eq!((t.name.as_str(), t.itemsize), (want, size), "{d}");
        }
        assert!(parse_simple("<f3").is_err());
        assert!(parse_simple("<i8[ns]").is_err());
        assert!(parse_simple("").is_err());
    }

    #[test]
    fn structured_names_match_numpy() {
        assert_eq!(
            name("[('a', '<i4'), ('b', '>f8', (2, 3)), ('c', [('x', '|u1'), ('y', '|S3')])]"),
            "[('a', '<i4'), ('b', '>f8', (2, 3)), ('c', [('x', 'u1'), ('y', 'S3')])]"
        );
        assert_eq!(
            name("[('a', '<i4'), ('', '|V4'), ('b', '<f8'), ('', '|V8')]"),
            "{'names': ['a', 'b'], 'formats': ['<i4', '<f8'], 'offsets': [0, 8], 'itemsize': 24}"
        );
        assert_eq!(name("[('a', '|O')]"), "[('a', 'O')]");
        assert!(
            parse(&literal::parse("[('a', '|O')]").unwrap())
                .unwrap()
                .has_object
        );
        assert_eq!(name("('<f4', (2,))"), "('<f4', (2,))");
        let t =
            parse(&literal::parse("[('a', '<f4', (2,)), ('b', [('c', '<i2')], (3,))]").unwrap())
                .unwrap();
        assert_eq!(t.itemsize, 14);
        assert_eq!(t.name, "[('a', '<f4', (2,)), ('b', [('c', '<i2')], (3,))]");
    }
}
