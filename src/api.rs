//! HTTP APIs compatible with existing clients (Grafana, promtool). Prometheus first; Loki,
//! Jaeger and Tempo follow in later issues.

pub mod prom;
