//! Which fault a call gets: [`Rule`]s by action (the first that matches applies) with
//! rates per fault, and [`Dice`], one seeded generator per action, so a fixed seed gives
//! each action the same sequence of fates however its calls interleave with other
//! actions'. Pure; no IO.

use std::collections::HashMap;
use std::time::Duration;

use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;
use serde::{Deserialize, Serialize};

use crate::calls::Fate;

/// Faults for the calls of one action (or of every action).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Rule {
    /// The AWS action (`CreateDBInstanceReadReplica`); `*` matches every action.
    pub action: String,
    /// Share of calls answered 400 `Throttling` without reaching AWS.
    pub throttle: f64,
    /// Share of calls answered 500 `InternalFailure` without reaching AWS.
    pub fail: f64,
    /// Share of calls answered 403 `AccessDenied` without reaching AWS, as an IAM
    /// policy or an organization's SCP that denies the action answers.
    pub deny: f64,
    /// Share of calls forwarded to AWS (which acts) whose answer is replaced by a 500.
    pub lose: f64,
    /// Delay added to a share ([`Rule::latency_rate`]) of the calls.
    #[serde(with = "millis")]
    pub latency: Duration,
    /// Share of calls that get [`Rule::latency`].
    pub latency_rate: f64,
}

/// A rule that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    /// No `:` between the action and the faults.
    #[error("failed to read rule {0:?}: expected ACTION:fault=rate,…")]
    Shape(String),
    /// A fault this layer does not know.
    #[error(
        "failed to read rule {rule:?}: unknown fault {fault:?} (throttle, fail, deny, lose, latency)"
    )]
    UnknownFault {
        /// The rule.
        rule: String,
        /// The fault.
        fault: String,
    },
    /// A rate or duration that is not a number in range.
    #[error(
        "failed to read rule {rule:?}: {value:?} is not a rate in 0..=1 or a duration like 200ms"
    )]
    Value {
        /// The rule.
        rule: String,
        /// The value.
        value: String,
    },
    /// Rates that add up to more than 1.
    #[error("failed to read rule {0:?}: throttle + fail + deny + lose exceeds 1")]
    Sum(String),
}

impl Rule {
    /// Reads `ACTION:throttle=0.1,fail=0.1,deny=0.1,lose=0.05,latency=200ms@0.5` (any subset of
    /// the faults; `latency=200ms` alone delays every call).
    ///
    /// # Errors
    /// When the text is not of that shape, or the rates are out of range.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let (action, faults) = text
            .split_once(':')
            .ok_or_else(|| RuleError::Shape(text.to_owned()))?;
        let mut rule = Self {
            action: action.trim().to_owned(),
            ..Self::default()
        };
        let value_error = |value: &str| RuleError::Value {
            rule: text.to_owned(),
            value: value.to_owned(),
        };
        for fault in faults.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let (name, value) = fault.split_once('=').ok_or_else(|| value_error(fault))?;
            match name.trim() {
                "throttle" => rule.throttle = rate(value).ok_or_else(|| value_error(value))?,
                "fail" => rule.fail = rate(value).ok_or_else(|| value_error(value))?,
                "deny" => rule.deny = rate(value).ok_or_else(|| value_error(value))?,
                "lose" => rule.lose = rate(value).ok_or_else(|| value_error(value))?,
                "latency" => {
                    let (duration, share) = value.split_once('@').unwrap_or((value, "1"));
                    rule.latency = millis_of(duration).ok_or_else(|| value_error(value))?;
                    rule.latency_rate = rate(share).ok_or_else(|| value_error(value))?;
                }
                other => {
                    return Err(RuleError::UnknownFault {
                        rule: text.to_owned(),
                        fault: other.to_owned(),
                    });
                }
            }
        }
        if rule.throttle + rule.fail + rule.deny + rule.lose > 1.0 + f64::EPSILON {
            return Err(RuleError::Sum(text.to_owned()));
        }
        Ok(rule)
    }

    /// Whether the rule applies to `action`.
    pub fn matches(&self, action: &str) -> bool {
        self.action == "*" || self.action == action
    }

    /// The fate of a call for which the dice showed `roll` (in `0..1`).
    pub fn fate(&self, roll: f64) -> Fate {
        if roll < self.throttle {
            Fate::Throttled
        } else if roll < self.throttle + self.fail {
            Fate::Failed
        } else if roll < self.throttle + self.fail + self.deny {
            Fate::Denied
        } else if roll < self.throttle + self.fail + self.deny + self.lose {
            Fate::Lost
        } else {
            Fate::Passed
        }
    }
}

fn rate(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|rate| (0.0..=1.0).contains(rate))
}

fn millis_of(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "ms"), |at| text.split_at(at));
    let number: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "s" => Some(Duration::from_secs(number)),
        _ => None,
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// One seeded generator per action.
#[derive(Debug)]
pub struct Dice {
    seed: u64,
    by_action: HashMap<String, XorShiftRng>,
}

impl Dice {
    /// Dice for `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            by_action: HashMap::new(),
        }
    }

    /// The next roll, in `0..1`, of `action`'s generator.
    pub fn roll(&mut self, action: &str) -> f64 {
        let seed = self.seed ^ fnv1a(action);
        let rng = self
            .by_action
            .entry(action.to_owned())
            .or_insert_with(|| XorShiftRng::seed_from_u64(seed));
        // The top 53 bits, as an f64 in 0..1.
        #[allow(clippy::cast_precision_loss)]
        let roll = (rng.next_u64() >> 11) as f64 / (1_u64 << 53) as f64;
        roll
    }
}

/// FNV-1a of `text`: a hash that stays the same across Rust releases (std's does not
/// promise that), so a seed means the same faults tomorrow.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The fate of one call of `action` under `rules`, with the delay to add.
pub fn decide(rules: &[Rule], dice: &mut Dice, action: &str) -> (Fate, Duration) {
    let Some(rule) = rules.iter().find(|rule| rule.matches(action)) else {
        return (Fate::Passed, Duration::ZERO);
    };
    let fate = rule.fate(dice.roll(action));
    let delay = if rule.latency_rate > 0.0 && dice.roll(action) < rule.latency_rate {
        rule.latency
    } else {
        Duration::ZERO
    };
    (fate, delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_every_fault_and_refuse_what_is_not_a_rule() {
        let rule =
            Rule::parse("*:throttle=0.1,fail=0.1,deny=0.2,lose=0.05,latency=200ms@0.5").unwrap();
        assert_eq!(
            rule,
            Rule {
                action: "*".into(),
                throttle: 0.1,
                fail: 0.1,
                deny: 0.2,
                lose: 0.05,
                latency: Duration::from_millis(200),
                latency_rate: 0.5,
            }
        );
        let lose = Rule::parse("CreateDBInstanceReadReplica:lose=1").unwrap();
        assert!(lose.matches("CreateDBInstanceReadReplica") && !lose.matches("CreateDBInstance"));
        assert!((Rule::parse("X:latency=2s").unwrap().latency_rate - 1.0).abs() < f64::EPSILON);
        assert!(matches!(Rule::parse("nothing"), Err(RuleError::Shape(_))));
        assert!(matches!(
            Rule::parse("X:drop=1"),
            Err(RuleError::UnknownFault { .. })
        ));
        assert!(matches!(
            Rule::parse("X:lose=2"),
            Err(RuleError::Value { .. })
        ));
        assert!(matches!(
            Rule::parse("X:latency=2h"),
            Err(RuleError::Value { .. })
        ));
        assert!(matches!(
            Rule::parse("X:lose=0.6,fail=0.6"),
            Err(RuleError::Sum(_))
        ));
    }

    #[test]
    fn rolls_split_into_the_fates_by_rate() {
        let rule = Rule::parse("*:throttle=0.2,fail=0.1,deny=0.1,lose=0.1").unwrap();
        assert_eq!(rule.fate(0.0), Fate::Throttled);
        assert_eq!(rule.fate(0.25), Fate::Failed);
        assert_eq!(rule.fate(0.35), Fate::Denied);
        assert_eq!(rule.fate(0.45), Fate::Lost);
        assert_eq!(rule.fate(0.55), Fate::Passed);
        assert!(!Fate::Denied.reached_aws());
    }

    #[test]
    fn a_seed_gives_each_action_the_same_fates_whatever_the_interleaving() {
        let rules = [Rule::parse("*:throttle=0.3,lose=0.3").unwrap()];
        let fates = |dice: &mut Dice, action: &str, n: usize| -> Vec<Fate> {
            (0..n).map(|_| decide(&rules, dice, action).0).collect()
        };
        let mut alone = Dice::new(7);
        let create_alone = fates(&mut alone, "CreateDBInstance", 50);
        let mut mixed = Dice::new(7);
        let mut create_mixed = Vec::new();
        for _ in 0..50 {
            fates(&mut mixed, "DescribeDBInstances", 3);
            create_mixed.extend(fates(&mut mixed, "CreateDBInstance", 1));
        }
        assert_eq!(create_alone, create_mixed);
        assert_ne!(
            create_alone,
            fates(&mut Dice::new(8), "CreateDBInstance", 50),
            "another seed, other fates"
        );
        let lost = create_alone.iter().filter(|f| **f == Fate::Lost).count();
        assert!((5..=25).contains(&lost), "about 30% of 50 lost: {lost}");
    }

    #[test]
    fn actions_no_rule_names_pass_untouched() {
        let rules = [Rule::parse("CreateReplicationGroup:lose=1").unwrap()];
        let mut dice = Dice::new(1);
        assert_eq!(
            decide(&rules, &mut dice, "DescribeReplicationGroups"),
            (Fate::Passed, Duration::ZERO)
        );
        assert_eq!(
            decide(&rules, &mut dice, "CreateReplicationGroup").0,
            Fate::Lost
        );
    }
}
