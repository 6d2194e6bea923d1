//! Graceful shutdown: one signal shared by every part of `tiered run`, fired by SIGTERM,
//! SIGINT or an internal reason (lost lease). Touches only OS signals.

use tokio::sync::watch;

/// Why the process stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGTERM or SIGINT.
    Signal,
    /// The leader lease was lost; another replica takes over.
    LeaseLost,
    /// A part of the process failed.
    Failure,
}

/// Sender and receivers of the stop signal; cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: watch::Sender<Option<StopReason>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self {
            sender: watch::channel(None).0,
        }
    }

    /// Fires the signal (the first reason wins).
    pub fn trigger(&self, reason: StopReason) {
        self.sender.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// Why the process stops, once it does.
    pub fn reason(&self) -> Option<StopReason> {
        *self.sender.borrow()
    }

    /// Resolves when the signal fires.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            // An error means every sender is gone, which also means: stop.
            let _ = receiver.wait_for(Option::is_some).await;
        }
    }

    /// Resolves when the signal fires for [`StopReason::LeaseLost`]; never for another
    /// reason (a graceful stop lets reconciles in flight finish, a lost lease does not).
    pub fn lease_lost(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            let fired = receiver
                .wait_for(Option::is_some)
                .await
                .map(|reason| *reason);
            if !matches!(fired, Ok(Some(StopReason::LeaseLost))) {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Fires the signal on SIGTERM or SIGINT; runs until then.
    pub async fn on_os_signals(self) {
        let terminate = async {
            #[cfg(unix)]
            {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for SIGTERM");
                        std::future::pending::<()>().await;
                    }
                }
            }
            #[cfg(not(unix))]
            std::future::pending::<()>().await;
        };
        // Fire first, then say so: nothing that logging does may stand between a
        // signal and the stop.
        let signal = tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            () = terminate => "SIGTERM",
            () = self.wait() => return,
        };
        self.trigger(StopReason::Signal);
        tracing::info!("{signal} received, shutting down");
    }
}
