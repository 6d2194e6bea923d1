//! How many pods a tier's Deployment asks for, and how the count passes between the
//! operator and the tier's HorizontalPodAutoscaler without the running pods ever
//! dropping. Pure: the reconcile passes in what it sees of the live Deployment
//! ([`LiveReplicas`]).
//!
//! The hazard (kubernetes/kubernetes#25238; the Kubernetes docs page "Migrating
//! Deployments and StatefulSets to horizontal autoscaling"): when a server-side apply
//! stops sending a field that only its manager owns, the API server removes it, and a
//! Deployment without `spec.replicas` is defaulted to 1. A tier with 6 pods switched to
//! autoscaling would scale to 1 before the HPA acts. The field survives only while
//! another manager owns it, and the HPA becomes an owner only when it writes a new count
//! (through `/scale`, an update that takes the field from the operator).
//!
//! So the operator does what the server-side apply guide ("Transferring ownership")
//! advises: it keeps `replicas` in what it applies until the HPA has written the field,
//! then leaves it out. A forced apply never reports the conflict that would say the HPA
//! took over, so an annotation on the Deployment ([`REPLICAS_HANDOVER_ANNOTATION`])
//! remembers the count the operator applies; a live count that differs from it was
//! written by someone else, who now owns the field.
//!
//! | tier                                 | live Deployment                       | `spec.replicas` | annotation   |
//! | ------------------------------------ | ------------------------------------- | --------------- | ------------ |
//! | autoscaled                           | none, or no count                     | `minReplicas`   | that count   |
//! | autoscaled                           | count `r`, no annotation or `r`       | `max(r, min)`   | that count   |
//! | autoscaled                           | count `r`, annotation `n` ≠ `r`       | not sent        | `autoscaler` |
//! | autoscaled                           | annotation `autoscaler`               | not sent        | `autoscaler` |
//! | `replicas: n`                        | any                                   | `n`             | none         |
//! | neither `replicas` nor `autoscaling` | none, or no count                     | 2               | none         |
//! | neither `replicas` nor `autoscaling` | count `r`                             | `max(r, 2)`     | none         |
//!
//! Every row leads to a state that builds the same object again, so a converged tier
//! costs no writes; once the HPA owns the count, its changes alter nothing the operator
//! builds. `max(r, min)`: the HPA does not scale a Deployment at 0 replicas, and a count
//! under `minReplicas` is one the user just ruled out. Switching autoscaling off goes to
//! the `replicas` the user sets (what they asked for); without one the tier keeps the
//! count the HPA reached (at least 2), never a default below it.
//!
//! A count of 0 written by hand (`kubectl scale --replicas=0`) is a count someone else
//! wrote like any other: the operator leaves it, which pauses the HPA, and the status
//! says so ([`crate::controllers::tiered_app::status::PausedTier`] gives the reasoning).

use serde_json::Value;

use crate::controllers::tiered_app::validate::{DEFAULT_REPLICAS, Scaling};

/// Deployment annotation: the `spec.replicas` the operator applies to an autoscaled tier
/// until the HPA writes the count, or [`HANDED_OVER`] once it has.
pub const REPLICAS_HANDOVER_ANNOTATION: &str = "tiered.io/replicas-handover";
/// Value of [`REPLICAS_HANDOVER_ANNOTATION`] once the HPA owns `spec.replicas`.
pub const HANDED_OVER: &str = "autoscaler";

/// What the builder needs to know about a tier's live Deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveReplicas {
    /// Its `spec.replicas`.
    pub replicas: Option<i32>,
    /// Its [`REPLICAS_HANDOVER_ANNOTATION`].
    pub handover: Option<String>,
}

impl LiveReplicas {
    /// Reads the live Deployment as JSON (the form the child caches keep).
    pub fn from_json(deployment: &Value) -> Self {
        Self {
            replicas: deployment["spec"]["replicas"]
                .as_i64()
                .and_then(|count| i32::try_from(count).ok()),
            handover: deployment["metadata"]["annotations"][REPLICAS_HANDOVER_ANNOTATION]
                .as_str()
                .map(str::to_owned),
        }
    }
}

/// `spec.replicas` and the [`REPLICAS_HANDOVER_ANNOTATION`] of a tier's Deployment; `None`
/// means not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredReplicas {
    /// `spec.replicas`.
    pub replicas: Option<i32>,
    /// The annotation's value.
    pub handover: Option<String>,
}

/// The replica count and annotation to apply for `scaling`, given the live Deployment
/// (`None` when it does not exist yet). See the module documentation for the rule.
pub fn desired_replicas(scaling: Scaling, live: Option<&LiveReplicas>) -> DesiredReplicas {
    let live_count = live.and_then(|live| live.replicas);
    match scaling {
        Scaling::Fixed {
            replicas: Some(replicas),
        } => fixed(replicas),
        Scaling::Fixed { replicas: None } => {
            fixed(live_count.map_or(DEFAULT_REPLICAS, |count| count.max(DEFAULT_REPLICAS)))
        }
        Scaling::Autoscaled { min_replicas, .. } => {
            let Some(count) = live_count else {
                return applied_until_the_hpa_writes(min_replicas);
            };
            let handover = live.and_then(|live| live.handover.as_deref());
            match handover {
                Some(HANDED_OVER) => handed_over(),
                Some(applied) if applied.parse::<i32>().is_ok_and(|n| n != count) => handed_over(),
                _ => applied_until_the_hpa_writes(count.max(min_replicas)),
            }
        }
    }
}

fn fixed(replicas: i32) -> DesiredReplicas {
    DesiredReplicas {
        replicas: Some(replicas),
        handover: None,
    }
}

fn applied_until_the_hpa_writes(replicas: i32) -> DesiredReplicas {
    DesiredReplicas {
        replicas: Some(replicas),
        handover: Some(replicas.to_string()),
    }
}

fn handed_over() -> DesiredReplicas {
    DesiredReplicas {
        replicas: None,
        handover: Some(HANDED_OVER.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const AUTOSCALED: Scaling = Scaling::Autoscaled {
        min_replicas: 2,
        max_replicas: 10,
        target_cpu_utilization: 70,
        target_memory_utilization: None,
    };

    fn live(replicas: Option<i32>, handover: Option<&str>) -> LiveReplicas {
        LiveReplicas {
            replicas,
            handover: handover.map(str::to_owned),
        }
    }

    fn sent(replicas: i32, handover: Option<&str>) -> DesiredReplicas {
        DesiredReplicas {
            replicas: Some(replicas),
            handover: handover.map(str::to_owned),
        }
    }

    #[test]
    fn the_count_passes_to_the_autoscaler_and_back_without_dropping() {
        let handed_over = DesiredReplicas {
            replicas: None,
            handover: Some(HANDED_OVER.to_owned()),
        };
        let cases: Vec<(&str, Scaling, Option<LiveReplicas>, DesiredReplicas)> = vec![
            (
                "a new autoscaled tier starts at minReplicas",
                AUTOSCALED,
                None,
                sent(2, Some("2")),
            ),
            (
                "switched on: the running 6 stay until the HPA writes",
                AUTOSCALED,
                Some(live(Some(6), None)),
                sent(6, Some("6")),
            ),
            (
                "the HPA has not written: same object again",
                AUTOSCALED,
                Some(live(Some(6), Some("6"))),
                sent(6, Some("6")),
            ),
            (
                "the HPA wrote 4: it owns the count, replicas is left out",
                AUTOSCALED,
                Some(live(Some(4), Some("6"))),
                handed_over.clone(),
            ),
            (
                "the HPA keeps scaling: nothing changes",
                AUTOSCALED,
                Some(live(Some(9), Some(HANDED_OVER))),
                handed_over,
            ),
            (
                "switched on from 0: the HPA cannot scale 0, start at minReplicas",
                AUTOSCALED,
                Some(live(Some(0), None)),
                sent(2, Some("2")),
            ),
            (
                "a live Deployment without a count is treated as new",
                AUTOSCALED,
                Some(live(None, Some(HANDED_OVER))),
                sent(2, Some("2")),
            ),
            (
                "an annotation someone garbled is ignored",
                AUTOSCALED,
                Some(live(Some(5), Some("five"))),
                sent(5, Some("5")),
            ),
            (
                "switched off with replicas 3: go to what the user asked",
                Scaling::Fixed { replicas: Some(3) },
                Some(live(Some(9), Some(HANDED_OVER))),
                sent(3, None),
            ),
            (
                "switched off without replicas: keep the HPA's 9",
                Scaling::Fixed { replicas: None },
                Some(live(Some(9), Some(HANDED_OVER))),
                sent(9, None),
            ),
            (
                "without replicas, at least the default 2",
                Scaling::Fixed { replicas: None },
                Some(live(Some(1), None)),
                sent(DEFAULT_REPLICAS, None),
            ),
            (
                "a new tier without replicas gets the default 2",
                Scaling::Fixed { replicas: None },
                None,
                sent(DEFAULT_REPLICAS, None),
            ),
            (
                "an explicit 0 pauses the tier",
                Scaling::Fixed { replicas: Some(0) },
                Some(live(Some(4), None)),
                sent(0, None),
            ),
        ];
        for (case, scaling, live, expected) in cases {
            assert_eq!(desired_replicas(scaling, live.as_ref()), expected, "{case}");
        }
    }

    #[test]
    fn a_raised_min_replicas_is_applied_while_the_count_is_still_ours() {
        let scaling = Scaling::Autoscaled {
            min_replicas: 5,
            max_replicas: 10,
            target_cpu_utilization: 70,
            target_memory_utilization: None,
        };
        assert_eq!(
            desired_replicas(scaling, Some(&live(Some(2), Some("2")))),
            sent(5, Some("5"))
        );
    }

    #[test]
    fn every_state_builds_itself_again_so_a_converged_tier_costs_no_writes() {
        // Apply what was built, as the API server would store it, and build again.
        for scaling in [
            AUTOSCALED,
            Scaling::Fixed { replicas: Some(3) },
            Scaling::Fixed { replicas: None },
        ] {
            for start in [
                None,
                Some(live(Some(6), None)),
                Some(live(Some(6), Some("6"))),
            ] {
                let first = desired_replicas(scaling, start.as_ref());
                let stored = LiveReplicas {
                    replicas: first.replicas.or(start.as_ref().and_then(|l| l.replicas)),
                    handover: first.handover.clone(),
                };
                assert_eq!(
                    desired_replicas(scaling, Some(&stored)),
                    first,
                    "{scaling:?} from {start:?}"
                );
            }
        }
    }

    #[test]
    fn the_live_count_and_annotation_are_read_from_the_cached_json() {
        let deployment = json!({
            "metadata": {"annotations": {REPLICAS_HANDOVER_ANNOTATION: "6", "other": "x"}},
            "spec": {"replicas": 6}
        });
        assert_eq!(
            LiveReplicas::from_json(&deployment),
            LiveReplicas {
                replicas: Some(6),
                handover: Some("6".to_owned())
            }
        );
        assert_eq!(
            LiveReplicas::from_json(&json!({"metadata": {}})),
            LiveReplicas::default()
        );
    }
}
