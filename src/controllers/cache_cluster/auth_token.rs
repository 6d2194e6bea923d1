//! The two steps of an AUTH token change on an existing replication group, and where
//! the step in between is kept. Pure; the calls are in `elasticache`.
//!
//! ElastiCache changes a token in two steps: `AuthTokenUpdateStrategy=ROTATE` adds the
//! new token beside the old one (clients keep working while they move), and `SET`,
//! allowed only after a ROTATE, makes the new one the only token. Sending ROTATE alone
//! leaves the old token (the one a lost Secret held) working for ever
//! (hashicorp/terraform-provider-aws#33439; ElastiCache guide "Modifying the AUTH token
//! on an existing cluster").
//!
//! Where the step in between is kept: a tag on the replication group,
//! [`SET_PENDING_TAG`], added *before* the ROTATE is sent and removed *after* the SET
//! is accepted. ElastiCache itself only shows a rotation while it is being applied
//! (`PendingModifiedValues.AuthTokenStatus`), so an operator that restarts after the
//! group is available again could not tell from AWS that a SET is owed; the object's
//! status is written after the pass, so a crash right after ROTATE would lose it. The
//! tag is in AWS before the first of the two calls, survives any restart, and is read
//! with the group. A crash between the tag and the ROTATE leaves a SET that AWS
//! refuses (no rotation happened): that refusal sends the ROTATE again.
//!
//! Turning AUTH on for a group created without it is the same two steps
//! ([`auth_on_step`]): ROTATE adds the token while unauthenticated clients still get
//! in, SET then makes the token required. ElastiCache allows it only on a group with
//! in-transit encryption (ElastiCache guide "Authenticating with the Valkey and Redis
//! OSS AUTH command", "Modifying the AUTH token on an existing cluster"); without it
//! `diff::unsupported` stalls the object before anything is written.

use aws_sdk_elasticache::types::ReplicationGroup;

/// The tag that says a ROTATE was sent and the SET is still owed.
pub const SET_PENDING_TAG: &str = "tiered.io/auth-token-set-pending";
/// Its value.
pub const SET_PENDING_VALUE: &str = "true";

/// What to do about the AUTH token in this pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStep {
    /// Nothing is owed.
    Nothing,
    /// A SET is owed, but ElastiCache is still applying the ROTATE (or this pass just
    /// changed the group): look again later.
    Wait,
    /// Send the SET with the token of the connection Secret, then drop the tag.
    Set,
    /// Tag the group and send the ROTATE with the token of the connection Secret: AUTH
    /// is turned on.
    Rotate,
}

/// The step that turns AUTH on for `group` when `wanted` (the spec asks for AUTH) and
/// the group has none: [`TokenStep::Rotate`] once it is available and unchanged in
/// this pass (`mutated`: e.g. the ROTATE of a token generated in this pass already
/// went), [`TokenStep::Wait`] while ElastiCache applies it.
pub fn auth_on_step(wanted: bool, group: &ReplicationGroup, mutated: bool) -> TokenStep {
    if !wanted || group.auth_token_enabled() != Some(false) {
        return TokenStep::Nothing;
    }
    if busy(group, mutated) {
        return TokenStep::Wait;
    }
    TokenStep::Rotate
}

/// Whether `group` cannot take a token step now: this pass changed it (`mutated`: the
/// description is stale and the group is about to be `modifying`), ElastiCache is
/// applying a token, or it is not available.
fn busy(group: &ReplicationGroup, mutated: bool) -> bool {
    let rotating = group
        .pending_modified_values()
        .and_then(|values| values.auth_token_status())
        .is_some();
    mutated || rotating || group.status() != Some("available")
}

/// Whether `tags` carry [`SET_PENDING_TAG`].
pub fn set_pending<'a>(mut tags: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
    tags.any(|(key, _)| key == SET_PENDING_TAG)
}

/// The token step for `group` (described at the start of this pass): `pending` is the
/// tag, `mutated` whether this pass already changed the group (then the description
/// is stale and the group is about to be `modifying`).
pub fn token_step(pending: bool, group: &ReplicationGroup, mutated: bool) -> TokenStep {
    if !pending {
        return TokenStep::Nothing;
    }
    if busy(group, mutated) {
        return TokenStep::Wait;
    }
    TokenStep::Set
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticache::types::{
        AuthTokenUpdateStatus, ReplicationGroupPendingModifiedValues,
    };

    use super::*;

    fn group(status: &str, rotating: bool) -> ReplicationGroup {
        let mut group = ReplicationGroup::builder().status(status);
        if rotating {
            group = group.pending_modified_values(
                ReplicationGroupPendingModifiedValues::builder()
                    .auth_token_status(AuthTokenUpdateStatus::Rotating)
                    .build(),
            );
        }
        group.build()
    }

    /// Asserts the step `step` (one of the two step functions) chooses in each case:
    /// (asked for, the group, whether this pass already mutated it, the step).
    fn assert_steps(
        step: fn(bool, &ReplicationGroup, bool) -> TokenStep,
        cases: impl IntoIterator<Item = (bool, ReplicationGroup, bool, TokenStep)>,
    ) {
        for (asked, group, mutated, expected) in cases {
            assert_eq!(
                step(asked, &group, mutated),
                expected,
                "{asked} {group:?} {mutated}"
            );
        }
    }

    /// Source: hashicorp/terraform-provider-aws#33439 (a token changed with ROTATE was
    /// never followed by SET, so the old token kept working).
    #[test]
    fn table_of_token_steps() {
        let cases = [
            (false, group("available", false), false, TokenStep::Nothing),
            (true, group("available", false), false, TokenStep::Set),
            (true, group("available", false), true, TokenStep::Wait),
            (true, group("modifying", true), false, TokenStep::Wait),
            (true, group("available", true), false, TokenStep::Wait),
            (true, group("modifying", false), false, TokenStep::Wait),
        ];
        assert_steps(token_step, cases);
    }

    /// Source: the ElastiCache guide "Modifying the AUTH token on an existing cluster"
    /// (ROTATE adds AUTH to a group with in-transit encryption; SET follows).
    #[test]
    fn table_of_auth_on_steps() {
        let without_auth = |status: &str, rotating: bool| {
            let mut group = group(status, rotating);
            group.auth_token_enabled = Some(false);
            group
        };
        let mut with_auth = group("available", false);
        with_auth.auth_token_enabled = Some(true);
        let cases = [
            (
                true,
                without_auth("available", false),
                false,
                TokenStep::Rotate,
            ),
            (
                true,
                without_auth("available", false),
                true,
                TokenStep::Wait,
            ),
            (
                true,
                without_auth("modifying", true),
                false,
                TokenStep::Wait,
            ),
            (
                true,
                without_auth("modifying", false),
                false,
                TokenStep::Wait,
            ),
            (
                false,
                without_auth("available", false),
                false,
                TokenStep::Nothing,
            ),
            (true, with_auth, false, TokenStep::Nothing),
            (true, group("available", false), false, TokenStep::Nothing),
        ];
        assert_steps(auth_on_step, cases);
    }

    #[test]
    fn the_tag_is_found_among_others() {
        let tags = [("team", "news"), (SET_PENDING_TAG, SET_PENDING_VALUE)];
        assert!(set_pending(tags.iter().copied()));
        assert!(!set_pending([("team", "news")].into_iter()));
    }
}
