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
    /// Whether the leader lease was lost, whatever the stop's first reason: a lease lost
    /// while a SIGTERM's graceful stop drains still drops the reconciles in flight.
    lease_lost: watch::Sender<bool>,
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
            lease_lost: watch::channel(false).0,
        }
    }

    /// Fires the signal (the first reason wins; a lost lease is recorded whatever came
    /// first, for [`Shutdown::lease_lost`]).
    pub fn trigger(&self, reason: StopReason) {
        if reason == StopReason::LeaseLost {
            self.lease_lost.send_replace(true);
        }
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

    /// Whether the leader lease was lost ([`StopReason::LeaseLost`] was triggered, first
    /// or after another reason).
    pub fn lease_was_lost(&self) -> bool {
        *self.lease_lost.borrow()
    }

    /// Resolves once the leader lease is lost, even after a stop for another reason
    /// began (a graceful stop lets reconciles in flight finish, a lost lease does not:
    /// another replica may lead); never otherwise.
    pub fn lease_lost(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut receiver = self.lease_lost.subscribe();
        async move {
            if receiver.wait_for(|lost| *lost).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Fires the signal on SIGTERM or SIGINT, then exits the process at once, with
    /// status 1, on a second one: the stop after the first may wait up to the graceful
    /// shutdown timeout (an API server that does not answer), and someone pressing
    /// Ctrl-C again means now. controller-runtime's `SetupSignalHandler` does the same
    /// (`os.Exit(1)` on the second signal). Once these handlers are installed the OS's
    /// default action never runs, so without this a second Ctrl-C did nothing.
    pub async fn on_os_signals(self) {
        let mut signals = OsSignals::new();
        // Fire first, then say so: nothing that logging does may stand between a
        // signal and the stop.
        let signal = tokio::select! {
            signal = signals.next() => signal,
            () = self.wait() => return,
        };
        self.trigger(StopReason::Signal);
        tracing::info!("{signal} received, shutting down");
        let again = signals.next().await;
        tracing::warn!("{again} received again; exiting at once, without waiting for the stop");
        std::process::exit(1);
    }
}

/// SIGINT and SIGTERM, listened to for the whole run (a signal that arrives between two
/// [`OsSignals::next`] calls is kept, not lost).
struct OsSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
fn listen(
    kind: tokio::signal::unix::SignalKind,
    name: &str,
) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind)
        .inspect_err(|error| tracing::warn!(%error, "cannot listen for {name}"))
        .ok()
}

#[cfg(unix)]
async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

impl OsSignals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::SignalKind;
            Self {
                interrupt: listen(SignalKind::interrupt(), "SIGINT"),
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                () = received(self.interrupt.as_mut()) => "SIGINT",
                () = received(self.terminate.as_mut()) => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
