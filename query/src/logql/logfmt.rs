//! A logfmt decoder with the behaviour of the one Loki uses: `key=value`, `key="quoted \"value\""`,
//! and standalone keys (`key` or `key=`, value empty). Malformed pairs are reported so the
//! `--strict` parser can stop and flag them; the default parser skips them.

/// One decoded item.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    /// A key and its (unquoted) value.
    Pair(String, String),
    /// A malformed pair, with the decoder's message.
    Error(String),
}

/// Decodes a whole line.
pub fn decode(line: &str) -> Vec<Item> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let is_space = |c: u8| c <= b' ';
    while i < b.len() {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && !is_space(b[i]) && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        let key = &line[start..i];
        if key.is_empty() {
            let c = b[i] as char;
            out.push(Item::Error(format!(
                "logfmt syntax error at pos {}: unexpected '{c}'",
                i + 1
            )));
            // Skip to the next space.
            while i < b.len() && !is_space(b[i]) {
                if b[i] == b'"' {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                }
                i += 1;
            }
            continue;
        }
        if i >= b.len() || is_space(b[i]) {
            out.push(Item::Pair(key.to_string(), String::new()));
            continue;
        }
        if b[i] == b'"' {
            out.push(Item::Error(format!(
                "logfmt syntax error at pos {}: unexpected '\"'",
                i + 1
            )));
            while i < b.len() && !is_space(b[i]) {
                i += 1;
            }
            continue;
        }
        i += 1; // '='
        if i >= b.len() || is_space(b[i]) {
            out.push(Item::Pair(key.to_string(), String::new()));
            continue;
        }
        if b[i] == b'"' {
            i += 1;
            let mut v = String::new();
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    b'\\' if i + 1 < b.len() => {
                        let e = b[i + 1];
                        i += 2;
                        match e {
                            b'n' => v.push('\n'),
                            b't' => v.push('\t'),
                            b'r' => v.push('\r'),
                            b'"' => v.push('"'),
                            b'\\' => v.push('\\'),
                            b'/' => v.push('/'),
                            b'u' if i + 4 <= b.len() => {
                                let c = line
                                    .get(i..i + 4)
                                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                                    .and_then(char::from_u32);
                                v.push(c.unwrap_or(' '));
                                i += 4;
                            }
                            _ => {
                                // Kept as written; the escaped character (which may be
                                // multi-byte) is read as an ordinary one next.
                                v.push('\\');
                                i -= 1;
                            }
                        }
                    }
                    _ => {
                        let ch = line[i..].chars().next().unwrap_or(' ');
                        v.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            if closed {
                out.push(Item::Pair(key.to_string(), v));
            } else {
                out.push(Item::Error(format!(
                    "logfmt syntax error at pos {}: unterminated quoted value",
                    i + 1
                )));
            }
            continue;
        }
        let vstart = i;
        while i < b.len() && !is_space(b[i]) {
            i += 1;
        }
        let v = &line[vstart..i];
        if v.contains('"') {
            out.push(Item::Error(format!(
                "logfmt syntax error at pos {}: unexpected '\"'",
                i + 1
            )));
            continue;
        }
        out.push(Item::Pair(key.to_string(), v.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> Item {
        Item::Pair(k.into(), v.into())
    }

    #[test]
    fn decodes() {
        assert_eq!(
            decode(r#"a=1 b="x \"y\"" c d= e=f=g"#),
            vec![p("a", "1"), p("b", "x \"y\""), p("c", ""), p("d", ""), p("e", "f=g")]
        );
        let items = decode(r#"a=1 ="x" b=2 c="open"#);
        assert_eq!(items[0], p("a", "1"));
        assert!(matches!(items[1], Item::Error(_)));
        assert_eq!(items[2], p("b", "2"));
        assert!(matches!(items[3], Item::Error(_)));
    }

    #[test]
    fn unknown_escapes_keep_multibyte_characters() {
        assert_eq!(decode("k=\"\\¡x\\q\""), vec![p("k", "\\¡x\\q")]);
        assert!(matches!(decode("Ꙁ=\"\\¡")[..], [Item::Error(_)]));
    }
}
