//! The reconcile of both data-tier kinds against AWS behaviour moto cannot show, with
//! `aws-smithy-mocks`, written once and run for each kind: `creating` → `available`,
//! throttling, AccessDenied, and no modify call for a converged resource.
// Test helpers fail loudly; that is what they are for.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use tiered::api::conditions::{READY, RECONCILING, STALLED, reasons};
use tiered::controllers::data_tier::status::Progress;
use tiered::runtime::kstatus::WithConditions;

use support::data_tier::{Kind, both_kinds, mock_owner, reconcile_as, stalled_message};

both_kinds!(
    creating_then_available_gives_reconciling_then_ready,
    throttling_is_transient_with_the_error_in_the_reconciling_message,
    access_denied_stalls_naming_the_missing_iam_action,
    a_converged_resource_gets_no_modify_call,
);

/// `(status, reason)` of condition `type_`.
fn condition<S: WithConditions>(status: &S, type_: &str) -> (String, String) {
    let condition = status
        .conditions()
        .iter()
        .find(|c| c.type_ == type_)
        .expect("condition present");
    (condition.status.clone(), condition.reason.clone())
}

fn pair(status: &str, reason: &str) -> (String, String) {
    (status.to_owned(), reason.to_owned())
}

async fn creating_then_available_gives_reconciling_then_ready<K: Kind>() {
    let statuses: Vec<&'static str> = K::ON_THE_WAY.iter().copied().chain(["available"]).collect();
    let mut rules = vec![K::described_in(&statuses)];
    rules.extend(K::reads());
    let ctx = K::mocked(&rules.iter().collect::<Vec<_>>());
    let spec = K::mock_spec();

    let mut previous = None;
    for on_the_way in K::ON_THE_WAY {
        let report = reconcile_as(&ctx, mock_owner(), &spec).await;
        assert_eq!(report.mutations, 0);
        let status = K::status_of(&report, previous.as_ref());
        assert_eq!(
            condition(&status, READY),
            pair("False", reasons::AWS_IN_PROGRESS)
        );
        assert_eq!(
            condition(&status, RECONCILING),
            pair("True", reasons::AWS_IN_PROGRESS)
        );
        assert_eq!(K::aws_status_in(&status), Some(*on_the_way));
        previous = Some(status);
    }
    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    assert_eq!(report.mutations, 0);
    let status = K::status_of(&report, previous.as_ref());
    assert_eq!(condition(&status, READY), pair("True", reasons::READY));
    assert_eq!(
        condition(&status, RECONCILING),
        pair("False", reasons::CONVERGED)
    );
    assert_eq!(K::aws_status_in(&status), Some("available"));
    assert_eq!(K::endpoints_in(&status), K::mock_endpoints());
}

async fn throttling_is_transient_with_the_error_in_the_reconciling_message<K: Kind>() {
    let describe = K::describe_fails(400, "Throttling", "Rate exceeded");
    let ctx = K::mocked(&[&describe]);
    let report = reconcile_as(&ctx, mock_owner(), &K::mock_spec()).await;
    match &report.progress {
        Progress::Transient { category, message } => {
            assert_eq!(category.label(), "transient");
            assert!(message.contains("Throttling: Rate exceeded"), "{message}");
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    let status = K::status_of(&report, None);
    assert_eq!(
        condition(&status, RECONCILING),
        pair("True", reasons::TRANSIENT_ERROR)
    );
    assert_eq!(condition(&status, STALLED).0, "False");
}

async fn access_denied_stalls_naming_the_missing_iam_action<K: Kind>() {
    let not_found = K::describe_fails(404, K::NOT_FOUND_CODE, "not found");
    let denied = K::create_fails(
        403,
        "AccessDenied",
        &format!(
            "User: arn:aws:sts::1:assumed-role/tiered is not authorized to perform: {}",
            K::CREATE_ACTION
        ),
    );
    let ctx = K::mocked(&[&not_found, &denied]);
    // Not adopting: the operator creates the resource with its own id.
    let mut spec = K::mock_spec();
    K::forget_adoption(&mut spec);
    let report = reconcile_as(&ctx, mock_owner(), &spec).await;
    let message = stalled_message(&report.progress, reasons::AWS_ACCESS_DENIED);
    assert!(
        message.contains(&format!("grant {}", K::CREATE_ACTION)),
        "{message}"
    );
    assert_eq!(
        denied.num_calls(),
        1,
        "AccessDenied is not retried by the SDK"
    );
}

async fn a_converged_resource_gets_no_modify_call<K: Kind>() {
    let mut rules = vec![K::described_in(&["available"; 1]), K::modify()];
    rules.extend(K::reads());
    let ctx = K::mocked(&rules.iter().collect::<Vec<_>>());
    let report = reconcile_as(&ctx, mock_owner(), &K::mock_spec()).await;
    assert_eq!(
        report.progress,
        Progress::Ready {
            message: String::new()
        }
    );
    assert_eq!(rules[1].num_calls(), 0, "no modify call");
    assert_eq!(report.mutations, 0);
}
