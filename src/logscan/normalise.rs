//! Message and route normalisation: the same error with another order id, address or
//! duration must land in the same group, so variable parts are masked (`<n>`, `<hex>`,
//! `<uuid>`, `<id>`) and routes get `:id` for their variable segments.

/// Longest grouping key kept; long messages differ early if they differ at all.
const MAX_KEY: usize = 160;

/// Masks numbers, hex strings, UUIDs and id-like tokens, collapses whitespace.
pub fn message(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_KEY + 8));
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut last_space = true;
    while i < bytes.len() && out.len() < MAX_KEY {
        let b = bytes[i];
        if b.is_ascii_alphanumeric() || b == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            // A UUID is five hex runs joined by dashes; take it whole.
            if let Some(end) = uuid_at(bytes, start) {
                out.push_str("<uuid>");
                i = end;
            } else {
                out.push_str(classify(&text[start..i]));
            }
            last_space = false;
        } else if b.is_ascii_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
            i += 1;
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

/// The token itself, or the mask that replaces it.
fn classify(tok: &str) -> &str {
    let b = tok.as_bytes();
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    if digits == 0 {
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
    if b.len() >= 8 && b.iter().all(u8::is_ascii_hexdigit) {
        return "<hex>";
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
    fn masks_variable_parts() {
        assert_eq!(
            message("connect ECONNREFUSED 10.0.3.17:5432 after 2000ms"),
            "connect ECONNREFUSED <n>.<n>.<n>.<n>:<n> after <n>"
        );
        assert_eq!(
            message("order 550e8400-e29b-41d4-a716-446655440000 not found"),
            "order <uuid> not found"
        );
        assert_eq!(
            message("bad ptr 0x7ffe12ab and sha 1a2b3c4d5e"),
            "bad ptr <hex> and sha <hex>"
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
            message("Cannot read properties of undefined (reading 'split')"),
            "Cannot read properties of undefined (reading 'split')"
        );
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
