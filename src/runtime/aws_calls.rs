//! Counts every AWS call in `tiered_aws_calls_total{service,operation}` with an SDK
//! interceptor on the client configuration, so no call site has to remember to. Reads
//! the operation name the SDK stores in the config bag; touches nothing else.

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::runtime::metrics::Metrics;

/// Counts each execution (not each retry attempt) of an AWS operation.
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

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "tiered::CountCalls"
    }

    // Not `read_before_execution`: client interceptors see that hook before the
    // operation's configuration (and its `Metadata`) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            self.metrics
                .aws_call(&metadata.service().to_ascii_lowercase(), metadata.name());
        }
        Ok(())
    }
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
}
