//! Repeated label names in a JSON push's `stream` objects.
//!
//! A `serde_json::Value` map keeps only the last of repeated keys, so
//! `{"stream":{"job":"a","job":"b"}}` would silently become `{job="b"}`. This pass walks
//! the raw JSON with a visitor that sees every key and reports the first stream whose label
//! object names a label twice. Everything else is skipped without being built; shape errors
//! are left to the main decoder, which reports them with their position.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The first stream (by index) whose `stream` object repeats a label name, and that name.
pub(super) fn duplicate_label(body: &[u8]) -> Option<(usize, String)> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    // Any error here is a shape error the main decoder reports (or a duplicate found, which
    // stops the walk early); either way the result is what `found` holds.
    let _ = de.deserialize_map(Root(&mut found));
    found
}

/// What the walk found; `Some` stops it.
type Found = Option<(usize, String)>;

/// The error used to stop the walk once a duplicate is found.
fn stop<E: serde::de::Error>() -> E {
    E::custom("duplicate label name")
}

struct Root<'a>(&'a mut Found);

impl<'de> Visitor<'de> for Root<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a push request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "streams" {
                map.next_value_seed(Streams(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Streams<'a>(&'a mut Found);

impl<'de> DeserializeSeed<'de> for Streams<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Streams<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of streams")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq
            .next_element_seed(Stream {
                index,
                found: &mut *self.0,
            })?
            .is_some()
        {
            if self.0.is_some() {
                return Err(stop());
            }
            index += 1;
        }
        Ok(())
    }
}

struct Stream<'a> {
    index: usize,
    found: &'a mut Found,
}

impl<'de> DeserializeSeed<'de> for Stream<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Stream<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a stream object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "stream" {
                if let Some(name) = map.next_value_seed(LabelNames)? {
                    *self.found = Some((self.index, name));
                    return Err(stop());
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Reads a label object's keys; yields the first repeated one.
struct LabelNames;

impl<'de> DeserializeSeed<'de> for LabelNames {
    type Value = Option<String>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LabelNames {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of labels")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        let mut names: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            if names.contains(&key) {
                return Ok(Some(key));
            }
            names.push(key);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::duplicate_label;

    #[test]
    fn finds_the_first_repeated_label_name() {
        let body = br#"{"streams":[{"stream":{"a":"1"},"values":[]},
            {"values":[["1","x"]],"stream":{"job":"a","b":"2","job":"b"}}]}"#;
        assert_eq!(duplicate_label(body), Some((1, "job".to_owned())));
        // An escaped spelling of the same name is the same name.
        let body = br#"{"streams":[{"stream":{"job":"a","j\u006fb":"b"}}]}"#;
        assert_eq!(duplicate_label(body), Some((0, "job".to_owned())));
    }

    #[test]
    fn distinct_names_and_bad_shapes_find_nothing() {
        for body in [
            &br#"{"streams":[{"stream":{"a":"1","b":"1"},"values":[["1","a"]]}]}"#[..],
            br#"{"streams":null}"#,
            br#"{"streams":[{"stream":null}]}"#,
            br#"[1,2]"#,
            br#"{"streams":[{"stream":{"a":"1"}}"#,
            b"not json",
            br#"{"other":{"stream":{"a":"1","a":"2"}}}"#,
        ] {
            assert_eq!(duplicate_label(body), None, "{}", String::from_utf8_lossy(body));
        }
    }
}
