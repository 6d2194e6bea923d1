//! Pod template defaults, after `k8s.io/kubernetes/pkg/apis/core/v1/defaults.go` as the
//! generated `SetObjectDefaults_Deployment` (and `_Pod`) call them: `SetDefaults_PodSpec`,
//! `SetDefaults_Container`, `SetDefaults_ContainerPort`, `SetDefaults_Probe`,
//! `SetDefaults_HTTPGetAction`, `SetDefaults_Volume` and the volume sources' `defaultMode`,
//! `SetDefaults_ObjectFieldSelector`.

use serde_json::{Value, json};

use super::{default_str, default_value, each_item};

/// `SecretVolumeSourceDefaultMode`, `ConfigMapVolumeSourceDefaultMode`,
/// `ProjectedVolumeSourceDefaultMode`, `DownwardAPIVolumeSourceDefaultMode`: 0644.
const VOLUME_DEFAULT_MODE: i64 = 0o644;

/// Defaults of a `PodSpec` and everything in it.
pub fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_value(spec, "securityContext", json!({}));
    default_value(spec, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, "schedulerName", "default-scheduler");
    let host_network = spec["hostNetwork"].as_bool() == Some(true);
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        each_item(spec, list, |c| container(c, host_network));
    }
    each_item(spec, "volumes", volume);
}

/// `SetDefaults_Container` and the defaults of what a container holds.
fn container(container: &mut Value, host_network: bool) {
    if container["imagePullPolicy"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        let policy = if image_tag(container["image"].as_str().unwrap_or_default()) == "latest" {
            "Always"
        } else {
            "IfNotPresent"
        };
        container["imagePullPolicy"] = json!(policy);
    }
    default_str(container, "terminationMessagePath", "/dev/termination-log");
    default_str(container, "terminationMessagePolicy", "File");
    each_item(container, "ports", |port| {
        default_str(port, "protocol", "TCP");
        // `defaultHostNetworkPorts`: with the host's network the host port is the port.
        if host_network && port["hostPort"].as_i64().unwrap_or(0) == 0 {
            port["hostPort"] = port["containerPort"].clone();
        }
    });
    each_item(container, "env", |env| {
        field_selector(env.pointer_mut("/valueFrom/fieldRef"));
    });
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(probe) = container.get_mut(key).filter(|p| p.is_object()) {
            default_value(probe, "timeoutSeconds", json!(1));
            default_value(probe, "periodSeconds", json!(10));
            default_value(probe, "successThreshold", json!(1));
            default_value(probe, "failureThreshold", json!(3));
            http_get(probe);
        }
    }
    if let Some(lifecycle) = container.get_mut("lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(handler) = lifecycle.get_mut(hook) {
                http_get(handler);
            }
        }
    }
}

/// `SetDefaults_HTTPGetAction`: path `/`, scheme `HTTP`.
fn http_get(handler: &mut Value) {
    if let Some(action) = handler.get_mut("httpGet").filter(|a| a.is_object()) {
        default_str(action, "path", "/");
        default_str(action, "scheme", "HTTP");
    }
}

/// `SetDefaults_ObjectFieldSelector`: `apiVersion: v1` (only when the selector exists).
fn field_selector(selector: Option<&mut Value>) {
    if let Some(selector) = selector {
        default_str(selector, "apiVersion", "v1");
    }
}

/// `SetDefaults_Volume` (no source: an `emptyDir`) and the `defaultMode` of file sources.
fn volume(volume: &mut Value) {
    const SOURCES: &[&str] = &[
        "hostPath",
        "emptyDir",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "gitRepo",
        "secret",
        "nfs",
        "iscsi",
        "glusterfs",
        "persistentVolumeClaim",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "downwardAPI",
        "fc",
        "azureFile",
        "configMap",
        "vsphereVolume",
        "quobyte",
        "azureDisk",
        "photonPersistentDisk",
        "projected",
        "portworxVolume",
        "scaleIO",
        "storageos",
        "csi",
        "ephemeral",
        "image",
    ];
    let Some(map) = volume.as_object_mut() else {
        return;
    };
    if !SOURCES
        .iter()
        .any(|s| map.get(*s).is_some_and(|v| !v.is_null()))
    {
        map.insert("emptyDir".to_owned(), json!({}));
    }
    for source in ["secret", "configMap", "projected", "downwardAPI"] {
        if let Some(source) = map.get_mut(source).filter(|s| s.is_object()) {
            default_value(source, "defaultMode", json!(VOLUME_DEFAULT_MODE));
            each_item(source, "items", |item| {
                field_selector(item.pointer_mut("/fieldRef"));
            });
        }
    }
}

/// The tag `parsers.ParseImageName` finds: `latest` when the reference has neither a tag
/// nor a digest, `""` when it has only a digest.
fn image_tag(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((name, _)) => (name, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, tag)) => tag.to_owned(),
        None if digest => String::new(),
        None => "latest".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::image_tag;

    // Upstream `SetDefaults_Container`: `Always` only for `:latest` or no tag.
    #[test]
    fn the_image_tag_is_found_as_the_docker_reference_parser_finds_it() {
        assert_eq!(image_tag("nginx"), "latest");
        assert_eq!(image_tag("nginx:1.27"), "1.27");
        assert_eq!(image_tag("registry:5000/team/app"), "latest");
        assert_eq!(image_tag("registry:5000/team/app:v2"), "v2");
        assert_eq!(image_tag("app@sha256:abcd"), "");
        assert_eq!(image_tag("app:v1@sha256:abcd"), "v1");
    }
}
