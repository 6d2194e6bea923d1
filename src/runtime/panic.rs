//! Containing a panic to the one reconcile that raised it: [`contained`] runs a future
//! and turns a panic into a [`Panicked`] error that names its message, so the object
//! gets `Stalled` (`InternalError`) and an Event while every other object and tenant
//! goes on. The process-wide backstop (a controller task that ends anyway makes
//! `tiered run` exit non-zero with the cause) is in `crate::process::run`.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

/// A reconcile panicked; the message is the panic's (a bug of the operator: it never
/// holds secret values, which are never formatted into panics or errors).
#[derive(Debug, thiserror::Error)]
#[error("failed to finish the reconcile: the operator panicked (a bug): {message}")]
pub struct Panicked {
    /// The panic message (`"<no message>"` when the payload was not text).
    pub message: String,
}

impl Panicked {
    /// The panic of `payload` (from `catch_unwind` or a `JoinError`).
    pub fn from_payload(payload: &(dyn Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "<no message>".to_owned());
        Self { message }
    }
}

/// Runs `future`; a panic inside it becomes `Err(Panicked)` instead of unwinding
/// through the controller (which would end every reconcile of every object).
///
/// Unwind safety: a reconcile shares only the process context (client, metrics, caches
/// behind locks that recover from poisoning); what a panicking reconcile leaves half
/// done is redone by the next reconcile of that object, as after a crash.
pub async fn contained<F: Future>(future: F) -> Result<F::Output, Panicked> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|payload| Panicked::from_payload(&*payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_naming_it() {
        let result = contained(async {
            let text = "é".repeat(600);
            let mut note = text.clone();
            // The bug this guards against: cutting user text off a char boundary.
            #[allow(clippy::string_slice)]
            note.truncate(999);
            note
        })
        .await;
        let error = result.expect_err("truncate(999) splits a 2-byte char and panics");
        assert!(error.message.contains("char_boundary"), "{error}");
    }

    #[tokio::test]
    async fn a_normal_result_passes_through() {
        assert_eq!(contained(async { 7 }).await.unwrap(), 7);
    }
}
