//! The parser stages (`json`, `logfmt`, `regexp`, `pattern`, `unpack`): each reads the current
//! line and writes parsed labels, following Loki's rules (docs: LogQL › Log queries › Parser
//! expressions):
//!
//! - extracted names are sanitized (invalid characters become `_`) and get an `_extracted`
//!   suffix when the stream already has a label of that name;
//! - `json` flattens nested objects with `_` (`{"a":{"b":1}}` gives `a_b`), skips arrays and
//!   nulls, keeps numbers as written; a line that is not a JSON object gets
//!   `__error__="JSONParserErr"`;
//! - `json a="x.y"` extracts paths (objects and arrays as raw JSON, missing paths as `""`);
//! - `logfmt` takes the last value of a repeated key, drops empty values unless
//!   `--keep-empty`, skips malformed pairs, or with `--strict` stops and flags
//!   `LogfmtParserErr`;
//! - `regexp` extracts named groups when the regex matches (nothing otherwise);
//! - `pattern` extracts captures (a missing literal ends the match, keeping what was found);
//! - `unpack` extracts the string fields of a JSON object and replaces the line with `_entry`.

use super::ast::{JsonKey, JsonPath, RegexpStage};
use super::json::{self, Value};
use super::labels_builder::LabelsBuilder;
use super::logfmt::{self, Item};
use super::parse_pipeline::sanitize_label_key;
use super::pattern::Pattern;

/// `JSONParserErr`.
pub const JSON_ERR: &str = "JSONParserErr";
/// `LogfmtParserErr`.
pub const LOGFMT_ERR: &str = "LogfmtParserErr";

fn json_scalar(v: &Value<'_>) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.to_string()),
        Value::Num(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `| json` without parameters.
pub fn json_all(line: &str, lb: &mut LabelsBuilder<'_>) {
    match json::parse(line) {
        Ok(Value::Obj(members, _)) => flatten(&members, "", lb),
        Ok(_) => lb.set_err(
            JSON_ERR,
            Some("Value looks like object, but can't find closing '}' symbol".into()),
        ),
        Err(e) => lb.set_err(JSON_ERR, Some(e)),
    }
}

fn flatten(members: &[(std::borrow::Cow<'_, str>, Value<'_>)], prefix: &str, lb: &mut LabelsBuilder<'_>) {
    for (k, v) in members {
        let key = if prefix.is_empty() {
            sanitize_label_key(k)
        } else {
            let mut s = String::with_capacity(prefix.len() + 1 + k.len());
            s.push_str(prefix);
            s.push('_');
            s.extend(
                k.chars()
                    .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }),
            );
            s
        };
        match v {
            Value::Obj(inner, _) => flatten(inner, &key, lb),
            v => {
                if let Some(val) = json_scalar(v) {
                    let name = lb.extracted_name(key);
                    lb.set_parsed(name, val);
                }
            }
        }
    }
}

fn lookup<'v, 'a>(mut v: &'v Value<'a>, path: &JsonPath) -> Option<&'v Value<'a>> {
    for k in path {
        v = match (k, v) {
            (JsonKey::Field(f), Value::Obj(m, _)) => &m.iter().find(|(n, _)| n == f)?.1,
            (JsonKey::Index(i), Value::Arr(a, _)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// `| json a="x.y", b="z[0]"`.
pub fn json_params(line: &str, params: &[(String, JsonPath)], lb: &mut LabelsBuilder<'_>) {
    if line.is_empty() {
        return;
    }
    if !matches!(line.as_bytes()[0], b'"' | b'{' | b'[') {
        lb.set_err(JSON_ERR, None);
        return;
    }
    let doc = match json::parse(line) {
        Ok(d) => Some(d),
        Err(e) => {
            lb.set_err(JSON_ERR, Some(e));
            None
        }
    };
    for (id, path) in params {
        let val = doc.as_ref().and_then(|d| lookup(d, path)).map(|v| match v {
            Value::Obj(_, raw) | Value::Arr(_, raw) => raw.to_string(),
            Value::Null => String::new(),
            v => json_scalar(v).unwrap_or_default(),
        });
        match val {
            Some(v) => {
                let name = lb.extracted_name(id.clone());
                lb.set_parsed(name, v);
            }
            None if lb.get(id).is_none() => lb.set_parsed(id.clone(), String::new()),
            None => {}
        }
    }
}

/// `| logfmt [--strict] [--keep-empty] [params]`.
pub fn logfmt(line: &str, strict: bool, keep_empty: bool, params: &[(String, String)], lb: &mut LabelsBuilder<'_>) {
    if !params.is_empty() {
        for (id, _) in params {
            if !lb.base_has(id) {
                lb.set_parsed(id.clone(), String::new());
            }
        }
    }
    for item in logfmt::decode(line) {
        match item {
            Item::Error(e) => {
                if strict {
                    lb.set_err(LOGFMT_ERR, Some(e));
                    return;
                }
            }
            Item::Pair(k, v) => {
                let key = sanitize_label_key(&k);
                if key.is_empty() {
                    continue;
                }
                if params.is_empty() {
                    if !keep_empty && v.is_empty() {
                        continue;
                    }
                    let name = lb.extracted_name(key);
                    lb.set_parsed(name, v);
                } else {
                    for (id, expr) in params {
                        if *expr == key || *expr == k {
                            let name = lb.extracted_name(id.clone());
                            lb.set_parsed(name, v.clone());
                        }
                    }
                }
            }
        }
    }
}

/// `| regexp "..."`.
pub fn regexp(line: &str, st: &RegexpStage, lb: &mut LabelsBuilder<'_>) {
    let Some(caps) = st.re.captures(line) else { return };
    for (i, name) in &st.names {
        let v = caps.get(*i).map_or("", |m| m.as_str());
        let name = lb.extracted_name(name.clone());
        lb.set_parsed(name, v.to_string());
    }
}

/// `| pattern "..."`.
pub fn pattern(line: &str, p: &Pattern, lb: &mut LabelsBuilder<'_>) {
    for (name, v) in p.captures(line) {
        let name = lb.extracted_name(name.to_string());
        lb.set_parsed(name, v.to_string());
    }
}

/// `| unpack`: returns the replacement line when the object has an `_entry` field.
pub fn unpack(line: &str, lb: &mut LabelsBuilder<'_>) -> Option<String> {
    if line.is_empty() {
        return None;
    }
    if !line.starts_with('{') {
        lb.set_err(JSON_ERR, Some("expecting json object(6), but it is not".into()));
        return None;
    }
    let members = match json::parse(line) {
        Ok(Value::Obj(m, _)) => m,
        Ok(_) => return None,
        Err(e) => {
            lb.set_err(JSON_ERR, Some(e));
            return None;
        }
    };
    let mut entry = None;
    for (k, v) in &members {
        let Value::Str(s) = v else { continue };
        if k == "_entry" {
            entry = Some(s.to_string());
            continue;
        }
        let name = lb.extracted_name(sanitize_label_key(k));
        lb.set_parsed(name, s.to_string());
    }
    entry
}
