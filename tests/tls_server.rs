//! `server.tls_server_config`: every listener speaks TLS with a certificate made here; the
//! query API, OTLP/HTTP and OTLP gRPC (HTTP/2 over TLS) work through it, plain HTTP does not,
//! nerve's self-scrape follows, a client certificate can be required, and a replaced
//! certificate is picked up without a restart.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Nerve, eventually};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// A CA; writes a server certificate for 127.0.0.1 signed by it to `dir/server.{pem,key}`
/// and returns the CA's PEM (and the CA for signing client certificates).
fn make_ca_and_server(dir: &Path) -> (String, CertifiedIssuer<'static, KeyPair>) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    // Write the key first: a reload sees both files changed or waits for the next check.
    std::fs::write(dir.join("server.key.tmp"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("server.pem.tmp"), cert.pem()).unwrap();
    std::fs::rename(dir.join("server.key.tmp"), dir.join("server.key")).unwrap();
    std::fs::rename(dir.join("server.pem.tmp"), dir.join("server.pem")).unwrap();
    (ca.pem(), ca)
}

fn config(dir: &Path, extra: &str) -> String {
    let cfg = dir.join("nerve.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nserver:\n  tls_server_config:\n    cert_file: {}\n    key_file: {}\n{extra}",
            dir.join("server.pem").display(),
            dir.join("server.key").display()
        ),
    )
    .unwrap();
    cfg.display().to_string()
}

fn https_client(ca_pem: &str, identity: Option<reqwest::Identity>) -> reqwest::blocking::Client {
    let mut b = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()]);
    if let Some(id) = identity {
        b = b.identity(id);
    }
    b.build().unwrap()
}

#[test]
fn every_listener_serves_tls_and_certificates_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, _ca) = make_ca_and_server(dir.path());
    let cfg = config(dir.path(), "");
    let n = Nerve::start_with(&dir.path().join("data"), &["--config", &cfg], Some(ca_pem.as_bytes()));
    assert!(n.url("/").starts_with("https://"));

    // Query API over TLS; plain HTTP on the same port fails.
    let v = n.get_json("/api/v1/status/buildinfo");
    assert_eq!(v["status"], "success");
    assert!(
        common::client()
            .get(format!("http://{}/-/ready", n.addr))
            .send()
            .is_err()
    );

    // OTLP/HTTP (both ports) and OTLP gRPC over TLS.
    let start_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        - 60_000_000_000;
    let body = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "tls-svc"}}]},
        "scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
            "name": "GET /", "kind": 2, "startTimeUnixNano": start_ns.to_string(),
            "endTimeUnixNano": (start_ns + 100_000_000).to_string()}]}]}]});
    for url in [n.otlp_http_url("/v1/traces"), n.url("/v1/traces")] {
        let r = n
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{url}");
    }
    // gRPC: an empty ExportTraceServiceRequest in one length-prefixed frame, over h2 + TLS.
    let grpc = n
        .http
        .post(format!(
            "https://{}/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            n.otlp_grpc_addr
        ))
        .version(reqwest::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .unwrap();
    assert_eq!(grpc.status(), 200);
    assert_eq!(grpc.version(), reqwest::Version::HTTP_2);
    assert_eq!(grpc.headers()["content-type"], "application/grpc");
    let t = n.get_json("/jaeger/api/traces/0af7651916cd43dd8448eb211c80319c");
    // The same span arrived three times (two HTTP ports, the last one wins); one is stored.
    assert!(t["data"][0]["spans"].as_array().is_some_and(|s| !s.is_empty()), "{t}");

    // nerve scrapes itself over https.
    eventually(Duration::from_secs(30), || {
        let v = n.get_json("/api/v1/query?query=up%7Bjob%3D%22nerve%22%7D");
        (v["data"]["result"][0]["value"][1] == "1").then_some(())
    })
    .unwrap_or_else(|| panic!("self-scrape over TLS failed; log:\n{}", n.logs()));

    // A new certificate from another CA replaces the old one without a restart.
    let (ca2_pem, _ca2) = make_ca_and_server(dir.path());
    let new_ca = https_client(&ca2_pem, None);
    let ready = eventually(Duration::from_secs(20), || {
        new_ca
            .get(n.url("/-/ready"))
            .send()
            .ok()
            .filter(|r| r.status() == 200)
            .map(|_| ())
    });
    assert!(ready.is_some(), "reloaded certificate not served; log:\n{}", n.logs());
    assert!(
        https_client(&ca_pem, None).get(n.url("/-/ready")).send().is_err(),
        "old CA still accepted"
    );
}

#[test]
fn client_certificates_can_be_required() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, ca) = make_ca_and_server(dir.path());
    std::fs::write(dir.path().join("ca.pem"), &ca_pem).unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "    client_auth_type: RequireAndVerifyClientCert\n    client_ca_file: {}\n",
            dir.path().join("ca.pem").display()
        ),
    );
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["client".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let identity = reqwest::Identity::from_pem(format!("{}{}", cert.pem(), key.serialize_pem()).as_bytes()).unwrap();
    // The readiness probe of the harness has no client certificate: start it by hand here.
    let data = dir.path().join("data");
    let child = common::serve_command(&data)
        .args(["--config", &cfg])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = KillOnDrop(child);
    let stderr = guard.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        // Keep reading to the end, so nerve never blocks on a full pipe.
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("http server listening") && !line.contains("otlp") {
                let a = line
                    .split("addr=")
                    .nth(1)
                    .map(|a| a.split_whitespace().next().unwrap_or("").to_owned());
                let _ = tx.send(a);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .ok()
        .flatten()
        .expect("nerve reported its address");
    let with_cert = https_client(&ca_pem, Some(identity));
    let ok = eventually(Duration::from_secs(60), || {
        with_cert
            .get(format!("https://{addr}/-/ready"))
            .send()
            .ok()
            .filter(|r| r.status() == 200)
            .map(|_| ())
    });
    assert!(ok.is_some(), "client with a certificate is served");
    assert!(
        https_client(&ca_pem, None)
            .get(format!("https://{addr}/-/ready"))
            .send()
            .is_err(),
        "client without a certificate is refused"
    );
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
