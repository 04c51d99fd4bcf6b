//! The simulated shop: one checkout request fans out from `frontend` to `cart` and
//! `payments`, each with a database call. Every request yields its spans (one trace), one
//! JSON log line per service call carrying the trace and span ids, and latency observations
//! for the metrics. About 3 % of payments fail and 2 % of requests are slow (a lock wait in
//! the cart's database), so errors, slow traces and exemplars show up within a minute.

use nerve_proto::otlp_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use nerve_proto::otlp_proto::tonic::trace::v1::span::Event;
use nerve_proto::otlp_proto::tonic::trace::v1::{Span, Status, status};
use nerve_storage::traces::hex;

/// The services, in the order their resources are sent.
pub const SERVICES: [&str; 3] = ["frontend", "cart", "payments"];

/// A xorshift PRNG: the demo needs variety, not cryptography.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from `seed` (0 is replaced).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A log-normal-ish duration around `median_ms`.
    pub fn millis(&mut self, median_ms: f64) -> f64 {
        let z = (self.unit() + self.unit() + self.unit() - 1.5) * 1.2;
        median_ms * z.exp()
    }
}

/// One log line of a service.
#[derive(Debug)]
pub struct LogLine {
    /// Which service wrote it.
    pub service: &'static str,
    /// Nanoseconds since the epoch.
    pub t_ns: u64,
    /// `info`, `warn` or `error`.
    pub level: &'static str,
    /// The JSON line.
    pub line: String,
    /// Hex trace id.
    pub trace_id: String,
    /// Hex span id.
    pub span_id: String,
}

/// A server-side latency observation for the request-duration histogram.
#[derive(Debug)]
pub struct Observation {
    /// The service that served it.
    pub service: &'static str,
    /// The route.
    pub route: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// Seconds.
    pub seconds: f64,
    /// The trace, for the exemplar.
    pub trace_id: Vec<u8>,
    /// The server span, for the exemplar.
    pub span_id: Vec<u8>,
}

/// Everything one request produced.
#[derive(Debug, Default)]
pub struct Request {
    /// Spans per service (index as in [`SERVICES`]).
    pub spans: [Vec<Span>; 3],
    /// Log lines.
    pub logs: Vec<LogLine>,
    /// Latency observations.
    pub observations: Vec<Observation>,
    /// Whether the checkout failed.
    pub failed: bool,
}

fn attr(k: &str, v: impl Into<AttrV>) -> KeyValue {
    let value = match v.into() {
        AttrV::S(s) => any_value::Value::StringValue(s),
        AttrV::I(i) => any_value::Value::IntValue(i),
    };
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// An attribute value.
enum AttrV {
    S(String),
    I(i64),
}

impl From<&str> for AttrV {
    fn from(s: &str) -> Self {
        AttrV::S(s.to_owned())
    }
}

impl From<i64> for AttrV {
    fn from(i: i64) -> Self {
        AttrV::I(i)
    }
}

/// Builds spans, with a running clock inside the request.
struct Builder<'a> {
    rng: &'a mut Rng,
    trace_id: Vec<u8>,
    req: Request,
}

impl Builder<'_> {
    fn span_id(&mut self) -> Vec<u8> {
        self.rng.next().to_be_bytes().to_vec()
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        service: usize,
        name: &str,
        kind: i32,
        parent: &[u8],
        start_ns: u64,
        end_ns: u64,
        attrs: Vec<KeyValue>,
        error: Option<&str>,
    ) -> Vec<u8> {
        let id = self.span_id();
        let (status, events) = match error {
            Some(msg) => (
                Some(Status {
                    code: status::StatusCode::Error as i32,
                    message: msg.to_owned(),
                }),
                vec![Event {
                    time_unix_nano: end_ns,
                    name: "exception".into(),
                    attributes: vec![
                        attr("exception.type", "PaymentDeclined"),
                        attr("exception.message", msg),
                    ],
                    dropped_attributes_count: 0,
                }],
            ),
            None => (None, Vec::new()),
        };
        self.req.spans[service].push(Span {
            trace_id: self.trace_id.clone(),
            span_id: id.clone(),
            parent_span_id: parent.to_vec(),
            name: name.to_owned(),
            kind,
            start_time_unix_nano: start_ns,
            end_time_unix_nano: end_ns,
            attributes: attrs,
            events,
            status,
            ..Default::default()
        });
        id
    }

    fn log(&mut self, service: &'static str, t_ns: u64, level: &'static str, span: &[u8], msg: &str, extra: &str) {
        let (trace_id, span_id) = (hex(&self.trace_id), hex(span));
        let line = format!(
            "{{\"level\":\"{level}\",\"msg\":\"{msg}\",\"service\":\"{service}\",\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"{extra}}}"
        );
        self.req.logs.push(LogLine {
            service,
            t_ns,
            level,
            line,
            trace_id,
            span_id,
        });
    }
}

const SERVER: i32 = 2;
const CLIENT: i32 = 3;

/// Simulates one checkout that ends at `end_ns`.
pub fn checkout(rng: &mut Rng, end_ns: u64) -> Request {
    let mut trace_id = rng.next().to_be_bytes().to_vec();
    trace_id.extend_from_slice(&rng.next().to_be_bytes());
    let slow = rng.unit() < 0.02;
    let declined = rng.unit() < 0.03;
    let user = rng.next() % 5000;
    let items = 1 + (rng.next() % 4) as i64;
    let ms = |x: f64| (x * 1e6) as u64;

    // Durations first, so the spans nest: cart (db inside), then payments (db inside).
    let cart_db = rng.millis(3.0) + if slow { 1200.0 + rng.millis(300.0) } else { 0.0 };
    let cart = cart_db + rng.millis(4.0);
    let pay_db = rng.millis(5.0);
    let pay = pay_db + rng.millis(40.0);
    let front = cart + pay + rng.millis(8.0);
    let start = end_ns - ms(front);

    let mut b = Builder {
        rng,
        trace_id,
        req: Request::default(),
    };
    let status = if declined { 402 } else { 200 };
    let root = b.span(
        0,
        "POST /checkout",
        SERVER,
        &[],
        start,
        end_ns,
        vec![
            attr("http.request.method", "POST"),
            attr("http.route", "/checkout"),
            attr("http.response.status_code", i64::from(status)),
            attr("enduser.id", format!("user-{user}").as_str()),
        ],
        declined.then_some("payment declined"),
    );
    // frontend → cart
    let t = start + ms(2.0);
    let c_client = b.span(
        0,
        "POST /cart/items",
        CLIENT,
        &root,
        t,
        t + ms(cart),
        vec![attr("server.address", "cart")],
        None,
    );
    let c_server = b.span(
        1,
        "add_items",
        SERVER,
        &c_client,
        t + ms(0.3),
        t + ms(cart - 0.3),
        vec![attr("cart.items", items)],
        None,
    );
    let db_start = t + ms(1.0);
    b.span(
        1,
        "UPDATE carts",
        CLIENT,
        &c_server,
        db_start,
        db_start + ms(cart_db),
        vec![
            attr("db.system", "postgresql"),
            attr("db.name", "shop"),
            attr("db.statement", "UPDATE carts SET items = $1 WHERE user_id = $2"),
        ],
        None,
    );
    let cart_level = if slow { "warn" } else { "info" };
    let cart_msg = if slow {
        "slow cart update (lock wait)"
    } else {
        "cart updated"
    };
    b.log(
        "cart",
        t + ms(cart),
        cart_level,
        &c_server,
        cart_msg,
        &format!(",\"items\":{items},\"duration_ms\":{cart:.1}"),
    );
    // frontend → payments
    let t = t + ms(cart + 1.0);
    let p_client = b.span(
        0,
        "POST /payments",
        CLIENT,
        &root,
        t,
        t + ms(pay),
        vec![attr("server.address", "payments")],
        declined.then_some("payment declined"),
    );
    let amount = 500 + (b.rng.next() % 20000) as i64;
    let p_server = b.span(
        2,
        "charge",
        SERVER,
        &p_client,
        t + ms(0.3),
        t + ms(pay - 0.3),
        vec![attr("payment.amount_cents", amount)],
        declined.then_some("card declined by issuer"),
    );
    let db_start = t + ms(pay - pay_db - 1.0);
    b.span(
        2,
        "INSERT payments",
        CLIENT,
        &p_server,
        db_start,
        db_start + ms(pay_db),
        vec![attr("db.system", "postgresql"), attr("db.name", "shop")],
        None,
    );
    if declined {
        b.log(
            "payments",
            t + ms(pay),
            "error",
            &p_server,
            "card declined by issuer",
            &format!(",\"duration_ms\":{pay:.1}"),
        );
        b.log(
            "frontend",
            end_ns,
            "error",
            &root,
            "checkout failed",
            &format!(",\"status\":{status},\"user\":\"user-{user}\""),
        );
    } else {
        b.log(
            "payments",
            t + ms(pay),
            "info",
            &p_server,
            "payment captured",
            &format!(",\"duration_ms\":{pay:.1}"),
        );
        b.log(
            "frontend",
            end_ns,
            "info",
            &root,
            "checkout completed",
            &format!(",\"status\":{status},\"user\":\"user-{user}\",\"duration_ms\":{front:.1}"),
        );
    }
    let tid = b.trace_id.clone();
    let obs = |service, route, status, seconds: f64, span_id: Vec<u8>| Observation {
        service,
        route,
        status,
        seconds,
        trace_id: tid.clone(),
        span_id,
    };
    let observations = vec![
        obs("frontend", "/checkout", status, front / 1e3, root),
        obs("cart", "/cart/items", 200, cart / 1e3, c_server),
        obs(
            "payments",
            "/payments",
            if declined { 402 } else { 200 },
            pay / 1e3,
            p_server,
        ),
    ];
    b.req.observations = observations;
    b.req.failed = declined;
    b.req
}
