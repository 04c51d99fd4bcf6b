use std::io::Write;

use axum::http::HeaderValue;

use super::*;

const MIB: usize = 1 << 20;

fn limits(max_decoded: usize) -> BodyLimits {
    BodyLimits {
        max_body: 8 * MIB,
        max_decoded,
        decoded_limit: "limits.test_max_decoded",
        allow_snappy: false,
    }
}

fn headers(encoding: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(e) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_str(e).unwrap());
    }
    h
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap()
}

async fn decode(guard: &Arc<MemoryGuard>, enc: Option<&str>, body: Vec<u8>, max: usize) -> Result<Decoded, ApiError> {
    read_decoded(guard, &headers(enc), Body::from(body), limits(max)).await
}

#[tokio::test]
async fn every_encoding_round_trips_and_is_charged() {
    let guard = Arc::new(MemoryGuard::new(0));
    let data: Vec<u8> = (0..300_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
    for (enc, body) in [
        (None, data.clone()),
        (Some("gzip"), gzip(&data)),
        (Some("deflate"), deflate(&data)),
        (Some("zstd"), zstd(&data)),
    ] {
        let d = decode(&guard, enc, body, data.len()).await.unwrap();
        assert_eq!(d.bytes, data, "{enc:?}");
        if enc.is_some() {
            assert_eq!(d.charge.bytes(), data.len() as u64, "{enc:?}");
            assert_eq!(guard.charged(), data.len() as u64);
        }
        drop(d);
        assert_eq!(guard.charged(), 0);
    }
}

#[tokio::test]
async fn bombs_stop_at_the_decoded_limit_with_413() {
    let guard = Arc::new(MemoryGuard::new(0));
    let zeros = vec![0u8; 64 * MIB];
    for (enc, body) in [
        ("gzip", gzip(&zeros)),
        ("deflate", deflate(&zeros)),
        ("zstd", zstd(&zeros)),
    ] {
        assert!(body.len() < MIB, "{enc}: {} bytes", body.len());
        let e = decode(&guard, Some(enc), body, 4 * MIB).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PayloadTooLarge, "{enc}: {}", e.message());
        assert!(
            e.message().contains("limits.test_max_decoded") && e.message().contains(&(4 * MIB).to_string()),
            "{}",
            e.message()
        );
        assert_eq!(guard.charged(), 0, "{enc}: the refused request released its charge");
    }
    // Exactly at the limit is accepted.
    let d = decode(&guard, Some("gzip"), gzip(&zeros[..MIB]), MIB).await.unwrap();
    assert_eq!(d.bytes.len(), MIB);
}

#[tokio::test]
async fn the_memory_guard_stops_inflation_with_503() {
    let guard = Arc::new(MemoryGuard::new(10 * MIB as u64));
    guard.set_rss(4 * MIB as u64);
    // Another request already holds 4 MiB: only about 2 MiB are left for this one.
    let mut other = guard.charge();
    other.add(4 * MIB).unwrap();
    let e = decode(&guard, Some("zstd"), zstd(&vec![0u8; 16 * MIB]), 32 * MIB)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{}", e.message());
    assert!(e.message().contains("limits.max_memory"), "{}", e.message());
    assert_eq!(guard.charged(), 4 * MIB as u64);
    drop(other);
    let d = decode(&guard, Some("zstd"), zstd(&vec![0u8; 4 * MIB]), 32 * MIB)
        .await
        .unwrap();
    assert_eq!(d.bytes.len(), 4 * MIB);
}

#[tokio::test]
async fn bad_input_is_4xx_never_a_panic() {
    let guard = Arc::new(MemoryGuard::new(0));
    let e = decode(&guard, Some("br"), b"x".to_vec(), MIB).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnsupportedMediaType);
    assert!(e.message().contains("\"br\""), "{}", e.message());
    let e = decode(&guard, Some("snappy"), b"x".to_vec(), MIB).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnsupportedMediaType);
    for enc in ["gzip", "deflate", "zstd"] {
        let e = decode(&guard, Some(enc), b"\x1f\x8b\x08garbage".to_vec(), MIB)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadData, "{enc}: {}", e.message());
    }
    let mut truncated = gzip(&[7u8; 100_000]);
    truncated.truncate(truncated.len() / 2);
    let e = decode(&guard, Some("gzip"), truncated, MIB).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadData, "{}", e.message());
    let e = decode(&guard, None, vec![0; 100], 99).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PayloadTooLarge);
}
