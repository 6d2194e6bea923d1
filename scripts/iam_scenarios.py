"""The operator's IAM policies (deploy/iam-policy-*.json, evaluated together as IAM does
for one role) decided for concrete requests (packaging layer).

A small evaluator of identity-policy statements (Action, Resource/NotResource, the
condition operators the policy uses) and the requests the operator makes, each with
the answer AWS must give. docs/iam.md has the same requests as
`aws iam simulate-custom-policy` commands, to run against AWS's own evaluator.

Written here because no maintained Python package evaluates identity policies with
conditions locally (parliament and policy_sentry lint and look up, they do not decide).
It follows the IAM User Guide ("Policy evaluation logic", "Condition operators"): an
explicit Deny wins, then any Allow, else the request is implicitly denied; a condition
on a key the request lacks is false, except for negated operators (true), `...IfExists`
(true) and `Null`. Operators it does not know make it fail rather than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from iam_policy import CLUSTER_TAG, as_list, load_policy, statements

OPERATORS = {"StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "Null"}


def glob(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.I) is not None


def substitute(text: str, context: dict[str, list[str]]) -> str | None:
    """`text` with its ${key} policy variables replaced; None when one has no value."""
    missing = False

    def value(m: re.Match[str]) -> str:
        nonlocal missing
        found = context.get(m.group(1).lower())
        if not found:
            missing = True
            return ""
        return found[0]

    result = re.sub(r"\$\{([^}]+)\}", value, text)
    return None if missing else result


def condition_holds(condition: dict[str, Any], context: dict[str, list[str]]) -> bool:
    for operator, block in condition.items():
        qualifier, _, base = operator.rpartition(":")
        if_exists = base.endswith("IfExists")
        base = base.removesuffix("IfExists")
        if base not in OPERATORS or qualifier not in ("", "ForAnyValue", "ForAllValues"):
            raise ValueError(f"the evaluator does not know the condition operator {operator}")
        for key, expected in block.items():
            values = context.get(key.lower())
            if base == "Null":
                if (values is None) != (str(as_list(expected)[0]).lower() == "true"):
                    return False
                continue
            negated = "Not" in base
            if values is None:
                if not (if_exists or negated or qualifier == "ForAllValues"):
                    return False
                continue
            wanted = [w for w in (substitute(str(e), context) for e in as_list(expected)) if w is not None]
            like = base.endswith("Like")

            def one(value: str) -> bool:
                hit = any(glob(w, value) if like else w == value for w in wanted)
                return hit != negated

            if qualifier == "ForAllValues":
                ok = all(one(v) for v in values)
            elif qualifier == "ForAnyValue" or len(values) == 1:
                ok = any(one(v) for v in values)
            else:
                raise ValueError(f"{key} has several values: {operator} needs ForAnyValue/ForAllValues")
            if not ok:
                return False
    return True


def applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, list[str]]) -> bool:
    if not any(glob(a, action, case_sensitive=False) for a in as_list(statement["Action"])):
        return False
    patterns = [substitute(p, context) for p in as_list(statement.get("Resource", statement.get("NotResource")))]
    matched = any(p is not None and glob(p, resource) for p in patterns)
    if matched == ("NotResource" in statement):
        return False
    return condition_holds(statement.get("Condition", {}), context)


def decide(policy: dict[str, Any], action: str, resource: str, context: dict[str, list[str]]) -> str:
    """"allowed", "explicitDeny" or "implicitDeny", as the IAM policy simulator says."""
    matching = [s["Effect"] for s in statements(policy) if applies(s, action, resource, context)]
    if "Deny" in matching:
        return "explicitDeny"
    return "allowed" if "Allow" in matching else "implicitDeny"


# --- the requests ----------------------------------------------------------------------

@dataclass(frozen=True)
class Auth:
    """One authorization of a request: `action` on the resource `resource` (an ARN suffix)."""

    action: str
    resource: str
    resource_tags: dict[str, str] | None = None  # None: a resource the request creates
    request_tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    allowed: bool
    auths: tuple[Auth, ...]


OURS = {CLUSTER_TAG: "prod"}
OTHER = {CLUSTER_TAG: "staging"}
UNTAGGED: dict[str, str] = {}
CREATE_TAGS = {CLUSTER_TAG: "prod", "tiered.io/owner": "shop/orders"}
DB = "rds:{region}:111122223333:db:prod-shop-orders-1a2b3c4d"
REPLICA = DB + "-r1"
DB_SNAPSHOT = "rds:{region}:111122223333:snapshot:prod-shop-orders-1a2b3c4d-final-20250304050607"
PARAMETER_GROUP = "rds:{region}:111122223333:pg:prod-shop-orders-1a2b3c4d-postgres16"
ON_DEMAND_SNAPSHOT = "rds:{region}:111122223333:snapshot:prod-shop-orders-1a2b3c4d-snap-before-upgrade"
RG = "elasticache:{region}:111122223333:replicationgroup:prod-shop-cache-5e6f7a8b"
NODE = "elasticache:{region}:111122223333:cluster:prod-shop-cache-5e6f7a8b-001"
CACHE_SNAPSHOT = "elasticache:{region}:111122223333:snapshot:prod-shop-cache-5e6f7a8b-final-20250304050607"
CACHE_ON_DEMAND = "elasticache:{region}:111122223333:snapshot:prod-shop-cache-5e6f7a8b-snap-before-upgrade"
CACHE_PARAMETERS = "elasticache:{region}:111122223333:parametergroup:prod-shop-cache-5e6f7a8b-valkey8"
CACHE_REFERENCED = ("elasticache:{region}:111122223333:subnetgroup:prod-cache-subnets",)
RDS_REFERENCED = ("rds:{region}:111122223333:pg:default.postgres16", "rds:{region}:111122223333:og:default:postgres-16",
                  "rds:{region}:111122223333:subgrp:prod-db-subnets")


def auths(action: str, *resources: str, tags: dict[str, str] | None = None,
          request: dict[str, str] | None = None) -> tuple[Auth, ...]:
    return tuple(Auth(action, r, tags, request or {}) for r in resources)


def not_ours(action: str, group: str, noun: str) -> tuple[Scenario, ...]:
    """The refusals on a parameter group that is not this cluster's, alike for RDS's and
    ElastiCache's groups (`action` has `{}` where the verb goes): change, reset or delete
    another cluster's or an untagged one, create one tagged for another cluster."""
    return tuple(
        Scenario(f"{verb} {whose} {noun}", False, auths(action.format(call), group, tags=tags))
        for call, verb in (("Modify", "change"), ("Reset", "reset"), ("Delete", "delete"))
        for whose, tags in (("another cluster's", OTHER), ("an untagged", UNTAGGED))
    ) + (Scenario(f"create a {noun} tagged for another cluster", False,
                  auths(action.format("Create"), group, request=OTHER)),)


SCENARIOS = (
    Scenario("create a DB instance tagged for this cluster", True,
             auths("rds:CreateDBInstance", DB, *RDS_REFERENCED, request=CREATE_TAGS)
             + auths("rds:AddTagsToResource", DB, request=CREATE_TAGS)
             + auths("secretsmanager:CreateSecret", "secretsmanager:{region}:111122223333:secret:rds!db-0f1e2d")),
    Scenario("create a DB instance tagged for another cluster", False,
             auths("rds:CreateDBInstance", DB, request=OTHER)),
    Scenario("modify, untag and delete our instance", True,
             auths("rds:ModifyDBInstance", DB, tags=OURS) + auths("rds:RemoveTagsFromResource", DB, tags=OURS)
             + auths("rds:DeleteDBInstance", DB, tags=OURS)),
    Scenario("modify another cluster's instance", False, auths("rds:ModifyDBInstance", DB, tags=OTHER)),
    Scenario("modify an untagged instance", False, auths("rds:ModifyDBInstance", DB, tags=UNTAGGED)),
    Scenario("delete another cluster's instance", False, auths("rds:DeleteDBInstance", DB, tags=OTHER)),
    Scenario("delete our instance with a final snapshot (since 2024-08: CreateDBSnapshot, tags copied)", True,
             auths("rds:DeleteDBInstance", DB, tags=OURS) + auths("rds:CreateDBSnapshot", DB, tags=OURS)
             + auths("rds:CreateDBSnapshot", DB_SNAPSHOT) + auths("rds:AddTagsToResource", DB_SNAPSHOT)
             + auths("rds:AddTagsToResource", DB_SNAPSHOT, request=OURS)),
    Scenario("snapshot another cluster's instance", False, auths("rds:CreateDBSnapshot", DB, tags=OTHER)),
    Scenario("snapshot our instance on request, tagged for this cluster", True,
             auths("rds:CreateDBSnapshot", DB, tags=OURS, request=CREATE_TAGS)
             + auths("rds:CreateDBSnapshot", ON_DEMAND_SNAPSHOT, request=CREATE_TAGS)
             + auths("rds:AddTagsToResource", ON_DEMAND_SNAPSHOT, request=CREATE_TAGS)),
    Scenario("snapshot another cluster's instance on request", False,
             auths("rds:CreateDBSnapshot", DB, tags=OTHER, request=CREATE_TAGS)),
    Scenario("create our parameter group, set and reset its parameters, attach it, reboot", True,
             auths("rds:CreateDBParameterGroup", PARAMETER_GROUP, request=CREATE_TAGS)
             + auths("rds:AddTagsToResource", PARAMETER_GROUP, request=CREATE_TAGS)
             + auths("rds:ModifyDBParameterGroup", PARAMETER_GROUP, tags=OURS)
             + auths("rds:ResetDBParameterGroup", PARAMETER_GROUP, tags=OURS)
             + auths("rds:ModifyDBInstance", DB, PARAMETER_GROUP, tags=OURS)
             + auths("rds:RebootDBInstance", DB, tags=OURS)
             + auths("rds:DeleteDBParameterGroup", PARAMETER_GROUP, tags=OURS)),
    Scenario("release our parameter group with a retained instance (Retain: untag it)", True,
             auths("rds:RemoveTagsFromResource", PARAMETER_GROUP, tags=OURS)),
    Scenario("untag another cluster's DB parameter group", False,
             auths("rds:RemoveTagsFromResource", PARAMETER_GROUP, tags=OTHER)),
    *not_ours("rds:{}DBParameterGroup", PARAMETER_GROUP, "DB parameter group"),
    Scenario("reboot another cluster's instance", False, auths("rds:RebootDBInstance", DB, tags=OTHER)),
    Scenario("snapshot our instance on request without the cluster tag", False,
             auths("rds:CreateDBSnapshot", ON_DEMAND_SNAPSHOT, request={"team": "orders"})),
    Scenario("create a read replica of our instance", True,
             auths("rds:CreateDBInstanceReadReplica", REPLICA, *RDS_REFERENCED, request=CREATE_TAGS)
             + auths("rds:CreateDBInstanceReadReplica", DB, tags=OURS, request=CREATE_TAGS)
             + auths("rds:AddTagsToResource", REPLICA, request=CREATE_TAGS)),
    Scenario("create a replica of our instance in another region (spec.replicaOf: its id ends -rr)", True,
             auths("rds:CreateDBInstanceReadReplica", "rds:eu-west-1:111122223333:db:prod-shop-dr-9a8b7c6d-rr",
                   *RDS_REFERENCED, request=CREATE_TAGS)
             + auths("rds:CreateDBInstanceReadReplica", DB, tags=OURS, request=CREATE_TAGS)
             + auths("rds:AddTagsToResource", "rds:eu-west-1:111122223333:db:prod-shop-dr-9a8b7c6d-rr",
                     request=CREATE_TAGS)),
    Scenario("create a replica named like a primary (no -r suffix)", False,
             auths("rds:CreateDBInstanceReadReplica", "rds:eu-west-1:111122223333:db:prod-shop-dr-9a8b7c6d",
                   request=CREATE_TAGS)),
    Scenario("promote our replica and record it", True,
             auths("rds:PromoteReadReplica", DB + "-rr", tags=OURS)
             + auths("rds:AddTagsToResource", DB + "-rr", tags=OURS, request={"tiered.io/promoted": "now"})),
    Scenario("promote another cluster's replica", False,
             auths("rds:PromoteReadReplica", DB + "-rr", tags=OTHER)),
    Scenario("promote an untagged replica", False,
             auths("rds:PromoteReadReplica", DB + "-rr", tags=UNTAGGED)),
    Scenario("create a read replica of another cluster's instance", False,
             auths("rds:CreateDBInstanceReadReplica", DB, tags=OTHER, request=CREATE_TAGS)),
    Scenario("create a read replica of another cluster's replica", False,
             auths("rds:CreateDBInstanceReadReplica", DB + "-r2", tags=OTHER, request=CREATE_TAGS)),
    Scenario("create a read replica of an untagged instance", False,
             auths("rds:CreateDBInstanceReadReplica", "rds:{region}:111122223333:db:legacy-billing",
                   tags=UNTAGGED, request=CREATE_TAGS)),
    Scenario("adopt an untagged instance (tag it as ours)", True,
             auths("rds:AddTagsToResource", DB, tags=UNTAGGED, request=CREATE_TAGS)),
    Scenario("retag our instance with the user's tags", True,
             auths("rds:AddTagsToResource", DB, tags=OURS, request={"team": "orders"})),
    Scenario("retag our instance with another cluster's name", False,
             auths("rds:AddTagsToResource", DB, tags=OURS, request=OTHER)),
    Scenario("claim another cluster's instance", False,
             auths("rds:AddTagsToResource", DB, tags=OTHER, request=OURS)),
    Scenario("create a replication group tagged for this cluster", True,
             auths("elasticache:CreateReplicationGroup", RG, NODE,
                   "elasticache:{region}:111122223333:parametergroup:default.valkey8",
                   "elasticache:{region}:111122223333:subnetgroup:prod-cache-subnets", request=CREATE_TAGS)
             + auths("elasticache:AddTagsToResource", RG, NODE, request=CREATE_TAGS)),
    Scenario("change our replication group", True,
             sum((auths(a, RG, tags=OURS) for a in (
                 "elasticache:ModifyReplicationGroup", "elasticache:ModifyReplicationGroupShardConfiguration",
                 "elasticache:IncreaseReplicaCount", "elasticache:DecreaseReplicaCount",
                 "elasticache:RemoveTagsFromResource")), ())
             + auths("elasticache:AddTagsToResource", RG, tags=OURS, request={"team": "orders"})),
    Scenario("change another cluster's replication group", False,
             auths("elasticache:ModifyReplicationGroup", RG, tags=OTHER)),
    Scenario("delete our replication group with a final snapshot", True,
             auths("elasticache:DeleteReplicationGroup", RG, tags=OURS)
             + auths("elasticache:DeleteReplicationGroup", CACHE_SNAPSHOT)
             + auths("elasticache:CreateSnapshot", RG, tags=OURS) + auths("elasticache:CreateSnapshot", CACHE_SNAPSHOT)),
    Scenario("delete an untagged replication group", False,
             auths("elasticache:DeleteReplicationGroup", RG, tags=UNTAGGED)),
    Scenario("delete another cluster's replication group", False,
             auths("elasticache:DeleteReplicationGroup", RG, tags=OTHER)),
    Scenario("retag our replication group with another cluster's name", False,
             auths("elasticache:AddTagsToResource", RG, tags=OURS, request=OTHER)),
    Scenario("snapshot our replication group or one of its nodes on request, tagged for this cluster", True,
             auths("elasticache:CreateSnapshot", RG, NODE, tags=OURS, request=CREATE_TAGS)
             + auths("elasticache:CreateSnapshot", CACHE_ON_DEMAND, request=CREATE_TAGS)
             + auths("elasticache:AddTagsToResource", CACHE_ON_DEMAND, request=CREATE_TAGS)),
    Scenario("snapshot another cluster's replication group on request", False,
             auths("elasticache:CreateSnapshot", NODE, tags=OTHER, request=CREATE_TAGS)),
    Scenario("snapshot our replication group on request without the cluster tag", False,
             auths("elasticache:CreateSnapshot", CACHE_ON_DEMAND, request={"team": "orders"})),
    Scenario("create our cache parameter group, set and reset it, create or attach with it, delete it", True,
             auths("elasticache:CreateCacheParameterGroup", CACHE_PARAMETERS, request=CREATE_TAGS)
             + auths("elasticache:AddTagsToResource", CACHE_PARAMETERS, request=CREATE_TAGS)
             + auths("elasticache:ModifyCacheParameterGroup", CACHE_PARAMETERS, tags=OURS)
             + auths("elasticache:ResetCacheParameterGroup", CACHE_PARAMETERS, tags=OURS)
             + auths("elasticache:CreateReplicationGroup", RG, NODE, CACHE_PARAMETERS, *CACHE_REFERENCED,
                     request=CREATE_TAGS)
             + auths("elasticache:ModifyReplicationGroup", RG, CACHE_PARAMETERS, tags=OURS)
             + auths("elasticache:DeleteCacheParameterGroup", CACHE_PARAMETERS, tags=OURS)),
    Scenario("release our cache parameter group with a retained replication group (Retain: untag it)", True,
             auths("elasticache:RemoveTagsFromResource", CACHE_PARAMETERS, tags=OURS)),
    Scenario("untag another cluster's cache parameter group", False,
             auths("elasticache:RemoveTagsFromResource", CACHE_PARAMETERS, tags=OTHER)),
    *not_ours("elasticache:{}CacheParameterGroup", CACHE_PARAMETERS, "cache parameter group"),
    Scenario("restore a replication group from our snapshot", True,
             auths("elasticache:CreateReplicationGroup", RG, NODE, *CACHE_REFERENCED, request=CREATE_TAGS)
             + auths("elasticache:CreateReplicationGroup", CACHE_ON_DEMAND, tags=OURS, request=CREATE_TAGS)),
    Scenario("restore a replication group from another cluster's snapshot", False,
             auths("elasticache:CreateReplicationGroup", CACHE_ON_DEMAND, tags=OTHER, request=CREATE_TAGS)),
)

PARTITIONS = {"aws": "eu-west-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}


def context(auth: Auth, principal_tags: dict[str, str]) -> dict[str, list[str]]:
    ctx = {f"aws:principaltag/{k}".lower(): [v] for k, v in principal_tags.items()}
    ctx.update({f"aws:requesttag/{k}".lower(): [v] for k, v in auth.request_tags.items()})
    if auth.request_tags:
        ctx["aws:tagkeys"] = list(auth.request_tags)
    ctx.update({f"aws:resourcetag/{k}".lower(): [v] for k, v in (auth.resource_tags or {}).items()})
    return ctx


def check_scenarios(policy: dict[str, Any] | None = None) -> list[str]:
    """Every scenario in every partition gets the answer it must, for a role tagged
    `tiered.io/cluster=prod`; an untagged role can write nothing."""
    policy = policy or load_policy()
    problems = []
    for partition, region in PARTITIONS.items():
        for scenario in SCENARIOS:
            answers = []
            for auth in scenario.auths:
                arn = f"arn:{partition}:" + auth.resource.format(region=region)
                try:
                    answers.append((auth, arn, decide(policy, auth.action, arn, context(auth, OURS))))
                except ValueError as unknown:
                    return [f"{scenario.name}: {unknown}"]
            refused = [f"{a.action} on {arn}: {d}" for a, arn, d in answers if d != "allowed"]
            if scenario.allowed and refused:
                problems.append(f"[{partition}] {scenario.name}: must be allowed, but " + "; ".join(refused))
            if not scenario.allowed and not refused:
                problems.append(f"[{partition}] {scenario.name}: must be refused, but the policy allows it")
            if scenario.allowed:
                for auth, arn, _ in answers:
                    if decide(policy, auth.action, arn, context(auth, {})) == "allowed":
                        problems.append(f"[{partition}] a role without the {CLUSTER_TAG} tag may "
                                        f"{auth.action} on {arn}")
    return problems
