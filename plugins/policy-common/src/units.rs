//! Sizes and counts as people write them in policy files, and as findings print them.
//!
//! Bytes: a plain integer, or a decimal number with a unit: decimal `B`, `KB`, `MB`, `GB`, `TB`,
//! `PB` (powers of 1000; the `B` may be left out: `20G`) or binary `KiB`, `MiB`, `GiB`, `TiB`,
//! `PiB` (powers of 1024). Units are case-insensitive; a space before the unit is allowed.
//!
//! Counts (parameters): a plain integer, or a decimal number with one of `K`, `M`, `B`
//! (billions, also `G`), `T`, `Q` (quadrillions), the scales of ModelPack's `paramSize`.
//!
//! Fractions are computed exactly (no floating point), rounding down to a whole unit.

use serde_json::Value;

/// A limit read from the settings: its value and how the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// The limit in bytes or elements.
    pub value: u64,
    /// The setting as written (`5GiB`, `8B`, `1000`), for messages.
    pub text: String,
    /// Whether the user wrote a binary unit (`KiB`…), so messages print sizes the same way.
    pub binary: bool,
}

/// Parses a byte size setting (`"20GB"`, `"5GiB"`, `1000000`); `name` is the setting's name.
pub fn parse_bytes(name: &str, v: &Value) -> Result<Limit, String> {
    parse_with(
        name,
        v,
        byte_scale,
        "a size such as 20GB, 5GiB or a number of bytes",
    )
}

/// Parses a count setting (`"8B"`, `"6.7B"`, `"500M"`, `7000000000`).
pub fn parse_count(name: &str, v: &Value) -> Result<Limit, String> {
    parse_with(
        name,
        v,
        count_scale,
        "a count such as 8B, 500M or a plain number",
    )
}

/// Parses a count written as text (`"6.7B"`, `"100m"`, `"1234"`), e.g. ModelPack `paramSize`.
pub fn parse_count_text(text: &str) -> Option<u64> {
    parse_text(text, count_scale).map(|(v, _)| v)
}

fn parse_with(
    name: &str,
    v: &Value,
    scale: fn(&str) -> Option<(u64, bool)>,
    expected: &str,
) -> Result<Limit, String> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(value) => Ok(Limit {
                value,
                text: value.to_string(),
                binary: false,
            }),
            None => Err(format!(
                "setting {name}: {n} is not a non-negative whole number ({expected})"
            )),
        },
        Value::String(s) => match parse_text(s, scale) {
            Some((value, binary)) => Ok(Limit {
                value,
                text: s.trim().to_string(),
                binary,
            }),
            None => Err(format!("setting {name}: {s:?} is not {expected}")),
        },
        other => Err(format!(
            "setting {name}: expected {expected}, found {}",
            crate::json::kind(other)
        )),
    }
}

/// Scale of a byte unit and whether it is binary.
fn byte_scale(unit: &str) -> Option<(u64, bool)> {
    let u = unit.to_ascii_lowercase();
    let (dec, bin) = match u.trim_end_matches('b') {
        "" => (1, false),
        "k" => (1_000, false),
        "m" => (1_000_000, false),
        "g" => (1_000_000_000, false),
        "t" => (1_000_000_000_000, false),
        "p" => (1_000_000_000_000_000, false),
        "ki" => (1 << 10, true),
        "mi" => (1 << 20, true),
        "gi" => (1 << 30, true),
        "ti" => (1 << 40, true),
        "pi" => (1 << 50, true),
        _ => return None,
    };
    // `Ki`, `KiBB` and the like: exactly one optional trailing `b`.
    if u.len() - u.trim_end_matches('b').len() > 1 {
        return None;
    }
    Some((dec, bin))
}

/// Scale of a count suffix.
fn count_scale(unit: &str) -> Option<(u64, bool)> {
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1_000,
        "m" => 1_000_000,
        "b" | "g" => 1_000_000_000,
        "t" => 1_000_000_000_000,
        "q" => 1_000_000_000_000_000,
        _ => return None,
    };
    Some((scale, false))
}

/// `<digits>[.<digits>][ ]<unit>` → value, rounding the fraction down; `None` on anything else.
fn parse_text(text: &str, scale: fn(&str) -> Option<(u64, bool)>) -> Option<(u64, bool)> {
    let t = text.trim();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_end);
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int.is_empty() || (num.contains('.') && frac.is_empty()) || frac.len() > 18 {
        return None;
    }
    let (mult, binary) = scale(unit.trim_start())?;
    let int: u128 = int.parse().ok()?;
    let frac_value: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let denom = 10u128.pow(frac.len() as u32);
    let total = int
        .checked_mul(mult as u128)?
        .checked_add(frac_value * mult as u128 / denom)?;
    u64::try_from(total).ok().map(|v| (v, binary))
}

/// Bytes in decimal units (`512 B`, `13.5 GB`) or binary ones (`1.5 KiB`, `5.0 GiB`).
pub fn human_bytes(n: u64, binary: bool) -> String {
    let (base, units): (f64, [&str; 5]) = if binary {
        (1024.0, ["KiB", "MiB", "GiB", "TiB", "PiB"])
    } else {
        (1000.0, ["KB", "MB", "GB", "TB", "PB"])
    };
    if (n as f64) < base {
        return format!("{n} B");
    }
    let mut v = n as f64 / base;
    let mut unit = 0;
    while v >= base && unit + 1 < units.len() {
        v /= base;
        unit += 1;
    }
    format!("{v:.1} {}", units[unit])
}

/// A count with one decimal and a K/M/B/T suffix: `430`, `88.0K`, `6.7B`.
pub fn human_count(n: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "T"),
        (1_000_000_000, "B"),
        (1_000_000, "M"),
        (1_000, "K"),
    ];
    for (scale, suffix) in UNITS {
        if n >= scale {
            return format!("{:.1}{suffix}", n as f64 / scale as f64);
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(v: Value) -> Result<u64, String> {
        parse_bytes("max", &v).map(|l| l.value)
    }
    fn count(v: Value) -> Result<u64, String> {
        parse_count("max", &v).map(|l| l.value)
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes(json!("20GB")), Ok(20_000_000_000));
        assert_eq!(bytes(json!("20G")), Ok(20_000_000_000));
        assert_eq!(bytes(json!("5GiB")), Ok(5 << 30));
        assert_eq!(bytes(json!("5 gib")), Ok(5 << 30));
        assert_eq!(bytes(json!("1.5KiB")), Ok(1536));
        assert_eq!(bytes(json!("0.5 MB")), Ok(500_000));
        assert_eq!(bytes(json!("123")), Ok(123));
        assert_eq!(bytes(json!("123B")), Ok(123));
        assert_eq!(bytes(json!(4096)), Ok(4096));
        assert_eq!(
            bytes(json!("16EB")).unwrap_err(),
            "setting max: \"16EB\" is not a size such as 20GB, 5GiB or a number of bytes"
        );
        assert!(parse_bytes("max", &json!("5GiB")).unwrap().binary);
        assert!(!parse_bytes("max", &json!("5GB")).unwrap().binary);
    }

    #[test]
    fn bad_byte_sizes() {
        for bad in [
            json!("-1GB"),
            json!("GB"),
            json!(""),
            json!("1.GB"),
            json!(".5GB"),
            json!("1e9"),
            json!("5GiBB"),
            json!("5 parsecs"),
            json!("99999999999PB"),
            json!(-5),
            json!(1.5),
            json!(true),
            json!(null),
            json!(["1GB"]),
        ] {
            assert!(bytes(bad.clone()).is_err(), "{bad} accepted");
        }
        assert_eq!(
            bytes(json!(true)).unwrap_err(),
            "setting max: expected a size such as 20GB, 5GiB or a number of bytes, found a boolean"
        );
    }

    #[test]
    fn counts() {
        assert_eq!(count(json!("8B")), Ok(8_000_000_000));
        assert_eq!(count(json!("6.7b")), Ok(6_700_000_000));
        assert_eq!(count(json!("100m")), Ok(100_000_000));
        assert_eq!(count(json!("1.5T")), Ok(1_500_000_000_000));
        assert_eq!(count(json!("0.5K")), Ok(500));
        assert_eq!(count(json!("7000000000")), Ok(7_000_000_000));
        assert_eq!(count(json!(42)), Ok(42));
        assert!(count(json!("8x7B")).is_err());
        assert!(count(json!("8GB")).is_err());
        assert_eq!(parse_count_text("6.7B"), Some(6_700_000_000));
        assert_eq!(parse_count_text("16"), Some(16));
        assert_eq!(parse_count_text("large"), None);
    }

    #[test]
    fn human_forms() {
        assert_eq!(human_bytes(512, false), "512 B");
        assert_eq!(human_bytes(13_476_839_424, false), "13.5 GB");
        assert_eq!(human_bytes(5 << 30, true), "5.0 GiB");
        assert_eq!(human_bytes(1536, true), "1.5 KiB");
        assert_eq!(human_count(430), "430");
        assert_eq!(human_count(6_738_415_616), "6.7B");
    }
}
