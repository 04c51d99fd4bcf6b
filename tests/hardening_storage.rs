//! Issue #21 item 5, corruption containment, against the real binary: for each kind of stored
//! unit, data is written through the real APIs, nerve is stopped, a file is damaged, and on
//! restart nerve starts, the damaged unit is in quarantine with the counter at one per unit,
//! intact data reads back, and queries touching the damage answer 200 with a warning.

mod common;
mod hardening_storage_util;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Nerve, client, encode, eventually, numbered_files, post_otlp_json, remote_write};
use hardening_storage_util::*;
use nerve_storage::metrics::record::{Record, decode};

#[test]
fn metrics_wal_damage_in_a_middle_segment_loses_only_the_damaged_record() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "scrape_configs:\n  - job_name: none\nstorage:\n  wal:\n    segment_size: 1MB\n",
    );
    let args = ["--config", cfg.as_str()];
    let n = Nerve::start(dir.path(), &args);
    let mut exp = Expected::new();
    let t0 = now_ms() - 3_000_000;
    for r in 0..80 {
        remote_write(&n, request("walcrash", r, 200, 20, t0, 100, &mut exp));
    }
    n.kill9();
    let segs = numbered_files(&dir.path().join("metrics/wal"));
    assert!(segs.len() >= 3, "want several WAL segments: {segs:?}");
    // A samples record in the middle of the second segment.
    let seg = &segs[1];
    let mut bytes = std::fs::read(seg).unwrap();
    let samples: Vec<(usize, Vec<u8>)> = frames(&bytes)
        .into_iter()
        .filter(|(_, p)| p.first() == Some(&2))
        .map(|(o, p)| (o, p.to_vec()))
        .collect();
    assert!(samples.len() >= 3, "{} samples records", samples.len());
    let (offset, payload) = &samples[samples.len() / 2];
    let Ok(Record::Samples(lost)) = decode(payload) else {
        panic!("not a samples record")
    };
    let lost: BTreeSet<(i64, u64)> = lost.iter().map(|(_, s)| (s.t, s.v.to_bits())).collect();
    assert!(!lost.is_empty());
    damage_frame(seg, &mut bytes, *offset, payload.len());

    let n = Nerve::start(dir.path(), &args);
    assert_one_frame_skipped(&n, 8 + payload.len());
    let seg_name = seg.file_name().unwrap().to_string_lossy().into_owned();
    let q = quarantine(dir.path(), "metrics");
    assert!(q.iter().any(|e| e.starts_with(&format!("{seg_name}-"))), "{q:?}");
    assert_eq!(quarantined(&n, "metrics"), 1);
    assert!(n.stop().success());

    let got = read_back(dir.path(), "walcrash");
    let mut missing = 0usize;
    for (key, want) in &exp {
        let have = got.get(key).cloned().unwrap_or_default();
        for s in want {
            if !have.contains(s) {
                assert!(
                    lost.contains(s),
                    "{key}: acknowledged sample {s:?} outside the damaged record is lost"
                );
                missing += 1;
            }
        }
        assert!(have.is_subset(want), "{key}: samples that were never written");
    }
    assert_eq!(missing, lost.len(), "exactly the damaged record's samples are missing");
}

#[test]
fn damaged_metrics_blocks_are_quarantined_and_queries_warn() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "scrape_configs:\n  - job_name: none\nstorage:\n  metrics:\n    block_duration: 1m\n",
    );
    let args = ["--config", cfg.as_str()];
    let n = Nerve::start(dir.path(), &args);
    let mut exp = Expected::new();
    let t0 = (now_ms() / 60_000 - 60) * 60_000;
    // 60 minutes at 5 s: the head is cut into 1-minute blocks (and compacted) as they arrive.
    for r in 0..60 {
        remote_write(&n, request("blk", r, 10, 12, t0, 5_000, &mut exp));
    }
    let found = eventually(Duration::from_secs(60), || {
        let b = blocks(dir.path());
        (b.len() >= 3).then_some(b)
    });
    assert!(found.is_some(), "no blocks were cut:\n{}", n.logs());
    assert!(n.stop().success());
    let mut all = blocks(dir.path());
    assert!(all.len() >= 3, "{all:?}");
    all.sort_by_key(|b| block_range(b));
    // Garbage meta.json in the oldest block; bytes overwritten in the middle of the chunks of
    // the next one.
    let (bad_meta, bad_chunks) = (&all[0], &all[1]);
    std::fs::write(bad_meta.join("meta.json"), b"{\"ulid\": garbage").unwrap();
    let chunks = bad_chunks.join("chunks");
    let mut bytes = std::fs::read(&chunks).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 64].fill(0x5A);
    std::fs::write(&chunks, &bytes).unwrap();
    let (cmin, cmax) = block_range(bad_chunks);
    // Garbage in the middle of a third block's index: its meta.json still tells its range.
    let bad_index = &all[2];
    let index = bad_index.join("index");
    let mut bytes = std::fs::read(&index).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 16].fill(0x00);
    std::fs::write(&index, &bytes).unwrap();
    let (imin, imax) = block_range(bad_index);

    let n = Nerve::start(dir.path(), &args);
    let meta_name = bad_meta.file_name().unwrap().to_string_lossy().into_owned();
    let q = quarantine(dir.path(), "metrics");
    assert!(q.iter().any(|e| e.starts_with(&format!("{meta_name}-"))), "{q:?}");
    assert!(n.logs().contains("damaged storage unit quarantined"), "{}", n.logs());
    let index_name = bad_index.file_name().unwrap().to_string_lossy().into_owned();
    assert!(q.iter().any(|e| e.starts_with(&format!("{index_name}-"))), "{q:?}");
    assert_eq!(quarantined(&n, "metrics"), 2);
    let v = query_range(&n, "blk", imin, imax - 1);
    let warnings = v["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap_or("").contains("quarantined")),
        "no warning: {v}"
    );
    // A query over the damaged chunks: 200 with a warning, not an error.
    let v = query_range(&n, "blk", cmin, cmax - 1);
    assert_eq!(v["status"], "success", "{v}");
    let warnings = v["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings.iter().any(|w| w.as_str().unwrap_or("").contains("damaged")),
        "no warning: {v}"
    );
    let chunks_name = bad_chunks.file_name().unwrap().to_string_lossy().into_owned();
    let q = quarantine(dir.path(), "metrics");
    assert!(q.iter().any(|e| e.starts_with(&format!("{chunks_name}-"))), "{q:?}");
    assert_eq!(quarantined(&n, "metrics"), 3);
    // After the damaged blocks every sample reads back, without warnings.
    let last = exp.values().flat_map(|s| s.iter().map(|x| x.0)).max().unwrap();
    let cmax = cmax.max(imax);
    // (When the damaged blocks happen to hold the last samples, there is no range after them.)
    if cmax + 60_000 <= last {
        let v = query_range(&n, "count_over_time(blk[1m])", cmax + 60_000, last);
        assert!(v["warnings"].is_null(), "{v}");
    }
    assert!(n.stop().success());
    let got = read_back(dir.path(), "blk");
    for (key, want) in &exp {
        let have = got.get(key).cloned().unwrap_or_default();
        assert!(have.is_subset(want), "{key}: samples that were never written");
        for s in want.iter().filter(|s| s.0 > cmax) {
            assert!(have.contains(s), "{key}: sample {s:?} after the damaged blocks is lost");
        }
    }
}

#[test]
fn damaged_log_partitions_and_chunks_are_contained() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "storage:\n  logs:\n    partition: 1h\n    commit_interval: 100ms\n",
    );
    let args = ["--config", cfg.as_str()];
    let n = Nerve::start(dir.path(), &args);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
    let (old_t, new_t) = (now - 100 * 60 * 1_000_000_000, now - 5 * 60 * 1_000_000_000);
    let old: Vec<(i64, String)> = (0..200).map(|i| (old_t + i, format!("old line {i}"))).collect();
    let new: Vec<(i64, String)> = (0..200).map(|i| (new_t + i, format!("new line {i}"))).collect();
    loki_push(&n, "old", &old);
    loki_push(&n, "new", &new);
    let (p_old, p_new) = (partition_of(dir.path(), old_t), partition_of(dir.path(), new_t));
    assert_ne!(p_old, p_new);
    let flushed = eventually(Duration::from_secs(30), || {
        (p_old.join("meta.json").exists()
            && std::fs::read_dir(p_new.join("chunks")).is_ok_and(|mut d| d.next().is_some()))
        .then_some(())
    });
    assert!(flushed.is_some(), "partitions not flushed:\n{}", n.logs());
    assert!(n.stop().success());

    // 1. Garbage meta.json: nerve starts, the partition is quarantined, the other one serves.
    std::fs::write(p_old.join("meta.json"), b"not json at all").unwrap();
    let n = Nerve::start(dir.path(), &args);
    let name = p_old.file_name().unwrap().to_string_lossy().into_owned();
    let q = quarantine(dir.path(), "logs");
    assert!(q.iter().any(|e| e.starts_with(&format!("{name}-"))), "{q:?}");
    assert_eq!(quarantined(&n, "logs"), 1);
    let want_new: Vec<String> = new.iter().map(|e| e.1.clone()).collect();
    let v = loki_range(&n, "{job=\"new\"}", new_t - 1, now + 1);
    assert_eq!(lines(&v), want_new);
    assert!(v["warnings"].is_null(), "{v}");
    // A query over the quarantined partition's range says so.
    let v = loki_range(&n, "{job=\"old\"}", old_t - 1, old_t + 1_000_000);
    let warnings = v["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap_or("").contains("quarantined")),
        "no warning: {v}"
    );
    assert!(n.stop().success());

    // 2. A damaged chunk: the query answers 200 with a warning instead of failing.
    let chunk = std::fs::read_dir(p_new.join("chunks"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&chunk).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 16].fill(0xA7);
    std::fs::write(&chunk, &bytes).unwrap();
    let n = Nerve::start(dir.path(), &args);
    let v = loki_range(&n, "{job=\"new\"}", new_t - 1, now + 1);
    assert_eq!(v["status"], "success");
    let warnings = v["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings.iter().any(|w| w.as_str().unwrap_or("").contains("damaged")),
        "no warning: {v}"
    );
    // The damaged chunk's file is copied to quarantine (it also holds intact chunks) and counted.
    let q = quarantine(dir.path(), "logs");
    assert!(
        q.iter().any(|e| e.starts_with("partition-") && e.contains("-chunk-")),
        "{q:?}"
    );
    assert_eq!(quarantined(&n, "logs"), 1);
    assert!(n.stop().success());
}

const TRACE_A: &str = "5b8efff798038103d269b633813fc60c";
const TRACE_B: &str = "0af7651916cd43dd8448eb211c80319c";

#[test]
fn damaged_trace_segments_are_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let start_ns = (now_ms() as u64 - 60_000) * 1_000_000;
    // Trace A goes into a segment (a clean stop flushes the head).
    let n = Nerve::start(dir.path(), &[]);
    post_otlp_json(&n, "/v1/traces", &otlp_trace(TRACE_A, "svc-a", start_ns));
    assert!(n.stop().success());
    let segs = segments(dir.path());
    assert_eq!(segs.len(), 1, "{segs:?}");
    // Trace B stays in the WAL (kill -9 before any flush).
    let n = Nerve::start(dir.path(), &[]);
    post_otlp_json(&n, "/v1/traces", &otlp_trace(TRACE_B, "svc-b", start_ns + 1000));
    n.kill9();
    // A truncated segment: quarantined at start.
    let len = std::fs::metadata(&segs[0]).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segs[0])
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let name = segs[0].file_name().unwrap().to_string_lossy().into_owned();
    let q = quarantine(dir.path(), "traces");
    assert!(q.iter().any(|e| e.starts_with(&format!("{name}-"))), "{q:?}");
    assert_eq!(quarantined(&n, "traces"), 1);
    let (s, v) = jaeger_trace(&n, TRACE_B);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["spans"].as_array().map(Vec::len), Some(1), "{v}");
    // Answers over the damaged range say so: Jaeger's trace warnings, Tempo's PARTIAL status,
    // and a Warning header everywhere (also where the body has no field for it).
    let warned = |w: &serde_json::Value| {
        w.as_array()
            .is_some_and(|a| a.iter().any(|w| w.as_str().is_some_and(|w| w.contains("quarantined"))))
    };
    assert!(warned(&v["data"][0]["warnings"]), "{v}");
    let r = client()
        .get(n.url(&format!("/tempo/api/v2/traces/{TRACE_B}")))
        .send()
        .unwrap();
    assert!(
        r.headers()
            .get("warning")
            .is_some_and(|h| h.to_str().unwrap().contains("quarantined"))
    );
    let v: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    assert_eq!(v["status"], "PARTIAL", "{v}");
    assert!(v["message"].as_str().is_some_and(|m| m.contains("quarantined")), "{v}");
    let search = format!(
        "/tempo/api/search?tags={}&start={}&end={}",
        encode("service.name=svc-b"),
        start_ns / 1_000_000_000 - 60,
        start_ns / 1_000_000_000 + 60
    );
    let r = client().get(n.url(&search)).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()
            .get("warning")
            .is_some_and(|h| h.to_str().unwrap().contains("quarantined"))
    );
    let r = client()
        .get(n.url(&format!("/jaeger/api/traces/{TRACE_A}")))
        .send()
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        404,
        "a trace only in the quarantined segment is not found, not an error"
    );
    assert!(r.headers().get("warning").is_some(), "the 404 says data may be missing");
    assert!(n.stop().success());

    // Bytes overwritten inside a segment's blocks (its footer still checks out): reads skip the
    // block, the segment is quarantined by the next maintenance pass.
    let segs = segments(dir.path());
    assert_eq!(segs.len(), 1, "{segs:?}");
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    bytes[8..40].fill(0x33); // just after the magic: the first block
    std::fs::write(&segs[0], &bytes).unwrap();
    let n = Nerve::start(dir.path(), &[]);
    let (s, v) = jaeger_trace(&n, TRACE_B);
    assert!(s == 200 || s == 404, "{s} {v}");
    let r = client().get(n.url(&search)).send().unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    let q = eventually(Duration::from_secs(20), || {
        let q = quarantine(dir.path(), "traces");
        (q.len() == 2).then_some(q)
    });
    assert!(q.is_some(), "segment not quarantined:\n{}", n.logs());
    assert_eq!(quarantined(&n, "traces"), 1, "counted once in this process");
    assert!(n.stop().success());
}

#[test]
fn log_wal_damage_in_a_middle_segment_loses_only_the_damaged_push() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "storage:\n  wal:\n    segment_size: 1MB\n");
    let args = ["--config", cfg.as_str()];
    let n = Nerve::start(dir.path(), &args);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
    let t0 = now - 20 * 60 * 1_000_000_000;
    let pad = "x".repeat(1000);
    let mut pushes: Vec<Vec<String>> = Vec::new();
    for p in 0..150i64 {
        let entries: Vec<(i64, String)> = (0..20i64)
            .map(|i| (t0 + p * 1000 + i, format!("push {p} line {i} {pad}")))
            .collect();
        loki_push(&n, "walcrash", &entries);
        pushes.push(entries.into_iter().map(|e| e.1).collect());
    }
    n.kill9();
    let segs = numbered_files(&dir.path().join("logs/wal"));
    assert!(segs.len() >= 3, "want several WAL segments: {segs:?}");
    let seg = &segs[1];
    let mut bytes = std::fs::read(seg).unwrap();
    let fr = frames(&bytes);
    assert!(fr.len() >= 3);
    let (offset, payload_len) = (fr[fr.len() / 2].0, fr[fr.len() / 2].1.len());
    damage_frame(seg, &mut bytes, offset, payload_len);

    let n = Nerve::start(dir.path(), &args);
    assert_one_frame_skipped(&n, 8 + payload_len);
    assert_eq!(quarantined(&n, "logs"), 1);
    let seg_name = seg.file_name().unwrap().to_string_lossy().into_owned();
    let q = quarantine(dir.path(), "logs");
    assert!(q.iter().any(|e| e.starts_with(&format!("{seg_name}-"))), "{q:?}");
    let got: BTreeSet<String> = lines(&loki_range(&n, "{job=\"walcrash\"}", t0 - 1, now + 1))
        .into_iter()
        .collect();
    let lost: Vec<usize> = (0..pushes.len())
        .filter(|&p| pushes[p].iter().any(|l| !got.contains(l)))
        .collect();
    assert_eq!(lost.len(), 1, "pushes with missing lines: {lost:?}");
    assert!(
        pushes[lost[0]].iter().all(|l| !got.contains(l)),
        "the damaged push is lost whole"
    );
    assert_eq!(got.len(), (pushes.len() - 1) * 20);
    assert!(n.stop().success());
}

#[test]
fn damaged_tantivy_files_answer_200_and_the_partition_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "storage:\n  logs:\n    commit_interval: 100ms\n");
    let args = ["--config", cfg.as_str()];
    let n = Nerve::start(dir.path(), &args);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
    let t0 = now - 10 * 60 * 1_000_000_000;
    for s in 0..20 {
        let entries: Vec<(i64, String)> = (0..50)
            .map(|i| (t0 + i, format!("stream {s} line {i} word{i}")))
            .collect();
        loki_push(&n, &format!("tv{s}"), &entries);
    }
    let part = partition_of_day(dir.path(), t0);
    let flushed = eventually(Duration::from_secs(30), || {
        std::fs::read_dir(part.join("chunks"))
            .is_ok_and(|mut d| d.next().is_some())
            .then_some(())
    });
    assert!(flushed.is_some(), "not flushed:\n{}", n.logs());
    assert!(n.stop().success());
    let mut damaged = Vec::new();
    for f in std::fs::read_dir(&part).unwrap().flatten() {
        let p = f.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_file() && !name.starts_with('.') && name != "meta.json" {
            let mut bytes = std::fs::read(&p).unwrap();
            if bytes.len() > 64 {
                let mid = bytes.len() / 2;
                bytes[mid..mid + 16].fill(0xC3);
                std::fs::write(&p, &bytes).unwrap();
                damaged.push(name);
            }
        }
    }
    assert!(!damaged.is_empty());
    let n = Nerve::start(dir.path(), &args);
    let pname = part.file_name().unwrap().to_string_lossy().into_owned();
    let at_start = quarantine(dir.path(), "logs")
        .iter()
        .any(|e| e.starts_with(&format!("{pname}-")));
    let v = loki_range(&n, "{job=~\"tv.*\"} |= \"word7\"", t0 - 1, now + 1);
    let warnings = v["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        !warnings.is_empty(),
        "damaged {damaged:?}, quarantined at start: {at_start}, no warning: {v}"
    );
    assert!(n.stop().success());
    let n = Nerve::start(dir.path(), &args);
    let q = quarantine(dir.path(), "logs");
    assert!(
        q.iter().any(|e| e.starts_with(&format!("{pname}-"))),
        "partition not quarantined: {q:?}\n{}",
        n.logs()
    );
    assert!(n.stop().success());
}

/// Overwrites 32 bytes in the middle of the payload of the WAL frame at `offset` (8-byte
/// header, then `payload_len` bytes) and writes the segment back.
fn damage_frame(seg: &std::path::Path, bytes: &mut [u8], offset: usize, payload_len: usize) {
    let mid = offset + 8 + payload_len / 2;
    bytes[mid..mid + 32].fill(0xEE);
    std::fs::write(seg, &bytes).unwrap();
}

/// nerve's log reports exactly one skipped record of `frame_len` bytes.
fn assert_one_frame_skipped(n: &Nerve, frame_len: usize) {
    let log = n.logs();
    let line = log
        .lines()
        .find(|l| l.contains("damaged records skipped"))
        .unwrap_or_else(|| panic!("no skip report:\n{log}"));
    assert!(line.contains("skipped_records=1"), "{line}");
    assert!(line.contains(&format!("skipped_bytes={frame_len}")), "{line}");
}
