//! OTLP metrics → Prometheus series, translated the way Prometheus' own OTLP receiver does.
//!
//! [`translate_metrics`] turns an `ExportMetricsServiceRequest` into the same
//! [`DecodedSeries`] view remote write produces, plus per-family metadata, so the binary
//! stores both through one path. What becomes what:
//!
//! * **Names and labels** follow the `naming` rules ([`metric_name`], [`label_name`]): unit and type suffixes (`_seconds`, `_total`,
//!   `_ratio`), attribute keys sanitized (`http.method` → `http_method`); attributes whose
//!   keys collide after sanitizing are joined with `;` in key order.
//! * **Resource**: `service.name` (prefixed with `service.namespace/` when present) becomes
//!   `job`, `service.instance.id` becomes `instance`; these two override point attributes.
//!   The other resource attributes are not copied onto every series but go to one
//!   `target_info` gauge (value 1) per resource, at the newest timestamp of its points,
//!   when the resource has any.
//! * **Gauges** → one gauge series per point. **Sums**: monotonic → counter `<name>_total`;
//!   non-monotonic → gauge.
//! * **Histograms** (explicit buckets) → classic `<name>_bucket{le}` (cumulative counts,
//!   always ending with `le="+Inf"` = count), `<name>_sum` (when sent) and `<name>_count`.
//! * **Summaries** → `<name>{quantile}`, `<name>_sum`, `<name>_count`.
//! * **Temporality**: only cumulative sums and histograms are stored. Delta (and
//!   unspecified) points are **rejected**, counted in the partial-success answer with a
//!   message saying to configure the exporter for cumulative temporality: converting
//!   deltas would need per-series state across requests and senders, and silently summing
//!   them wrongly is worse than refusing them.
//! * **Exponential histograms** are rejected (native histograms are not stored yet).
//! * **Exemplars** keep their filtered attributes as labels plus `trace_id` and `span_id`
//!   (lower-case hex); on histograms each goes to the lowest bucket whose bound is ≥ its
//!   value.
//! * A point flagged "no recorded value" becomes the Prometheus staleness marker.

mod naming;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint, exemplar,
    metric::Data, number_data_point,
};

use crate::{DecodedExemplar, DecodedMetadata, DecodedSeries, MetricKind};

pub use naming::{NameKind, format_float, label_name, metric_name, prometheus_unit};

/// The bit pattern of Prometheus' staleness marker (a NaN no arithmetic produces).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`.
const FLAG_NO_RECORDED_VALUE: u32 = 1;

/// The name of the per-resource info series.
pub const TARGET_INFO: &str = "target_info";

/// What one export request becomes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MetricsBatch {
    /// Series with their samples and exemplars; labels sorted by name, unique, without
    /// empty values, `__name__` included. A series may appear more than once (once per
    /// data point).
    pub series: Vec<DecodedSeries>,
    /// Type, help and unit per metric family (families named as stored: counters with
    /// `_total`, histograms and summaries without their `_bucket`/`_sum`/`_count`).
    pub metadata: Vec<DecodedMetadata>,
    /// OTLP data points translated.
    pub accepted_points: u64,
    /// OTLP data points refused (delta temporality, exponential histograms, malformed).
    pub rejected_points: u64,
    /// Why the first refused point was refused.
    pub first_rejection: Option<String>,
}

impl MetricsBatch {
    fn reject(&mut self, points: usize, why: impl FnOnce() -> String) {
        if points == 0 {
            return;
        }
        self.rejected_points += points as u64;
        if self.first_rejection.is_none() {
            self.first_rejection = Some(why());
        }
    }
}

/// Translates a whole export request. Never fails: bad points are counted in
/// [`MetricsBatch::rejected_points`] and the rest is kept.
pub fn translate_metrics(req: &ExportMetricsServiceRequest) -> MetricsBatch {
    let mut out = MetricsBatch::default();
    let mut any_target_info = false;
    for rm in &req.resource_metrics {
        let attrs = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let resource = ResourceLabels::new(attrs);
        let mut newest = None;
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                translate_metric(m, &resource, &mut out, &mut newest);
            }
        }
        if let Some(t) = newest
            && let Some(info) = resource.target_info()
        {
            any_target_info = true;
            out.series.push(DecodedSeries {
                labels: info,
                samples: vec![(t, 1.0)],
                ..Default::default()
            });
        }
    }
    if any_target_info {
        out.metadata.push(DecodedMetadata {
            metric_family: TARGET_INFO.to_owned(),
            kind: MetricKind::Gauge,
            help: "Target metadata".to_owned(),
            unit: String::new(),
        });
    }
    out
}

/// `job`, `instance` and the attributes for `target_info` of one resource.
struct ResourceLabels<'a> {
    job: Option<String>,
    instance: Option<String>,
    attrs: &'a [KeyValue],
}

const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

impl<'a> ResourceLabels<'a> {
    fn new(attrs: &'a [KeyValue]) -> Self {
        let get = |k: &str| {
            attrs
                .iter()
                .find(|kv| kv.key == k)
                .map(|kv| value_string(kv.value.as_ref()))
        };
        let job = get(SERVICE_NAME).map(|name| match get(SERVICE_NAMESPACE) {
            Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
            _ => name,
        });
        ResourceLabels {
            job,
            instance: get(SERVICE_INSTANCE_ID),
            attrs,
        }
    }

    /// The `target_info` labels, or `None` when the resource has nothing beyond the
    /// attributes already turned into `job` and `instance`.
    fn target_info(&self) -> Option<Vec<(String, String)>> {
        let rest: Vec<KeyValue> = self
            .attrs
            .iter()
            .filter(|kv| ![SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID].contains(&kv.key.as_str()))
            .cloned()
            .collect();
        if rest.is_empty() {
            return None;
        }
        Some(series_labels(&rest, self, TARGET_INFO, None))
    }
}

/// Builds sorted, unique labels: sanitized attributes (colliding keys joined with `;`),
/// then `job`/`instance`, then `extra` (`le`, `quantile`) and `__name__`, each overriding
/// what came before. Empty values are dropped (in Prometheus an empty label is no label).
fn series_labels(
    attrs: &[KeyValue],
    resource: &ResourceLabels<'_>,
    name: &str,
    extra: Option<(&str, String)>,
) -> Vec<(String, String)> {
    let mut sorted: Vec<&KeyValue> = attrs.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for kv in sorted {
        let n = label_name(&kv.key);
        if n.is_empty() {
            continue;
        }
        let v = value_string(kv.value.as_ref());
        match map.entry(n) {
            Entry::Occupied(mut e) => {
                let joined = e.get_mut();
                joined.push(';');
                joined.push_str(&v);
            }
            Entry::Vacant(e) => {
                e.insert(v);
            }
        }
    }
    if let Some(job) = &resource.job {
        map.insert("job".to_owned(), job.clone());
    }
    if let Some(instance) = &resource.instance {
        map.insert("instance".to_owned(), instance.clone());
    }
    if let Some((k, v)) = extra {
        map.insert(k.to_owned(), v);
    }
    map.insert("__name__".to_owned(), name.to_owned());
    map.into_iter().filter(|(_, v)| !v.is_empty()).collect()
}

/// An attribute value as a label value: strings as they are, numbers and booleans in
/// their usual text form, bytes as base64, arrays and maps as JSON.
fn value_string(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => format_float(*d),
        Some(any_value::Value::BytesValue(b)) => STANDARD.encode(b),
        // Dictionary references exist only in profiles; metrics carry no dictionary.
        Some(any_value::Value::StringValueStrindex(_)) => String::new(),
        Some(other) => json_value(Some(other)).to_string(),
    }
}

/// The JSON form of an attribute value (arrays and maps as label values).
fn json_value(v: Option<&any_value::Value>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        None | Some(any_value::Value::StringValueStrindex(_)) => J::Null,
        Some(any_value::Value::StringValue(s)) => J::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => J::Bool(*b),
        Some(any_value::Value::IntValue(i)) => J::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Some(any_value::Value::BytesValue(b)) => J::String(STANDARD.encode(b)),
        Some(any_value::Value::ArrayValue(a)) => {
            J::Array(a.values.iter().map(|x| json_value(x.value.as_ref())).collect())
        }
        Some(any_value::Value::KvlistValue(l)) => J::Object(
            l.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        json_value(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                    )
                })
                .collect(),
        ),
    }
}

/// Nanoseconds since the epoch → milliseconds (always fits: u64 ns / 10^6 < i64::MAX).
fn ms(ns: u64) -> i64 {
    (ns / 1_000_000) as i64
}

/// The value to store for a point: the staleness marker when flagged "no recorded value".
fn value_or_stale(flags: u32, v: f64) -> f64 {
    if flags & FLAG_NO_RECORDED_VALUE != 0 {
        f64::from_bits(STALE_NAN_BITS)
    } else {
        v
    }
}

fn translate_metric(m: &Metric, resource: &ResourceLabels<'_>, out: &mut MetricsBatch, newest: &mut Option<i64>) {
    let Some(data) = &m.data else { return };
    let points = match data {
        Data::Gauge(g) => g.data_points.len(),
        Data::Sum(s) => s.data_points.len(),
        Data::Histogram(h) => h.data_points.len(),
        Data::ExponentialHistogram(h) => h.data_points.len(),
        Data::Summary(s) => s.data_points.len(),
    };
    if m.name.is_empty() || metric_name(&m.name, "", NameKind::Distribution).is_empty() {
        out.reject(points, || format!("metric name {:?} has no usable characters", m.name));
        return;
    }
    let cumulative = AggregationTemporality::Cumulative as i32;
    let temporality_error = |t: i32| {
        let what = if t == AggregationTemporality::Delta as i32 {
            "delta"
        } else {
            "unspecified"
        };
        format!(
            "metric {:?}: {what} aggregation temporality is not supported; configure the exporter for cumulative temporality",
            m.name
        )
    };
    let mut emitted = Emitter { out, newest, resource };
    match data {
        Data::Gauge(g) => {
            let name = metric_name(&m.name, &m.unit, NameKind::Gauge);
            emitted.metadata(&name, MetricKind::Gauge, m);
            for p in &g.data_points {
                emitted.number_point(&name, p, &m.name);
            }
        }
        Data::Sum(s) if s.aggregation_temporality != cumulative => {
            out.reject(points, || temporality_error(s.aggregation_temporality));
        }
        Data::Sum(s) => {
            let (kind, name_kind) = if s.is_monotonic {
                (MetricKind::Counter, NameKind::Counter)
            } else {
                (MetricKind::Gauge, NameKind::UpDownSum)
            };
            let name = metric_name(&m.name, &m.unit, name_kind);
            emitted.metadata(&name, kind, m);
            for p in &s.data_points {
                emitted.number_point(&name, p, &m.name);
            }
        }
        Data::Histogram(h) if h.aggregation_temporality != cumulative => {
            out.reject(points, || temporality_error(h.aggregation_temporality));
        }
        Data::Histogram(h) => {
            let name = metric_name(&m.name, &m.unit, NameKind::Distribution);
            emitted.metadata(&name, MetricKind::Histogram, m);
            for p in &h.data_points {
                emitted.histogram_point(&name, p, &m.name);
            }
        }
        Data::ExponentialHistogram(_) => out.reject(points, || {
            format!(
                "metric {:?}: exponential histograms are not supported (native histograms are not stored yet); use explicit-bucket histograms",
                m.name
            )
        }),
        Data::Summary(s) => {
            let name = metric_name(&m.name, &m.unit, NameKind::Distribution);
            emitted.metadata(&name, MetricKind::Summary, m);
            for p in &s.data_points {
                emitted.summary_point(&name, p);
            }
        }
    }
}

/// Appends the series of one metric's points to the batch.
struct Emitter<'o, 'r, 'a> {
    out: &'o mut MetricsBatch,
    newest: &'o mut Option<i64>,
    resource: &'r ResourceLabels<'a>,
}

impl Emitter<'_, '_, '_> {
    fn metadata(&mut self, family: &str, kind: MetricKind, m: &Metric) {
        self.out.metadata.push(DecodedMetadata {
            metric_family: family.to_owned(),
            kind,
            help: m.description.clone(),
            unit: prometheus_unit(&m.unit),
        });
    }

    fn push(&mut self, labels: Vec<(String, String)>, t: i64, v: f64, exemplars: Vec<DecodedExemplar>) {
        *self.newest = (*self.newest).max(Some(t));
        self.out.series.push(DecodedSeries {
            labels,
            samples: vec![(t, v)],
            exemplars,
            histograms: 0,
            metadata: None,
        });
    }

    fn number_point(&mut self, name: &str, p: &NumberDataPoint, otlp_name: &str) {
        let v = match p.value {
            Some(number_data_point::Value::AsDouble(d)) => d,
            Some(number_data_point::Value::AsInt(i)) => i as f64,
            None if p.flags & FLAG_NO_RECORDED_VALUE != 0 => 0.0,
            None => {
                self.out
                    .reject(1, || format!("metric {otlp_name:?}: data point without a value"));
                return;
            }
        };
        self.out.accepted_points += 1;
        let labels = series_labels(&p.attributes, self.resource, name, None);
        let exemplars = p.exemplars.iter().map(convert_exemplar).collect();
        self.push(labels, ms(p.time_unix_nano), value_or_stale(p.flags, v), exemplars);
    }

    /// One bucket series per bound plus `+Inf` (the point's count). A point whose
    /// `bucket_counts` do not match its `explicit_bounds` is refused (partial success), see
    /// [`histogram_shape_error`].
    fn histogram_point(&mut self, name: &str, p: &HistogramDataPoint, otlp_name: &str) {
        if let Some(why) = histogram_shape_error(p) {
            self.out.reject(1, || format!("metric {otlp_name:?}: {why}"));
            return;
        }
        self.out.accepted_points += 1;
        let t = ms(p.time_unix_nano);
        let val = |v: f64| value_or_stale(p.flags, v);
        let mut exemplars: Vec<(f64, DecodedExemplar)> = p
            .exemplars
            .iter()
            .map(|e| (exemplar_value(e), convert_exemplar(e)))
            .collect();
        let mut cumulative = 0u64;
        let bucket = format!("{name}_bucket");
        for (bound, count) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
            cumulative = cumulative.saturating_add(*count);
            let (mine, rest): (Vec<_>, Vec<_>) = exemplars.into_iter().partition(|(v, _)| *v <= *bound);
            exemplars = rest;
            let labels = series_labels(
                &p.attributes,
                self.resource,
                &bucket,
                Some(("le", format_float(*bound))),
            );
            self.push(
                labels,
                t,
                val(cumulative as f64),
                mine.into_iter().map(|(_, e)| e).collect(),
            );
        }
        let labels = series_labels(&p.attributes, self.resource, &bucket, Some(("le", "+Inf".to_owned())));
        self.push(
            labels,
            t,
            val(p.count as f64),
            exemplars.into_iter().map(|(_, e)| e).collect(),
        );
        if let Some(sum) = p.sum {
            let labels = series_labels(&p.attributes, self.resource, &format!("{name}_sum"), None);
            self.push(labels, t, val(sum), Vec::new());
        }
        let labels = series_labels(&p.attributes, self.resource, &format!("{name}_count"), None);
        self.push(labels, t, val(p.count as f64), Vec::new());
    }

    fn summary_point(&mut self, name: &str, p: &SummaryDataPoint) {
        self.out.accepted_points += 1;
        let t = ms(p.time_unix_nano);
        let val = |v: f64| value_or_stale(p.flags, v);
        for q in &p.quantile_values {
            let labels = series_labels(
                &p.attributes,
                self.resource,
                name,
                Some(("quantile", format_float(q.quantile))),
            );
            self.push(labels, t, val(q.value), Vec::new());
        }
        let labels = series_labels(&p.attributes, self.resource, &format!("{name}_sum"), None);
        self.push(labels, t, val(p.sum), Vec::new());
        let labels = series_labels(&p.attributes, self.resource, &format!("{name}_count"), None);
        self.push(labels, t, val(p.count as f64), Vec::new());
    }
}

fn exemplar_value(e: &Exemplar) -> f64 {
    match e.value {
        Some(exemplar::Value::AsDouble(d)) => d,
        Some(exemplar::Value::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

/// An OTLP exemplar with `trace_id`/`span_id` (hex) and its filtered attributes as labels,
/// sorted by name.
fn convert_exemplar(e: &Exemplar) -> DecodedExemplar {
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for kv in &e.filtered_attributes {
        let n = label_name(&kv.key);
        let v = value_string(kv.value.as_ref());
        if !n.is_empty() && !v.is_empty() {
            labels.insert(n, v);
        }
    }
    if !e.trace_id.is_empty() {
        labels.insert("trace_id".to_owned(), const_hex::encode(&e.trace_id));
    }
    if !e.span_id.is_empty() {
        labels.insert("span_id".to_owned(), const_hex::encode(&e.span_id));
    }
    DecodedExemplar {
        labels: labels.into_iter().collect(),
        value: exemplar_value(e),
        timestamp: (e.time_unix_nano != 0).then(|| ms(e.time_unix_nano)),
    }
}

/// Decodes an export request body (already decompressed) in `encoding` and translates it.
pub fn decode_and_translate(body: &[u8], encoding: crate::OtlpEncoding) -> Result<MetricsBatch, crate::Error> {
    let req: ExportMetricsServiceRequest = encoding.decode(body)?;
    Ok(translate_metrics(&req))
}

/// Why a histogram point's buckets are unusable, if they are. The OTLP data model requires
/// `bucket_counts` to be empty (no buckets) or to hold one count per bound plus the
/// overflow bucket, and the bounds to be strictly increasing; anything else cannot be
/// turned into `le` buckets without guessing.
pub(crate) fn histogram_shape_error(p: &HistogramDataPoint) -> Option<String> {
    let (counts, bounds) = (p.bucket_counts.len(), p.explicit_bounds.len());
    if counts != 0 && counts != bounds + 1 {
        return Some(format!(
            "histogram data point has {counts} bucket counts for {bounds} explicit bounds; expected {} (one per bound plus +Inf) or none",
            bounds + 1
        ));
    }
    if counts == 0 && bounds != 0 {
        return Some(format!(
            "histogram data point has {bounds} explicit bounds but no bucket counts"
        ));
    }
    if let Some(w) = p
        .explicit_bounds
        .windows(2)
        .find(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less))
    {
        return Some(format!(
            "histogram explicit bounds must be strictly increasing, got {} before {}",
            w[0], w[1]
        ));
    }
    if p.explicit_bounds.iter().any(|b| b.is_nan()) {
        return Some("histogram explicit bounds must not be NaN".to_owned());
    }
    None
}
