//! Logging set-up for `tiered run`: `tracing` with JSON lines (or human-readable text on
//! a terminal) filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log pipelines).
    Json,
    /// Human-readable text.
    Text,
}

impl LogFormat {
    /// JSON unless standard output is a terminal.
    pub fn detect() -> Self {
        use std::io::IsTerminal;
        if std::io::stdout().is_terminal() {
            Self::Text
        } else {
            Self::Json
        }
    }
}

/// Errors of [`init`].
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` is not a valid filter.
    #[error("failed to parse RUST_LOG")]
    Filter(#[source] tracing_subscriber::filter::FromEnvError),
    /// A global subscriber is already installed.
    #[error("failed to install the log subscriber")]
    Install(#[source] tracing_subscriber::util::TryInitError),
}

/// Installs the global subscriber.
pub fn init(format: LogFormat) -> Result<(), TelemetryError> {
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::builder()
        .with_default_directive(tracing::Level::INFO.into())
        .from_env()
        .map_err(TelemetryError::Filter)?;
    // A log line that cannot be written (stdout a closed pipe: the log collector gone)
    // is dropped. tracing-subscriber would otherwise report it on stderr, and when
    // stderr is the same closed pipe that report panics, in whatever task logged: the
    // SIGTERM handler's panic left the operator deaf to SIGTERM (found by the outside
    // trial of session 8).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .log_internal_errors(false);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .finish()
            .try_init(),
        // Colours only for a terminal: a log file or pipe gets plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .finish()
            .try_init(),
    }
    .map_err(TelemetryError::Install)
}
