//! Message and route normalisation: the same error with another order id, address,
//! duration or piece of user input must land in the same group, so variable parts are
//! masked (`<n>` for numbers, hex ids and shas, `<hex>` for `0x…`, `<uuid>`, `<id>`, `<email>`, `<ip>`, `<time>`, `"<q>"`,
//! `?<query>`) and routes get `:id` for their variable segments. Only the key is
//! masked: the group's sample keeps the (redacted) original text.

/// Longest grouping key kept; long messages differ early if they differ at all.
const MAX_KEY: usize = 160;
/// A quoted value longer than this is probably not one value; it is read as text.
const MAX_QUOTED: usize = 256;

/// `line` without ANSI escape sequences (colours, cursor moves), which coloured
/// loggers and tools put around the words a line is read by.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequence: ESC [ parameters final-byte.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Masks variable parts (see the module doc) and collapses whitespace.
pub fn message(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_KEY + 8));
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut last_space = true;
    while i < bytes.len() && out.len() < MAX_KEY {
        let b = bytes[i];
        let prev = if i == 0 { b' ' } else { bytes[i - 1] };
        // Tokens only start at a boundary: `v2` stays a word, `a@b.c` is not cut at `b`.
        let at_boundary = !(prev.is_ascii_alphanumeric() || prev == b'_' || prev >= 0x80);
        if b.is_ascii_alphanumeric() || b == b'_' || (b == b':' && at_boundary) {
            if at_boundary && let Some((end, mask)) = special_at(bytes, i) {
                out.push_str(mask);
                i = end;
                last_space = false;
                continue;
            }
            if b == b':' {
                out.push(':');
                i += 1;
                last_space = false;
                continue;
            }
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let tok = &text[start..i];
            if prev == b'/' && path_id(tok) {
                out.push_str("<id>");
            } else {
                out.push_str(classify(tok));
            }
            last_space = false;
        } else if b.is_ascii_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
            i += 1;
        } else if let Some(end) = quoted_at(bytes, i) {
            // User input in quotes: the quotes say where it ends, not what it was.
            let q = utf8_len(b);
            out.push_str(&text[i..i + q]);
            out.push_str("<q>");
            out.push_str(&text[end - q..end]);
            i = end;
            last_space = false;
        } else if b == b'?' && query_at(bytes, i + 1) {
            out.push_str("?<query>");
            i += 1;
            while i < bytes.len()
                && !bytes[i].is_ascii_whitespace()
                && !b"\"'`)>]".contains(&bytes[i])
            {
                i += 1;
            }
            last_space = false;
        } else {
            // Multi-byte characters are copied as they are.
            let ch_len = utf8_len(b);
            let end = (i + ch_len).min(bytes.len());
            out.push_str(&text[i..end]);
            i = end;
            last_space = false;
        }
    }
    let trimmed = out.trim_end();
    if trimmed.len() < out.len() {
        out.truncate(trimmed.len());
    }
    out
}

fn utf8_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Variable parts that span punctuation, tried at a token start, longest kinds first:
/// a timestamp, a UUID, an e-mail address, an IPv6 or IPv4 address, a number with a
/// unit or a compound duration (`2m30s`, `1.5s`, `45µs`).
fn special_at(b: &[u8], i: usize) -> Option<(usize, &'static str)> {
    if let Some(end) = timestamp_at(b, i) {
        return Some((end, "<time>"));
    }
    if let Some(end) = uuid_at(b, i) {
        return Some((end, "<uuid>"));
    }
    if let Some(end) = email_at(b, i) {
        return Some((end, "<email>"));
    }
    if let Some(end) = ipv6_at(b, i) {
        return Some((end, "<ip>"));
    }
    if let Some(end) = ipv4_at(b, i) {
        return Some((end, "<ip>"));
    }
    if let Some(end) = number_at(b, i) {
        return Some((end, "<n>"));
    }
    None
}

/// The end of a run of ASCII digits from `i` (`i` itself when there are none).
fn digits(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// `2026-01-31`, optionally with `T10:00:00[.123][Z|+01:00]` or a space before the time.
fn timestamp_at(b: &[u8], i: usize) -> Option<usize> {
    let fixed = |at: usize, n: usize| digits(b, at) == at + n;
    if !(fixed(i, 4) && b.get(i + 4) == Some(&b'-') && fixed(i + 5, 2)) {
        return None;
    }
    if !(b.get(i + 7) == Some(&b'-') && fixed(i + 8, 2)) {
        return None;
    }
    let mut end = i + 10;
    let t = end + 1;
    if matches!(b.get(end), Some(b'T' | b' '))
        && fixed(t, 2)
        && b.get(t + 2) == Some(&b':')
        && fixed(t + 3, 2)
    {
        end = t + 5;
        if b.get(end) == Some(&b':') && fixed(end + 1, 2) {
            end += 3;
            if matches!(b.get(end), Some(b'.' | b',')) && digits(b, end + 1) > end + 1 {
                end = digits(b, end + 1);
            }
        }
        if b.get(end) == Some(&b'Z') {
            end += 1;
        } else if matches!(b.get(end), Some(b'+' | b'-')) && fixed(end + 1, 2) {
            let mut z = end + 3;
            if b.get(z) == Some(&b':') {
                z += 1;
            }
            if fixed(z, 2) {
                end = z + 2;
            }
        }
    }
    (!b.get(end).copied().is_some_and(is_word)).then_some(end)
}

/// End of a UUID starting at `start`, if one does.
fn uuid_at(b: &[u8], start: usize) -> Option<usize> {
    const RUNS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut i = start;
    for (k, n) in RUNS.iter().enumerate() {
        if i + n > b.len() || !b[i..i + n].iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        i += n;
        if k < 4 {
            if b.get(i) != Some(&b'-') {
                return None;
            }
            i += 1;
        }
    }
    if b.get(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(i)
}

/// `local@domain.tld`.
fn email_at(b: &[u8], i: usize) -> Option<usize> {
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let mut j = i;
    while j < b.len() && local(b[j]) {
        j += 1;
    }
    if j == i || b.get(j) != Some(&b'@') {
        return None;
    }
    let host = j + 1;
    let mut k = host;
    let mut last_dot = None;
    while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'-' || b[k] == b'.') {
        if b[k] == b'.' {
            last_dot = Some(k);
        }
        k += 1;
    }
    // A trailing dot ends the sentence, not the domain.
    while k > host && b[k - 1] == b'.' {
        k -= 1;
    }
    let dot = last_dot.filter(|d| *d > host && *d + 2 < k + 1)?;
    let tld = &b[dot + 1..k];
    (tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)).then_some(k)
}

/// `2001:db8::1`, `fe80::1ff:fe23:4567:890a`, `::1`, `::ffff:10.0.0.1`: hex groups of
/// at most four digits joined by colons, with `::` or all eight groups, and a digit in it
/// (so that `10:00:00` and `std::io` stay what they are).
fn ipv6_at(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    let mut colons = 0;
    let mut double = false;
    let mut group = 0;
    let mut digit = false;
    while j < b.len() {
        let c = b[j];
        if c.is_ascii_hexdigit() {
            group += 1;
            digit |= c.is_ascii_digit();
            if group > 4 {
                return None;
            }
        } else if c == b':' {
            if j > i && b[j - 1] == b':' {
                if double {
                    break;
                }
                double = true;
            }
            colons += 1;
            group = 0;
        } else if c == b'.' && double {
            // An embedded IPv4 tail.
            let start = j - group;
            return ipv4_at(b, start).filter(|_| colons >= 2);
        } else {
            break;
        }
        j += 1;
    }
    // A single trailing colon (`addr: …`) is punctuation.
    if j > i && b[j - 1] == b':' && !(j >= i + 2 && b[j - 2] == b':') {
        j -= 1;
        colons -= 1;
    }
    let ok = digit && colons >= 2 && (double || colons == 7);
    (ok && !b.get(j).copied().is_some_and(is_word)).then_some(j)
}

/// Four dotted decimal groups of one to three digits.
fn ipv4_at(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for k in 0..4 {
        let e = digits(b, j);
        if e == j || e - j > 3 {
            return None;
        }
        j = e;
        if k < 3 {
            if b.get(j) != Some(&b'.') {
                return None;
            }
            j += 1;
        }
    }
    (!b.get(j).copied().is_some_and(|c| is_word(c) || c == b'.')).then_some(j)
}

/// A number, with a decimal part and a unit of up to three letters (`12ms`, `1.5s`,
/// `10MiB`, `45µs`), or a compound duration (`2m30s`, `1h2m3.5s`, `1m30µs`).
fn number_at(b: &[u8], i: usize) -> Option<usize> {
    const DURATION: &[&[u8]] = &[
        b"h",
        b"m",
        b"s",
        b"ms",
        b"us",
        b"ns",
        b"d",
        "µs".as_bytes(),
        "μs".as_bytes(),
    ];
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        return None; // `0x…` is `classify`'s `<hex>`
    }
    let mut j = i;
    let mut parts = 0;
    let mut all_duration = true;
    loop {
        let e = digits(b, j);
        if e == j {
            return None;
        }
        j = e;
        if b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
            j = digits(b, j + 1);
        }
        if b.get(j) == Some(&b'%') {
            // A percentage is a number too; nothing may follow it in the same run.
            return (parts == 0).then_some(j + 1);
        }
        let unit_start = j;
        // `µ` (U+00B5) and `μ` (U+03BC), as Go prints microseconds.
        let micro = b[j..].starts_with("µ".as_bytes()) || b[j..].starts_with("μ".as_bytes());
        if micro {
            j += 2;
        }
        while j < b.len() && b[j].is_ascii_alphabetic() && j - unit_start < 4 {
            j += 1;
        }
        let unit = &b[unit_start..j];
        if unit.len() > 3 && !(micro && unit.len() == 3) {
            return None;
        }
        parts += 1;
        all_duration &= DURATION.contains(&unit);
        if unit.is_empty() || !b.get(j).is_some_and(u8::is_ascii_digit) {
            break;
        }
    }
    // `1a2b` is not a duration: left to `classify`, which keeps or masks it whole.
    if parts > 1 && !all_duration {
        return None;
    }
    (!b.get(j).copied().is_some_and(|c| is_word(c) || c >= 0x80)).then_some(j)
}

/// A quoted value starting at `i`: `"…"`, `'…'`, `` `…` `` or `“…”`/`‘…’`, on one line,
/// opened after a non-word character and closed before one (so `can't` and `it's`
/// are not quotes). Returns the end past the closing quote.
fn quoted_at(b: &[u8], i: usize) -> Option<usize> {
    let (open, close): (&[u8], &[u8]) = match b[i] {
        b'"' => (b"\"", b"\""),
        b'\'' => (b"'", b"'"),
        b'`' => (b"`", b"`"),
        _ if b[i..].starts_with("“".as_bytes()) => ("“".as_bytes(), "”".as_bytes()),
        _ if b[i..].starts_with("‘".as_bytes()) => ("‘".as_bytes(), "’".as_bytes()),
        _ => return None,
    };
    if i > 0 && (is_word(b[i - 1]) || b[i - 1] >= 0x80) {
        return None;
    }
    let from = i + open.len();
    let limit = b.len().min(from + MAX_QUOTED);
    let mut j = from;
    while j < limit {
        if b[j] == b'\n' {
            return None;
        }
        if b[j..].starts_with(close) {
            let end = j + close.len();
            if j > from && !b.get(end).copied().is_some_and(is_word) {
                return Some(end);
            }
        }
        j += 1;
    }
    None
}

/// `?key=…`: a query string (not a question mark ending a sentence).
fn query_at(b: &[u8], i: usize) -> bool {
    let mut j = i;
    while j < b.len() && (is_word(b[j]) || b"-.%[]".contains(&b[j])) {
        j += 1;
    }
    j > i && b.get(j) == Some(&b'=')
}

/// A path segment that names one thing rather than a kind of thing: it has digits
/// (`/orders/A1B2C3`, `/u/42x`) and is not a short version tag (`/v2`, `/api2`).
fn path_id(tok: &str) -> bool {
    let b = tok.as_bytes();
    let d = b.iter().filter(|c| c.is_ascii_digit()).count();
    d > 0 && (b.len() >= 5 || d == b.len() || d >= 2)
}

/// The token itself, or the mask that replaces it.
fn classify(tok: &str) -> &str {
    let b = tok.as_bytes();
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        // A short sha may be all letters (`fadaaff`, one in a thousand); a seven-letter
        // lower-case word of a–f only is rare enough (`defaced`) to take the risk.
        if (b.len() == 7 || b.len() >= 12) && b.iter().all(|c| matches!(c, b'a'..=b'f')) {
            return "<n>";
        }
        return tok;
    }
    if digits == b.len() {
        return "<n>";
    }
    if b.len() > 2
        && (tok.starts_with("0x") || tok.starts_with("0X"))
        && b[2..].iter().all(u8::is_ascii_hexdigit)
    {
        return "<hex>";
    }
    // Hex ids and git shas, short (7) and long (40). Masked like numbers: a short sha
    // may be all digits (or digits and a few letters, like `1234abc`), and the same
    // error with another sha must keep its key.
    if b.len() >= 7 && b.iter().all(u8::is_ascii_hexdigit) {
        return "<n>";
    }
    // Numbers with a unit (`12ms`, `2000ms`, `5s`, `3x`) are still numbers.
    let lead = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if lead > 0 && b[lead..].iter().all(u8::is_ascii_alphabetic) && b.len() - lead <= 3 {
        return "<n>";
    }
    // Generated ids mix letters and digits and are long.
    if b.len() >= 10 && digits >= 2 {
        return "<id>";
    }
    tok
}

/// `GET /api/orders/123?x=1` → `GET /api/orders/:id`. Accepts a bare path or a full
/// URL (scheme and host are dropped).
pub fn route(method: Option<&str>, url: &str) -> String {
    let mut path = url.trim();
    if let Some(p) = path.find("://") {
        let rest = &path[p + 3..];
        path = rest.find('/').map(|s| &rest[s..]).unwrap_or("/");
    }
    if let Some(q) = path.find(['?', '#']) {
        path = &path[..q];
    }
    let mut out = String::with_capacity(path.len() + 8);
    if let Some(m) = method {
        out.push_str(&m.to_ascii_uppercase());
        out.push(' ');
    }
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if seg.is_empty() {
            continue;
        }
        let n = message(seg);
        if n.contains('<') {
            out.push_str(":id")
        } else {
            out.push_str(seg)
        }
        if out.len() > 120 {
            break;
        }
    }
    if !path.starts_with('/') && method.is_some() && out.ends_with(' ') {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_are_stripped_and_text_kept() {
        assert_eq!(
            strip_ansi("\x1b[31m  ERROR\x1b[39m \x1b[1;33m[Orders]\x1b[0m boom"),
            "  ERROR [Orders] boom"
        );
        assert_eq!(strip_ansi("plain [text]"), "plain [text]");
    }

    #[test]
    fn masks_variable_parts() {
        assert_eq!(
            message("connect ECONNREFUSED 10.0.3.17:5432 after 2000ms"),
            "connect ECONNREFUSED <ip>:<n> after <n>"
        );
        assert_eq!(
            message("order 550e8400-e29b-41d4-a716-446655440000 not found"),
            "order <uuid> not found"
        );
        assert_eq!(
            message("bad ptr 0x7ffe12ab and sha 1a2b3c4d5e"),
            "bad ptr <hex> and sha <n>"
        );
        assert_eq!(
            message("session a8F3kQ92zP0x expired"),
            "session <id> expired"
        );
        assert_eq!(
            message("  many   spaces\tand\nlines  "),
            "many spaces and lines"
        );
    }

    #[test]
    fn keeps_words_and_short_versions() {
        assert_eq!(
            message("Database connection refused"),
            "Database connection refused"
        );
        assert_eq!(message("api v2 on http2"), "api v2 on http2");
        assert_eq!(
            message("can't reach the server's database: it's down"),
            "can't reach the server's database: it's down"
        );
        assert_eq!(
            message("std::io failed at 10:00:00"),
            "std::io failed at <n>:<n>:<n>"
        );
        assert_eq!(message("why? nobody knows"), "why? nobody knows");
    }

    /// A tiny xorshift generator: the property test must be repeatable without a
    /// dependency, and one seed per run of the loop is enough to vary every kind.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.below(xs.len() as u64) as usize]
        }
        fn hex(&mut self, n: usize) -> String {
            (0..n)
                .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
                .collect()
        }
        fn word_upto(&mut self, max: u64) -> String {
            let n = 1 + self.below(max) as usize;
            self.word(n)
        }
        fn word(&mut self, n: usize) -> String {
            (0..n)
                .map(|_| char::from(b'a' + self.below(26) as u8))
                .collect()
        }
    }

    /// One value of each kind the normaliser masks, drawn at random.
    fn values(r: &mut Rng) -> Vec<String> {
        let v6_group = |r: &mut Rng| format!("{:x}", r.below(0x10000));
        let ipv6 = match r.below(3) {
            0 => (0..8).map(|_| v6_group(r)).collect::<Vec<_>>().join(":"),
            1 => format!("2001:db8::{}", v6_group(r)),
            _ => format!("fe80::{}:{}", v6_group(r), v6_group(r)),
        };
        let duration = match r.below(4) {
            0 => format!("{}m{}s", r.below(60), r.below(60)),
            1 => format!(
                "{}{}",
                r.below(100_000),
                r.pick(&["µs", "μs", "ms", "ns", "s"])
            ),
            2 => format!("{}.{}s", r.below(100), r.below(1000)),
            _ => format!(
                "{}h{}m{}.{}s",
                r.below(24),
                r.below(60),
                r.below(60),
                r.below(10)
            ),
        };
        vec![
            format!(
                "{}.{}@{}.{}",
                r.word_upto(8),
                r.word(3),
                r.word(5),
                r.pick(&["com", "io", "co.uk"])
            ),
            format!(
                "{}.{}.{}.{}",
                r.below(256),
                r.below(256),
                r.below(256),
                r.below(256)
            ),
            ipv6,
            format!(
                "{}-{}-{}-{}-{}",
                r.hex(8),
                r.hex(4),
                r.hex(4),
                r.hex(4),
                r.hex(12)
            ),
            {
                let n = 1 + r.below(12) as usize;
                format!("0x{}", r.hex(n))
            },
            r.hex(7),
            r.hex(40),
            format!(
                "{}{}",
                r.below(10_000),
                r.pick(&["ms", "s", "MB", "KiB", "%"])
            ),
            duration,
            // Quoted user input may hold spaces and anything but its quote.
            format!("'{} {}!'", r.word_upto(9), r.below(1000)),
            format!("\"{}\"", r.word_upto(20)),
            format!(
                "/api/orders/{}?page={}&q={}",
                r.below(1_000_000),
                r.below(9),
                r.word(4)
            ),
            format!("/files/{}{}/raw", r.word(3), r.below(100_000)),
            format!(
                "2026-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                1 + r.below(12),
                1 + r.below(28),
                r.below(24),
                r.below(60),
                r.below(60),
                r.below(1000)
            ),
            r.below(100_000).to_string(),
        ]
    }

    #[test]
    fn one_template_with_random_values_is_one_group() {
        // Short words between the values: the key is cut at MAX_KEY bytes.
        let template =
            "to {} ip {} {} id {} p {} c {} {} u {} t {} in {} {} at {} {} on {} n {} end";
        let fill = |vals: &[String]| {
            let mut out = String::new();
            let mut parts = template.split("{}");
            out.push_str(parts.next().unwrap());
            for (v, p) in vals.iter().zip(parts) {
                out.push_str(v);
                out.push_str(p);
            }
            out
        };
        let mut r = Rng(0x5eed_1e55_c0ff_ee01);
        let first = fill(&values(&mut r));
        let key = message(&first);
        for kind in [
            "<email>", "<ip>", "<uuid>", "<hex>", "<time>", "'<q>'", "\"<q>\"", "?<query>", "<id>",
        ] {
            assert!(key.contains(kind), "{kind} missing from {key}");
        }
        for _ in 0..2000 {
            let line = fill(&values(&mut r));
            assert_eq!(message(&line), key, "{line}\nvs\n{first}");
        }
    }

    #[test]
    fn masks_each_kind() {
        for (input, want) in [
            (
                "mail to bob.smith+x@example.co.uk failed.",
                "mail to <email> failed.",
            ),
            ("peer [2001:db8::1]:443 reset", "peer [<ip>]:<n> reset"),
            ("peer ::1 reset", "peer <ip> reset"),
            ("from ::ffff:10.0.0.1 now", "from <ip> now"),
            (
                "took 2m30s, then 45µs, then 1.5s",
                "took <n>, then <n>, then <n>",
            ),
            (
                "at 2026-01-31T10:00:00.123+01:00 it broke",
                "at <time> it broke",
            ),
            ("at 2026-01-31 10:00:00,123 it broke", "at <time> it broke"),
            ("GET /a/b?x=1&y=2 failed", "GET /a/b?<query> failed"),
            ("commit a1b2c3d and 1234abc", "commit <n> and <n>"),
            ("file /blobs/A1B2C3/raw gone", "file /blobs/<id>/raw gone"),
            ("api /v2/items", "api /v2/items"),
            ("value “abc” is bad", "value “<q>” is bad"),
        ] {
            assert_eq!(message(input), want, "{input}");
        }
    }

    #[test]
    fn non_ascii_survives() {
        assert_eq!(
            message("Zeitüberschreitung nach 30 s"),
            "Zeitüberschreitung nach <n> s"
        );
    }

    #[test]
    fn same_error_same_key() {
        assert_eq!(message("user 17 not found"), message("user 9999 not found"));
    }

    #[test]
    fn long_messages_are_cut() {
        assert!(message(&"word ".repeat(200)).len() <= MAX_KEY + 8);
    }

    #[test]
    fn routes() {
        assert_eq!(
            route(Some("get"), "/api/orders/123?expand=items"),
            "GET /api/orders/:id"
        );
        assert_eq!(
            route(
                Some("POST"),
                "https://api.example.com/v2/users/5f2b9c1e7a/cart"
            ),
            "POST /v2/users/:id/cart"
        );
        assert_eq!(route(None, "/health"), "/health");
        assert_eq!(route(Some("GET"), "/"), "GET /");
    }
}
