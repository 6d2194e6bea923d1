//! What one pass reads and checks before its first write ([`inspect`]): the spec, the
//! adoption's namespace, the resource by its id, its claim (ownership and opt-in tags),
//! an adoption's match, the settings AWS fixes at creation, and (for a resource still
//! to be created) the restore source. Nothing here writes:
//! the reconcile generates a credential, writes the connection Secret or calls AWS
//! only after it passed, so a refusal leaves the Secret and AWS exactly as they were.

use crate::aws::adoption::{AdoptionRefused, may_adopt};
use crate::aws::tags::{Owner, Ownership, ownership};
use crate::runtime::claims::{self, Claim};

use crate::controllers::data_tier::error::{ConvergeError, InvalidSpec};
use crate::controllers::data_tier::kind::{DataTier, Spec, Status, Target};
use crate::controllers::data_tier::spec::SharedStatus;

/// An existing resource and its tags, as key and value.
pub type Found<K> = (<K as DataTier>::Resource, Vec<(String, String)>);

/// What a pass read and checked before its first write: the owned settings for the
/// spec, and the resource with its tags when it exists.
pub struct Inspected<K: DataTier> {
    /// The owned settings for the spec.
    pub desired: K::Desired,
    /// The resource and its tags, when it exists.
    pub found: Option<Found<K>>,
    /// Whether the claim was read in this pass or remembered ([`claims`]).
    pub claim: Claim,
}

/// Reads and checks everything a pass needs before its first write, and writes
/// nothing: the spec, the adoption's namespace, the resource and its claim (ownership
/// and opt-in tags), an adoption's match, and whether the spec asks the existing
/// resource for what AWS fixes at creation ([`DataTier::check_in_place`]).
///
/// # Errors
/// The first check that fails, or a failed read.
pub async fn inspect<K: DataTier>(
    kind: &K,
    target: &Target<'_, Spec<K>>,
) -> Result<Inspected<K>, ConvergeError> {
    let (inspected, claim) = claims::scope(Claim::Unchecked, read_and_check(kind, target)).await;
    inspected.map(|(desired, found)| Inspected {
        desired,
        found,
        claim,
    })
}

async fn read_and_check<K: DataTier>(
    kind: &K,
    target: &Target<'_, Spec<K>>,
) -> Result<(K::Desired, Option<Found<K>>), ConvergeError> {
    let id = K::resource_id(target);
    let desired = K::desired(target.spec, id.clone(), K::resource_tags(target))?;
    let adopting = K::adopt_id(target.spec).is_some();
    let named = format!("{} {id}", K::NOUNS.resource);
    if adopting && !kind.adoption_namespaces().contains(&target.owner.namespace) {
        return Err(AdoptionRefused::NamespaceNotAllowed {
            resource: named,
            namespace: target.owner.namespace.clone(),
        }
        .into());
    }
    let found = match kind.find(&id).await? {
        Some(resource) => {
            let tags = check_claim(kind, target, &named, &resource).await?;
            if adopting {
                K::check_adoption(target.spec, &resource)?;
            }
            K::check_in_place(&desired, &resource)?;
            Some((resource, tags))
        }
        None if adopting => {
            return Err(ConvergeError::AdoptTargetMissing {
                nouns: K::NOUNS,
                id,
            });
        }
        None => {
            kind.check_create(target).await?;
            None
        }
    };
    Ok((desired, found))
}

/// Checks that the resource `status` names is the one this installation derives for
/// `target`; read before anything else, as it needs no AWS call. The status is the only
/// record of which resource an object was given: its id derives from the cluster name
/// (`--cluster-name`), so a second installation watching the same namespace, or this one
/// after its cluster name changed, would otherwise create a second, empty resource, move
/// the tiers' connection Secret to it, and leave the first (with the data) to leak when
/// the object goes. An adoption names its resource in the spec, so it is not checked
/// here (its claim is, by tags).
///
/// # Errors
/// [`ConvergeError::OtherInstallation`], naming both resources.
pub fn check_installation<K: DataTier>(
    target: &Target<'_, Spec<K>>,
    status: Option<&Status<K>>,
) -> Result<(), ConvergeError> {
    if K::adopt_id(target.spec).is_some() {
        return Ok(());
    }
    let derived = K::resource_id(target);
    match status.and_then(SharedStatus::identifier) {
        Some(known) if known != derived => Err(ConvergeError::OtherInstallation {
            nouns: K::NOUNS,
            known: known.to_owned(),
            derived,
            cluster: target.owner.cluster.clone(),
        }),
        _ => Ok(()),
    }
}

/// Whether `resource` is tagged as `owner`'s.
pub async fn owned_by<K: DataTier>(
    kind: &K,
    resource: &K::Resource,
    owner: &Owner,
) -> Result<bool, ConvergeError> {
    let tags = kind.tags(resource).await?;
    Ok(ownership(pairs(&tags), owner) == Ownership::Ours)
}

fn pairs(tags: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> + Clone {
    tags.iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
}

/// Checks that `target` may claim the existing `resource` (`named` in messages) and
/// returns its tags; no AWS write. Ours is fine; an adoption must pass
/// [`may_adopt`] (the namespace listed and the administrator's opt-in tag for this
/// object); anything else is refused without naming another owner.
pub(super) async fn check_claim<K: DataTier>(
    kind: &K,
    target: &Target<'_, Spec<K>>,
    named: &str,
    resource: &K::Resource,
) -> Result<Vec<(String, String)>, ConvergeError> {
    let tags = kind.tags(resource).await?;
    let id = K::resource_id(target);
    match ownership(pairs(&tags), &target.owner) {
        Ownership::Ours => {}
        _ if K::adopt_id(target.spec).is_some() => {
            may_adopt(
                named,
                pairs(&tags),
                &target.owner,
                kind.adoption_namespaces(),
            )?;
            tracing::info!(id = %id, resource = K::NOUNS.resource, "adopting a resource opted in for this object");
        }
        Ownership::Unowned => {
            return Err(ConvergeError::NotOwned {
                nouns: K::NOUNS,
                id,
            });
        }
        Ownership::OwnedElsewhere { .. } => {
            return Err(ConvergeError::OwnedElsewhere {
                nouns: K::NOUNS,
                id,
            });
        }
    }
    Ok(tags)
}

/// Checks that a resource to adopt (`resource`: `"DB instance <id>"`) runs `engine`, as
/// AWS reports it (the engine as created; the case is ignored, and a resource that does
/// not say is accepted): adopting one engine's resource as another's would hand the
/// tiers a connection that cannot work. `fix` says what to do, given the engine it runs.
///
/// # Errors
/// [`InvalidSpec`] on `spec.engine`, saying what the resource runs.
pub fn check_adopted_engine(
    resource: &str,
    running: Option<&str>,
    engine: &str,
    fix: impl FnOnce(&str) -> String,
) -> Result<(), InvalidSpec> {
    match running {
        Some(running) if !running.eq_ignore_ascii_case(engine) => Err(InvalidSpec {
            field: "spec.engine",
            reason: format!("{resource} runs {running}, not {engine}; {}", fix(running)),
        }),
        _ => Ok(()),
    }
}
