//! Classification of AWS SDK errors into what the operator does about them: retry
//! (`Transient`), stall until the spec changes (`InvalidInput`, `Quota`), stall until
//! IAM is fixed (`AccessDenied`, naming the IAM action), or treat as a fact
//! (`NotFound`, `Conflict`). Pure apart from reading the error (and awaiting a sent
//! call's answer, [`sent`]); no client.

use std::fmt;
use std::future::Future;

use futures::TryFutureExt;

use aws_sdk_rds::config::http::HttpResponse;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};

/// What kind of failure an AWS error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttling, 5xx, timeouts, dispatch failures, resource busy: retry with backoff.
    Transient,
    /// AWS rejected the request as invalid: the spec must change.
    InvalidInput,
    /// A quota or capacity limit: the spec (or the account) must change.
    Quota,
    /// The operator's IAM role may not call the operation.
    AccessDenied,
    /// The resource does not exist.
    NotFound,
    /// The resource already exists.
    Conflict,
    /// Anything else; retried with backoff like a transient error.
    Unknown,
}

impl ErrorKind {
    /// A fixed label for metrics and Event reasons.
    pub const fn category(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::InvalidInput => "invalid_input",
            Self::Quota => "quota",
            Self::AccessDenied => "access_denied",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Unknown => "unknown",
        }
    }

    /// Whether retrying the same request later can succeed without any change.
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::Transient | Self::Unknown)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.category())
    }
}

/// A failed AWS call, classified.
#[derive(Debug, thiserror::Error)]
#[error("failed to call {operation} ({kind})")]
pub struct AwsError {
    /// The classification.
    pub kind: ErrorKind,
    /// The IAM action of the call, e.g. `rds:CreateDBInstance`.
    pub operation: &'static str,
    /// AWS's error code, e.g. `InvalidParameterValue`.
    pub code: Option<String>,
    /// AWS's error message.
    pub message: Option<String>,
    /// The SDK error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// The answer of an SDK call, `send` (the future of a fluent builder's `send()`), with
/// its error classified as a call to `operation` (the IAM action name). A combinator,
/// not an `async fn`: an `async fn` would hold `send` twice in its state (the argument
/// and the await), doubling the futures of the callers.
pub fn sent<T, E>(
    operation: &'static str,
    send: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> impl Future<Output = Result<T, AwsError>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    send.map_err(move |error| AwsError::from_sdk(operation, error))
}

impl AwsError {
    /// Classifies `error` from a call to `operation` (the IAM action name).
    pub fn from_sdk<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = error.code().map(str::to_owned);
        let message = error.message().map(str::to_owned);
        let kind = match &error {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => ErrorKind::Transient,
            SdkError::ConstructionFailure(_) => ErrorKind::InvalidInput,
            _ => classify_code(
                code.as_deref(),
                error
                    .raw_response()
                    .map(|response| response.status().as_u16()),
            ),
        };
        Self {
            kind,
            operation,
            code,
            message,
            source: Box::new(error),
        }
    }

    /// A fixed label for metrics and Event reasons.
    pub const fn category(&self) -> &'static str {
        self.kind.category()
    }

    /// What AWS said, `Code: message`, for conditions and Events (never contains
    /// request parameters, so no secrets).
    pub fn aws_message(&self) -> String {
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.clone(),
            (None, Some(message)) => message.clone(),
            (None, None) => format!("{}", DisplayChain(&*self.source)),
        }
    }
}

/// What a Describe call found: `Ok(None)` when AWS says the resource does not exist,
/// the error for any other failure.
pub fn not_found_is_none<T>(described: Result<Option<T>, AwsError>) -> Result<Option<T>, AwsError> {
    match described {
        Err(error) if error.kind == ErrorKind::NotFound => Ok(None),
        other => other,
    }
}

/// The error and its causes, joined by ": ".
struct DisplayChain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// Classifies an AWS error code (with or without the `Fault` suffix), falling back on
/// the HTTP status.
pub fn classify_code(code: Option<&str>, status: Option<u16>) -> ErrorKind {
    let Some(code) = code else {
        return classify_status(status);
    };
    let code = code.strip_suffix("Fault").unwrap_or(code);
    match code {
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "TooManyRequestsException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "InternalFailure"
        | "InternalError"
        | "InternalServerError"
        | "RequestTimeout"
        | "RequestTimeoutException"
        | "PriorRequestNotComplete"
        | "InvalidDBInstanceState"
        | "InvalidDBClusterStateFault"
        | "InvalidDBSnapshotState"
        | "InvalidReplicationGroupState"
        | "InvalidCacheClusterState"
        | "SnapshotInProgress" => ErrorKind::Transient,
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "NotAuthorized"
        | "AuthorizationError"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "MissingAuthenticationToken" => ErrorKind::AccessDenied,
        "DBInstanceNotFound"
        | "DBSnapshotNotFound"
        | "DBParameterGroupNotFound"
        | "ReplicationGroupNotFound"
        | "CacheClusterNotFound"
        | "SnapshotNotFound" => ErrorKind::NotFound,
        "InsufficientDBInstanceCapacity"
        | "InsufficientStorageClusterCapacity"
        | "InsufficientCacheClusterCapacity"
        | "InsufficientAvailableIPsInSubnet" => ErrorKind::Quota,
        // ElastiCache says `NodeQuotaForCustomerExceeded`, `ClusterQuotaForCustomerExceeded`.
        _ if (code.contains("Quota") && code.ends_with("Exceeded"))
            || code.ends_with("LimitExceeded") =>
        {
            ErrorKind::Quota
        }
        _ if code.ends_with("AlreadyExists") => ErrorKind::Conflict,
        _ if code.starts_with("Invalid")
            || code.ends_with("NotFound")
            || code.ends_with("NotSupported")
            || code.ends_with("NotAllowed")
            || code.starts_with("Missing")
            || code == "ValidationError" =>
        {
            // A subnet group, parameter group or KMS key the spec names is missing or
            // unusable: the spec must change.
            ErrorKind::InvalidInput
        }
        _ => classify_status(status),
    }
}

fn classify_status(status: Option<u16>) -> ErrorKind {
    match status {
        Some(429 | 500..=599) => ErrorKind::Transient,
        Some(403) => ErrorKind::AccessDenied,
        Some(404) => ErrorKind::NotFound,
        Some(409) => ErrorKind::Conflict,
        Some(400..=499) => ErrorKind::InvalidInput,
        _ => ErrorKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified_as_the_operator_must_act_on_them() {
        let cases = [
            ("Throttling", ErrorKind::Transient),
            ("InvalidDBInstanceState", ErrorKind::Transient),
            ("InvalidDBInstanceStateFault", ErrorKind::Transient),
            ("InvalidParameterValue", ErrorKind::InvalidInput),
            ("InvalidParameterCombination", ErrorKind::InvalidInput),
            ("DBSubnetGroupNotFoundFault", ErrorKind::InvalidInput),
            ("StorageTypeNotSupported", ErrorKind::InvalidInput),
            ("KMSKeyNotAccessibleFault", ErrorKind::InvalidInput),
            ("InstanceQuotaExceeded", ErrorKind::Quota),
            ("StorageQuotaExceeded", ErrorKind::Quota),
            ("NodeQuotaForCustomerExceededFault", ErrorKind::Quota),
            ("ClusterQuotaForCustomerExceeded", ErrorKind::Quota),
            ("ReplicationGroupNotFoundFault", ErrorKind::NotFound),
            ("ReplicationGroupAlreadyExistsFault", ErrorKind::Conflict),
            ("InvalidReplicationGroupStateFault", ErrorKind::Transient),
            ("InsufficientDBInstanceCapacity", ErrorKind::Quota),
            ("AccessDenied", ErrorKind::AccessDenied),
            ("DBInstanceNotFound", ErrorKind::NotFound),
            ("DBInstanceNotFoundFault", ErrorKind::NotFound),
            ("DBInstanceAlreadyExists", ErrorKind::Conflict),
            ("DBSnapshotAlreadyExistsFault", ErrorKind::Conflict),
        ];
        for (code, kind) in cases {
            assert_eq!(classify_code(Some(code), Some(400)), kind, "{code}");
        }
    }

    #[test]
    fn unknown_codes_fall_back_on_the_http_status() {
        assert_eq!(
            classify_code(Some("Weird"), Some(503)),
            ErrorKind::Transient
        );
        assert_eq!(classify_code(None, Some(500)), ErrorKind::Transient);
        assert_eq!(classify_code(None, Some(403)), ErrorKind::AccessDenied);
        assert_eq!(
            classify_code(Some("Weird"), Some(400)),
            ErrorKind::InvalidInput
        );
        assert_eq!(classify_code(None, None), ErrorKind::Unknown);
    }

    fn error(kind: ErrorKind) -> AwsError {
        AwsError {
            kind,
            operation: "rds:DescribeDBInstances",
            code: None,
            message: None,
            source: Box::new(std::io::Error::other("test")),
        }
    }

    #[test]
    fn a_describe_that_finds_nothing_is_none_and_other_failures_stay_errors() {
        assert_eq!(not_found_is_none(Ok(Some(1))).unwrap(), Some(1));
        assert_eq!(
            not_found_is_none::<i32>(Err(error(ErrorKind::NotFound))).unwrap(),
            None
        );
        let failed = not_found_is_none::<i32>(Err(error(ErrorKind::Transient)));
        assert_eq!(failed.unwrap_err().kind, ErrorKind::Transient);
    }

    #[test]
    fn categories_are_fixed_snake_case_labels() {
        assert_eq!(ErrorKind::AccessDenied.category(), "access_denied");
        assert!(ErrorKind::Transient.is_retryable());
        assert!(!ErrorKind::Quota.is_retryable());
    }
}
