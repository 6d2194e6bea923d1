//! Figures and their printing: latency percentiles, rates, and the summary table.

use std::fmt::Write as _;
use std::time::Duration;

/// Latencies of one kind of request, sorted on demand.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// Records one latency.
    pub fn push(&mut self, latency: Duration) {
        self.0.push(latency);
    }

    /// Adds every latency of `other`.
    pub fn extend(&mut self, other: &Latencies) {
        self.0.extend_from_slice(&other.0);
    }

    /// Number of recorded requests.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`-th percentile (0–100), nearest rank; zero when empty.
    pub fn percentile(&self, p: usize) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = (p.min(100) * sorted.len()).div_ceil(100).max(1);
        sorted.get(rank - 1).copied().unwrap_or_default()
    }
}

/// `count / elapsed`, per second.
pub fn rate(count: usize, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// A duration as milliseconds with two decimals: `1.23 ms`.
pub fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// A duration as seconds with two decimals: `1.23 s`.
pub fn secs(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// One line of the summary: what, the figure, the aim (if any) and whether it is met.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub what: String,
    /// The measured figure, formatted.
    pub figure: String,
    /// The aim, formatted (`-` when none).
    pub aim: String,
    /// `Some(true)`: aim met; `Some(false)`: missed; `None`: no aim.
    pub met: Option<bool>,
}

impl Row {
    /// A figure without an aim.
    pub fn plain(what: &str, figure: String) -> Self {
        Self {
            what: what.to_owned(),
            figure,
            aim: "-".to_owned(),
            met: None,
        }
    }

    /// A figure with an aim and whether it is met.
    pub fn aimed(what: &str, figure: String, aim: &str, met: bool) -> Self {
        Self {
            what: what.to_owned(),
            figure,
            aim: aim.to_owned(),
            met: Some(met),
        }
    }
}

/// The summary table, aligned in columns.
pub fn table(rows: &[Row]) -> String {
    let verdict = |row: &Row| match row.met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "",
    };
    let width = |f: &dyn Fn(&Row) -> usize, title: &str| {
        rows.iter().map(f).chain([title.len()]).max().unwrap_or(0)
    };
    let w_what = width(&|r| r.what.len(), "figure");
    let w_figure = width(&|r| r.figure.len(), "measured");
    let w_aim = width(&|r| r.aim.len(), "aim");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<w_what$}  {:>w_figure$}  {:<w_aim$}  ",
        "figure", "measured", "aim"
    );
    let _ = writeln!(
        out,
        "{}  {}  {}  ------",
        "-".repeat(w_what),
        "-".repeat(w_figure),
        "-".repeat(w_aim)
    );
    for row in rows {
        let _ = writeln!(
            out,
            "{:<w_what$}  {:>w_figure$}  {:<w_aim$}  {}",
            row.what,
            row.figure,
            row.aim,
            verdict(row)
        );
    }
    out
}
