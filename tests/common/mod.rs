//! Black-box test harness: runs the real `nerve` binary on 127.0.0.1:0 with its own temp data
//! dir, and helpers to talk to it and to Debian's Prometheus tools.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running nerve process.
pub struct Nerve {
    pub child: Child,
    pub addr: String,
    /// The OTLP gRPC address (`otlp grpc server listening addr=`), "" if not logged.
    pub otlp_grpc_addr: String,
    /// The OTLP/HTTP address (`otlp http server listening addr=`), "" if not logged.
    pub otlp_http_addr: String,
    pub data_dir: PathBuf,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// `http`, or `https` when started with a CA.
    pub scheme: &'static str,
    /// A client for this nerve (trusting its CA when TLS is on).
    pub http: reqwest::blocking::Client,
}

impl Nerve {
    /// Starts nerve on `data_dir` with extra args and waits for `/-/ready`.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Nerve {
        Nerve::start_with(data_dir, extra, None)
    }

    /// Like [`Nerve::start`] for a nerve serving TLS with a certificate from `ca_pem`.
    pub fn start_with(data_dir: &Path, extra: &[&str], ca_pem: Option<&[u8]>) -> Nerve {
        install_crypto_provider();
        let mut cmd = serve_command(data_dir);
        cmd.args(extra)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn nerve");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent
                    && line.contains("http server listening")
                    && !line.contains("otlp http server listening")
                    && let Some(a) = logged_addr(&line)
                {
                    let _ = tx.send(a);
                    sent = true;
                }
                log2.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "nerve did not report its address; log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        let (scheme, http) = match ca_pem {
            Some(pem) => (
                "https",
                reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .tls_certs_only([reqwest::Certificate::from_pem(pem).expect("CA PEM")])
                    .build()
                    .expect("client"),
            ),
            None => ("http", client()),
        };
        let mut n = Nerve {
            child,
            addr,
            otlp_grpc_addr: String::new(),
            otlp_http_addr: String::new(),
            data_dir: data_dir.to_owned(),
            log,
            scheme,
            http,
        };
        n.wait_ready(Duration::from_secs(120));
        // Every listener is bound (and logged) before nerve reports ready.
        let find = |what: &str| {
            n.log
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(what))
                .and_then(|l| logged_addr(l))
                .unwrap_or_default()
        };
        n.otlp_grpc_addr = find("otlp grpc server listening");
        n.otlp_http_addr = find("otlp http server listening");
        n
    }

    /// `http://<otlp http addr><path>`.
    pub fn otlp_http_url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.otlp_http_addr, path)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    pub fn wait_ready(&self, timeout: Duration) {
        let c = &self.http;
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if let Ok(r) = c.get(self.url("/-/ready")).send()
                && r.status().as_u16() == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nerve not ready in {timeout:?}; log:\n{}", self.logs());
    }

    pub fn logs(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!("nerve did not stop on SIGTERM; log:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GET a Prometheus API path and return the parsed JSON.
    pub fn get_json(&self, path_and_query: &str) -> serde_json::Value {
        let r = self.http.get(self.url(path_and_query)).send().expect("GET");
        let status = r.status();
        let body = r.text().unwrap_or_default();
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path_and_query}: {status} {e}: {body}"))
    }
}

impl Drop for Nerve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nerve serve --data-dir <data_dir>` with every listener on a free loopback port.
pub fn serve_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nerve"));
    cmd.arg("serve").arg("--data-dir").arg(data_dir).args([
        "--http-listen",
        "127.0.0.1:0",
        "--otlp-grpc-listen",
        "127.0.0.1:0",
        "--otlp-http-listen",
        "127.0.0.1:0",
    ]);
    cmd
}

/// The `addr=` value of a log line.
fn logged_addr(line: &str) -> Option<String> {
    let a = line.split("addr=").nth(1)?;
    let a = a.split_whitespace().next().unwrap_or("").trim_matches('"');
    (!a.is_empty()).then(|| a.to_string())
}

/// Makes ring the process's rustls provider: reqwest (and the OTLP exporters built on it)
/// is compiled without a default one and panics when a client is built before this.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn client() -> reqwest::blocking::Client {
    install_crypto_provider();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// Percent-encodes a query parameter (everything but unreserved characters).
pub fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Fails loudly (the test script installs these) when a Debian peer binary is missing.
pub fn require(bin: &str) -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .output()
        .expect("sh");
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !p.is_empty(),
        "{bin} is not installed; run scripts/test.sh, which installs Debian's prometheus packages"
    );
    PathBuf::from(p)
}

/// Polls `f` until it returns Some or the timeout passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A peer process (Prometheus, Alertmanager, node_exporter) killed when dropped.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Debian's Prometheus (`bin`, from [`require`]) on 127.0.0.1:`port` with config `cfg`
/// and TSDB dir `data`, output discarded; `extra` flags are appended.
pub fn start_prometheus(bin: &Path, cfg: &Path, data: &Path, port: u16, extra: &[&str]) -> Peer {
    Peer(
        Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    )
}

/// POSTs a snappy-compressed remote-write 1.0 body to nerve and asserts 204.
pub fn remote_write(n: &Nerve, body: Vec<u8>) {
    let r = n
        .http
        .post(n.url("/api/v1/write"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .expect("remote write");
    let s = r.status().as_u16();
    assert_eq!(s, 204, "{}", r.text().unwrap_or_default());
}

/// POSTs a Loki push body (JSON) and asserts 204.
pub fn loki_push_json(n: &Nerve, body: &serde_json::Value) {
    post_json_expecting(n, &n.url("/loki/api/v1/push"), body, 204);
}

/// POSTs an OTLP/HTTP JSON body to `path` (`/v1/traces`, `/v1/logs`, ...) on nerve's OTLP
/// listener and asserts 200.
pub fn post_otlp_json(n: &Nerve, path: &str, body: &serde_json::Value) {
    post_json_expecting(n, &n.otlp_http_url(path), body, 200);
}

/// POSTs `body` as JSON to `url` with nerve's client and asserts the status is `want`.
fn post_json_expecting(n: &Nerve, url: &str, body: &serde_json::Value, want: u16) {
    let r = n
        .http
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let s = r.status().as_u16();
    assert_eq!(s, want, "{}", r.text().unwrap_or_default());
}

/// The Tokio runtime the OTLP gRPC exporters (tonic) need for their connection.
pub fn grpc_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The files of `dir` whose names are all digits (WAL segments, checkpoints), sorted.
pub fn numbered_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
        })
        .collect();
    v.sort();
    v
}

/// Form-POSTs `params` (names and values percent-encoded) to `url`: the status and the body
/// text.
pub fn post_form(url: &str, params: &[(&str, &str)]) -> (u16, String) {
    let body: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let r = client()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
        .send()
        .expect("form POST");
    let status = r.status().as_u16();
    (status, r.text().unwrap_or_default())
}
