//! Go's `strings.Title`, which both Prometheus' `title` and Loki's `title` (sprig's, itself
//! `strings.Title`) call.

/// Go's `isSeparator` of `strings.Title`: ASCII letters, digits and `_` are not separators,
/// other ASCII is; beyond ASCII, letters and digits are not, spaces are, anything else is not.
fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphabetic() || c.is_numeric() {
        return false;
    }
    c.is_whitespace()
}

/// Go's `unicode.ToTitle` of one rune: the title-case forms of the four Latin digraphs, the
/// single-rune upper case otherwise (Go maps rune to rune; `ß` stays `ß`).
fn to_title(c: char) -> char {
    match c {
        '\u{01C4}'..='\u{01C6}' => '\u{01C5}',
        '\u{01C7}'..='\u{01C9}' => '\u{01C8}',
        '\u{01CA}'..='\u{01CC}' => '\u{01CB}',
        '\u{01F1}'..='\u{01F3}' => '\u{01F2}',
        c => {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        }
    }
}

/// Go's `strings.Title`: every rune that follows a separator (or starts the text) in title
/// case, the rest unchanged.
pub fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        out.push(if is_separator(prev) { to_title(c) } else { c });
        prev = c;
    }
    out
}
