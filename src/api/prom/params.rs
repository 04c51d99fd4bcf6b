//! Request parameters of the Prometheus API: the query string plus, for form POSTs, the body
//! (Go's `r.ParseForm` order: body values first), and the parsers for the parameters the
//! endpoints share (`start`, `end`, `limit`, `match[]`).

use axum::extract::{Form, FromRequest, Query, Request};
use axum::http::{Method, header};
use nerve_storage::Matcher;

use super::timestamp::parse_time;
use crate::servers::error::{ApiError, ErrorKind};

/// All parameters of one request, in order, repeated keys kept.
#[derive(Clone, Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let query: Vec<(String, String)> = match req.uri().query() {
            Some(_) => Query::try_from_uri(req.uri())
                .map(|Query(q)| q)
                .map_err(|e| ApiError::bad_data(format!("invalid query string: {}", e.body_text())))?,
            None => Vec::new(),
        };
        let is_form_post = req.method() == Method::POST
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.trim_start().starts_with("application/x-www-form-urlencoded"));
        let mut pairs = Vec::new();
        if is_form_post {
            let Form(body): Form<Vec<(String, String)>> = Form::from_request(req, state).await.map_err(|e| {
                let kind = if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ErrorKind::PayloadTooLarge
                } else {
                    ErrorKind::BadData
                };
                ApiError::new(kind, format!("invalid form body: {}", e.body_text()))
            })?;
            pairs = body;
        }
        pairs.extend(query);
        Ok(Params { pairs })
    }
}

impl Params {
    /// Parameters from explicit pairs (tests, internal callers).
    #[cfg(test)]
    pub fn from_pairs<const N: usize>(pairs: [(&str, &str); N]) -> Self {
        Params {
            pairs: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    /// The first value of `name`, like Go's `r.FormValue` (empty when absent).
    pub fn first(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A timestamp parameter in ms; absent or empty gives `default`.
    pub fn time(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.first(name) {
            None | Some("") => Ok(default),
            Some(v) => parse_time(v).map_err(|e| {
                ApiError::bad_data(format!(
                    "invalid parameter {name:?}: Invalid time value for '{name}': {e}"
                ))
            }),
        }
    }

    /// The `limit` parameter: absent, empty or 0 means no limit (`None`).
    pub fn limit(&self) -> Result<Option<usize>, ApiError> {
        let raw = match self.first("limit") {
            None | Some("") => return Ok(None),
            Some(v) => v,
        };
        let n: i64 = raw.parse().map_err(|_| {
            ApiError::bad_data(format!(
                "invalid parameter \"limit\": cannot parse {raw:?} to a valid integer"
            ))
        })?;
        match n {
            n if n < 0 => Err(ApiError::bad_data(
                "invalid parameter \"limit\": limit must be non-negative",
            )),
            0 => Ok(None),
            n => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        }
    }

    /// Parses every `match[]` selector. Each must be a series selector with at least one
    /// matcher that does not match the empty string.
    pub fn matcher_sets(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        self.all("match[]")
            .into_iter()
            .map(|sel| {
                nerve_query::selector::parse_selector(sel).map_err(|e| match ApiError::from(e) {
                    e if e.kind() == ErrorKind::BadData && !e.message().starts_with("invalid parameter") => {
                        ApiError::bad_data(format!("invalid parameter \"match[]\": {}", e.message()))
                    }
                    e => e,
                })
            })
            .collect()
    }
}

/// Undoes Prometheus' `U__` label-name escaping (Grafana sends `U__service_2e_name` for
/// `service.name`): after the prefix, `__` is `_` and `_<hex>_` is the code point `<hex>`.
/// Names without the prefix, or not validly escaped, are returned unchanged.
pub fn unescape_label_name(name: &str) -> String {
    let Some(rest) = name.strip_prefix("U__") else {
        return name.to_owned();
    };
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        let mut hex = String::new();
        loop {
            match chars.next() {
                Some('_') => break,
                Some(h) if h.is_ascii_hexdigit() && hex.len() < 6 => hex.push(h),
                _ => return name.to_owned(),
            }
        }
        if hex.is_empty() {
            out.push('_');
            continue;
        }
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(ch) => out.push(ch),
            None => return name.to_owned(),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_all_time_limit() {
        let p = Params::from_pairs([
            ("match[]", "up"),
            ("start", "10"),
            ("match[]", "x"),
            ("end", ""),
            ("limit", "3"),
        ]);
        assert_eq!(p.all("match[]"), vec!["up", "x"]);
        assert_eq!(p.time("start", 0).unwrap(), 10_000);
        assert_eq!(p.time("end", 42).unwrap(), 42);
        assert_eq!(p.time("missing", 7).unwrap(), 7);
        assert_eq!(p.limit().unwrap(), Some(3));
        let e = Params::from_pairs([("start", "yesterday")])
            .time("start", 0)
            .unwrap_err();
        assert_eq!(
            e.message(),
            "invalid parameter \"start\": Invalid time value for 'start': cannot parse \"yesterday\" to a valid timestamp"
        );
        assert_eq!(Params::from_pairs([("limit", "0")]).limit().unwrap(), None);
        assert!(Params::from_pairs([("limit", "-1")]).limit().is_err());
        assert!(Params::from_pairs([("limit", "x")]).limit().is_err());
    }

    #[test]
    fn matchers() {
        let p = Params::from_pairs([("match[]", r#"up{job="a"}"#), ("match[]", "{__name__=~\"go_.*\"}")]);
        let sets = p.matcher_sets().unwrap();
        assert_eq!(sets.len(), 2);
        let e = Params::from_pairs([("match[]", r#"{job=~".*"}"#)])
            .matcher_sets()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadData);
        assert!(
            e.message().starts_with("invalid parameter \"match[]\""),
            "{}",
            e.message()
        );
        assert!(Params::from_pairs([("match[]", "up{")]).matcher_sets().is_err());
    }

    #[test]
    fn unescape() {
        assert_eq!(unescape_label_name("job"), "job");
        assert_eq!(unescape_label_name("U__service_2e_name"), "service.name");
        assert_eq!(unescape_label_name("U__a__b"), "a_b");
        assert_eq!(unescape_label_name("U___1f600_"), "😀");
        assert_eq!(unescape_label_name("U__bad_zz_"), "U__bad_zz_");
        assert_eq!(unescape_label_name("U__open_2e"), "U__open_2e");
    }
}
