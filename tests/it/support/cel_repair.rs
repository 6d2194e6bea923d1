//! What the CRDs' CEL rules (`x-kubernetes-validations`) ask of a spec, made true on a
//! generated one: the property tests' schema-driven generator reads types, patterns,
//! enums and bounds but not CEL, so without this almost no generated object would be one
//! the API server accepts. Each repair names its rule; a repair changes as little as
//! the rule needs (drops an optional field, swaps two bounds, renames a duplicate).

use std::collections::BTreeSet;

use serde_json::{Value, json};

/// Makes `spec` of `kind` satisfy its CRD's CEL rules.
pub fn repair(kind: &str, spec: &mut Value) {
    match kind {
        "TieredApp" => tiered_app(spec),
        "ManagedDatabase" => managed_database(spec),
        "CacheCluster" => cache_cluster(spec),
        _ => {}
    }
}

/// Removes `field` from the object `value` (if it is one).
fn drop_field(value: &mut Value, field: &str) {
    if let Some(fields) = value.as_object_mut() {
        fields.remove(field);
    }
}

/// Swaps `low` and `high` of `value` when both are numbers and `low > high` (or, with
/// `strict`, `low >= high`: then `high` becomes `low + 1`).
fn order(value: &mut Value, low: &str, high: &str, strict: bool) {
    let (Some(a), Some(b)) = (value[low].as_i64(), value[high].as_i64()) else {
        return;
    };
    if a > b {
        value[low] = json!(b);
        value[high] = json!(a);
    }
    if strict && value[low] == value[high] {
        value[high] = json!(a.max(b) + 1);
    }
}

fn tiered_app(spec: &mut Value) {
    // Volume names are unique (list-map key).
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        let mut seen = BTreeSet::new();
        volumes.retain(|v| seen.insert(v["name"].to_string()));
    }
    let Some(tiers) = spec.get_mut("tiers").and_then(Value::as_array_mut) else {
        return;
    };
    // self.tiers.all(t, self.tiers.exists_one(u, u.name == t.name))
    let mut seen = BTreeSet::new();
    for (index, tier) in tiers.iter_mut().enumerate() {
        let Some(name) = tier["name"].as_str().map(str::to_owned) else {
            continue;
        };
        let unique = if seen.contains(&name) {
            format!("{name}{index}")
        } else {
            name
        };
        seen.insert(unique.clone());
        tier["name"] = json!(unique);
    }
    for tier in tiers.iter_mut() {
        let own = tier["name"].as_str().unwrap_or_default().to_owned();
        // calls name tiers of the app (spec rule), never the tier itself (tier rule).
        if let Some(calls) = tier.get_mut("calls").and_then(Value::as_array_mut) {
            calls.retain(|c| c.as_str().is_some_and(|c| c != own && seen.contains(c)));
        }
        // !has(self.ingress) || self.role == 'presentation'
        if tier["role"] != "presentation" {
            drop_field(tier, "ingress");
        }
        // self.role == 'worker' || has(self.port); !has(self.servicePort) || has(self.port)
        if tier.get("port").is_none()
            && (tier["role"] != "worker" || tier.get("servicePort").is_some())
        {
            tier["port"] = json!(8080);
        }
        // terminationGracePeriodSeconds > preStopSleepSeconds (validation also holds it
        // above the default pre-stop sleep, at most 30 s, when none is set).
        if let Some(grace) = tier["terminationGracePeriodSeconds"].as_i64() {
            let sleep = tier["preStopSleepSeconds"].as_i64().unwrap_or(30);
            if grace <= sleep {
                tier["terminationGracePeriodSeconds"] = json!(sleep + 1);
            }
        }
        // minReplicas <= maxReplicas
        if let Some(autoscaling) = tier.get_mut("autoscaling") {
            order(autoscaling, "minReplicas", "maxReplicas", false);
        }
        // !has(self.sslPolicy) || has(self.certificateArn)
        if let Some(ingress) = tier.get_mut("ingress")
            && ingress.get("certificateArn").is_none()
        {
            drop_field(ingress, "sslPolicy");
        }
        // A toleration without a key tolerates every taint: operator Exists.
        for toleration in tier
            .get_mut("tolerations")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if toleration.get("key").is_none() {
                toleration["operator"] = json!("Exists");
            }
            // tolerationSeconds applies to NoExecute only.
            if toleration.get("tolerationSeconds").is_some() {
                toleration["effect"] = json!("NoExecute");
            }
            if toleration["operator"] == "Exists" {
                drop_field(toleration, "value");
            }
        }
        // egress ports: !has(self.endPort) || self.endPort >= self.port
        if let Some(to) = tier.pointer_mut("/egress/to").and_then(Value::as_array_mut) {
            for rule in to {
                // Validation: each `except` is a smaller range inside one of `cidrs`
                // (the generator makes /16s of 10.0.0.0/8): /24s of the first.
                let first = rule["cidrs"][0].as_str().unwrap_or_default().to_owned();
                if let (Some(prefix), Some(except)) = (
                    first.strip_suffix(".0.0/16"),
                    rule.get_mut("except").and_then(Value::as_array_mut),
                ) {
                    for (index, range) in except.iter_mut().enumerate() {
                        *range = json!(format!("{prefix}.{index}.0/24"));
                    }
                }
                for port in rule
                    .get_mut("ports")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    order(port, "port", "endPort", false);
                }
            }
        }
    }
}

fn managed_database(spec: &mut Value) {
    // storage: maxAllocatedGiB > allocatedGiB; iops only with gp3/io1/io2;
    // throughputMiBps only with gp3.
    if let Some(storage) = spec.get_mut("storage") {
        order(storage, "allocatedGiB", "maxAllocatedGiB", true);
        let kind = storage["type"].as_str().map(str::to_owned);
        if !matches!(kind.as_deref(), Some("gp3" | "io1" | "io2")) {
            drop_field(storage, "iops");
        }
        if kind.is_some() && kind.as_deref() != Some("gp3") {
            drop_field(storage, "throughputMiBps");
        }
        // Not CEL but RDS' own rules, which validation applies: gp3 below 400 GiB has
        // a fixed baseline (no iops, no throughput); io1/io2 need 1000 to 256000 iops.
        let small = storage["allocatedGiB"].as_i64().is_none_or(|gib| gib < 400);
        if matches!(kind.as_deref(), None | Some("gp3")) && small {
            drop_field(storage, "iops");
            drop_field(storage, "throughputMiBps");
        }
        // io1/io2 take 0.5 to 50 iops per GiB.
        if matches!(kind.as_deref(), Some("io1" | "io2")) {
            let gib = storage["allocatedGiB"].as_i64().unwrap_or(100);
            let iops = storage["iops"]
                .as_i64()
                .unwrap_or(0)
                .max(gib / 2 + 1)
                .clamp(1000, 256_000);
            storage["iops"] = json!(iops);
            storage["allocatedGiB"] = json!(gib.max(iops / 50 + 1));
            order(storage, "allocatedGiB", "maxAllocatedGiB", true);
        }
    }
    // Read replicas and AWSManaged credentials do not go together.
    if spec.pointer("/credentials/source") == Some(&json!("AWSManaged")) {
        drop_field(&mut spec["highAvailability"], "readReplicas");
    }
    // replicaOf: exactly one source; not with restoreFrom, adopt or AWSManaged
    // credentials; no read replicas of its own before promote.
    if spec.get("replicaOf").is_some() {
        if spec.pointer("/credentials/source") == Some(&json!("AWSManaged")) {
            drop_field(spec, "replicaOf");
        } else {
            drop_field(spec, "restoreFrom");
            drop_field(spec, "adopt");
            replica_of(&mut spec["replicaOf"]);
            if spec.pointer("/replicaOf/promote") != Some(&json!(true)) {
                drop_field(&mut spec["highAvailability"], "readReplicas");
            }
        }
    }
    // restoreFrom and adopt exclude each other; adopt excludes deletionPolicy: Delete.
    if spec.get("restoreFrom").is_some() {
        drop_field(spec, "adopt");
        restore_from(&mut spec["restoreFrom"]);
    }
    if spec.get("adopt").is_some() && spec["deletionPolicy"] == "Delete" {
        drop_field(spec, "deletionPolicy");
    }
    // snapshots: names unique.
    if let Some(snapshots) = spec.get_mut("snapshots").and_then(Value::as_array_mut) {
        let mut seen = BTreeSet::new();
        snapshots.retain(|s| seen.insert(s["name"].to_string()));
    }
    tags_not_reserved(spec);
}

/// replicaOf: exactly one of a ManagedDatabase and a source ARN.
fn replica_of(replica: &mut Value) {
    if replica.get("managedDatabase").is_some() {
        drop_field(replica, "sourceArn");
    } else if replica.get("sourceArn").is_none() {
        replica["managedDatabase"] = json!("primary-db");
    }
}

/// restoreFrom: exactly one of a snapshot and a source instance; a point in time only
/// with a source, and then exactly one of `restoreTime` and `useLatestRestorableTime`.
fn restore_from(restore: &mut Value) {
    if restore.get("dbSnapshotIdentifier").is_some() {
        drop_field(restore, "sourceDBInstanceIdentifier");
    }
    if restore.get("sourceDBInstanceIdentifier").is_none() {
        if restore.get("dbSnapshotIdentifier").is_none() {
            restore["dbSnapshotIdentifier"] = json!("snapshot-1");
        }
        drop_field(restore, "restoreTime");
        drop_field(restore, "useLatestRestorableTime");
        return;
    }
    let latest = restore["useLatestRestorableTime"] == true;
    match (restore.get("restoreTime").is_some(), latest) {
        (true, true) => drop_field(restore, "useLatestRestorableTime"),
        (false, false) => restore["useLatestRestorableTime"] = json!(true),
        _ => {}
    }
}

fn cache_cluster(spec: &mut Value) {
    // authToken only with transitEncryption.
    if spec["authToken"] == true {
        spec["transitEncryption"] = json!(true);
    }
    // More than one shard needs automatic failover, and an engine version or a
    // parameter group; multiAZ needs automatic failover; failover needs a replica.
    let sharded = spec["shards"].as_i64().is_some_and(|n| n != 1);
    if sharded && spec.get("engineVersion").is_none() && spec.get("parameterGroupName").is_none() {
        spec["engineVersion"] = json!("7.1");
    }
    if sharded || spec["multiAZ"] == true {
        spec["automaticFailover"] = json!(true);
    }
    if spec["automaticFailover"] == true && spec["replicasPerShard"].as_i64().unwrap_or(0) < 1 {
        spec["replicasPerShard"] = json!(1);
    }
    if spec.get("adopt").is_some() && spec["deletionPolicy"] == "Delete" {
        drop_field(spec, "deletionPolicy");
    }
    tags_not_reserved(spec);
}

/// Tag keys never start with `tiered.io/` or `aws:`.
fn tags_not_reserved(spec: &mut Value) {
    if let Some(tags) = spec.get_mut("tags").and_then(Value::as_object_mut) {
        tags.retain(|key, _| !key.starts_with("tiered.io/") && !key.starts_with("aws:"));
    }
}
