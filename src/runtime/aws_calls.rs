//! Counts every AWS call in `tiered_aws_calls_total{service,operation}` with an SDK
//! interceptor on the client configuration, so no call site has to remember to. Reads
//! the operation name the SDK stores in the config bag and keeps one marker there (so a
//! retried call counts once); touches nothing else. A call the mutating-call budget
//! holds back ([`crate::runtime::mutations::LimitMutations`], `read_before_attempt`)
//! never reaches the transmit hook, so it is not counted: it never left the process.

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::runtime::metrics::Metrics;

/// Counts each execution (not each retry attempt) of an AWS operation that is sent:
/// counted when its first attempt is about to be transmitted.
#[derive(Clone, Debug)]
pub struct CountCalls {
    metrics: Arc<Metrics>,
}

impl CountCalls {
    /// An interceptor counting into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

/// The marker that this execution is counted (a retry attempt is not counted again).
#[derive(Clone, Copy, Debug)]
struct Counted;

impl Storable for Counted {
    type Storer = StoreReplace<Self>;
}

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "tiered::CountCalls"
    }

    // `read_before_transmit`, not `read_before_serialization`: the budget holds a call
    // in `read_before_attempt`, between the two, and a held call never reaches AWS.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Counted>().is_some() {
            return Ok(());
        }
        if let Some(metadata) = cfg.load::<Metadata>() {
            self.metrics
                .aws_call(&metadata.service().to_ascii_lowercase(), metadata.name());
        }
        cfg.interceptor_state().store_put(Counted);
        Ok(())
    }
}

/// The name of the operation in `cfg` when it is a mutating one (see [`is_read_only`]);
/// `None` for a read, or outside an SDK call: what the interceptors that guard changing
/// calls check first.
pub fn mutating_operation(cfg: &ConfigBag) -> Option<&str> {
    let operation = cfg.load::<Metadata>()?.name();
    (!is_read_only(operation)).then_some(operation)
}

/// Whether `operation` (an API name such as `ModifyDBInstance`) only reads.
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "List", "Get"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_and_list_calls_are_read_only_and_the_rest_mutate() {
        assert!(is_read_only("DescribeDBInstances"));
        assert!(is_read_only("ListTagsForResource"));
        assert!(!is_read_only("ModifyDBInstance"));
        assert!(!is_read_only("AddTagsToResource"));
    }

    #[test]
    fn only_a_mutating_operation_is_named_to_the_guards() {
        let mut cfg = ConfigBag::base();
        assert_eq!(mutating_operation(&cfg), None, "outside an SDK call");
        cfg.interceptor_state()
            .store_put(Metadata::new("DescribeDBInstances", "RDS"));
        assert_eq!(mutating_operation(&cfg), None);
        cfg.interceptor_state()
            .store_put(Metadata::new("ModifyDBInstance", "RDS"));
        assert_eq!(mutating_operation(&cfg), Some("ModifyDBInstance"));
    }
}
