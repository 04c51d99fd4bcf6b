//! The HTTP side of a scrape: one client per scrape pool, the headers Prometheus sends,
//! credentials, gzip, the timeout and the body size limit.
//!
//! TLS: `https` targets use rustls with the job's `tls_config` (see `crate::tls`).

use std::time::Duration;

use nerve_proto::exposition::ACCEPT_HEADER;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue};

use crate::buildinfo;
use crate::config::scrape::ScrapeConfig;
use crate::credentials::Credentials;

/// A scrape pool's HTTP client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    credentials: Credentials,
    body_size_limit: u64,
}

/// A successful response.
#[derive(Debug)]
pub struct Fetched {
    /// The (decompressed) body.
    pub body: Vec<u8>,
    /// The response `Content-Type`, if any.
    pub content_type: Option<String>,
}

impl Fetcher {
    /// Builds the client for a scrape config. `body_size_limit` 0 means none.
    pub fn new(cfg: &ScrapeConfig, body_size_limit: u64) -> Result<Fetcher, String> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_HEADER));
        let compression = cfg.enable_compression.unwrap_or(true);
        if !compression {
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        }
        let client = crate::tls::client_builder(&cfg.http_client())?
            .default_headers(headers)
            .user_agent(format!("nerve/{}", buildinfo::VERSION))
            .gzip(compression)
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        let credentials = Credentials::from_options(
            cfg.basic_auth.as_ref(),
            cfg.authorization.as_ref(),
            (cfg.bearer_token.as_ref(), cfg.bearer_token_file.as_ref()),
        );
        Ok(Fetcher {
            client,
            credentials,
            body_size_limit,
        })
    }

    /// GETs `url` within `timeout`. Errors read like Prometheus' `lastError` strings.
    pub async fn fetch(&self, url: &str, timeout: Duration) -> Result<Fetched, String> {
        let req = self
            .client
            .get(url)
            .header("X-Prometheus-Scrape-Timeout-Seconds", timeout_header(timeout));
        let req = self.credentials.apply(req)?;
        let run = async {
            let mut resp = req
                .send()
                .await
                .map_err(|e| format!("Get {url:?}: {}", error_chain(&e)))?;
            let status = resp.status();
            if status != reqwest::StatusCode::OK {
                let reason = status.canonical_reason().unwrap_or("");
                return Err(format!("server returned HTTP status {} {reason}", status.as_u16()));
            }
            let content_type = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| format!("reading body: {}", error_chain(&e)))?
            {
                if self.body_size_limit > 0 && (body.len() + chunk.len()) as u64 > self.body_size_limit {
                    return Err("body size limit exceeded".to_owned());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Fetched { body, content_type })
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(r) => r,
            Err(_) => Err(format!("Get {url:?}: context deadline exceeded")),
        }
    }
}

/// The timeout in seconds as Go's `FormatFloat(s, 'f', -1, 64)` prints it (`10`, `0.5`).
fn timeout_header(timeout: Duration) -> String {
    let s = timeout.as_secs_f64();
    let mut out = format!("{s}");
    if out.ends_with(".0") {
        out.truncate(out.len() - 2);
    }
    out
}

/// An error with its sources, e.g. `error sending request: connection refused`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_header_formats_like_go() {
        assert_eq!(timeout_header(Duration::from_secs(10)), "10");
        assert_eq!(timeout_header(Duration::from_millis(500)), "0.5");
        assert_eq!(timeout_header(Duration::from_millis(1500)), "1.5");
    }
}
