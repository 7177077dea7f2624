//! Input limits: the largest values the model, the snapshot reader, the CSV
//! reader and the CLI accept. Every number here bounds work or memory that an
//! input could otherwise choose; a value over a limit is an input error that
//! names the field and the limit, never a silent clamp.
//!
//! The README's "Input limits" table lists these values; change both together.

/// Most replicas a configuration may name (`minReplicas`, `maxReplicas`, a
/// cron floor, `idleReplicaCount`). Kubernetes' documented scalability
/// envelope is 150,000 pods per cluster; an autoscaler asking for more than
/// the whole cluster can hold is a mistake, not a workload to optimize.
pub const MAX_REPLICAS: u32 = 150_000;

/// Most samples in one series (a snapshot series, or a CSV series after
/// resampling onto its step): 400 days at one sample a minute, or 46 days at
/// the finest 10 s step.
pub const MAX_SAMPLES: usize = 576_000;

/// Longest time span of one series, seconds (400 days: a year of history
/// with room for its holidays). It bounds the replay, whose work grows with
/// the span (one controller sync every 15 s), not with the replica counts.
pub const MAX_SPAN_SECONDS: i64 = 400 * 86_400;

/// Earliest timestamp accepted, seconds since the epoch (1970-01-01).
pub const MIN_UNIX_SECONDS: i64 = 0;

/// Latest timestamp accepted, seconds since the epoch
/// (9999-12-31T23:59:59Z, the last second of four-digit years).
pub const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

/// Most workloads in one snapshot.
pub const MAX_WORKLOADS: usize = 10_000;

/// Longest Kubernetes object name (a DNS-1123 subdomain).
pub const MAX_NAME_LEN: usize = 253;

/// Longest namespace name (a DNS-1123 label).
pub const MAX_NAMESPACE_LEN: usize = 63;

/// Longest free-text field (a snapshot's `source`, a trigger's metadata
/// value), bytes.
pub const MAX_TEXT_LEN: usize = 1024;

/// Most containers per workload, and most triggers per ScaledObject.
pub const MAX_ITEMS: usize = 100;

/// Largest snapshot file, bytes (each sample takes a few bytes per series).
pub const MAX_SNAPSHOT_BYTES: u64 = 256 << 20;

/// Largest CSV series file, bytes.
pub const MAX_CSV_BYTES: u64 = 64 << 20;

/// Largest license file, bytes (a real one is well under 1 KiB).
pub const MAX_LICENSE_BYTES: u64 = 64 << 10;

/// Largest operator values file, bytes (Helm's own release limit is 1 MiB).
pub const MAX_VALUES_BYTES: u64 = 1 << 20;

/// Largest conformance case file, bytes.
pub const MAX_CASES_BYTES: u64 = 16 << 20;

/// Check that a replica count is within [`MAX_REPLICAS`].
///
/// # Errors
/// A message naming the value and the limit.
pub fn check_replicas(value: i64) -> Result<(), String> {
    if value < 0 {
        return Err(format!("{value} is negative"));
    }
    if value > i64::from(MAX_REPLICAS) {
        return Err(format!(
            "{value} is above the limit of {MAX_REPLICAS} replicas (Kubernetes' 150,000 pods per cluster)"
        ));
    }
    Ok(())
}

/// Check that a timestamp is within [`MIN_UNIX_SECONDS`]..=[`MAX_UNIX_SECONDS`].
///
/// # Errors
/// A message naming the value and the range.
pub fn check_unix_seconds(value: i64) -> Result<(), String> {
    if (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{value} is outside 1970-01-01..9999-12-31 ({MIN_UNIX_SECONDS}..={MAX_UNIX_SECONDS} seconds since the epoch)"
        ))
    }
}

/// Number of samples a regular series from `first` to `last` (inclusive) at
/// `step_s` needs, or an error when it is over [`MAX_SAMPLES`]. Computed
/// without overflow for any `i64` inputs.
///
/// # Errors
/// A message naming the span, the step and the limit.
pub fn samples_between(first: i64, last: i64, step_s: i64) -> Result<usize, String> {
    if step_s <= 0 {
        return Err(format!("step {step_s} s is not positive"));
    }
    let span = i128::from(last) - i128::from(first);
    if span < 0 {
        return Err("the series ends before it starts".into());
    }
    if span > i128::from(MAX_SPAN_SECONDS) {
        return Err(format!(
            "the series spans {span} s, above the limit of {MAX_SPAN_SECONDS} s (400 days); \
             cut the series, or remove the gap between its rows"
        ));
    }
    let n = span / i128::from(step_s) + 1;
    match usize::try_from(n) {
        Ok(n) if n <= MAX_SAMPLES => Ok(n),
        _ => Err(format!(
            "{span} s at a {step_s} s step is {n} samples, above the limit of {MAX_SAMPLES}; \
             cut the series, or remove the gap between its rows"
        )),
    }
}

/// Read at most `limit` bytes of UTF-8 text from `reader`, without a leading
/// byte-order mark. Never allocates more than `limit` + 1 bytes, whatever the
/// source (a pipe, `/dev/zero`, a huge file).
///
/// # Errors
/// An IO error; [`std::io::ErrorKind::InvalidData`] for text over the limit
/// (naming it) or text that is not UTF-8 (naming the byte offset).
pub fn read_text(reader: impl std::io::Read, limit: u64) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("larger than the limit of {limit} bytes"),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// [`read_text`] of a file.
///
/// # Errors
/// As [`read_text`], or the file cannot be opened.
pub fn read_text_file(path: &std::path::Path, limit: u64) -> std::io::Result<String> {
    read_text(std::fs::File::open(path)?, limit)
}

/// `s` made safe to print on a terminal, in YAML or in an Event: control
/// characters (escape sequences among them) escaped as `\u{..}`, and cut to
/// `max_chars` characters with `…` marking the cut.
pub fn printable(s: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Check a Kubernetes DNS-1123 label (namespaces, container names): 1 to 63
/// lowercase letters, digits and `-`, starting and ending with a letter or
/// digit.
///
/// # Errors
/// What is wrong, without repeating the value.
pub fn check_dns_label(s: &str) -> Result<(), String> {
    check_dns_name(s, MAX_NAMESPACE_LEN, false)
}

/// Check a Kubernetes DNS-1123 subdomain (object names): 1 to 253 characters,
/// dot-separated labels of lowercase letters, digits and `-`.
///
/// # Errors
/// What is wrong, without repeating the value.
pub fn check_dns_subdomain(s: &str) -> Result<(), String> {
    check_dns_name(s, MAX_NAME_LEN, true)
}

fn check_dns_name(s: &str, max: usize, dots: bool) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.len() > max {
        return Err(format!(
            "is {} bytes long, above Kubernetes' limit of {max}",
            s.len()
        ));
    }
    let ok_char =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.');
    if let Some(c) = s.chars().find(|c| !ok_char(*c)) {
        return Err(format!(
            "has the character {:?}; Kubernetes names use lowercase letters, digits, '-'{}",
            printable(&c.to_string(), 1),
            if dots { " and '.'" } else { "" }
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let labels: Vec<&str> = if dots {
        s.split('.').collect()
    } else {
        vec![s]
    };
    if labels
        .iter()
        .any(|l| !alnum(l.chars().next()) || !alnum(l.chars().last()))
    {
        return Err(
            "must start and end with a letter or digit (each part between dots too)".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_counts_at_the_boundaries() {
        assert!(check_replicas(0).is_ok());
        assert!(check_replicas(1).is_ok());
        assert!(check_replicas(i64::from(MAX_REPLICAS)).is_ok());
        let e = check_replicas(i64::from(MAX_REPLICAS) + 1).expect_err("over");
        assert!(e.contains("150000"), "{e}");
        assert!(check_replicas(-1).is_err());
        assert!(check_replicas(i64::from(i32::MAX)).is_err());
    }

    #[test]
    fn sample_counts_never_overflow() {
        assert_eq!(samples_between(0, 0, 60), Ok(1));
        assert_eq!(samples_between(0, 60, 60), Ok(2));
        assert!(samples_between(i64::MIN, i64::MAX, 1).is_err());
        assert!(samples_between(0, i64::MAX, 1).is_err());
        assert!(samples_between(10, 0, 1).is_err());
        assert!(samples_between(0, 10, 0).is_err());
        let last = (MAX_SAMPLES as i64 - 1) * 10;
        assert_eq!(samples_between(0, last, 10), Ok(MAX_SAMPLES));
        assert!(samples_between(0, last + 10, 10).is_err());
        assert!(samples_between(0, MAX_SPAN_SECONDS, 86_400).is_ok());
        assert!(samples_between(0, MAX_SPAN_SECONDS + 1, 86_400).is_err());
    }

    #[test]
    fn text_is_read_up_to_the_limit_without_its_byte_order_mark() {
        assert_eq!(read_text(&b"\xef\xbb\xbfabc"[..], 16).expect("fits"), "abc");
        assert_eq!(read_text(&b"abcd"[..], 4).expect("fits"), "abcd");
        let e = read_text(&b"abcde"[..], 4).expect_err("over");
        assert!(e.to_string().contains("limit of 4 bytes"), "{e}");
        let e = read_text(std::io::repeat(0), 1 << 20).expect_err("endless");
        assert!(e.to_string().contains("limit"), "{e}");
        let e = read_text(&b"ab\xff"[..], 16).expect_err("not utf-8");
        assert!(e.to_string().contains("offset 2"), "{e}");
    }

    #[test]
    fn names_follow_kubernetes_rules() {
        assert!(check_dns_label("web-1").is_ok());
        assert!(check_dns_subdomain("web.v1-2").is_ok());
        assert!(check_dns_label("web.v1").is_err());
        assert!(check_dns_label("").is_err());
        assert!(check_dns_label(&"a".repeat(63)).is_ok());
        assert!(check_dns_label(&"a".repeat(64)).is_err());
        assert!(check_dns_subdomain(&"a".repeat(253)).is_ok());
        assert!(check_dns_subdomain(&"a".repeat(254)).is_err());
        let e = check_dns_subdomain("web\u{1b}[2J").expect_err("escape");
        assert!(!e.contains('\u{1b}'), "{e}");
        assert!(check_dns_subdomain("-web").is_err());
        assert!(check_dns_subdomain("web.").is_err());
        assert!(check_dns_subdomain("Web").is_err());
    }

    #[test]
    fn printable_escapes_control_characters_and_cuts() {
        assert_eq!(printable("a\u{1b}[31mb", 40), "a\\u{1b}[31mb");
        assert_eq!(printable("abcdef", 3), "abc…");
        assert_eq!(printable("grüße", 40), "grüße");
    }

    #[test]
    fn timestamps_outside_four_digit_years_are_refused() {
        assert!(check_unix_seconds(0).is_ok());
        assert!(check_unix_seconds(MAX_UNIX_SECONDS).is_ok());
        assert!(check_unix_seconds(MAX_UNIX_SECONDS + 1).is_err());
        assert!(check_unix_seconds(-1).is_err());
    }
}
