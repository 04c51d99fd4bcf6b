//! Service-graph edges, paired as Tempo pairs them: a `CLIENT` (or `PRODUCER`) span and the
//! `SERVER` (or `CONSUMER`) span whose parent it is make one request from the client's
//! service to the server's. Either half may arrive first (in another export, from another
//! service); it waits up to `pairing_wait` for the other.
//!
//! A half still alone at expiry becomes:
//! - for a client span naming its peer (`peer.service`, else `db.name`, else `db.system`), an
//!   edge to that virtual node, with `connection_type` `virtual_node` or `database`;
//! - otherwise one count of `traces_service_graph_unpaired_spans_total{client|server=…}`.
//!
//! Messaging edges (producer → consumer) get `connection_type="messaging_system"`. A request
//! fails when either half has status `ERROR`. Waiting halves are bounded; past the bound the
//! oldest expires early.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use nerve_storage::traces::{AttrValue, Span, SpanId, SpanKind, StatusCode, TraceId, find_attr};

/// Most halves waiting for their pair.
const MAX_PENDING: usize = 100_000;

/// An edge's identity: its series' labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EdgeKey {
    /// The calling service.
    pub client: String,
    /// The called service (or virtual node).
    pub server: String,
    /// `""`, `messaging_system`, `database` or `virtual_node`.
    pub connection_type: &'static str,
}

impl EdgeKey {
    /// The label pairs (an empty `connection_type` is left out by the label set).
    pub fn labels(&self) -> [(&'static str, String); 3] {
        [
            ("client", self.client.clone()),
            ("server", self.server.clone()),
            ("connection_type", self.connection_type.to_owned()),
        ]
    }
}

/// One observed request along an edge.
#[derive(Clone, Debug)]
pub struct Edge {
    /// Which edge.
    pub key: EdgeKey,
    /// Either half had status `ERROR`.
    pub failed: bool,
    /// The server span's duration.
    pub server_seconds: Option<f64>,
    /// The client span's duration.
    pub client_seconds: Option<f64>,
    /// The trace, for exemplars.
    pub trace_id: TraceId,
    /// The client span (else the server span), for exemplars.
    pub span_id: SpanId,
}

/// What pairing produced.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// A request along an edge.
    Edge(Edge),
    /// A half that found no pair: `side` is `client` or `server`.
    Unpaired {
        /// `client` or `server`.
        side: &'static str,
        /// Its service.
        service: String,
    },
}

#[derive(Debug)]
struct Half {
    service: String,
    seconds: f64,
    failed: bool,
    messaging: bool,
    /// For client halves: the peer a lone half points at, and its connection type.
    peer: Option<(String, &'static str)>,
    span_id: SpanId,
    expires: Instant,
}

type Key = (TraceId, SpanId);

/// Halves waiting for their pair.
#[derive(Debug, Default)]
pub struct Pairing {
    clients: HashMap<Key, Half, foldhash::fast::RandomState>,
    servers: HashMap<Key, Half, foldhash::fast::RandomState>,
    /// `(expiry, is_client, key)` in arrival order; entries already paired are skipped.
    order: VecDeque<(Instant, bool, Key)>,
}

fn peer_of(span: &Span) -> Option<(String, &'static str)> {
    let get = |k: &str| {
        find_attr(&span.attributes, k)
            .and_then(AttrValue::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(p) = get("peer.service") {
        return Some((p.to_owned(), "virtual_node"));
    }
    get("db.name")
        .or_else(|| get("db.system"))
        .map(|d| (d.to_owned(), "database"))
}

fn edge(client: &Half, server: &Half, trace_id: TraceId) -> Edge {
    Edge {
        key: EdgeKey {
            client: client.service.clone(),
            server: server.service.clone(),
            connection_type: if client.messaging || server.messaging {
                "messaging_system"
            } else {
                ""
            },
        },
        failed: client.failed || server.failed,
        server_seconds: Some(server.seconds),
        client_seconds: Some(client.seconds),
        trace_id,
        span_id: client.span_id,
    }
}

/// What pairing needs of a client or server span.
#[derive(Debug)]
pub struct HalfSpan {
    is_client: bool,
    key: Key,
    trace_id: TraceId,
    half: Half,
}

impl HalfSpan {
    /// The pairing record of a client, producer, server or consumer span with a parent
    /// (`service` is its service name); `None` for other spans.
    pub fn of(s: &Span, service: &str) -> Option<HalfSpan> {
        let (is_client, key) = match s.kind {
            SpanKind::Client | SpanKind::Producer => (true, (s.trace_id, s.span_id)),
            SpanKind::Server | SpanKind::Consumer if !s.is_root() => (false, (s.trace_id, s.parent_span_id)),
            _ => return None,
        };
        Some(HalfSpan {
            is_client,
            key,
            trace_id: s.trace_id,
            half: Half {
                service: service.to_owned(),
                seconds: s.duration_ns() as f64 / 1e9,
                failed: s.status_code == StatusCode::Error,
                messaging: matches!(s.kind, SpanKind::Producer | SpanKind::Consumer),
                peer: if is_client { peer_of(s) } else { None },
                span_id: s.span_id,
                expires: Instant::now(),
            },
        })
    }
}

impl Pairing {
    /// Offers one span's half; completed pairs go to `out`.
    pub fn offer(&mut self, h: HalfSpan, now: Instant, wait: Duration, out: &mut Vec<Outcome>) {
        let HalfSpan {
            is_client,
            key,
            trace_id,
            mut half,
        } = h;
        half.expires = now + wait;
        let (mine, theirs) = if is_client {
            (&mut self.clients, &mut self.servers)
        } else {
            (&mut self.servers, &mut self.clients)
        };
        if let Some(other) = theirs.remove(&key) {
            let (c, sv) = if is_client { (&half, &other) } else { (&other, &half) };
            out.push(Outcome::Edge(edge(c, sv, trace_id)));
            return;
        }
        self.order.push_back((half.expires, is_client, key));
        mine.insert(key, half);
        while self.clients.len() + self.servers.len() > MAX_PENDING {
            let Some((_, c, k)) = self.order.pop_front() else { break };
            self.expire_one(c, k, out);
        }
    }

    /// Expires every half whose wait is over.
    pub fn expire(&mut self, now: Instant) -> Vec<Outcome> {
        let mut out = Vec::new();
        while let Some(&(at, c, k)) = self.order.front() {
            if at > now {
                break;
            }
            self.order.pop_front();
            self.expire_one(c, k, &mut out);
        }
        out
    }

    fn expire_one(&mut self, is_client: bool, key: Key, out: &mut Vec<Outcome>) {
        let map = if is_client {
            &mut self.clients
        } else {
            &mut self.servers
        };
        let Some(h) = map.remove(&key) else { return };
        match (is_client, h.peer) {
            (true, Some((peer, connection_type))) => out.push(Outcome::Edge(Edge {
                key: EdgeKey {
                    client: h.service,
                    server: peer,
                    connection_type,
                },
                failed: h.failed,
                server_seconds: None,
                client_seconds: Some(h.seconds),
                trace_id: key.0,
                span_id: h.span_id,
            })),
            (c, _) => out.push(Outcome::Unpaired {
                side: if c { "client" } else { "server" },
                service: h.service,
            }),
        }
    }

    /// Halves waiting now.
    pub fn pending(&self) -> usize {
        self.clients.len() + self.servers.len()
    }
}
