//! Prometheus metrics of the operator process (prometheus-client): reconcile counts,
//! errors by category, durations, children applied, AWS calls for the data-tier
//! controllers, and whether this replica leads. Touches nothing but its own registry.

use crate::runtime::error::Category;
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of the per-controller metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// Controller name, e.g. `tieredapp`.
    pub controller: String,
}

/// Labels of the error counter: the controller and the error's fixed category.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Controller name.
    pub controller: String,
    /// Error category (a fixed set, see each controller's `Error::category`).
    pub category: String,
}

/// Labels of the children counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChildLabels {
    /// Controller name.
    pub controller: String,
    /// Kind of the applied child, e.g. `Deployment`.
    pub kind: String,
}

/// Labels of the AWS call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    /// AWS service, e.g. `rds`.
    pub service: String,
    /// API operation, e.g. `CreateDBInstance`.
    pub operation: String,
}

/// Every metric the operator exports, registered in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `tiered_reconcile_total{controller}`.
    pub reconciles: Family<ControllerLabels, Counter>,
    /// `tiered_reconcile_errors_total{controller,category}`.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// `tiered_reconcile_duration_seconds{controller}`.
    pub reconcile_duration: Family<ControllerLabels, Histogram>,
    /// `tiered_children_applied_total{controller,kind}`.
    pub children_applied: Family<ChildLabels, Counter>,
    /// `tiered_aws_calls_total{service,operation}`.
    pub aws_calls: Family<AwsCallLabels, Counter>,
    /// `tiered_leader`: 1 while this replica runs the controllers (it holds the leader
    /// Lease, or leader election is off), else 0 (standing by, or the Lease was lost).
    /// Summed over the replicas it is 1 in a healthy installation: 0 means no replica
    /// reconciles. client-go's counterpart is `leader_election_master_status{name}`;
    /// one process takes part in one election, so this gauge needs no lease label.
    pub leader: Gauge,
}

fn duration_histogram() -> Histogram {
    // 5 ms … about 41 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tiered");
        let reconciles = Family::<ControllerLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = Family::<ControllerLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let children_applied = Family::<ChildLabels, Counter>::default();
        let aws_calls = Family::<AwsCallLabels, Counter>::default();
        let leader = Gauge::default();
        registry.register("reconcile", "Reconciles started", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error, by category",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciles",
            reconcile_duration.clone(),
        );
        registry.register(
            "children_applied",
            "Child objects written with server-side apply",
            children_applied.clone(),
        );
        registry.register("aws_calls", "Calls to AWS APIs", aws_calls.clone());
        registry.register(
            "leader",
            "1 while this replica runs the controllers (holds the leader lease, or leader election is off), else 0",
            leader.clone(),
        );
        Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            children_applied,
            aws_calls,
            leader,
        }
    }

    /// Sets `tiered_leader` from whether this replica runs the controllers.
    pub fn set_leader(&self, leads: bool) {
        self.leader.set(i64::from(leads));
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Counts a reconcile of `controller` and returns a measurer that records its
    /// duration when dropped.
    pub fn reconcile_started(self: &Arc<Self>, controller: &str) -> ReconcileMeasurer {
        self.reconciles
            .get_or_create(&ControllerLabels {
                controller: controller.to_owned(),
            })
            .inc();
        ReconcileMeasurer {
            start: Instant::now(),
            controller: controller.to_owned(),
            metrics: Arc::clone(self),
        }
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failed(&self, controller: &str, category: Category) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                controller: controller.to_owned(),
                category: category.label().to_owned(),
            })
            .inc();
    }

    /// Counts a child written with server-side apply.
    pub fn child_applied(&self, controller: &str, kind: &str) {
        self.children_applied
            .get_or_create(&ChildLabels {
                controller: controller.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Counts a call to an AWS API.
    pub fn aws_call(&self, service: &str, operation: &str) {
        self.aws_calls
            .get_or_create(&AwsCallLabels {
                service: service.to_owned(),
                operation: operation.to_owned(),
            })
            .inc();
    }
}

/// Records the duration of one reconcile into the histogram when dropped, so that early
/// returns and errors are measured too.
#[derive(Debug)]
pub struct ReconcileMeasurer {
    start: Instant,
    controller: String,
    metrics: Arc<Metrics>,
}

impl Drop for ReconcileMeasurer {
    fn drop(&mut self) {
        self.metrics
            .reconcile_duration
            .get_or_create(&ControllerLabels {
                controller: std::mem::take(&mut self.controller),
            })
            .observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn the_exposition_names_every_documented_metric_with_its_labels() {
        let metrics = Arc::new(Metrics::new());
        drop(metrics.reconcile_started("tieredapp"));
        metrics.reconcile_failed("tieredapp", Category::Conflict);
        metrics.child_applied("tieredapp", "Deployment");
        metrics.aws_call("rds", "CreateDBInstance");
        metrics.set_leader(true);
        let text = metrics.encode().unwrap();
        for (series, value) in [
            ("tiered_reconcile_total{controller=\"tieredapp\"}", 1.0),
            (
                "tiered_reconcile_errors_total{controller=\"tieredapp\",category=\"conflict\"}",
                1.0,
            ),
            (
                "tiered_children_applied_total{controller=\"tieredapp\",kind=\"Deployment\"}",
                1.0,
            ),
            (
                "tiered_aws_calls_total{service=\"rds\",operation=\"CreateDBInstance\"}",
                1.0,
            ),
            (
                "tiered_reconcile_duration_seconds_count{controller=\"tieredapp\"}",
                1.0,
            ),
            ("tiered_leader", 1.0),
        ] {
            assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
        }
        assert!(text.contains("# TYPE tiered_reconcile_duration_seconds histogram"));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn the_reconcile_measurer_records_the_duration_when_dropped() {
        let metrics = Arc::new(Metrics::new());
        let count = |m: &Metrics| {
            sample(
                &m.encode().unwrap(),
                "tiered_reconcile_duration_seconds_count{controller=\"tieredapp\"}",
            )
        };
        let measurer = metrics.reconcile_started("tieredapp");
        assert_eq!(count(&metrics), None, "nothing recorded while running");
        drop(measurer);
        assert_eq!(count(&metrics), Some(1.0));
        let early_return = || -> Result<(), ()> {
            let _measure = metrics.reconcile_started("tieredapp");
            Err(())
        };
        assert!(early_return().is_err());
        assert_eq!(
            count(&metrics),
            Some(2.0),
            "an early return is measured too"
        );
    }
}
