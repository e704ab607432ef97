//! UTC timestamps for humans: `2025-06-01 12:00:00 UTC` and "3 min ago".

/// Formats milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A short relative time: `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`
/// (`in ...` for future times).
pub fn format_relative(ms: u64, now_ms: u64) -> String {
    let (delta, future) = if ms > now_ms {
        (ms - now_ms, true)
    } else {
        (now_ms - ms, false)
    };
    let secs = delta / 1000;
    let amount = match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86_400),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01
/// (the proleptic Gregorian calendar, by 400-year eras).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_735_689_599_000), "2024-12-31 23:59:59 UTC");
        assert_eq!(format_utc(1_709_210_096_789), "2024-02-29 12:34:56 UTC");
    }

    #[test]
    fn relative_times() {
        assert_eq!(format_relative(1_000, 13_000), "12 s ago");
        assert_eq!(format_relative(0, 300_000), "5 min ago");
        assert_eq!(format_relative(7_200_000, 0), "in 2 h");
        assert_eq!(format_relative(0, 3 * 86_400_000), "3 d ago");
    }
}
