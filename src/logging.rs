//! nerve's own logs on stderr: `--log.format` `text` (human, the default), `logfmt`
//! (`ts=… level=info caller=nerve::scrape msg="…" key=value`, as Prometheus logs) or `json`;
//! `--log.level` `debug|info|warn|error` unless `RUST_LOG` is set (then it decides, with
//! tracing's filter syntax).

use std::fmt;
use std::io::IsTerminal as _;

use clap::ValueEnum;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `--log.format`.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// `key=value` pairs, one event per line.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// `--log.level`.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum LogLevel {
    /// Everything, including per-request details.
    Debug,
    /// Normal operation.
    #[default]
    Info,
    /// Problems nerve works around.
    Warn,
    /// Failures.
    Error,
}

impl LogLevel {
    fn directive(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Installs the global subscriber.
pub fn init(format: LogFormat, level: LogLevel) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.directive()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(matches!(format, LogFormat::Text) && std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Logfmt => builder.event_format(Logfmt).init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The logfmt event formatter.
#[derive(Clone, Copy, Debug, Default)]
pub struct Logfmt;

/// Writes `value` bare when it is a plain token, else quoted with `\"`, `\\` and `\n` escaped.
fn write_value(out: &mut Writer<'_>, value: &str) -> fmt::Result {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c.is_control());
    if plain {
        return out.write_str(value);
    }
    out.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            c if c.is_control() => write!(out, "\\u{{{:04x}}}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// Collects an event's fields: `message` first as `msg`, the others in order.
#[derive(Default)]
struct Fields {
    msg: String,
    rest: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_owned();
        } else {
            self.rest.push((field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let v = format!("{value:?}");
        if field.name() == "message" {
            self.msg = v;
        } else {
            self.rest.push((field.name(), v));
        }
    }
}

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        w.write_str("ts=")?;
        SystemTime.format_time(&mut w)?;
        write!(w, " level={} caller=", meta.level().as_str().to_ascii_lowercase())?;
        write_value(&mut w, meta.target())?;
        let mut fields = Fields::default();
        event.record(&mut fields);
        w.write_str(" msg=")?;
        write_value(&mut w, &fields.msg)?;
        for (k, v) in &fields.rest {
            write!(w, " {k}=")?;
            write_value(&mut w, v)?;
        }
        writeln!(w)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn logfmt_lines() {
        let buf = Buf::default();
        let b2 = buf.clone();
        let sub = tracing_subscriber::fmt()
            .event_format(Logfmt)
            .with_writer(move || b2.clone())
            .finish();
        tracing::subscriber::with_default(sub, || {
            tracing::info!(addr = "127.0.0.1:9090", n = 3, "http server listening");
            tracing::warn!(error = "a \"quoted\"\nthing", "");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        let rest = lines[0].split_once(' ').unwrap().1;
        assert!(lines[0].starts_with("ts=20"), "{}", lines[0]);
        assert_eq!(
            rest,
            "level=info caller=nerve::logging::tests msg=\"http server listening\" addr=127.0.0.1:9090 n=3"
        );
        assert!(
            lines[1].ends_with("level=warn caller=nerve::logging::tests msg=\"\" error=\"a \\\"quoted\\\"\\nthing\""),
            "{}",
            lines[1]
        );
    }
}
