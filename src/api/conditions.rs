//! Condition types and reasons shared by every kind, in the `metav1.Condition` shape that
//! kstatus, `kubectl wait` and Argo CD understand. Reasons are CamelCase constants so that
//! tools can match on them.

/// Condition type: the summary; `True` when the object is fully converged and usable.
pub const READY: &str = "Ready";
/// Condition type: work is in progress (kstatus "abnormal-true").
pub const RECONCILING: &str = "Reconciling";
/// Condition type: cannot progress without a change to the spec (kstatus "abnormal-true").
pub const STALLED: &str = "Stalled";

/// Reasons used in conditions and Events.
pub mod reasons {
    /// Everything declared exists and is healthy.
    pub const READY: &str = "Ready";
    /// Nothing is in progress.
    pub const CONVERGED: &str = "Converged";
    /// Nothing blocks progress.
    pub const NO_BLOCKERS: &str = "NoBlockers";
    /// The first reconcile has not finished yet.
    pub const INITIALIZING: &str = "Initializing";
    /// Children are being created or updated.
    pub const PROGRESSING: &str = "Progressing";
    /// A Deployment's rollout failed (`ProgressDeadlineExceeded` or
    /// `ReplicaFailure=True`); it needs a change to the tier's spec.
    pub const ROLLOUT_FAILED: &str = "RolloutFailed";
    /// Workloads exist but not all replicas are ready yet.
    pub const REPLICAS_NOT_READY: &str = "ReplicasNotReady";
    /// An autoscaled tier's Deployment was scaled to 0 by hand: its HorizontalPodAutoscaler
    /// is paused (`ScalingActive=False`, `ScalingDisabled`) and the tier has no pods until
    /// someone scales it back.
    pub const AUTOSCALING_PAUSED: &str = "AutoscalingPaused";
    /// A tier waits for the ManagedDatabase it references to become Ready.
    pub const WAITING_FOR_DATABASE: &str = "WaitingForDatabase";
    /// A tier waits for the CacheCluster it references to become Ready.
    pub const WAITING_FOR_CACHE: &str = "WaitingForCache";
    /// A restore waits for its source (`spec.restoreFrom`: a snapshot being taken, an
    /// instance being created) to exist.
    pub const WAITING_FOR_SOURCE: &str = "WaitingForSource";
    /// The spec is invalid in a way only the operator can judge.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The AWS resource to adopt is tagged as owned by another object.
    pub const OWNED_ELSEWHERE: &str = "OwnedElsewhere";
    /// Adoption is not allowed in this namespace.
    pub const ADOPTION_NOT_ALLOWED: &str = "AdoptionNotAllowed";
    /// The AWS resource to adopt carries no opt-in tag (`tiered.io/adoptable`) naming
    /// this object.
    pub const NOT_OPTED_IN: &str = "NotOptedIn";
    /// An adopted resource's generated credential is unknown to tiered, which does not
    /// replace it unless asked.
    pub const CREDENTIAL_UNKNOWN: &str = "CredentialUnknown";
    /// The operator failed in a way that is its own bug (a panic); the message says where.
    pub const INTERNAL_ERROR: &str = "InternalError";
    /// AWS reports the resource in a transitional state (`creating`, `modifying`, …).
    pub const AWS_IN_PROGRESS: &str = "AwsInProgress";
    /// AWS rejected the request as invalid.
    pub const AWS_INVALID_REQUEST: &str = "AwsInvalidRequest";
    /// An AWS quota is exhausted.
    pub const AWS_QUOTA_EXCEEDED: &str = "AwsQuotaExceeded";
    /// The operator's IAM role lacks a permission.
    pub const AWS_ACCESS_DENIED: &str = "AwsAccessDenied";
    /// A transient error (throttling, 5xx, timeout); retried with backoff.
    pub const TRANSIENT_ERROR: &str = "TransientError";
    /// Deletion is held because `deletionProtection` is true.
    pub const DELETION_PROTECTED: &str = "DeletionProtected";
    /// The resource is being deleted.
    pub const DELETING: &str = "Deleting";
    /// A changing AWS call waits for the object's budget (at most 6 in any minute,
    /// identical calls after a growing wait, a minute after a restart).
    pub const AWS_CALLS_PACED: &str = "AwsCallsPaced";
    /// The requested change cannot be made in place.
    pub const UNSUPPORTED_CHANGE: &str = "UnsupportedChange";
    /// A child's name is taken by an object this TieredApp does not control.
    pub const NAME_CONFLICT: &str = "NameConflict";
    /// The connection Secret's name is taken by a Secret this object does not control.
    pub const SECRET_CONFLICT: &str = "SecretConflict";
}
