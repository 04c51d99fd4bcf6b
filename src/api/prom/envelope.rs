//! The Prometheus API success envelope:
//! `{"status":"success","data":...,"warnings":[...],"infos":[...]}` (the last two omitted
//! when empty), and label sets serialized as JSON objects in label order.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nerve_storage::Labels;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::servers::error::ApiError;

/// The warning Prometheus adds when `limit` cut a result.
pub const TRUNCATED_WARNING: &str = "results truncated due to limit";

/// A successful answer.
#[derive(Debug, Serialize)]
pub struct Success<T> {
    status: &'static str,
    data: T,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    infos: Vec<String>,
}

impl<T: Serialize> Success<T> {
    /// Wraps `data` with no warnings.
    pub fn new(data: T) -> Self {
        Success {
            status: "success",
            data,
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }

    /// Adds a warning, shown by Grafana as a notice.
    pub fn warn(mut self, w: impl Into<String>) -> Self {
        self.warnings.push(w.into());
        self
    }
}

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self) {
            Ok(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                body,
            )
                .into_response(),
            Err(e) => ApiError::internal(format!("encoding response: {e}")).into_response(),
        }
    }
}

/// Adds `"warnings":[...]` to a success envelope written by hand (`{"status":...,"data":...}`),
/// as Prometheus does for partial results; `body` is returned as is when there are none.
pub fn with_warnings(mut body: String, warnings: &[String]) -> String {
    if warnings.is_empty() || !body.ends_with('}') {
        return body;
    }
    body.pop();
    body.push_str(",\"warnings\":");
    body.push_str(&serde_json::to_string(warnings).unwrap_or_else(|_| "[]".into()));
    body.push('}');
    body
}

/// Serializes a label set as `{"__name__":"up","job":"x"}`, keys in label order.
#[derive(Debug)]
pub struct LabelSet<'a>(pub &'a Labels);

impl Serialize for LabelSet<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Cuts `items` to `limit` (if any) and reports whether anything was cut.
pub fn truncate<T>(items: &mut Vec<T>, limit: Option<usize>) -> bool {
    match limit {
        Some(n) if items.len() > n => {
            items.truncate(n);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_added_to_a_hand_written_envelope() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#.to_string();
        assert_eq!(with_warnings(body.clone(), &[]), body);
        let w = with_warnings(body, &["block \"x\" damaged".to_string()]);
        let v: serde_json::Value = serde_json::from_str(&w).unwrap();
        assert_eq!(v["warnings"][0], "block \"x\" damaged");
        assert_eq!(v["data"]["resultType"], "vector");
    }

    #[test]
    fn envelope_shapes() {
        let s = serde_json::to_string(&Success::new(vec!["a", "b"])).unwrap();
        assert_eq!(s, r#"{"status":"success","data":["a","b"]}"#);
        let s = serde_json::to_string(&Success::new(Vec::<String>::new()).warn(TRUNCATED_WARNING)).unwrap();
        assert_eq!(
            s,
            r#"{"status":"success","data":[],"warnings":["results truncated due to limit"]}"#
        );
        let l = Labels::from_pairs([("job", "x"), ("__name__", "up"), ("a", "\"q\"")]).unwrap();
        let s = serde_json::to_string(&Success::new(vec![LabelSet(&l)])).unwrap();
        assert_eq!(
            s,
            r#"{"status":"success","data":[{"__name__":"up","a":"\"q\"","job":"x"}]}"#
        );
    }

    #[test]
    fn truncation() {
        let mut v = vec![1, 2, 3];
        assert!(!truncate(&mut v, None));
        assert!(!truncate(&mut v, Some(3)));
        assert!(truncate(&mut v, Some(2)));
        assert_eq!(v, vec![1, 2]);
    }
}
