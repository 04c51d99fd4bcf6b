//! Graceful shutdown: one value every long-running task holds and awaits.
//!
//! SIGINT or SIGTERM triggers it once; servers stop accepting, in-flight requests finish, then
//! the TSDB is closed (WAL synced). A second signal while shutting down exits at once.

use std::sync::Arc;

use tokio::sync::watch;

/// A cloneable, trigger-once shutdown signal. Cheap to clone; all clones see the trigger.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        let (tx, _rx) = watch::channel(false);
        Shutdown { tx: Arc::new(tx) }
    }

    /// Triggers shutdown; idempotent.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// True once triggered.
    #[cfg(test)]
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once shutdown has been triggered (at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // `wait_for` only fails when the sender is dropped, which `self` prevents.
        let _ = rx.wait_for(|triggered| *triggered).await;
    }

    /// Spawns a task that triggers shutdown on the first SIGINT/SIGTERM and exits the process
    /// with status 130 on the second.
    pub fn listen_for_signals(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let first = wait_for_signal().await;
            tracing::info!(
                signal = first,
                "shutdown requested, finishing in-flight work (signal again to force)"
            );
            this.trigger();
            let second = wait_for_signal().await;
            tracing::warn!(signal = second, "second signal, exiting without a clean shutdown");
            std::process::exit(130);
        });
    }
}

/// When a [`periodic`] task makes its first pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstPass {
    /// At once, when the task starts.
    Immediately,
    /// One period after the start.
    AfterOnePeriod,
}

/// Spawns the background loop of a periodic job: `pass(false)` on a blocking thread every
/// `period` (a late pass delays the next ones instead of bunching them), and `pass(true)`
/// once more when `shutdown` triggers, after which the task ends (await its handle before
/// closing what the pass writes to). A pass that panics is logged as `<what> failed` and
/// the loop goes on.
pub fn periodic<F>(
    period: std::time::Duration,
    first: FirstPass,
    shutdown: Shutdown,
    what: &'static str,
    pass: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(bool) + Clone + Send + 'static,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if first == FirstPass::AfterOnePeriod {
            tick.tick().await;
        }
        loop {
            let last = tokio::select! {
                _ = tick.tick() => false,
                () = shutdown.wait() => true,
            };
            let run = pass.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || run(last)).await {
                tracing::error!(error = %e, "{what} failed");
            }
            if last {
                return;
            }
        }
    })
}

/// Waits for SIGINT or SIGTERM and names which one arrived.
async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut int), Ok(mut term)) => tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot install signal handlers, falling back to ctrl-c");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_resolves_after_trigger() {
        let s = Shutdown::new();
        assert!(!s.is_triggered());
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        s.trigger();
        waiter.await.unwrap();
        assert!(s.is_triggered());
        // Already triggered: resolves immediately.
        s.wait().await;
    }

    #[tokio::test]
    async fn periodic_runs_every_period_and_once_more_at_shutdown() {
        use std::sync::Mutex;
        let s = Shutdown::new();
        let passes = Arc::new(Mutex::new(Vec::new()));
        let seen = passes.clone();
        let task = periodic(
            std::time::Duration::from_millis(10),
            FirstPass::AfterOnePeriod,
            s.clone(),
            "test pass",
            move |last| seen.lock().unwrap().push(last),
        );
        // At least two regular passes (bounded wait: the machine may be busy).
        for _ in 0..1000 {
            if passes.lock().unwrap().len() >= 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(
            passes.lock().unwrap().len() >= 2,
            "fewer than two passes in 10s of a 10ms period"
        );
        s.trigger();
        task.await.unwrap();
        let passes = passes.lock().unwrap();
        assert_eq!(passes.last(), Some(&true), "{passes:?}");
        assert!(passes[..passes.len() - 1].iter().all(|last| !last), "{passes:?}");
    }
}
