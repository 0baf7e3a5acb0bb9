//! HTTP dates (`Date`, `Retry-After`) in the IMF-fixdate form, `Sun, 06 Nov 1994 08:49:37 GMT`.
//!
//! Only IMF-fixdate is understood: it is the form every current server (Datadog included) sends.
//! The obsolete RFC 850 and asctime forms are refused, as are dates before 1970.

/// Parses an IMF-fixdate (surrounding spaces and tabs allowed) into Unix seconds.
///
/// The weekday must match the date; a leap second (`:60`) is accepted and counts as the next
/// second. `None` for anything else.
pub fn parse_http_date(value: &[u8]) -> Option<u64> {
    let text = value.trim_ascii();
    if text.len() != 29 {
        return None;
    }
    let weekday = WEEKDAYS
        .iter()
        .position(|day| text.get(..3) == Some(*day))?;
    let month = MONTHS.iter().position(|m| text.get(8..11) == Some(*m))?;
    let literals_ok = text.get(3..5) == Some(b", ")
        && text.get(7..8) == Some(b" ")
        && text.get(11..12) == Some(b" ")
        && text.get(16..17) == Some(b" ")
        && text.get(19..20) == Some(b":")
        && text.get(22..23) == Some(b":")
        && text.get(25..) == Some(b" GMT");
    if !literals_ok {
        return None;
    }
    let day = digits(text.get(5..7)?)?;
    let year = digits(text.get(12..16)?)?;
    let hour = digits(text.get(17..19)?)?;
    let minute = digits(text.get(20..22)?)?;
    let second = digits(text.get(23..25)?)?;
    let month = u64::try_from(month).ok()? + 1;
    if year < 1970 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_since_epoch(year, month, day);
    // 1970-01-01 was a Thursday (index 4 with Sunday = 0).
    if usize::try_from((days + 4) % 7).ok()? != weekday {
        return None;
    }
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

const WEEKDAYS: [&[u8]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// A fixed-width run of ASCII digits (at most 4 here, so no overflow).
fn digits(text: &[u8]) -> Option<u64> {
    text.iter().try_fold(0u64, |acc, &byte| {
        byte.is_ascii_digit()
            .then(|| acc * 10 + u64::from(byte - b'0'))
    })
}

fn is_leap_year(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

pub(crate) fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a valid date in 1970..=9999 (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year % 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_http_date;

    #[test]
    fn parses_known_dates() {
        assert_eq!(parse_http_date(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        // From the recording rust-v1-validate-403.json.
        assert_eq!(
            parse_http_date(b"Thu, 06 Jan 2022 00:50:20 GMT"),
            Some(1_641_430_220)
        );
        assert_eq!(
            parse_http_date(b"Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(951_825_600)
        );
        assert_eq!(
            parse_http_date(b"  Fri, 31 Dec 9999 23:59:59 GMT\t"),
            Some(253_402_300_799)
        );
        assert_eq!(
            parse_http_date(b"Sat, 31 Dec 2016 23:59:60 GMT"),
            Some(1_483_228_800)
        );
    }

    #[test]
    fn refuses_other_forms_and_impossible_dates() {
        for bad in [
            &b""[..],
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 1994",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Mon, 06 Nov 1994 08:49:37 GMT",
            b"Wed, 31 Dec 1969 23:59:59 GMT",
            b"Mon, 29 Feb 2100 00:00:00 GMT",
            b"Thu, 31 Apr 2021 00:00:00 GMT",
            b"Thu, 00 Jan 1970 00:00:00 GMT",
            b"Thu, 01 Jan 1970 24:00:00 GMT",
            b"Thu, 01 Jan 1970 00:60:00 GMT",
            b"Thu, 01 Jan 1970 00:00:61 GMT",
            b"Thu, 01 jan 1970 00:00:00 GMT",
            b"Thu, 0a Jan 1970 00:00:00 GMT",
            b"Thu,  1 Jan 1970 00:00:00 GMT",
            b"Thu, 01 Jan 1970 00:00:00 GMTX",
            "Thu, 01 Jan 1970 00:00:0\u{e9}GMT".as_bytes(),
        ] {
            assert_eq!(
                parse_http_date(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn every_day_round_trips_through_the_weekday_check() {
        // Walk 1970..2100 day by day: each date must parse to the previous one plus 86 400 s.
        let months = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        let mut expected = 0u64;
        let mut index = 0usize;
        for year in 1970..2100u64 {
            for (m, name) in months.iter().enumerate() {
                let days = super::days_in_month(year, m as u64 + 1);
                for day in 1..=days {
                    let text = format!(
                        "{}, {day:02} {name} {year} 00:00:00 GMT",
                        weekdays[index % 7]
                    );
                    assert_eq!(parse_http_date(text.as_bytes()), Some(expected), "{text}");
                    expected += 86_400;
                    index += 1;
                }
            }
        }
    }
}
