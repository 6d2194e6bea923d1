//! The string `format`s a CRD schema may declare that the emulator checks: `date-time`
//! (loosely, as strfmt's several layouts accept), `date`, `ipv4`, `ipv6` and `uuid`.
//! Other formats are accepted as the server accepts unknown ones.

/// Whether `s` is valid for `format`; unknown formats accept everything.
pub(super) fn is_valid(format: &str, s: &str) -> bool {
    match format {
        "date-time" | "datetime" => is_date_time(s),
        "date" => is_date(s),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "uuid" => is_uuid(s),
        _ => true,
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY-MM-DD` with plausible month and day.
fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    matches!(parts.as_slice(), [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2
        && all_digits(y) && all_digits(m) && all_digits(d)
        && (1..=12).contains(&m.parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&d.parse::<u8>().unwrap_or(0)))
}

/// A loose RFC 3339 / ISO 8601 date-time as strfmt accepts it: a date, `T` or a space,
/// `HH:MM[:SS[.frac]]`, and an optional `Z` or `±HH[:]MM` offset.
fn is_date_time(s: &str) -> bool {
    let Some((date, time)) = s.split_once(['T', 't', ' ']) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let (clock, zone) = match time.find(['Z', 'z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => (time, ""),
    };
    let clock = clock.split_once('.').map_or(
        clock,
        |(whole, frac)| if all_digits(frac) { whole } else { "x" },
    );
    let fields: Vec<&str> = clock.split(':').collect();
    let clock_ok =
        (2..=3).contains(&fields.len()) && fields.iter().all(|f| f.len() == 2 && all_digits(f));
    let zone_ok = match zone.as_bytes().first() {
        None => true,
        Some(b'Z' | b'z') => zone.len() == 1,
        Some(_) => {
            let offset = zone[1..].replace(':', "");
            offset.len() == 4 && all_digits(&offset)
        }
    };
    clock_ok && zone_ok
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}
