//! HTTP APIs compatible with existing clients (Grafana, promtool, Loki clients, Jaeger UI):
//! the Prometheus API, the Loki API, the Jaeger query API and the Tempo API.

pub mod jaeger;
pub mod json;
pub mod loki;
pub mod prom;
pub mod tempo;
pub mod traces;
