//! HTTP APIs compatible with existing clients (Grafana, promtool, Loki clients): the
//! Prometheus API and the Loki API; Jaeger and Tempo follow in later issues.

pub mod json;
pub mod loki;
pub mod prom;
