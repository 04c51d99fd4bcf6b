//! Helpers of `tests/hardening_storage.rs`: writing through the real APIs, reading back,
//! and looking at the data directory and `/metrics`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::{Nerve, client, encode, loki_push_json};
use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};
use nerve_storage::metrics::{SyncPolicy, Tsdb, TsdbOptions};
use nerve_storage::{MatchOp, Matcher};
use serde_json::{Value, json};

/// Every acknowledged sample: series key → (t, value bits).
pub type Expected = BTreeMap<String, BTreeSet<(i64, u64)>>;

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

pub fn write_config(dir: &Path, yaml: &str) -> String {
    let cfg = dir.join("nerve.yml");
    std::fs::write(&cfg, yaml).unwrap();
    cfg.to_str().unwrap().to_owned()
}

/// Request `r` of `nseries` series with `per` samples each, after `t0` at `step` ms.
pub fn request(name: &str, r: usize, nseries: usize, per: usize, t0: i64, step: i64, exp: &mut Expected) -> Vec<u8> {
    let mut req = WriteRequest::default();
    for i in 0..nseries {
        let key = format!("{name}/{i}");
        let mut ts = TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: name.into(),
                },
                Label {
                    name: "i".into(),
                    value: i.to_string(),
                },
            ],
            ..Default::default()
        };
        for k in 0..per {
            let t = t0 + ((r * per + k) as i64) * step;
            let v = (r * 1_000_000 + i * 1000 + k) as f64 + 0.25;
            ts.samples.push(Sample { value: v, timestamp: t });
            exp.entry(key.clone()).or_default().insert((t, v.to_bits()));
        }
        req.timeseries.push(ts);
    }
    nerve_proto::encode_v1(&req)
}

/// `nerve_storage_quarantined_total{signal=...}` from `/metrics`.
pub fn quarantined(n: &Nerve, signal: &str) -> u64 {
    let text = client().get(n.url("/metrics")).send().unwrap().text().unwrap();
    let prefix = format!("nerve_storage_quarantined_total{{signal=\"{signal}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// Names of the entries of `<data>/<signal>/quarantine`.
pub fn quarantine(data: &Path, signal: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(data.join(signal).join("quarantine"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `(offset, payload)` of every record frame of a WAL segment.
pub fn frames(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, &bytes[at + 8..at + 8 + len]));
        at += 8 + len;
    }
    out
}

/// Every sample of metric `name`, read in-process (nerve stopped).
pub fn read_back(data: &Path, name: &str) -> Expected {
    let db = Tsdb::open(
        &data.join("metrics"),
        TsdbOptions {
            sync: SyncPolicy::Never,
            ..Default::default()
        },
    )
    .unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut got = Expected::new();
    for s in q
        .select(&[Matcher::new(MatchOp::Equal, "__name__", name).unwrap()])
        .unwrap()
    {
        let key = format!("{name}/{}", s.labels.get("i").unwrap());
        got.insert(key, s.samples().unwrap().iter().map(|x| (x.t, x.v.to_bits())).collect());
    }
    db.close().unwrap();
    got
}

/// Block directories under `<data>/metrics/blocks`.
pub fn blocks(data: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data.join("metrics/blocks"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("meta.json").exists())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn block_range(b: &Path) -> (i64, i64) {
    let meta: Value = serde_json::from_slice(&std::fs::read(b.join("meta.json")).unwrap()).unwrap();
    (meta["minTime"].as_i64().unwrap(), meta["maxTime"].as_i64().unwrap())
}

pub fn query_range(n: &Nerve, q: &str, start_ms: i64, end_ms: i64) -> Value {
    get_200_json(
        n,
        &format!(
            "/api/v1/query_range?query={}&start={}&end={}&step=30",
            encode(q),
            start_ms as f64 / 1000.0,
            end_ms as f64 / 1000.0
        ),
    )
}

pub fn loki_push(n: &Nerve, stream: &str, entries: &[(i64, String)]) {
    let values: Vec<Value> = entries.iter().map(|(t, l)| json!([t.to_string(), l])).collect();
    loki_push_json(n, &json!({"streams": [{"stream": {"job": stream}, "values": values}]}));
}

pub fn loki_range(n: &Nerve, q: &str, start_ns: i64, end_ns: i64) -> Value {
    get_200_json(
        n,
        &format!(
            "/loki/api/v1/query_range?query={}&start={start_ns}&end={end_ns}&direction=forward&limit=5000",
            encode(q)
        ),
    )
}

/// GET `path_and_query`, assert 200 and return the body's JSON.
fn get_200_json(n: &Nerve, path_and_query: &str) -> Value {
    let r = client().get(n.url(path_and_query)).send().unwrap();
    let status = r.status().as_u16();
    let body = r.text().unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

pub fn lines(v: &Value) -> Vec<String> {
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().iter())
        .map(|e| e[1].as_str().unwrap().to_owned())
        .collect()
}

pub fn partition_of(data: &Path, ts_ns: i64) -> PathBuf {
    let hour = 3_600_000_000_000i64;
    data.join("logs/partitions")
        .join((ts_ns.div_euclid(hour) * hour).to_string())
}

pub fn otlp_trace(trace: &str, service: &str, start_ns: u64) -> Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "t"}, "spans": [
            {"traceId": trace, "spanId": "eee19b7ec3c1b174", "name": "GET /a", "kind": 2,
             "startTimeUnixNano": start_ns.to_string(), "endTimeUnixNano": (start_ns + 1_000_000).to_string()}
        ]}]
    }]})
}

pub fn jaeger_trace(n: &Nerve, trace: &str) -> (u16, Value) {
    let r = client()
        .get(n.url(&format!("/jaeger/api/traces/{trace}")))
        .send()
        .unwrap();
    let s = r.status().as_u16();
    (s, serde_json::from_str(&r.text().unwrap()).unwrap_or(Value::Null))
}

pub fn segments(data: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for p in std::fs::read_dir(data.join("traces/partitions")).unwrap().flatten() {
        for f in std::fs::read_dir(p.path()).unwrap().flatten() {
            if f.path().extension().is_some_and(|e| e == "seg") {
                v.push(f.path());
            }
        }
    }
    v.sort();
    v
}

pub fn partition_of_day(data: &Path, ts_ns: i64) -> PathBuf {
    let day = 86_400_000_000_000i64;
    data.join("logs/partitions")
        .join((ts_ns.div_euclid(day) * day).to_string())
}
