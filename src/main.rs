//! The `nerve` binary: one process replacing Prometheus, Loki and Jaeger.
//!
//! `nerve [serve]` runs the server; `nerve check config FILE` validates a config file and
//! `nerve check rules FILE...` rule files, `nerve check slos FILE...` SLO specs. This
//! file only wires things together: CLI, logging, startup order, shutdown.

mod allocator;
mod api;
mod buildinfo;
mod config;
mod credentials;
mod datadir;
mod db;
mod demo;
mod forward;
mod ingest;
mod logging;
mod rules;
mod scrape;
mod selfmetrics;
mod servers;
mod shutdown;
mod slo;
mod spanmetrics;
mod state;
mod tls;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use nerve_storage::logs::LogStore;
use nerve_storage::metrics::Tsdb;
use nerve_storage::traces::SpanStore;

use crate::config::Config;
use crate::config::server::{DEFAULT_HTTP_LISTEN, DEFAULT_OTLP_GRPC_LISTEN, DEFAULT_OTLP_HTTP_LISTEN};
use crate::db::Db;
use crate::logging::{LogFormat, LogLevel};
use crate::servers::auth::AccessPolicy;
use crate::servers::http::Policies;
use crate::shutdown::Shutdown;
use crate::state::AppState;

/// mimalloc returns freed memory to the OS far more eagerly than glibc's malloc under the
/// many-thread ingest load (measured: peak RSS 296 MiB instead of 502 MiB in the remote-write
/// benchmark, see BENCHMARKS.md); [`allocator`] makes it commit memory on demand.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long in-flight HTTP requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// One binary for metrics, logs and traces: Prometheus, Loki and Jaeger/Tempo compatible.
#[derive(Debug, Parser)]
#[command(name = "nerve", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve(ServeArgs),
    /// Validate files without starting the server.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Send a simulated shop's correlated metrics, logs and traces to a running nerve.
    Demo(DemoArgs),
}

/// `nerve demo` flags.
#[derive(Debug, Args)]
struct DemoArgs {
    /// The nerve to send to (its HTTP port).
    #[arg(long, default_value = "http://127.0.0.1:9090")]
    url: String,
    /// Checkout requests per second.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// Stop after this many seconds (default: until interrupted).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<u64>,
    /// Bearer token for a nerve whose ingest paths need write credentials.
    #[arg(long, value_name = "TOKEN")]
    bearer_token: Option<String>,
}

#[derive(Debug, Subcommand)]
enum CheckCommand {
    /// Parse and validate a config file; prints SUCCESS (exit 0) or the error (exit 1).
    Config {
        /// The YAML config file.
        file: PathBuf,
    },
    /// Validate rule files as `promtool check rules` does; exit 1 if any fails.
    Rules {
        /// Rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Validate SLO spec files (Sloth's prometheus/v1 format); exit 1 if any fails.
    Slos {
        /// SLO spec files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write the generated rules to stdout as one Prometheus rule file (the report goes
        /// to stderr).
        #[arg(long)]
        print: bool,
    },
}

/// Server flags. Each overrides the matching config-file setting.
#[derive(Debug, Args, Default)]
struct ServeArgs {
    /// YAML config file (a Prometheus prometheus.yml works). Without it nerve runs on defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory [default: ./data, or storage.path from the config].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// HTTP listen address for all APIs, the UI, remote write and /metrics [default: 0.0.0.0:9090].
    #[arg(long, value_name = "ADDR")]
    http_listen: Option<String>,
    /// OTLP gRPC listen address (traces, logs, metrics) [default: 0.0.0.0:4317].
    #[arg(long, value_name = "ADDR")]
    otlp_grpc_listen: Option<String>,
    /// OTLP/HTTP listen address (`/v1/traces`, `/v1/logs`, `/v1/metrics`) [default: 0.0.0.0:4318].
    #[arg(long, value_name = "ADDR")]
    otlp_http_listen: Option<String>,
    /// Also run the demo shop against this nerve (see `nerve demo`).
    #[arg(long)]
    demo: bool,
    /// Log format on stderr: text, logfmt or json.
    #[arg(long = "log.format", alias = "log-format", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log level: debug, info, warn or error (RUST_LOG, when set, decides instead).
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info)]
    log_level: LogLevel,
}

fn main() -> ExitCode {
    tls::install_default_provider();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check(CheckCommand::Config { file })) => check_config(&file),
        Some(Command::Check(CheckCommand::Rules { files })) => {
            let ok = rules::file::check_files(&files, &mut std::io::stdout().lock(), &mut std::io::stderr().lock());
            if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Some(Command::Check(CheckCommand::Slos { files, print })) => {
            let ok = slo::check_files(
                &files,
                print,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            );
            if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Some(Command::Serve(args)) => run(args),
        Some(Command::Demo(args)) => run_demo(args),
        None => run(cli.serve),
    }
}

/// Loads what startup and scrape pools would load from other files (server and client TLS
/// settings, auth credential files), so `check config` reports their errors too.
fn startup_files(cfg: &Config) -> Result<(), String> {
    if let Some(t) = &cfg.server.tls_server_config {
        tls::server::server_config(t, &[b"h2"])?;
    }
    AccessPolicy::pair(&cfg.auth)?;
    for sc in &cfg.scrape_configs {
        if let Some(t) = &sc.tls_config {
            tls::client_config(Some(t), true).map_err(|e| format!("scrape job {:?}: {e}", sc.job_name))?;
        }
    }
    for (i, am) in cfg.alerting.alertmanagers.iter().enumerate() {
        if let Some(t) = &am.tls_config {
            tls::client_config(Some(t), true).map_err(|e| format!("alerting.alertmanagers[{i}]: {e}"))?;
        }
    }
    Ok(())
}

/// `nerve check config FILE`.
fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::load(file) {
        Ok(cfg) => {
            let mut err = std::io::stderr().lock();
            for section in cfg.unimplemented_sections() {
                let _ = writeln!(err, "  WARNING: {section} is accepted but not implemented yet");
            }
            // What startup loads from other files: TLS certificates, credential files.
            if let Err(e) = startup_files(&cfg) {
                let _ = writeln!(err, "FAILED: {e}");
                return ExitCode::FAILURE;
            }
            // Like promtool, the rule files the config names are checked too.
            let files = match rules::expand_rule_files(&cfg.rule_files, file.parent()) {
                Ok(f) => f,
                Err(e) => {
                    let _ = writeln!(err, "FAILED: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let mut out = std::io::stdout().lock();
            if !files.is_empty() && !rules::file::check_files(&files, &mut out, &mut err) {
                let _ = writeln!(err, "FAILED: invalid rule files");
                return ExitCode::FAILURE;
            }
            // And the SLO specs, whose generated rules load with them.
            match rules::expand_rule_files(&cfg.slo_files, file.parent()) {
                Ok(f) if f.is_empty() || slo::check_files(&f, false, &mut out, &mut err) => {}
                Ok(_) => {
                    let _ = writeln!(err, "FAILED: invalid SLO files");
                    return ExitCode::FAILURE;
                }
                Err(e) => {
                    let _ = writeln!(err, "FAILED: {e}");
                    return ExitCode::FAILURE;
                }
            }
            let _ = writeln!(out, "SUCCESS");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `nerve demo`: the shop against a nerve elsewhere, until Ctrl-C or `--duration`.
fn run_demo(args: DemoArgs) -> ExitCode {
    logging::init(LogFormat::Text, LogLevel::Info);
    if !(args.rate > 0.0 && args.rate <= 10_000.0) {
        tracing::error!(rate = args.rate, "--rate must be in (0, 10000]");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = Shutdown::new();
        shutdown.listen_for_signals();
        demo::run(
            args.url,
            args.rate,
            args.duration.map(Duration::from_secs),
            false,
            credentials::Credentials::from_options(
                None,
                None,
                (args.bearer_token.map(config::http_client::Secret).as_ref(), None),
            ),
            shutdown,
        )
        .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "demo failed");
            ExitCode::FAILURE
        }
    }
}

fn run(args: ServeArgs) -> ExitCode {
    logging::init(args.log_format, args.log_level);
    // 8 MiB thread stacks, not 2: queries recurse over a tree whose depth promql::prescan bounds.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve(args));
    // Don't hang on exit if a blocking task is stuck (everything important is closed by now).
    runtime.shutdown_timeout(Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "nerve failed");
            ExitCode::FAILURE
        }
    }
}

/// Startup order: config → bind HTTP, OTLP gRPC and OTLP/HTTP (probes answer at once,
/// `/-/ready` 503, ingest 503) → open the TSDB
/// on a blocking thread (WAL replay) → ready → wait for a signal → drain HTTP → close the TSDB
/// (WAL synced).
async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    for section in cfg.unimplemented_sections() {
        tracing::warn!(
            section,
            "config section accepted but not implemented yet; it has no effect"
        );
    }
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| cfg.storage.path.clone())
        .unwrap_or_else(|| "./data".into());
    // Held until serve returns: no second nerve may open these stores meanwhile.
    let _data_dir_lock = datadir::DataDirLock::acquire(&data_dir)?;
    let pick = |flag: &Option<String>, file: &Option<String>, default: &str| -> anyhow::Result<String> {
        let v = flag
            .clone()
            .or_else(|| file.clone())
            .unwrap_or_else(|| default.to_owned());
        config::server::validate_listen_addr(&v).map_err(anyhow::Error::msg)?;
        Ok(v)
    };
    let http_listen = pick(&args.http_listen, &cfg.server.http_listen, DEFAULT_HTTP_LISTEN)?;
    let otlp_grpc = pick(
        &args.otlp_grpc_listen,
        &cfg.server.otlp_grpc_listen,
        DEFAULT_OTLP_GRPC_LISTEN,
    )?;
    let otlp_http = pick(
        &args.otlp_http_listen,
        &cfg.server.otlp_http_listen,
        DEFAULT_OTLP_HTTP_LISTEN,
    )?;

    let (read, write) = AccessPolicy::pair(&cfg.auth).map_err(anyhow::Error::msg)?;
    let policies = Policies { read, write };
    let db = Arc::new(Db::new());
    let mut state = AppState::new(db.clone(), cfg.limits.clone());
    tracing::info!(
        max_series = cfg.limits.max_series(),
        max_series_per_metric = cfg.limits.max_series_per_metric(),
        max_memory = %config::units::ByteSize(state.memory.limit()),
        allocator_eager_commit = allocator::eager_commit(),
        "ingest limits (0 = none)"
    );
    state.trace_sampler = cfg
        .traces
        .sampling
        .policy()
        .map(|p| Arc::new(ingest::otlp_traces::sampling::TailSampler::new(p)));
    state.span_metrics = cfg.traces.span_metrics.policy().map(spanmetrics::Generator::new);
    let span_metrics = state.span_metrics.clone();
    if let Some(g) = &span_metrics {
        state.metrics.set_span_metrics(g.clone());
    }
    let forwarder = forward::Forwarder::open(&cfg.forward, &cfg.remote_write, &data_dir).map_err(anyhow::Error::msg)?;
    if let Some(f) = &forwarder {
        state.metrics.set_forwarder(f.clone());
    }
    state.forwarder = forwarder.clone();
    state.admin_dir = cfg.server.enable_admin_api.then(|| data_dir.clone());
    state.status = Arc::new(api::prom::runtime::RuntimeStatus::new(&cfg));
    let trace_sampler = state.trace_sampler.clone();
    if let Some(s) = &trace_sampler {
        state.metrics.set_trace_sampler(s.clone());
    }
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals();
    if cfg.server.enable_quit {
        state.quit = Some(shutdown.clone());
    }

    let listener = servers::http::bind(&http_listen)
        .await
        .with_context(|| format!("binding the HTTP listener on {http_listen}"))?;
    let grpc_listener = servers::grpc::bind(&otlp_grpc)
        .await
        .with_context(|| format!("binding the OTLP gRPC listener on {otlp_grpc}"))?;
    let otlp_http_listener = servers::http::bind_otlp(&otlp_http)
        .await
        .with_context(|| format!("binding the OTLP/HTTP listener on {otlp_http}"))?;
    let self_target = listener.local_addr().ok().map(|a| scrape_address(&a));
    state.scrape.set_origin(self_target.clone(), args.config.clone());
    let scrape = state.scrape.clone();
    let rule_manager = state.rules.clone();
    let tls = match &cfg.server.tls_server_config {
        Some(t) => {
            let r = tls::server::Reloading::new(t.clone(), &[b"h2", b"http/1.1"]).map_err(anyhow::Error::msg)?;
            tracing::info!(cert_file = ?r.cert_file(), "TLS on every listener");
            Some(r)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let default_url = format!("{scheme}://{}", self_target.unwrap_or_else(|| http_listen.clone()));
    let external_url = cfg.server.external_url.clone().unwrap_or_else(|| default_url.clone());
    let demo_url = default_url.clone();
    rule_manager.set_origin(args.config.clone(), default_url);
    let otlp_servers = [
        spawn_server(
            grpc_listener,
            tls.clone(),
            servers::grpc::router(state.clone(), &policies.write),
            shutdown.clone(),
            true,
        ),
        spawn_server(
            otlp_http_listener,
            tls.clone(),
            servers::http::otlp_router(state.clone(), &policies),
            shutdown.clone(),
            false,
        ),
    ];
    let logs_handle = state.logs.clone();
    let traces_handle = state.traces.clone();
    let app = servers::http::router(state, &policies);
    let demo_insecure = tls.is_some();
    let mut server = spawn_server(listener, tls, app, shutdown.clone(), false);

    let metrics_dir = data_dir.join("metrics");
    let mut opts = cfg.storage.tsdb_options();
    opts.max_series = cfg.limits.max_series();
    opts.max_series_per_metric = cfg.limits.max_series_per_metric();
    opts.bounds = nerve_storage::metrics::SampleBounds {
        max_future: Some(cfg.limits.max_future()),
        max_age: Some(opts.retention),
    };
    tracing::info!(data_dir = %data_dir.display(), "opening metrics TSDB");
    let opened = tokio::task::spawn_blocking({
        let dir = metrics_dir.clone();
        move || Tsdb::open(&dir, opts)
    })
    .await
    .context("TSDB open task failed")?;
    let tsdb = match opened {
        Ok(t) => t,
        Err(e) => {
            shutdown.trigger();
            let _ = server.await;
            return Err(e).with_context(|| format!("opening the metrics TSDB in {}", metrics_dir.display()));
        }
    };
    if let Some(obs) = forwarder.as_ref().and_then(|f| f.metrics_observer()) {
        tsdb.set_commit_observer(obs);
    }
    if let Some(f) = &forwarder {
        f.spawn(&shutdown);
    }
    db.set(tsdb.clone());
    let logs_dir = data_dir.join("logs");
    let log_opts = cfg.storage.log_store_options();
    tracing::info!(dir = %logs_dir.display(), "opening log store");
    let opened = tokio::task::spawn_blocking({
        let dir = logs_dir.clone();
        move || LogStore::open(&dir, log_opts)
    })
    .await
    .context("log store open task failed")?;
    let logs = match opened {
        Ok(l) => l,
        Err(e) => {
            shutdown.trigger();
            let _ = server.await;
            return Err(e).with_context(|| format!("opening the log store in {}", logs_dir.display()));
        }
    };
    logs_handle.set(logs.clone());
    let traces_dir = data_dir.join("traces");
    let mut span_opts = cfg.storage.span_store_options();
    span_opts.max_spans_per_trace = cfg.limits.traces_max_spans_per_trace();
    tracing::info!(dir = %traces_dir.display(), "opening span store");
    let opened = tokio::task::spawn_blocking({
        let dir = traces_dir.clone();
        move || SpanStore::open(&dir, span_opts)
    })
    .await
    .context("span store open task failed")?;
    let traces = match opened {
        Ok(t) => t,
        Err(e) => {
            shutdown.trigger();
            let _ = server.await;
            return Err(e).with_context(|| format!("opening the span store in {}", traces_dir.display()));
        }
    };
    let sampler_task = trace_sampler.map(|s| ingest::otlp_traces::run_sampler(s, traces.clone(), shutdown.clone()));
    let span_metrics_task = span_metrics.map(|g| spanmetrics::run(g, db.clone(), shutdown.clone()));
    if let Err(e) = scrape.apply(&cfg) {
        shutdown.trigger();
        let _ = server.await;
        anyhow::bail!("starting scrape pools: {e}");
    }
    rule_manager.start_notifier(shutdown.clone());
    if let Err(e) = rule_manager.apply(&cfg, args.config.as_deref(), &external_url).await {
        shutdown.trigger();
        let _ = server.await;
        anyhow::bail!("loading rules: {e}");
    }
    listen_for_reload(scrape.clone(), rule_manager.clone(), shutdown.clone());
    // The last store handle makes /-/ready answer 200: only now that scrape pools and rules
    // run too, so a client that waited for ready sees the targets and rules it configured.
    traces_handle.set(traces.clone());
    tracing::info!("ready");
    if args.demo {
        let shutdown = shutdown.clone();
        // The in-process shop uses the configured write credentials when they are usable
        // (a bearer token or a plain basic_auth user; bcrypt hashes cannot be sent).
        let creds = cfg.auth.write.as_ref().map_or_else(Default::default, |w| {
            credentials::Credentials::from_options(
                w.basic_auth.as_ref(),
                None,
                (w.bearer_token.as_ref(), w.bearer_token_file.as_ref()),
            )
        });
        tokio::spawn(async move {
            if let Err(e) = demo::run(demo_url, 5.0, None, demo_insecure, creds, shutdown).await {
                tracing::error!(error = %e, "demo failed");
            }
        });
    }

    let served = tokio::select! {
        r = &mut server => Some(r),
        () = async { shutdown.wait().await; tokio::time::sleep(DRAIN_TIMEOUT).await } => None,
    };
    let serve_result = match served {
        Some(r) => r.context("HTTP server task failed")?.context("HTTP server failed"),
        None => {
            tracing::warn!(
                timeout_s = DRAIN_TIMEOUT.as_secs(),
                "in-flight requests did not finish in time"
            );
            server.abort();
            Ok(())
        }
    };
    shutdown.trigger();
    for otlp_server in otlp_servers {
        match tokio::time::timeout(DRAIN_TIMEOUT, otlp_server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "OTLP server failed"),
            Ok(Err(e)) => tracing::error!(error = %e, "OTLP server task failed"),
            Err(_) => tracing::warn!("OTLP calls did not finish in time"),
        }
    }
    scrape.shutdown().await;
    rule_manager.shutdown().await;
    tracing::info!("closing log store (committing the index, syncing the WAL)");
    tokio::task::spawn_blocking(move || logs.close())
        .await
        .context("log store close task failed")?
        .context("closing the log store")?;
    if let Some(task) = sampler_task {
        tracing::info!("storing the traces kept by tail sampling");
        if let Err(e) = task.await {
            tracing::error!(error = %e, "tail-sampling task failed");
        }
    }
    if let Some(task) = span_metrics_task
        && let Err(e) = task.await
    {
        tracing::error!(error = %e, "span-metrics task failed");
    }
    tracing::info!("closing span store (flushing the head, syncing the WAL)");
    tokio::task::spawn_blocking(move || traces.close())
        .await
        .context("span store close task failed")?
        .context("closing the span store")?;
    tracing::info!("closing metrics TSDB (syncing the WAL)");
    tokio::task::spawn_blocking(move || tsdb.close())
        .await
        .context("TSDB close task failed")?
        .context("closing the metrics TSDB")?;
    tracing::info!("shutdown complete");
    serve_result
}

/// The address nerve scrapes itself at: the bound address, with an unspecified IP replaced
/// by loopback.
/// Serves `app` on `listener`, behind TLS when configured (`grpc` only changes the logs).
fn spawn_server(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tls::server::Reloading>>,
    app: axum::Router,
    shutdown: Shutdown,
    grpc: bool,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    match tls {
        Some(t) => match tls::server::TlsListener::new(listener, t) {
            Ok(l) if grpc => tokio::spawn(servers::grpc::serve(l, app, shutdown)),
            Ok(l) => tokio::spawn(servers::http::serve(l, app, shutdown)),
            Err(e) => tokio::spawn(async move { Err(e) }),
        },
        None if grpc => tokio::spawn(servers::grpc::serve(listener, app, shutdown)),
        None => tokio::spawn(servers::http::serve(listener, app, shutdown)),
    }
}

fn scrape_address(bound: &std::net::SocketAddr) -> String {
    let mut a = *bound;
    if a.ip().is_unspecified() {
        a.set_ip(match a.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a.to_string()
}

/// Reloads the scrape configuration and the rules on every SIGHUP until shutdown.
fn listen_for_reload(scrape: Arc<scrape::Manager>, rules: Arc<rules::Manager>, shutdown: Shutdown) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload with POST /-/reload");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading the configuration");
                    if let Err(e) = scrape.reload().await {
                        tracing::error!(error = %e, "reloading the configuration failed; keeping the running one");
                    } else if let Err(e) = rules.reload().await {
                        tracing::error!(error = %e, "reloading the rules failed; keeping the running ones");
                    }
                }
                () = shutdown.wait() => return,
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (scrape, rules, shutdown);
}
