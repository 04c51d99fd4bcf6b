//! nerve's `limits:` section: bounds on every input, so one client cannot exhaust memory.

use serde::{Deserialize, Serialize};

use super::units::ByteSize;

/// Default cap on a compressed remote-write body.
pub const DEFAULT_REMOTE_WRITE_MAX_BODY: u64 = 32 << 20;
/// Default cap on a decompressed remote-write body.
pub const DEFAULT_REMOTE_WRITE_MAX_DECODED: u64 = 256 << 20;
/// Default cap on decompressed remote-write bytes being processed at once.
pub const DEFAULT_REMOTE_WRITE_MAX_INFLIGHT_BYTES: u64 = 256 << 20;
/// Default cap on remote-write requests being processed at once.
pub const DEFAULT_REMOTE_WRITE_MAX_INFLIGHT_REQUESTS: usize = 32;

/// The `limits:` section. Every field is optional; the accessors give the effective value.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest accepted remote-write body as sent (snappy-compressed); larger → 413.
    /// Default 32MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_write_max_body_bytes: Option<ByteSize>,
    /// Largest accepted remote-write body after decompression; larger → 413. Default 256MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_write_max_decoded_bytes: Option<ByteSize>,
    /// Decompressed remote-write bytes processed concurrently; when full, requests get
    /// 503 + Retry-After and the sender retries. Default 256MB; must be at least
    /// `remote_write_max_decoded_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_write_max_inflight_bytes: Option<ByteSize>,
    /// Remote-write requests processed concurrently (same back-pressure). Default 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_write_max_inflight_requests: Option<usize>,
    /// Labels per series accepted on ingest (0 = no limit). Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_labels_per_series: Option<usize>,
    /// Longest label name accepted on ingest, in bytes (0 = no limit). Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_label_name_length: Option<usize>,
    /// Longest label value accepted on ingest, in bytes (0 = no limit). Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_label_value_length: Option<usize>,
}

impl LimitsConfig {
    /// Effective compressed body cap in bytes.
    pub fn remote_write_max_body(&self) -> usize {
        to_usize(
            self.remote_write_max_body_bytes
                .map_or(DEFAULT_REMOTE_WRITE_MAX_BODY, ByteSize::bytes),
        )
    }

    /// Effective decompressed body cap in bytes.
    pub fn remote_write_max_decoded(&self) -> usize {
        to_usize(
            self.remote_write_max_decoded_bytes
                .map_or(DEFAULT_REMOTE_WRITE_MAX_DECODED, ByteSize::bytes),
        )
    }

    /// Effective in-flight decoded bytes cap.
    pub fn remote_write_max_inflight_bytes(&self) -> usize {
        to_usize(
            self.remote_write_max_inflight_bytes
                .map_or(DEFAULT_REMOTE_WRITE_MAX_INFLIGHT_BYTES, ByteSize::bytes),
        )
        .max(self.remote_write_max_decoded())
    }

    /// Effective in-flight request cap.
    pub fn remote_write_max_inflight_requests(&self) -> usize {
        self.remote_write_max_inflight_requests
            .unwrap_or(DEFAULT_REMOTE_WRITE_MAX_INFLIGHT_REQUESTS)
    }

    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), String> {
        if self.remote_write_max_body() == 0 || self.remote_write_max_decoded() == 0 {
            return Err(
                "limits.remote_write_max_body_bytes and remote_write_max_decoded_bytes must be greater than 0"
                    .to_owned(),
            );
        }
        if let Some(b) = self.remote_write_max_inflight_bytes
            && to_usize(b.bytes()) < self.remote_write_max_decoded()
        {
            return Err(format!(
                "limits.remote_write_max_inflight_bytes ({b}) must be at least limits.remote_write_max_decoded_bytes ({})",
                ByteSize(self.remote_write_max_decoded() as u64)
            ));
        }
        if self.remote_write_max_inflight_requests() == 0 {
            return Err("limits.remote_write_max_inflight_requests must be greater than 0".to_owned());
        }
        Ok(())
    }
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
