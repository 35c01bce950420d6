//! The times, durations and rates that commands take: `--at
//! 2026-12-02T22:00` (local time; a trailing `Z` means UTC), `--max-wait
//! 10m`, `--rate-cap 800M`.

use crate::error::{Error, Result};

/// Unix seconds as `YYYY-MM-DD HH:MM:SS`, in UTC.
pub fn format_time(secs: i64) -> String {
    // UTC, without a date crate: days since the epoch to a civil date
    // (Howard Hinnant's days_from_civil inverse).
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `90`, `90s`, `10m`, `2h`, `30d` → seconds.
pub fn parse_duration(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?}: give a duration such as 90s, 10m or 2h"))?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    Ok(n * mul)
}

/// Seconds as the largest whole unit `parse_duration` reads back: `1d`,
/// `12h`, `90m`, `45s`.
pub fn format_duration(secs: i64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs != 0 && secs % n == 0 {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

/// `800M`, `1G`, `400000K`, `100000000` → bits per second (decimal
/// prefixes, as network rates are counted), for a multicast rate: 8M to
/// 100G.
pub fn parse_rate(s: &str) -> std::result::Result<u64, String> {
    parse_bits(s, 8e6, "8M")
}

/// As [`parse_rate`], for a WAN link's cap: 64K to 100G.
pub fn parse_bandwidth(s: &str) -> std::result::Result<u64, String> {
    parse_bits(s, 64e3, "64K")
}

fn parse_bits(s: &str, min: f64, min_text: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let bad = || format!("{s:?}: give a rate in bits per second such as 800M or 1G");
    let (num, mul) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1_000),
        Some('M' | 'm') => (&t[..t.len() - 1], 1_000_000),
        Some('G' | 'g') => (&t[..t.len() - 1], 1_000_000_000),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let bps = n * mul as f64;
    if !(min..=1e11).contains(&bps) {
        return Err(format!("{s:?}: the rate must be {min_text} to 100G"));
    }
    Ok(bps as u64)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM[:SS][Z]` → Unix seconds; local time unless `Z`.
pub fn parse_at(s: &str) -> Result<i64> {
    let bad = || {
        Error::Usage(format!(
            "--at {s:?}: give a time such as 2026-12-02T22:00 (local) or 2026-12-02T22:00Z (UTC)"
        ))
    };
    let t = s.trim();
    let (t, utc) = match t.strip_suffix('Z') {
        Some(rest) => (rest, true),
        None => (t, false),
    };
    let (date, time) = t.split_once(['T', ' ']).ok_or_else(bad)?;
    let d: Vec<&str> = date.split('-').collect();
    let c: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || !(2..=3).contains(&c.len()) {
        return Err(bad());
    }
    let num = |v: &str| v.parse::<u32>().map_err(|_| bad());
    let (year, month, day) = (num(d[0])?, num(d[1])?, num(d[2])?);
    let (hour, min) = (num(c[0])?, num(c[1])?);
    let sec = c.get(2).map(|v| num(v)).transpose()?.unwrap_or(0);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 59 {
        return Err(bad());
    }
    if utc {
        let days = days_from_civil(year as i64, month as i64, day as i64);
        return Ok(days * 86_400 + hour as i64 * 3600 + min as i64 * 60 + sec as i64);
    }
    crate::sys::local_time(year as i32, month, day, hour, min, sec).ok_or_else(bad)
}

/// A moment given as a duration back from `now` (`2h`, `7d`) or a time
/// (`2026-12-02T22:00`, local; `…Z`, UTC): what `--since` takes.
pub fn parse_since(s: &str, now: i64) -> Result<i64> {
    match parse_duration(s) {
        Ok(secs) => Ok(now - secs),
        Err(_) => parse_at(s).map_err(|e| {
            Error::Usage(format!(
                "since {s:?}: give a duration (2h, 7d) or a time (2026-12-02T22:00): {e}"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_seconds_as_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_800_000_000), "2027-01-15 08:00:00");
    }

    #[test]
    fn durations_rates_and_times_parse_and_bad_ones_say_why() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("10m").unwrap(), 600);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert!(parse_duration("10 minutes").unwrap_err().contains("unit"));
        assert_eq!(parse_rate("800M").unwrap(), 800_000_000);
        for d in ["1d", "12h", "90m", "45s"] {
            assert_eq!(format_duration(parse_duration(d).unwrap()), d);
        }
        assert_eq!(parse_rate("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_rate("400000K").unwrap(), 400_000_000);
        assert!(parse_rate("1M").unwrap_err().contains("8M to 100G"));
        assert!(parse_rate("fast").is_err());
        assert_eq!(parse_at("2026-12-02T22:00Z").unwrap(), 1_796_248_800);
        assert_eq!(parse_at("1970-01-01T00:00:01Z").unwrap(), 1);
        for bad in ["2026-13-02T22:00", "22:00", "2026-12-02T25:00Z", "tomorrow"] {
            assert!(parse_at(bad).is_err(), "{bad}");
        }
        assert!(parse_at("2026-12-02T22:00").is_ok());
    }
}
