//! Fields of a log line: string fields of a JSON object line and key/value pairs of a
//! logfmt line, found without building a tree. Used by level detection and trace
//! reference extraction.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// Name/value pairs found in a line.
type Fields = Vec<(String, String)>;
/// Decides whether a key is wanted.
type WantFn<'a> = &'a dyn Fn(&str) -> bool;
/// Decides, given the matches so far, whether to stop searching.
type StopFn<'a> = &'a dyn Fn(&[(String, String)]) -> bool;

/// Loki's test for a JSON line: the first and last non-space characters are `{` and `}`.
pub(crate) fn looks_like_json(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('{') && t.ends_with('}')
}

/// Loki's test for a logfmt line: it contains `=`.
pub(crate) fn looks_like_logfmt(line: &str) -> bool {
    line.contains('=')
}

/// The string-valued fields of the JSON object `line` whose key satisfies `wanted`, in
/// document order, descending into nested objects while their depth is below `max_depth`
/// (the top-level object has depth 0; `max_depth == 0` means no limit). `stop` is asked
/// after every match whether to stop looking. `None` when the line is not a JSON object.
pub(crate) fn json_string_fields(line: &str, max_depth: usize, wanted: WantFn<'_>, stop: StopFn<'_>) -> Option<Fields> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_str(line);
    let seed = FieldSeek {
        depth: 0,
        max_depth,
        wanted,
        stop,
        found: &mut found,
    };
    // A parse error after some fields were found still leaves those fields: Loki's
    // streaming JSON walk behaves the same way on truncated lines.
    let parsed = seed.deserialize(&mut de).and_then(|()| de.end());
    if parsed.is_err() && found.is_empty() {
        return None;
    }
    Some(found)
}

struct FieldSeek<'a> {
    depth: usize,
    max_depth: usize,
    wanted: WantFn<'a>,
    stop: StopFn<'a>,
    found: &'a mut Fields,
}

impl<'de> DeserializeSeed<'de> for FieldSeek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldSeek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut done = false;
        while let Some(key) = map.next_key::<String>()? {
            if done {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value: FieldValue = map.next_value_seed(ValueSeek {
                depth: self.depth + 1,
                max_depth: self.max_depth,
                wanted: self.wanted,
                stop: self.stop,
                found: self.found,
            })?;
            if let FieldValue::Str(s) = value
                && (self.wanted)(&key)
            {
                self.found.push((key, s));
            }
            done = (self.stop)(self.found);
        }
        Ok(())
    }
}

/// What a field's value was, as far as the search cares.
enum FieldValue {
    Str(String),
    Other,
}

/// Reads one value: strings are returned, objects are searched (depth permitting), anything
/// else is skipped.
struct ValueSeek<'a> {
    depth: usize,
    max_depth: usize,
    wanted: WantFn<'a>,
    stop: StopFn<'a>,
    found: &'a mut Fields,
}

impl<'de> DeserializeSeed<'de> for ValueSeek<'_> {
    type Value = FieldValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FieldValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeek<'_> {
    type Value = FieldValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<FieldValue, E> {
        Ok(FieldValue::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<FieldValue, E> {
        Ok(FieldValue::Str(v))
    }

    fn visit_bool<E>(self, _: bool) -> Result<FieldValue, E> {
        Ok(FieldValue::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<FieldValue, E> {
        Ok(FieldValue::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<FieldValue, E> {
        Ok(FieldValue::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<FieldValue, E> {
        Ok(FieldValue::Other)
    }

    fn visit_unit<E>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Other)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<FieldValue, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(FieldValue::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldValue, A::Error> {
        if self.max_depth > 0 && self.depth >= self.max_depth {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(FieldValue::Other);
        }
        let nested = FieldSeek {
            depth: self.depth,
            max_depth: self.max_depth,
            wanted: self.wanted,
            stop: self.stop,
            found: self.found,
        };
        nested.visit_map(map)?;
        Ok(FieldValue::Other)
    }
}

/// The key/value pairs of a logfmt line, in order. Keys run up to `=` or whitespace; values
/// are bare (up to whitespace) or double-quoted with backslash escapes; a key without `=`
/// has an empty value. Scanning stops at the first malformed pair (e.g. an unterminated
/// quote), keeping what came before, like Loki's logfmt decoder.
pub(crate) fn logfmt_pairs(line: &str) -> Vec<(&str, std::borrow::Cow<'_, str>)> {
    use std::borrow::Cow;
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c.is_ascii_control());
        if rest.is_empty() {
            return out;
        }
        let key_end = rest
            .find(|c: char| c == '=' || c == '"' || c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = &rest[key_end..];
        if key.is_empty() {
            // `=value` or a stray quote: not a pair.
            return out;
        }
        let Some(after_eq) = rest.strip_prefix('=') else {
            if rest.starts_with('"') {
                return out;
            }
            out.push((key, Cow::Borrowed("")));
            continue;
        };
        rest = after_eq;
        if let Some(quoted) = rest.strip_prefix('"') {
            let Some((value, after)) = unquote(quoted) else {
                return out;
            };
            out.push((key, value));
            rest = after;
        } else {
            let end = rest.find(|c: char| c.is_ascii_whitespace()).unwrap_or(rest.len());
            out.push((key, Cow::Borrowed(&rest[..end])));
            rest = &rest[end..];
        }
    }
}

/// Reads a double-quoted string body (after the opening quote) up to its closing quote;
/// returns the unescaped value and what follows. `None` if unterminated.
fn unquote(s: &str) -> Option<(std::borrow::Cow<'_, str>, &str)> {
    use std::borrow::Cow;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => {
                let body = &s[..i];
                let after = &s[i + 1..];
                if !body.contains('\\') {
                    return Some((Cow::Borrowed(body), after));
                }
                return Some((Cow::Owned(unescape(body)), after));
            }
            _ => {}
        }
    }
    None
}

/// Resolves the common backslash escapes; unknown ones keep the escaped character.
fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
