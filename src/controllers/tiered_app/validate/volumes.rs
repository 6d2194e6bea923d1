//! Validation of the app's shared volumes (`spec.volumes`: names, claim names, size as
//! a Kubernetes quantity, storage class) and of each tier's `volumeMounts` (a known
//! volume, an absolute path used once per tier). Pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::tiered_app::{SharedVolume, Tier, VolumeAccessMode};
use crate::controllers::tiered_app::build::deployment::TMP_MOUNT_PATH;
use crate::controllers::tiered_app::build::naming::{
    MAX_NAME_LENGTH, child_name, is_dns1035_label, is_dns1123_subdomain,
};
use crate::controllers::tiered_app::build::quantity::parse_quantity;
use crate::controllers::tiered_app::validated::{SpecError, ValidatedVolume, ValidatedVolumeMount};

/// The app's volumes with defaults resolved; problems go to `errors`.
pub fn resolve_volumes(
    app: &str,
    volumes: &[SharedVolume],
    errors: &mut Vec<SpecError>,
) -> Vec<ValidatedVolume> {
    let mut seen = BTreeSet::new();
    volumes
        .iter()
        .enumerate()
        .map(|(index, volume)| {
            let field = format!("spec.volumes[{index}]");
            let claim_name = child_name(app, &volume.name);
            if !is_dns1035_label(&volume.name) {
                errors.push(SpecError::new(
                    format!("{field}.name"),
                    format!("{:?} is not a DNS label: use lowercase letters, digits and '-', starting with a letter", volume.name),
                ));
            } else if !seen.insert(volume.name.as_str()) {
                errors.push(SpecError::new(
                    format!("{field}.name"),
                    format!("volume name {:?} is used twice; give every volume its own name", volume.name),
                ));
            } else if claim_name.len() > MAX_NAME_LENGTH {
                errors.push(SpecError::new(
                    format!("{field}.name"),
                    format!("the claim name {claim_name:?} (<app>-<volume>) is longer than {MAX_NAME_LENGTH} characters; shorten the volume name"),
                ));
            }
            match parse_quantity(&volume.size) {
                Some(bytes) if bytes >= 1.0 => {}
                Some(_) => errors.push(SpecError::new(
                    format!("{field}.size"),
                    format!("{:?} is not a positive number of bytes; give a size such as 5Gi", volume.size),
                )),
                None => errors.push(SpecError::new(
                    format!("{field}.size"),
                    format!("{:?} is not a Kubernetes quantity; give a size such as 5Gi or 100G", volume.size),
                )),
            }
            if let Some(class) = &volume.storage_class_name
                && !is_dns1123_subdomain(class)
            {
                errors.push(SpecError::new(
                    format!("{field}.storageClassName"),
                    format!("{class:?} is not the name of a StorageClass (lowercase letters, digits, '-' and '.')"),
                ));
            }
            let mut access_modes = volume.access_modes.clone();
            access_modes.sort();
            access_modes.dedup();
            if access_modes.is_empty() {
                access_modes.push(VolumeAccessMode::ReadWriteMany);
            }
            ValidatedVolume {
                name: volume.name.clone(),
                claim_name,
                storage_class_name: volume.storage_class_name.clone(),
                size: volume.size.trim().to_owned(),
                access_modes,
            }
        })
        .collect()
}

/// Where the tier mounts the app's volumes (`volumes` by name → claim name); problems go
/// to `errors`.
pub fn resolve_volume_mounts(
    field: &str,
    tier: &Tier,
    volumes: &BTreeMap<&str, &str>,
    errors: &mut Vec<SpecError>,
) -> Vec<ValidatedVolumeMount> {
    let mut paths = BTreeSet::new();
    let mut mounts = Vec::new();
    for (index, mount) in tier.volume_mounts.iter().enumerate() {
        let mount_field = format!("{field}.volumeMounts[{index}]");
        let Some(claim_name) = volumes.get(mount.name.as_str()) else {
            let known = volumes.keys().copied().collect::<Vec<_>>().join(", ");
            errors.push(SpecError::new(
                format!("{mount_field}.name"),
                if known.is_empty() {
                    format!("{:?} is not a volume of this app; declare it in spec.volumes", mount.name)
                } else {
                    format!("{:?} is not a volume of this app (volumes: {known}); declare it in spec.volumes", mount.name)
                },
            ));
            continue;
        };
        let path = mount.mount_path.trim_end_matches('/');
        let refused = if !mount.mount_path.starts_with('/')
            || path.is_empty()
            || mount.mount_path.contains(':')
            || path.split('/').any(|part| part == "..")
        {
            Some(format!(
                "{:?} must be an absolute path other than '/', without ':' or '..'",
                mount.mount_path
            ))
        } else if path == TMP_MOUNT_PATH {
            Some(format!(
                "{TMP_MOUNT_PATH} holds the pod's writable scratch space; mount the volume elsewhere"
            ))
        } else if !paths.insert(path.to_owned()) {
            Some(format!(
                "{:?} is mounted twice in this tier; give each mount its own path",
                mount.mount_path
            ))
        } else {
            None
        };
        if let Some(message) = refused {
            errors.push(SpecError::new(format!("{mount_field}.mountPath"), message));
            continue;
        }
        mounts.push(ValidatedVolumeMount {
            volume: mount.name.clone(),
            claim_name: (*claim_name).to_owned(),
            mount_path: mount.mount_path.clone(),
            read_only: mount.read_only.unwrap_or(false),
        });
    }
    mounts
}
