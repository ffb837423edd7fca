//! RFC 3339 §5.6 date-times: checking them (`--created`, strict validation) and writing one
//! from a Unix time (`SOURCE_DATE_EPOCH`), without a date library.

/// Checks an RFC 3339 `date-time` (`2025-03-01T12:00:00Z`, `…T12:00:00.5+05:30`). `T` and `Z`
/// may be lowercase, as RFC 3339 allows; a space instead of `T` or a missing offset is refused.
pub fn check(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let bad = |why: &str| Err(format!("`{s}` is not an RFC 3339 date-time: {why}"));
    if b.len() < 20 {
        return bad("too short (expected YYYY-MM-DDTHH:MM:SSZ or an offset)");
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return bad("the date is not YYYY-MM-DD");
    };
    if b[4] != b'-' || b[7] != b'-' {
        return bad("the date is not YYYY-MM-DD");
    }
    if !matches!(b[10], b'T' | b't') {
        return bad("date and time must be separated by `T`");
    }
    let (Some(hour), Some(min), Some(sec)) = (digits(11..13), digits(14..16), digits(17..19))
    else {
        return bad("the time is not HH:MM:SS");
    };
    if b[13] != b':' || b[16] != b':' {
        return bad("the time is not HH:MM:SS");
    }
    if !(1..=12).contains(&month) {
        return bad("month out of range");
    }
    if day == 0 || day > days_in_month(year, month) {
        return bad("day out of range for the month");
    }
    if hour > 23 || min > 59 || sec > 60 {
        return bad("time out of range");
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return bad("empty fraction of a second");
        }
        rest = &frac[n..];
    }
    match rest {
        [b'Z' | b'z'] => Ok(()),
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let all = [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit());
            let two = |a: u8, b: u8| (a.wrapping_sub(b'0')) * 10 + b.wrapping_sub(b'0');
            if all && two(*h1, *h2) <= 23 && two(*m1, *m2) <= 59 {
                Ok(())
            } else {
                bad("bad UTC offset")
            }
        }
        _ => bad("missing or malformed UTC offset (`Z` or `+HH:MM`)"),
    }
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (UTC; years 1970–9999).
pub fn from_unix(secs: u64) -> Option<String> {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), shifted so the era starts in March.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if year > 9999 {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc3339() {
        for ok in [
            "2025-03-01T12:00:00Z",
            "2025-03-01T12:00:00.123+05:30",
            "2025-03-01t12:00:00z",
            "2016-12-31T23:59:60Z",
            "2024-02-29T00:00:00-08:00",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_non_rfc3339() {
        for bad in [
            "2025-03-01 12:00:00Z",
            "2025-03-01T12:00:00",
            "2025-02-30T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "2025-13-01T12:00:00Z",
            "2025-03-01T24:00:00Z",
            "2025-03-01T12:00:00.Z",
            "2025-03-01T12:00:00+5:30",
            "2025-03-01",
            "not-a-date-at-all-really",
            "２０２５-03-01T12:00:00Z",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unix_times() {
        assert_eq!(from_unix(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(from_unix(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(from_unix(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
        assert!(check(&from_unix(4_102_444_799).unwrap()).is_ok());
    }
}
