//! Value types of the config file: Prometheus-style durations (`1h30m`, `15d`) and byte sizes
//! (`512MB`, `10GB`, or a plain integer).
//!
//! Both parse and print the way Prometheus does (`model.Duration`, `units.Base2Bytes`), so a
//! `prometheus.yml` reads unchanged and `Serialize` gives back the canonical spelling.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a duration or size string was rejected. The message quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(String);

/// A non-negative duration written Prometheus-style: `<n>y<n>w<n>d<n>h<n>m<n>s<n>ms`, units in
/// this order, each optional but at least one present (`"0"` alone is also allowed).
/// A year is 365 days, a week 7 days, as in Prometheus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub Duration);

/// The units of a Prometheus duration, largest first, with their length in milliseconds.
const DURATION_UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

impl PromDuration {
    /// Builds a duration from whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        PromDuration(Duration::from_secs(s))
    }

    /// The wrapped `std` duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// Parses Prometheus duration syntax, e.g. `1h30m`, `15d`, `2y`, `500ms`, `0`.
    pub fn parse(s: &str) -> Result<Self, UnitError> {
        let bad = || UnitError(format!("not a valid duration string: {s:?}"));
        if s.is_empty() {
            return Err(UnitError("empty duration string".to_owned()));
        }
        if s == "0" {
            return Ok(PromDuration(Duration::ZERO));
        }
        let mut rest = s;
        let mut total_ms: u64 = 0;
        // Index into DURATION_UNITS of the next unit allowed: units must come largest first.
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            // "ms" must be tried before "m".
            let (idx, unit_len) = DURATION_UNITS
                .iter()
                .enumerate()
                .skip(next_unit)
                .filter(|(_, (u, _))| rest.starts_with(u))
                .map(|(i, (u, _))| (i, u.len()))
                .max_by_key(|&(_, len)| len)
                .ok_or_else(bad)?;
            rest = &rest[unit_len..];
            next_unit = idx + 1;
            let ms = n.checked_mul(DURATION_UNITS[idx].1).ok_or_else(bad)?;
            total_ms = total_ms.checked_add(ms).ok_or_else(bad)?;
        }
        // Prometheus stores durations as int64 nanoseconds.
        if total_ms > (i64::MAX as u64) / 1_000_000 {
            return Err(UnitError(format!("duration out of range: {s:?}")));
        }
        Ok(PromDuration(Duration::from_millis(total_ms)))
    }
}

impl fmt::Display for PromDuration {
    /// Canonical Prometheus spelling: `0s`, `1h30m`, `2w`, `1y`, `1s500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis() as u64;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, len) in DURATION_UNITS {
            // Prometheus only prints weeks and years when they divide the rest exactly.
            if (unit == "w" || unit == "y") && !ms.is_multiple_of(len) {
                continue;
            }
            if ms >= len {
                write!(f, "{}{unit}", ms / len)?;
                ms %= len;
            }
        }
        Ok(())
    }
}

impl FromStr for PromDuration {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PromDuration::parse(s)
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PromDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A size in bytes: a plain integer, or a number with a base-2 unit (`B`, `KB`/`KiB`, `MB`/`MiB`,
/// `GB`/`GiB`, `TB`/`TiB`, `PB`/`PiB`, `EB`/`EiB`; `KB` = 1024 as in Prometheus'
/// `--storage.tsdb.retention.size`). Fractions are allowed with a unit (`1.5GB`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Parses a size string such as `10GB`, `512MiB`, `1.5GB` or `4096`.
    pub fn parse(s: &str) -> Result<Self, UnitError> {
        let bad = || UnitError(format!("not a valid size: {s:?} (use bytes or e.g. 512MB, 10GB)"));
        let t = s.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() {
            return Err(bad());
        }
        let shift = match unit.trim().to_ascii_uppercase().as_str() {
            "" | "B" => 0,
            "K" | "KB" | "KIB" => 10,
            "M" | "MB" | "MIB" => 20,
            "G" | "GB" | "GIB" => 30,
            "T" | "TB" | "TIB" => 40,
            "P" | "PB" | "PIB" => 50,
            "E" | "EB" | "EIB" => 60,
            _ => return Err(bad()),
        };
        if let Ok(n) = num.parse::<u64>() {
            return n.checked_mul(1u64 << shift).map(ByteSize).ok_or_else(bad);
        }
        let f: f64 = num.parse().map_err(|_| bad())?;
        let v = (f * (1u64 << shift) as f64).round();
        if !v.is_finite() || v < 0.0 || v >= u64::MAX as f64 {
            return Err(bad());
        }
        Ok(ByteSize(v as u64))
    }
}

impl fmt::Display for ByteSize {
    /// The largest unit that divides the size exactly: `10GB`, `512MB`, `1000B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u32); 6] = [("EB", 60), ("PB", 50), ("TB", 40), ("GB", 30), ("MB", 20), ("KB", 10)];
        let n = self.0;
        if n != 0 {
            for (unit, shift) in UNITS {
                let len = 1u64 << shift;
                if n.is_multiple_of(len) {
                    return write!(f, "{}{unit}", n / len);
                }
            }
        }
        write!(f, "{n}B")
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size in bytes or a string like \"10GB\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("size must not be negative: {v}")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Duration {
        PromDuration::parse(s).unwrap().0
    }

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(d("0"), Duration::ZERO);
        assert_eq!(d("500ms"), Duration::from_millis(500));
        assert_eq!(d("15s"), Duration::from_secs(15));
        assert_eq!(d("1h30m"), Duration::from_secs(5400));
        assert_eq!(d("15d"), Duration::from_secs(15 * 86400));
        assert_eq!(d("1w"), Duration::from_secs(7 * 86400));
        assert_eq!(d("2y"), Duration::from_secs(2 * 365 * 86400));
        assert_eq!(d("1m30s500ms"), Duration::from_millis(90_500));
        assert_eq!(
            d("1y2w3d4h5m6s7ms").as_millis(),
            ((365 + 14 + 3) * 86400 + 4 * 3600 + 5 * 60 + 6) * 1000 + 7
        );
    }

    #[test]
    fn rejects_bad_durations() {
        for s in [
            "",
            "1",
            "5x",
            "m",
            "1m1h",
            "1s1s",
            "-1s",
            "1.5h",
            "1h ",
            " 1h",
            "1msm",
            "99999999999999999y",
        ] {
            assert!(PromDuration::parse(s).is_err(), "{s:?} should fail");
        }
        let e = PromDuration::parse("5x").unwrap_err();
        assert_eq!(e.to_string(), "not a valid duration string: \"5x\"");
    }

    #[test]
    fn formats_like_prometheus() {
        for (s, want) in [
            ("0", "0s"),
            ("90s", "1m30s"),
            ("14d", "2w"),
            ("15d", "15d"),
            ("365d", "1y"),
            ("1500ms", "1s500ms"),
        ] {
            assert_eq!(PromDuration::parse(s).unwrap().to_string(), want);
        }
    }

    #[test]
    fn parses_sizes() {
        let b = |s: &str| ByteSize::parse(s).unwrap().0;
        assert_eq!(b("4096"), 4096);
        assert_eq!(b("512MB"), 512 << 20);
        assert_eq!(b("10GB"), 10 << 30);
        assert_eq!(b("10GiB"), 10 << 30);
        assert_eq!(b("1.5GB"), 3 << 29);
        assert_eq!(b("1kb"), 1024);
        for s in ["", "GB", "10XB", "-1GB", "1e3"] {
            assert!(ByteSize::parse(s).is_err(), "{s:?} should fail");
        }
        assert_eq!(ByteSize(10 << 30).to_string(), "10GB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }
}
