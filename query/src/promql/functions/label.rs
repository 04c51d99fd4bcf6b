//! `label_replace` and `label_join`, with Prometheus' validation and error texts.

use regex::Regex;

use crate::error::{Error, Result};
use crate::promql::labels::{is_valid_label_name, set};
use crate::promql::value::{InstantSample, Vector};

/// `label_replace(v, dst, replacement, src, regex)`.
pub(super) fn replace(v: Vector, a: &[String]) -> Result<Vector> {
    let [dst, repl, src, re] = a else {
        return Err(Error::BadData("label_replace() takes 5 arguments".into()));
    };
    let regex = Regex::new(&format!("^(?:{re})$"))
        .map_err(|_| Error::Execution(format!("invalid regular expression in label_replace(): {re}")))?;
    if !is_valid_label_name(dst) {
        return Err(Error::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    Ok(v.into_iter()
        .map(|s| {
            let src_val = s.labels.get(src).unwrap_or("");
            let labels = match regex.captures(src_val) {
                None => s.labels.clone(),
                Some(caps) => {
                    let mut res = String::new();
                    caps.expand(repl, &mut res);
                    set(&s.labels, dst, &res)
                }
            };
            InstantSample { labels, ..s }
        })
        .collect())
}

/// `label_join(v, dst, separator, src...)`.
pub(super) fn join(v: Vector, a: &[String]) -> Result<Vector> {
    let (dst, sep, srcs) = match a {
        [dst, sep, srcs @ ..] => (dst, sep, srcs),
        _ => return Err(Error::BadData("label_join() takes at least 3 arguments".into())),
    };
    for s in srcs {
        if !is_valid_label_name(s) {
            return Err(Error::Execution(format!(
                "invalid source label name in label_join(): {s}"
            )));
        }
    }
    if !is_valid_label_name(dst) {
        return Err(Error::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    Ok(v.into_iter()
        .map(|s| {
            let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
            let labels = set(&s.labels, dst, &joined.join(sep));
            InstantSample { labels, ..s }
        })
        .collect())
}
