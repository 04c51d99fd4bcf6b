//! Sends alerts: Alertmanager API v2 (`POST /api/v2/alerts`) to every configured
//! Alertmanager, and Alertmanager's webhook JSON to `alerting.webhook_configs` URLs.
//!
//! Alerts wait in a bounded queue (the oldest are dropped when it is full); one task sends
//! them in batches, to every target at once, retrying failed requests with backoff. External
//! labels are added to every alert (an alert's own label wins), then
//! `alerting.alert_relabel_configs` and each Alertmanager's own `alert_relabel_configs`
//! apply (a dropped alert is not sent there). Counters in
//! [`SelfMetrics`]: sent, failed and dropped alerts, queue length.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;

use super::alert::Notification;
use super::alertmanagers::{Discovery, Target};
use super::gofmt::rfc3339_ms;
use crate::config::Config;
use crate::scrape::relabel::{self, Rule as RelabelRule};
use crate::selfmetrics::{NotifyLabels, SelfMetrics};
use crate::shutdown::Shutdown;

/// Most alerts waiting to be sent (Prometheus' `--alertmanager.notification-queue-capacity`).
pub const QUEUE_CAPACITY: usize = 10_000;
/// Most alerts per request.
const MAX_BATCH: usize = 64;
/// Attempts per batch and target.
const ATTEMPTS: u32 = 3;
/// How often discovery is looked at when no file discovery is configured (a reload may add
/// some).
const IDLE_DISCOVERY_POLL: Duration = Duration::from_secs(30);
/// First retry delay; doubled on every further attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The alert sender. Thread-safe; shared through an `Arc`.
pub struct Notifier {
    queue: Mutex<VecDeque<Notification>>,
    wake: tokio::sync::Notify,
    targets: Mutex<Arc<Vec<Target>>>,
    discovery: Mutex<Discovery>,
    external_labels: Mutex<BTreeMap<String, String>>,
    relabel: Mutex<Arc<Vec<RelabelRule>>>,
    external_url: Mutex<String>,
    metrics: Arc<SelfMetrics>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("targets", &self.targets.lock().len())
            .finish()
    }
}

/// One alert in Alertmanager's v2 API.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AmAlert<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
}

/// One alert in Alertmanager's webhook payload.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HookAlert<'a> {
    status: &'static str,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: String,
}

/// Alertmanager's webhook payload (version 4).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HookMessage<'a> {
    version: &'static str,
    group_key: String,
    truncated_alerts: usize,
    status: &'static str,
    receiver: &'static str,
    group_labels: BTreeMap<String, String>,
    common_labels: BTreeMap<String, String>,
    common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    external_url: String,
    alerts: Vec<HookAlert<'a>>,
}

impl Notifier {
    /// A notifier with no targets yet (see [`Notifier::configure`]).
    pub fn new(metrics: Arc<SelfMetrics>) -> Self {
        Notifier {
            queue: Mutex::new(VecDeque::new()),
            wake: tokio::sync::Notify::new(),
            targets: Mutex::new(Arc::new(Vec::new())),
            discovery: Mutex::new(Discovery::default()),
            external_labels: Mutex::new(BTreeMap::new()),
            relabel: Mutex::new(Arc::new(Vec::new())),
            external_url: Mutex::new(String::new()),
            metrics,
        }
    }

    /// Takes the targets, relabeling and external labels from `cfg`.
    pub fn configure(&self, cfg: &Config, external_url: &str) -> Result<(), String> {
        // Everything that can fail first, so an error changes nothing.
        let mut d = Discovery::new(&cfg.alerting)?;
        let relabel = RelabelRule::compile_all(&cfg.alerting.alert_relabel_configs)?;
        d.refresh();
        let targets = d.targets();
        *self.discovery.lock() = d;
        *self.relabel.lock() = Arc::new(relabel);
        *self.targets.lock() = Arc::new(targets);
        *self.external_labels.lock() = cfg.global.external_labels.clone();
        external_url.clone_into(&mut self.external_url.lock());
        Ok(())
    }

    /// True when there is somewhere to send alerts.
    pub fn has_targets(&self) -> bool {
        !self.targets.lock().is_empty()
    }

    /// Queues alerts; when the queue is full the oldest are dropped (and counted).
    pub fn send(&self, alerts: Vec<Notification>) {
        if alerts.is_empty() || !self.has_targets() {
            return;
        }
        let ext = self.external_labels.lock().clone();
        let rules = self.relabel.lock().clone();
        let mut q = self.queue.lock();
        for mut a in alerts {
            for (k, v) in &ext {
                a.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            if relabel::process(&mut a.labels, &rules) && !a.labels.is_empty() {
                q.push_back(a);
            }
        }
        let over = q.len().saturating_sub(QUEUE_CAPACITY);
        if over > 0 {
            q.drain(..over);
            self.metrics.notifications_dropped.inc_by(over as u64);
        }
        self.metrics.notifications_queue_length.set(q.len() as i64);
        drop(q);
        self.wake.notify_one();
    }

    /// Sends queued alerts, and keeps file-discovered Alertmanagers current, until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: Shutdown) {
        tokio::spawn(self.clone().discover(shutdown.clone()));
        loop {
            let batch: Vec<Notification> = {
                let mut q = self.queue.lock();
                let n = q.len().min(MAX_BATCH);
                let b = q.drain(..n).collect();
                self.metrics.notifications_queue_length.set(q.len() as i64);
                b
            };
            if batch.is_empty() {
                tokio::select! {
                    () = self.wake.notified() => continue,
                    () = shutdown.wait() => return,
                }
            }
            let targets = self.targets.lock().clone();
            let batch = Arc::new(batch);
            let mut tasks = Vec::with_capacity(targets.len());
            for t in targets.iter() {
                let me = self.clone();
                let batch = batch.clone();
                let t = t.clone();
                tasks.push(tokio::spawn(async move { me.deliver(&t, &batch).await }));
            }
            for t in tasks {
                let _ = t.await;
            }
        }
    }

    /// Polls discovery files at the configured refresh interval until shutdown.
    async fn discover(self: Arc<Self>, shutdown: Shutdown) {
        loop {
            let poll = self.discovery.lock().poll_interval().unwrap_or(IDLE_DISCOVERY_POLL);
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = shutdown.wait() => return,
            }
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.refresh_discovery()).await;
        }
    }

    /// Re-reads Alertmanager discovery files and swaps the target list if it changed.
    fn refresh_discovery(&self) {
        let mut d = self.discovery.lock();
        if d.refresh() {
            let targets = d.targets();
            tracing::info!(targets = targets.len(), "alertmanager targets changed");
            *self.targets.lock() = Arc::new(targets);
        }
    }

    /// Sends one batch to one target, with retries.
    async fn deliver(&self, t: &Target, batch: &[Notification]) {
        let labels = NotifyLabels {
            alertmanager: t.url.clone(),
        };
        let relabelled: Vec<Notification>;
        let batch = if t.relabel.is_empty() {
            batch
        } else {
            relabelled = batch
                .iter()
                .filter_map(|a| {
                    let mut a = a.clone();
                    (relabel::process(&mut a.labels, &t.relabel) && !a.labels.is_empty()).then_some(a)
                })
                .collect();
            &relabelled
        };
        if batch.is_empty() {
            return;
        }
        let chunks: Vec<&[Notification]> = if t.webhook && t.max_alerts > 0 {
            batch.chunks(t.max_alerts).collect()
        } else {
            vec![batch]
        };
        for chunk in chunks {
            let body = if t.webhook {
                self.webhook_body(chunk)
            } else {
                am_body(chunk)
            };
            let mut backoff = FIRST_BACKOFF;
            let mut last_err = String::new();
            let mut ok = false;
            for attempt in 1..=ATTEMPTS {
                match self.post(t, body.clone()).await {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(e) => {
                        last_err = e;
                        if attempt < ATTEMPTS {
                            tokio::time::sleep(backoff).await;
                            backoff *= 2;
                        }
                    }
                }
            }
            if ok {
                self.metrics
                    .notifications_sent
                    .get_or_create(&labels)
                    .inc_by(chunk.len() as u64);
            } else {
                self.metrics
                    .notifications_errors
                    .get_or_create(&labels)
                    .inc_by(chunk.len() as u64);
                tracing::warn!(
                    url = t.url,
                    alerts = chunk.len(),
                    error = last_err,
                    "sending alerts failed"
                );
            }
        }
    }

    async fn post(&self, t: &Target, body: String) -> Result<(), String> {
        let r = t
            .client
            .post(&t.url)
            .timeout(t.timeout)
            .headers(t.headers.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status().is_success() {
            Ok(())
        } else {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            Err(format!("HTTP {status}: {}", text.chars().take(200).collect::<String>()))
        }
    }

    fn webhook_body(&self, alerts: &[Notification]) -> String {
        let firing = alerts.iter().any(|a| !a.resolved);
        let common = |f: fn(&Notification) -> &BTreeMap<String, String>| -> BTreeMap<String, String> {
            let mut c = alerts.first().map(|a| f(a).clone()).unwrap_or_default();
            for a in alerts.iter().skip(1) {
                c.retain(|k, v| f(a).get(k) == Some(v));
            }
            c
        };
        let msg = HookMessage {
            version: "4",
            group_key: "{}:{}".into(),
            truncated_alerts: 0,
            status: if firing { "firing" } else { "resolved" },
            receiver: "nerve",
            group_labels: BTreeMap::new(),
            common_labels: common(|a| &a.labels),
            common_annotations: common(|a| &a.annotations),
            external_url: self.external_url.lock().clone(),
            alerts: alerts
                .iter()
                .map(|a| HookAlert {
                    status: if a.resolved { "resolved" } else { "firing" },
                    labels: &a.labels,
                    annotations: &a.annotations,
                    starts_at: rfc3339_ms(a.starts_at_ms),
                    ends_at: if a.resolved {
                        rfc3339_ms(a.ends_at_ms)
                    } else {
                        "0001-01-01T00:00:00Z".into()
                    },
                    generator_url: &a.generator_url,
                    fingerprint: fingerprint(&a.labels),
                })
                .collect(),
        };
        serde_json::to_string(&msg).unwrap_or_default()
    }
}

fn am_body(alerts: &[Notification]) -> String {
    let v: Vec<AmAlert<'_>> = alerts
        .iter()
        .map(|a| AmAlert {
            labels: &a.labels,
            annotations: &a.annotations,
            starts_at: rfc3339_ms(a.starts_at_ms),
            ends_at: rfc3339_ms(a.ends_at_ms),
            generator_url: &a.generator_url,
        })
        .collect();
    serde_json::to_string(&v).unwrap_or_default()
}

/// A stable 16-hex-digit id of a label set (FNV-1a), like Alertmanager's fingerprints.
fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        let a = Notification {
            labels: BTreeMap::from([("alertname".into(), "X".into())]),
            annotations: BTreeMap::from([("summary".into(), "s".into())]),
            starts_at_ms: 1_000,
            ends_at_ms: 61_500,
            resolved: false,
            generator_url: "http://n/graph?g0.expr=up&g0.tab=1".into(),
        };
        let body = am_body(std::slice::from_ref(&a));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v[0]["startsAt"], "1970-01-01T00:00:01.000Z");
        assert_eq!(v[0]["endsAt"], "1970-01-01T00:01:01.500Z");
        assert_eq!(v[0]["generatorURL"], "http://n/graph?g0.expr=up&g0.tab=1");
        assert_eq!(v[0]["labels"]["alertname"], "X");
        assert_eq!(fingerprint(&a.labels).len(), 16);
    }

    fn alert(severity: &str, resolved: bool) -> Notification {
        Notification {
            labels: BTreeMap::from([("alertname".into(), "X".into()), ("severity".into(), severity.into())]),
            annotations: BTreeMap::from([("summary".into(), "s".into())]),
            starts_at_ms: 0,
            ends_at_ms: 5_000,
            resolved,
            generator_url: String::new(),
        }
    }

    #[test]
    fn external_labels_relabeling_and_webhook_payload() {
        let cfg = Config::parse(
            "global:\n  external_labels: {cluster: c1, severity: none}\nalerting:\n  alert_relabel_configs:\n    - source_labels: [severity]\n      regex: debug\n      action: drop\n  webhook_configs:\n    - url: http://127.0.0.1:1/hook\n",
        )
        .unwrap();
        let db = Arc::new(crate::db::Db::new());
        let logs = Arc::new(crate::db::LogsDb::new());
        let n = Notifier::new(Arc::new(SelfMetrics::new(
            db,
            logs,
            Arc::new(crate::db::TracesDb::new()),
        )));
        n.configure(&cfg, "http://nerve:9090").unwrap();
        n.send(vec![alert("page", false), alert("debug", false), alert("page", true)]);
        let queued: Vec<Notification> = n.queue.lock().iter().cloned().collect();
        assert_eq!(queued.len(), 2, "the debug alert is dropped by alert_relabel_configs");
        assert_eq!(queued[0].labels["cluster"], "c1", "external label added");
        assert_eq!(queued[0].labels["severity"], "page", "the alert's own label wins");
        let v: serde_json::Value = serde_json::from_str(&n.webhook_body(&queued)).unwrap();
        assert_eq!(v["version"], "4");
        assert_eq!(v["status"], "firing");
        assert_eq!(v["receiver"], "nerve");
        assert_eq!(v["externalURL"], "http://nerve:9090");
        assert_eq!(v["commonLabels"]["cluster"], "c1");
        assert_eq!(v["alerts"][0]["status"], "firing");
        assert_eq!(v["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(v["alerts"][1]["status"], "resolved");
        assert_eq!(v["alerts"][1]["endsAt"], "1970-01-01T00:00:05.000Z");
        let v: serde_json::Value = serde_json::from_str(&n.webhook_body(&queued[1..])).unwrap();
        assert_eq!(v["status"], "resolved");
    }
}

#[cfg(test)]
mod retry_tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A local HTTP endpoint answering 500 to the first `failures` requests, then 200.
    fn flaky(failures: usize) -> (String, Arc<AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { continue };
                let mut buf = [0u8; 65536];
                let _ = c.read(&mut buf);
                let n = h.fetch_add(1, Ordering::SeqCst);
                let status = if n < failures {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = write!(c, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        (url, hits)
    }

    fn notifier(url: &str) -> (Notifier, Target) {
        let db = Arc::new(crate::db::Db::new());
        let logs = Arc::new(crate::db::LogsDb::new());
        let n = Notifier::new(Arc::new(SelfMetrics::new(
            db,
            logs,
            Arc::new(crate::db::TracesDb::new()),
        )));
        let cfg = Config::parse(&format!("alerting:\n  webhook_configs:\n    - url: {url}\n")).unwrap();
        n.configure(&cfg, "http://nerve").unwrap();
        let t = n.targets.lock()[0].clone();
        (n, t)
    }

    fn one_alert() -> Vec<Notification> {
        vec![Notification {
            labels: BTreeMap::from([("alertname".into(), "X".into())]),
            annotations: BTreeMap::new(),
            starts_at_ms: 0,
            ends_at_ms: 0,
            resolved: false,
            generator_url: String::new(),
        }]
    }

    #[tokio::test]
    async fn retries_with_backoff_then_counts() {
        let (url, hits) = flaky(2);
        let (n, t) = notifier(&url);
        n.deliver(&t, &one_alert()).await;
        assert_eq!(hits.load(Ordering::SeqCst), 3, "two failures, then success");
        let l = NotifyLabels {
            alertmanager: url.clone(),
        };
        assert_eq!(n.metrics.notifications_sent.get_or_create(&l).get(), 1);
        assert_eq!(n.metrics.notifications_errors.get_or_create(&l).get(), 0);

        let (url, hits) = flaky(usize::MAX);
        let (n, t) = notifier(&url);
        n.deliver(&t, &one_alert()).await;
        assert_eq!(hits.load(Ordering::SeqCst), ATTEMPTS as usize);
        let l = NotifyLabels { alertmanager: url };
        assert_eq!(n.metrics.notifications_sent.get_or_create(&l).get(), 0);
        assert_eq!(n.metrics.notifications_errors.get_or_create(&l).get(), 1);
    }

    /// An Alertmanager behind TLS with client authentication: alerts arrive when its
    /// `tls_config` names the CA, the server name and a client certificate, and are
    /// refused (counted as errors) without the client certificate.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alertmanager_over_mutual_tls() {
        use crate::tls::testing::{make_pki, serve_tls};
        let dir = tempfile::tempdir().unwrap();
        let pki = make_pki(dir.path());
        let got = Arc::new(AtomicUsize::new(0));
        let g = got.clone();
        let app = axum::Router::new().route(
            "/api/v2/alerts",
            axum::routing::post(move |body: String| {
                let g = g.clone();
                async move {
                    if body.contains("\"alertname\":\"X\"") {
                        g.fetch_add(1, Ordering::SeqCst);
                    }
                    ""
                }
            }),
        );
        let addr = serve_tls(&pki, true, app).await;
        for (with_cert, want) in [(true, 1), (false, 0)] {
            let client = if with_cert {
                format!(", cert_file: '{}', key_file: '{}'", pki.client_cert, pki.client_key)
            } else {
                String::new()
            };
            let yaml = format!(
                "alerting:\n  alertmanagers:\n    - scheme: https\n      tls_config: {{ca_file: '{}', server_name: nerve-test.local{client}}}\n      \
                 static_configs:\n        - targets: ['{addr}']\n",
                pki.ca
            );
            let (n, _) = notifier("http://127.0.0.1:9/unused");
            n.configure(&Config::parse(&yaml).unwrap(), "http://nerve").unwrap();
            let t = n.targets.lock()[0].clone();
            assert_eq!(t.url, format!("https://{addr}/api/v2/alerts"));
            got.store(0, Ordering::SeqCst);
            n.deliver(&t, &one_alert()).await;
            assert_eq!(got.load(Ordering::SeqCst), want, "with client cert: {with_cert}");
            let l = NotifyLabels {
                alertmanager: t.url.clone(),
            };
            assert_eq!(n.metrics.notifications_errors.get_or_create(&l).get(), 1 - want as u64);
        }
    }

    #[test]
    fn full_queue_drops_the_oldest() {
        let (n, _) = notifier("http://127.0.0.1:9/never");
        let many: Vec<Notification> = (0..QUEUE_CAPACITY + 5).flat_map(|_| one_alert()).collect();
        n.send(many);
        assert_eq!(n.queue.lock().len(), QUEUE_CAPACITY);
        assert_eq!(n.metrics.notifications_dropped.get(), 5);
    }
}
