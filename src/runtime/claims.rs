//! No mutating call goes out on a claim that was not read in the same pass.
//!
//! A kind may answer the ownership check of an idle pass from tags it remembers (an
//! ElastiCache group's tags are a ListTagsForResource of their own per group, which a
//! fleet read cannot batch). DESIGN.md's rule still holds: ownership is proven before
//! any mutating call. The reconcile runs each pass inside [`scope`]; the kind notes
//! where its claim came from ([`note_remembered`], [`note_read`]); and the SDK
//! interceptor [`RequireReadClaim`] refuses every mutating call of a pass whose claim
//! was remembered, before it is serialized (so it never reaches AWS nor the
//! mutating-call budget). The reconcile then forgets the remembered tags and runs the
//! pass again from a fresh read ([`in_chain`] finds the refusal). Outside a scope
//! (deletion, tests) nothing is refused and kinds read tags afresh.

use std::cell::Cell;
use std::future::Future;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::runtime::aws_calls::mutating_operation;

/// Where the claim of the pass in [`scope`] came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Claim {
    /// Not checked yet in this pass.
    #[default]
    Unchecked,
    /// From tags remembered from an earlier read or write: mutating calls are refused.
    Remembered,
    /// From tags read in this pass.
    Read,
}

tokio::task_local! {
    static CLAIM: Cell<Claim>;
}

/// Runs `pass` (or the part of one pass) whose claim so far is `claim`; returns its
/// output and where its claim came from in the end.
pub async fn scope<F: Future>(claim: Claim, pass: F) -> (F::Output, Claim) {
    CLAIM
        .scope(Cell::new(claim), async {
            let output = pass.await;
            (output, CLAIM.with(Cell::get))
        })
        .await
}

/// Whether a pass runs (inside [`scope`]): only then may a kind answer from memory.
pub fn in_scope() -> bool {
    CLAIM.try_with(|_| ()).is_ok()
}

/// The claim of the current pass comes from remembered tags.
pub fn note_remembered() {
    let _ = CLAIM.try_with(|claim| claim.set(Claim::Remembered));
}

/// Tags were read from AWS in this pass: the claim counts as read unless an earlier
/// check of this pass answered from memory (that check is what the pass acts on).
pub fn note_read() {
    let _ = CLAIM.try_with(|claim| {
        if claim.get() == Claim::Unchecked {
            claim.set(Claim::Read);
        }
    });
}

/// A mutating call refused because the pass's claim was remembered, not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("failed to send a changing AWS call: the ownership tags were not read in this pass")]
pub struct ClaimNotRead;

/// Whether [`ClaimNotRead`] is somewhere in `error`'s chain of causes.
pub fn in_chain(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<ClaimNotRead>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// The SDK interceptor that refuses a mutating call in a pass whose claim was
/// remembered ([`Claim::Remembered`]).
#[derive(Clone, Debug, Default)]
pub struct RequireReadClaim;

impl Intercept for RequireReadClaim {
    fn name(&self) -> &'static str {
        "tiered::RequireReadClaim"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(operation) = mutating_operation(cfg) else {
            return Ok(());
        };
        match CLAIM.try_with(Cell::get) {
            Ok(Claim::Remembered) => {
                tracing::debug!(
                    operation,
                    "changing call refused: the claim is re-read first"
                );
                Err(Box::new(ClaimNotRead))
            }
            _ => Ok(()),
        }
    }
}
