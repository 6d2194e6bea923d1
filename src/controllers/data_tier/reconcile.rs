//! One reconcile of a data-tier object, for both kinds, read top to bottom:
//! [`apply`] first reads and checks everything before any write ([`inspect`]: the spec,
//! the adoption, the resource and its claim, what AWS fixes at creation; a refusal
//! stalls with the Secret and AWS untouched), keeps the credential in the connection
//! Secret before any resource can be created with it, runs the writes of the pass
//! against AWS ([`sync_inspected`]), then the kind's own step (a rotation), writes the
//! Secret and the status (only when they change), and counts a failed pass in
//! `tiered_reconcile_errors_total`. The writes: claim the resource (ownership tags) or
//! create it, wait while AWS works, then the kind's convergence. Errors of the pass
//! become [`Progress`], never a failed reconcile.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::core::object::{HasSpec, HasStatus};
use kube::runtime::events::EventType;

use crate::api::conditions::reasons;
use crate::aws::errors::ErrorKind;
use crate::aws::tags::Owner;
use crate::runtime::claims::{self, Claim};
use crate::runtime::error::Category;
use crate::runtime::kstatus::now;
use crate::runtime::mutations;
use crate::runtime::panic::Panicked;
use crate::runtime::text::{CONDITION_MESSAGE_MAX_BYTES, truncated};

use crate::controllers::data_tier::apply::{
    SecretWrite, apply_secret, owner_of, write_conditions, write_status,
};
use crate::controllers::data_tier::error::{ConvergeError, Error, kube_error};
use crate::controllers::data_tier::inspect::{Inspected, check_claim, check_installation, inspect};
use crate::controllers::data_tier::kind::{Credential, DataTier, Report, Shared, Spec, Target};
use crate::controllers::data_tier::secret::{
    Password, connection_secret, connection_secret_name, credential_from_secret, foreign_controller,
};
use crate::controllers::data_tier::spec::SharedStatus;
use crate::controllers::data_tier::status::{Progress, status_progress};
use crate::controllers::data_tier::tags::write_tags;

/// Brings AWS, the connection Secret and the status of `object` in line with its
/// spec; returns where it stands.
///
/// # Errors
/// A Kubernetes call, generating a credential, or the kind's own step failed; a failed
/// AWS call of the pass is not an error but [`Progress`].
/// A reconcile of `object` that panicked (a bug of the operator): the object gets
/// `Stalled`, reason `InternalError`, with the panic's message (the status write adds the
/// Warning Event), and the error is counted; the process and every other object carry on.
pub async fn stall_on_panic<K: DataTier>(
    shared: &Shared<K>,
    object: &K::Object,
    panicked: &Panicked,
) -> Result<Progress, Error> {
    let owner = owner_of(object, &shared.ctx.cluster_name)?;
    let secret_name = connection_secret_name(&owner.name);
    let spec = object.spec();
    let report = Report::new(
        K::resource_id(&Target { owner, spec }),
        K::Observed::default(),
        Progress::Stalled {
            reason: reasons::INTERNAL_ERROR,
            category: Category::Internal,
            message: truncated(&panicked.to_string(), CONDITION_MESSAGE_MAX_BYTES),
        },
    );
    shared
        .ctx
        .metrics
        .reconcile_failed(K::CONTROLLER, Category::Internal);
    let status = K::compute_status(object, &report, secret_name, Default::default(), &now());
    write_status(shared, object, object.status(), &status).await?;
    Ok(report.progress)
}

pub async fn apply<K: DataTier>(shared: &Shared<K>, object: &K::Object) -> Result<Progress, Error> {
    let owner = owner_of(object, &shared.ctx.cluster_name)?;
    let spec = object.spec();
    let target = Target {
        owner: owner.clone(),
        spec,
    };
    // The resource the status names must be the one this installation derives: else
    // another installation (or this one under its former cluster name) made it, and
    // the pass neither creates a second one nor touches the Secret; the status keeps
    // what that installation wrote, with the refusal in its conditions.
    if let Err(refused) = check_installation::<K>(&target, object.status()) {
        return report_in_conditions(shared, object, Progress::from(&refused)).await;
    }
    let secrets: Api<Secret> = Api::namespaced(shared.ctx.client.clone(), &owner.namespace);
    let secret_name = connection_secret_name(&owner.name);
    let own = &shared.own_secrets;
    let mut existing = secrets
        .get_opt(&secret_name)
        .await
        .map_err(kube_error("read the connection Secret"))?;
    // Ownership: a Secret of that name that this object does not control is neither
    // written nor read, and nothing is created in AWS (a credential that cannot be
    // stored would be one nobody knows).
    if let Some(holder) = existing
        .as_ref()
        .and_then(|secret| foreign_controller(secret, &owner.uid))
    {
        return secret_conflict(shared, object, owner, &holder).await;
    }

    // Everything read and checked before anything is written (issue 10): the resource
    // as AWS has it, its claim, and whether the spec asks it for what AWS fixes at
    // creation. A refusal stalls here, so no credential is generated, the Secret stays
    // exactly as it was and no AWS call changes anything.
    let scoped = shared.kind.for_spec(spec);
    let kind = scoped.as_ref().unwrap_or(&shared.kind);
    shared
        .read_afresh_if_requested(kind, object, &K::resource_id(&target))
        .await;
    let inspected = match Box::pin(inspect(kind, &target)).await {
        Ok(inspected) => inspected,
        Err(error) => {
            return report_without_writes(shared, object, owner, Progress::from(&error)).await;
        }
    };

    // A generated credential is stored before any resource can be created with it, so
    // a crash never leaves a resource whose credential nobody knows.
    // An adopted resource's credential is only replaced when the object asks for it:
    // without a known one the pass stalls (`CredentialUnknown`) before any AWS write.
    // A credential the resource does not have yet (a restore) is kept under its own key
    // until AWS accepted it, so the Secret never claims a credential that does not work.
    let mut credential: Option<Password> = None;
    let mut is_new = false;
    let mut pending = false;
    if K::generates_credential(spec) {
        (credential, pending) = stored_credential::<K>(existing.as_ref(), &owner.uid);
        let may_generate = K::adopt_id(spec).is_none() || K::credential_reset_requested(object);
        if credential.is_none() && may_generate {
            let fresh = K::generate_credential().map_err(Error::Password)?;
            pending = K::credential_pending(spec);
            let data = secret_data::<K>(spec, &K::Observed::default(), Some(&fresh), pending);
            let desired = connection_secret(object, K::COMPONENT, data).0;
            match apply_secret(&secrets, &desired, existing.as_ref(), own).await? {
                SecretWrite::Taken(taken) => {
                    // Created by someone else since we read it: theirs, unless it is
                    // somehow this object's own (then its credential is the one).
                    if let Some(holder) = foreign_controller(&taken, &owner.uid) {
                        return secret_conflict(shared, object, owner, &holder).await;
                    }
                    (credential, pending) = stored_credential::<K>(Some(&taken), &owner.uid);
                    existing = Some(*taken);
                }
                SecretWrite::Written | SecretWrite::Unchanged => {
                    credential = Some(fresh);
                    is_new = true;
                }
            }
        }
    }

    if inspected.found.is_none()
        && let Some(holder) = before_recreating(
            shared,
            object,
            &target,
            &secrets,
            credential.as_ref(),
            &mut existing,
            &mut pending,
        )
        .await?
    {
        return secret_conflict(shared, object, owner, &holder).await;
    }

    let pass = Credential {
        value: credential.as_ref(),
        is_new,
        pending,
    };
    let report = Box::pin(sync_inspected(kind, &target, pass, inspected)).await;
    count_failure(shared, &report.progress);
    let before_rotation = credential.clone();
    let rotation = kind
        .rotate(&shared.ctx.events, object, &report, &mut credential)
        .await?;
    if is_new {
        existing = secrets.get_opt(&secret_name).await.ok().flatten();
    }
    // A pass that ended before it observed the resource knows nothing new of where it
    // is reached: an existing Secret whose credential did not change stays as it is,
    // rather than lose the `host` and `url` that running pods read.
    let same_credential = credential == before_rotation && !report.credential_accepted;
    if existing.is_none() || report.observed_resource || !same_credential {
        let pending = pending && !report.credential_accepted;
        let data = secret_data::<K>(spec, &report.observed, credential.as_ref(), pending);
        if let Some(holder) = write_secret(shared, object, &secrets, data, existing).await? {
            return secret_conflict(shared, object, owner, &holder).await;
        }
    }

    let status = K::compute_status(object, &report, secret_name, rotation, &now());
    write_status(shared, object, object.status(), &status).await?;
    Ok(report.progress)
}

/// The credential `secret` stores for the object `uid`, and whether it is pending (kept
/// under [`DataTier::PENDING_CREDENTIAL_KEY`] until the resource has it).
fn stored_credential<K: DataTier>(secret: Option<&Secret>, uid: &str) -> (Option<Password>, bool) {
    let stored = |key| secret.and_then(|secret| credential_from_secret(secret, uid, key));
    if let Some(credential) = stored(K::CREDENTIAL_KEY) {
        return (Some(credential), false);
    }
    let pending = stored(K::PENDING_CREDENTIAL_KEY);
    let is_pending = pending.is_some();
    (pending, is_pending)
}

/// Before a pass that creates the resource: when the status had observed one
/// (`status.arn`), it is gone from AWS though the object is not being deleted, so it
/// was deleted outside tiered. Says so (a Warning Event `Recreated`, and the log) before
/// the create, so that a lost answer or a restart cannot swallow it; tiered creates it
/// anew, as other controllers of AWS resources do (ACK, Crossplane): the spec asks for
/// it. A resource created from a source with its own credential (a restore, a replica)
/// will not have the stored `credential`: the Secret keeps it as pending from now until
/// AWS accepted it (found from outside: a restored instance deleted outside tiered came
/// back with the snapshot's password, Ready, its Secret holding the old one).
///
/// Returns the controller of a Secret of that name this object does not control, if one
/// took the name first.
///
/// # Errors
/// Writing or reading the Secret.
async fn before_recreating<K: DataTier>(
    shared: &Shared<K>,
    object: &K::Object,
    target: &Target<'_, Spec<K>>,
    secrets: &Api<Secret>,
    credential: Option<&Password>,
    existing: &mut Option<Secret>,
    pending: &mut bool,
) -> Result<Option<String>, Error> {
    let Some(arn) = object.status().and_then(SharedStatus::arn) else {
        return Ok(None);
    };
    let id = K::resource_id(target);
    let resource = K::NOUNS.resource;
    tracing::warn!(id = %id, arn = %arn, resource, "the resource is gone from AWS; creating it anew");
    let note = format!(
        "{resource} {id} ({arn}) is no longer in AWS: it was deleted outside tiered. tiered creates a new {resource} {id} from the spec (empty, or restored again from spec.restoreFrom), without the data written to the deleted one; restore that from a snapshot into a new object (spec.restoreFrom) if it is needed"
    );
    shared
        .emit(object, EventType::Warning, "Recreated", note)
        .await;
    if !K::credential_pending(target.spec) || *pending || credential.is_none() {
        return Ok(None);
    }
    *pending = true;
    let data = secret_data::<K>(target.spec, &K::Observed::default(), credential, true);
    if let Some(holder) = write_secret(shared, object, secrets, data, existing.clone()).await? {
        return Ok(Some(holder));
    }
    *existing = secrets
        .get_opt(&connection_secret_name(&target.owner.name))
        .await
        .map_err(kube_error("read the connection Secret"))?;
    Ok(None)
}

/// Applies the connection Secret of `object` with `data`; the controller of a Secret
/// of that name this object does not control, if one took the name first.
async fn write_secret<K: DataTier>(
    shared: &Shared<K>,
    object: &K::Object,
    secrets: &Api<Secret>,
    data: std::collections::BTreeMap<String, k8s_openapi::ByteString>,
    existing: Option<Secret>,
) -> Result<Option<String>, Error> {
    let owner = owner_of(object, &shared.ctx.cluster_name)?;
    let desired = connection_secret(object, K::COMPONENT, data).0;
    // Taken by this object itself cannot happen (one reconcile per object at a time);
    // the next reconcile would apply it.
    match apply_secret(secrets, &desired, existing.as_ref(), &shared.own_secrets).await? {
        SecretWrite::Taken(taken) => Ok(foreign_controller(&taken, &owner.uid)),
        SecretWrite::Written | SecretWrite::Unchanged => Ok(None),
    }
}

/// The connection Secret's data; a `pending` credential (one the resource does not have
/// yet) is kept under [`DataTier::PENDING_CREDENTIAL_KEY`] only, the rest of the data
/// as without a credential.
fn secret_data<K: DataTier>(
    spec: &Spec<K>,
    observed: &K::Observed,
    credential: Option<&Password>,
    pending: bool,
) -> std::collections::BTreeMap<String, k8s_openapi::ByteString> {
    match credential {
        Some(value) if pending => {
            let mut data = K::connection_data(spec, observed, None);
            data.insert(
                K::PENDING_CREDENTIAL_KEY.to_owned(),
                k8s_openapi::ByteString(value.expose().as_bytes().to_vec()),
            );
            data
        }
        _ => K::connection_data(spec, observed, credential),
    }
}

/// Reports that the connection Secret of `object` is `holder`'s (`Stalled`,
/// `SecretConflict`), counted as a reconcile error; nothing is written to it.
async fn secret_conflict<K: DataTier>(
    shared: &Shared<K>,
    object: &K::Object,
    owner: Owner,
    holder: &str,
) -> Result<Progress, Error> {
    let secret_name = connection_secret_name(&owner.name);
    let progress = Progress::Stalled {
        reason: reasons::SECRET_CONFLICT,
        category: Category::Conflict,
        message: format!(
            "Secret {secret_name} already exists and {}: tiered does not write a connection Secret it does not control; delete or rename it, or rename this object",
            crate::runtime::text::held_by(holder)
        ),
    };
    report_without_writes(shared, object, owner, progress).await
}

/// Ends a reconcile of `object` that stopped before any write (no credential, no
/// Secret, no AWS change): writes `progress` to the status and counts a failure.
async fn report_without_writes<K: DataTier>(
    shared: &Shared<K>,
    object: &K::Object,
    owner: Owner,
    progress: Progress,
) -> Result<Progress, Error> {
    let secret_name = connection_secret_name(&owner.name);
    let target = Target {
        owner,
        spec: object.spec(),
    };
    let report = Report::new(K::resource_id(&target), K::Observed::default(), progress);
    count_failure(shared, &report.progress);
    let status = K::compute_status(object, &report, secret_name, Default::default(), &now());
    write_status(shared, object, object.status(), &status).await?;
    Ok(report.progress)
}

/// Ends a reconcile of `object` that stopped before any read of AWS or the Secret:
/// the status keeps every field as it was (what another installation wrote, say) and
/// gets `progress` in its conditions; the failure is counted.
async fn report_in_conditions<K: DataTier>(
    shared: &Shared<K>,
    object: &K::Object,
    progress: Progress,
) -> Result<Progress, Error> {
    count_failure(shared, &progress);
    write_conditions(shared, object, &progress).await?;
    Ok(progress)
}

/// Counts a pass that ended `Stalled` or `Transient` in `tiered_reconcile_errors_total`.
fn count_failure<K: DataTier>(shared: &Shared<K>, progress: &Progress) {
    if let Progress::Stalled { category, .. } | Progress::Transient { category, .. } = progress {
        shared
            .ctx
            .metrics
            .reconcile_failed(K::CONTROLLER, *category);
    }
}

/// Reconciles `target` against AWS once ([`inspect`], then the writes). Never fails:
/// errors become [`Progress`].
pub async fn sync<K: DataTier>(
    kind: &K,
    target: &Target<'_, Spec<K>>,
    credential: Credential<'_>,
) -> Report<K::Observed> {
    match Box::pin(inspect(kind, target)).await {
        Ok(inspected) => Box::pin(sync_inspected(kind, target, credential, inspected)).await,
        Err(error) => Report::new(
            K::resource_id(target),
            K::Observed::default(),
            Progress::from(&error),
        ),
    }
}

/// The writes of one pass against AWS, after [`inspect`] passed. Never fails: errors
/// become [`Progress`].
pub async fn sync_inspected<K: DataTier>(
    kind: &K,
    target: &Target<'_, Spec<K>>,
    credential: Credential<'_>,
    inspected: Inspected<K>,
) -> Report<K::Observed> {
    let fresh_report = || {
        let ready = Progress::Ready {
            message: String::new(),
        };
        Report::new(K::resource_id(target), K::Observed::default(), ready)
    };
    let mut report = fresh_report();
    let started = std::time::Instant::now();
    let claim = inspected.claim;
    let (outcome, claim) = claims::scope(
        claim,
        Box::pin(pass(kind, target, credential, inspected, &mut report)),
    )
    .await;
    // A pass that answered its ownership check from remembered tags and then wanted to
    // change something (a call the claim rule refused before it was sent, or a change
    // counted for the step after the pass) runs again from tags read now: ownership is
    // proven before any mutating call (`crate::runtime::claims`).
    let refused = outcome.as_ref().is_err_and(|error| claims::in_chain(error));
    let outcome = if claim == Claim::Remembered && (refused || report.mutations > 0) {
        kind.forget_claim(&report.id);
        report = fresh_report();
        match Box::pin(inspect(kind, target)).await {
            Ok(inspected) => {
                let claim = inspected.claim;
                claims::scope(
                    claim,
                    Box::pin(pass(kind, target, credential, inspected, &mut report)),
                )
                .await
                .0
            }
            Err(error) => Err(error),
        }
    } else {
        outcome
    };
    match outcome {
        Ok(progress) => report.progress = progress,
        Err(error) => report.progress = Progress::from(&error),
    }
    // Any mutating call sent in this pass, answered or not, makes the shared fleet
    // read's entry of this resource stale (only that one: forgetting the whole read made
    // every create re-read every page): a pass that removed a tag and then lost the
    // AddTags response counted no mutation, kept the fleet read showing the removed
    // tag, and sent the removal again (held back as an identical call) until the
    // fleet's next refresh.
    if report.mutations > 0 || mutations::sent_since(started) {
        kind.mutated(&report.id).await;
    }
    report
}

async fn pass<K: DataTier>(
    kind: &K,
    target: &Target<'_, Spec<K>>,
    credential: Credential<'_>,
    Inspected { desired, found, .. }: Inspected<K>,
    report: &mut Report<K::Observed>,
) -> Result<Progress, ConvergeError> {
    let id = report.id.clone();
    let adopting = K::adopt_id(target.spec).is_some();
    let named = format!("{} {id}", K::NOUNS.resource);
    let resource = if let Some((resource, tags)) = found {
        // A resource AWS is deleting (outside tiered, or for an earlier object of this
        // name, deleted and created again) is neither claimed, changed nor recorded: the
        // pass waits until it is gone, then creates it anew. Found from outside: a
        // CacheCluster applied again while its group was deleting re-tagged that group,
        // sent it changes and a new AUTH token, and later warned it was deleted.
        if K::aws_status(&resource) == Some("deleting") {
            return Ok(Progress::aws_in_progress(format!(
                "{named} is being deleted (outside tiered, or with an earlier object of this name); tiered creates it anew once it is gone"
            )));
        }
        let uses_credential = K::uses_credential(&desired);
        if adopting && uses_credential && credential.value.is_none() {
            return Err(ConvergeError::CredentialUnknown {
                nouns: K::NOUNS,
                id,
                reset: K::NOUNS.credential_reset,
            });
        }
        // Observed before the first write: a write AWS throttles or the budget holds
        // back ends the pass, and the Secret and the status are written from what was
        // observed (found from outside: a throttled tag edit dropped `host` and `url`
        // from the live connection Secret, and the endpoint from the status).
        kind.observe(target, &resource, &mut report.observed)
            .await?;
        report.observed_resource = true;
        write_claim(kind, target, &resource, &tags, report).await?;
        if credential.is_new && !credential.pending && uses_credential {
            give_credential(kind, credential, report).await?;
        }
        resource
    } else {
        let resource = create(kind, target, &desired, credential.value, report).await?;
        kind.observe(target, &resource, &mut report.observed)
            .await?;
        report.observed_resource = true;
        resource
    };

    let status = K::aws_status(&resource).unwrap_or("unknown");
    if let Some(waiting) =
        status_progress(&named, status, K::phase(status), K::stalled_hint(status))
    {
        return Ok(waiting);
    }
    if credential.pending
        && K::uses_credential(&desired)
        && K::accepts_credential(target.spec, &resource)
    {
        // A restored resource: it gets the generated credential once available; the
        // Secret stores it as the credential only after AWS accepted it.
        give_credential(kind, credential, report).await?;
        report.credential_accepted = true;
        tracing::info!(id = %id, resource = K::NOUNS.resource, "set the generated credential of a restored resource");
        return Ok(Progress::aws_in_progress(format!(
            "setting a new {} on the restored {named}",
            K::NOUNS.credential
        )));
    }
    kind.converge(&desired, &resource, report).await
}

/// Gives the existing resource of `report` the generated `credential`
/// ([`DataTier::set_credential`]).
async fn give_credential<K: DataTier>(
    kind: &K,
    credential: Credential<'_>,
    report: &mut Report<K::Observed>,
) -> Result<(), ConvergeError> {
    let value = credential.value.ok_or(ConvergeError::MissingCredential {
        nouns: K::NOUNS,
        id: report.id.clone(),
    })?;
    kind.set_credential(&report.id, value).await?;
    report.mutations += 1;
    Ok(())
}

/// Brings the claim's tags (`tags` are the resource's now) up to date.
async fn write_claim<K: DataTier>(
    kind: &K,
    target: &Target<'_, Spec<K>>,
    resource: &K::Resource,
    tags: &[(String, String)],
    report: &mut Report<K::Observed>,
) -> Result<(), ConvergeError> {
    if let Some(arn) = K::arn(resource) {
        report.mutations += write_tags(kind, arn, tags, &K::resource_tags(target)).await?;
    }
    Ok(())
}

/// Creates the resource; when it already exists (a crash after an earlier create, or a
/// lost response), describes and claims it instead.
async fn create<K: DataTier>(
    kind: &K,
    target: &Target<'_, Spec<K>>,
    desired: &K::Desired,
    credential: Option<&Password>,
    report: &mut Report<K::Observed>,
) -> Result<K::Resource, ConvergeError> {
    let id = report.id.clone();
    if K::uses_credential(desired) && credential.is_none() {
        return Err(ConvergeError::MissingCredential {
            nouns: K::NOUNS,
            id,
        });
    }
    let created = kind.create(target, desired, credential).await;
    report.mutations += 1;
    match created {
        Ok(resource) => {
            tracing::info!(id = %id, resource = K::NOUNS.resource, "created");
            match resource {
                Some(resource) => Ok(resource),
                None => Ok(kind
                    .describe(&id)
                    .await?
                    .unwrap_or_else(|| K::creating(&id))),
            }
        }
        Err(error) if error.kind == ErrorKind::Conflict => {
            let resource = kind.describe(&id).await?.ok_or(ConvergeError::Aws(error))?;
            let named = format!("{} {id}", K::NOUNS.resource);
            let tags = check_claim(kind, target, &named, &resource).await?;
            write_claim(kind, target, &resource, &tags, report).await?;
            Ok(resource)
        }
        Err(error) => Err(error.into()),
    }
}
