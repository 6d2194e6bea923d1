//! Validation of how a tier serves, stops and acts in AWS: the ALB ingress (host, path,
//! TLS policy, attributes, WAF, external-dns names), the Service port, the pod's
//! shutdown (pre-stop sleep and grace period, which must outlast the ALB's draining)
//! and the AWS identity (an IAM role ARN). Pure.

use crate::api::tiered_app::{IdentityProvider, IngressScheme, Tier, TierIngress, TierRole};
use crate::controllers::tiered_app::build::naming::{MAX_LABEL_LENGTH, is_dns1123_subdomain};
use crate::controllers::tiered_app::validated::{Identity, Shutdown, SpecError, ValidatedIngress};

/// TLS policy of the HTTPS listener when `sslPolicy` is absent: TLS 1.3 and 1.2 only.
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";
/// Prefixes of the ELB security policies that allow neither TLS 1.0 nor 1.1.
pub const TLS12_POLICY_PREFIXES: [&str; 3] = [
    "ELBSecurityPolicy-TLS13-",
    "ELBSecurityPolicy-TLS-1-2-",
    "ELBSecurityPolicy-FS-1-2-",
];
/// Target group deregistration delay when `deregistrationDelaySeconds` is absent (the
/// ALB's own default, 300 s, makes every rollout of a presentation tier slow).
pub const DEFAULT_DEREGISTRATION_DELAY_SECONDS: i32 = 30;
/// Pre-stop sleep of a tier with a port but no ALB: time for kube-proxy and the other
/// tiers' connection pools to see the endpoint go.
pub const DEFAULT_PRE_STOP_SLEEP_SECONDS: i64 = 5;
/// Time the app gets after SIGTERM, on top of the pre-stop sleep, in the default grace
/// period.
pub const SHUTDOWN_SECONDS: i64 = 15;
/// The Kubernetes default grace period; the default is never shorter.
pub const KUBERNETES_GRACE_PERIOD_SECONDS: i64 = 30;

/// The ingress of a tier with defaults filled in; problems go to `errors`.
pub fn resolve_ingress(
    field: &str,
    tier: &Tier,
    ingress: &TierIngress,
    errors: &mut Vec<SpecError>,
) -> ValidatedIngress {
    if tier.role != TierRole::Presentation {
        errors.push(SpecError::new(
            field,
            "is only allowed on a tier with role presentation; change the role or move ingress to the web tier",
        ));
    }
    if tier.port.is_none() {
        errors.push(SpecError::new(
            field,
            "needs the tier's port to route to; set port",
        ));
    }
    if let Some(host) = &ingress.host {
        check_host(&format!("{field}.host"), host, errors);
    }
    if let Some(path) = &ingress.path
        && (!path.starts_with('/') || path.contains(char::is_whitespace))
    {
        errors.push(SpecError::new(
            format!("{field}.path"),
            format!("{path:?} must be an absolute URL path without spaces, e.g. /"),
        ));
    }
    if let Some(arn) = &ingress.certificate_arn
        && (!arn.starts_with("arn:") || !arn.contains(":acm:"))
    {
        errors.push(SpecError::new(
                format!("{field}.certificateArn"),
                format!("{arn:?} is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"),
            ));
    }
    let ssl_policy = resolve_ssl_policy(field, ingress, errors);
    if let Some(group) = &ingress.group_name
        && (group.is_empty() || group.len() > MAX_LABEL_LENGTH || !is_dns1123_subdomain(group))
    {
        errors.push(SpecError::new(
                format!("{field}.groupName"),
                format!("{group:?} is not an ALB group name: use at most 63 lowercase letters, digits, '-' and '.'"),
            ));
    }
    check_range(
        &format!("{field}.deregistrationDelaySeconds"),
        ingress.deregistration_delay_seconds,
        0..=3600,
        errors,
    );
    check_range(
        &format!("{field}.idleTimeoutSeconds"),
        ingress.idle_timeout_seconds,
        1..=4000,
        errors,
    );
    if let Some(arn) = &ingress.wafv2_acl_arn
        && (!arn.starts_with("arn:aws")
            || !arn.contains(":wafv2:")
            || !arn.contains(":regional/webacl/"))
    {
        errors.push(SpecError::new(
            format!("{field}.wafv2AclArn"),
            format!("{arn:?} is not the ARN of a regional WAF v2 web ACL (arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>)"),
        ));
    }
    for (index, name) in ingress.external_dns_hostnames.iter().enumerate() {
        let name_field = format!("{field}.externalDNSHostnames[{index}]");
        if ingress.external_dns_hostnames[..index].contains(name) {
            errors.push(SpecError::new(
                name_field,
                format!("{name:?} is listed twice; keep one entry"),
            ));
        } else {
            check_host(&name_field, name, errors);
        }
    }
    ValidatedIngress {
        host: ingress.host.clone(),
        path: ingress.path.clone().unwrap_or_else(|| "/".to_owned()),
        certificate_arn: ingress.certificate_arn.clone(),
        scheme: ingress.scheme.unwrap_or(IngressScheme::InternetFacing),
        group_name: ingress.group_name.clone(),
        ssl_policy,
        deregistration_delay_seconds: ingress
            .deregistration_delay_seconds
            .unwrap_or(DEFAULT_DEREGISTRATION_DELAY_SECONDS),
        idle_timeout_seconds: ingress.idle_timeout_seconds,
        http2: ingress.http2,
        wafv2_acl_arn: ingress.wafv2_acl_arn.clone(),
        external_dns_hostnames: ingress.external_dns_hostnames.clone(),
    }
}

fn check_host(field: &str, host: &str, errors: &mut Vec<SpecError>) {
    let bare = host.strip_prefix("*.").unwrap_or(host);
    if !is_dns1123_subdomain(bare) {
        errors.push(SpecError::new(
            field,
            format!("{host:?} is not a DNS host name; use e.g. news.example.com"),
        ));
    }
}

fn check_range(
    field: &str,
    value: Option<i32>,
    range: std::ops::RangeInclusive<i32>,
    errors: &mut Vec<SpecError>,
) {
    if let Some(value) = value.filter(|value| !range.contains(value)) {
        errors.push(SpecError::new(
            field,
            format!(
                "{value} is out of range; use {} to {}",
                range.start(),
                range.end()
            ),
        ));
    }
}

/// The listener's TLS policy: the given one (TLS 1.2 or later only) or the default, and
/// none without a certificate.
fn resolve_ssl_policy(
    field: &str,
    ingress: &TierIngress,
    errors: &mut Vec<SpecError>,
) -> Option<String> {
    let policy_field = format!("{field}.sslPolicy");
    match (&ingress.ssl_policy, &ingress.certificate_arn) {
        (Some(_), None) => {
            errors.push(SpecError::new(
                policy_field,
                "applies to the HTTPS listener, which needs certificateArn; set certificateArn or remove sslPolicy",
            ));
            None
        }
        (Some(policy), Some(_)) => {
            let tls12 = TLS12_POLICY_PREFIXES
                .iter()
                .any(|prefix| policy.len() > prefix.len() && policy.starts_with(prefix));
            if !tls12
                || !policy
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                errors.push(SpecError::new(
                    policy_field,
                    format!("{policy:?} is not an ELB security policy limited to TLS 1.2 or later; use e.g. {DEFAULT_SSL_POLICY} (names start with ELBSecurityPolicy-TLS13-, ELBSecurityPolicy-TLS-1-2- or ELBSecurityPolicy-FS-1-2-)"),
                ));
            }
            Some(policy.clone())
        }
        (None, Some(_)) => Some(DEFAULT_SSL_POLICY.to_owned()),
        (None, None) => None,
    }
}

/// The tier's AWS identity; the role ARN must name an IAM role.
pub fn resolve_identity(field: &str, tier: &Tier, errors: &mut Vec<SpecError>) -> Option<Identity> {
    let account = tier.service_account.as_ref()?;
    let arn = &account.role_arn;
    let role_name = arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":iam::"))
        .and_then(|(partition, rest)| {
            partition.starts_with("aws").then_some(())?;
            let (account_id, role) = rest.split_once(":role/")?;
            (account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit()))
                .then_some(role)
        });
    let valid_name = role_name.is_some_and(|role| {
        (1..=512).contains(&role.len())
            && role
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_/-".contains(c))
    });
    if !valid_name {
        errors.push(SpecError::new(
            format!("{field}.serviceAccount.roleArn"),
            format!(
                "{arn:?} is not an IAM role ARN; use arn:aws:iam::<12-digit account>:role/<name>"
            ),
        ));
    }
    Some(Identity {
        role_arn: arn.clone(),
        provider: account.provider.unwrap_or(IdentityProvider::Irsa),
    })
}

/// The Service port: `servicePort`, else the container port.
pub fn resolve_service_port(field: &str, tier: &Tier, errors: &mut Vec<SpecError>) -> Option<i32> {
    match (tier.service_port, tier.port) {
        (Some(port), _) if !(1..=65535).contains(&port) => {
            errors.push(SpecError::new(
                format!("{field}.servicePort"),
                format!("{port} is not a TCP port; use 1 to 65535"),
            ));
            None
        }
        (Some(_), None) => {
            errors.push(SpecError::new(
                format!("{field}.servicePort"),
                "needs the container port it forwards to; set port",
            ));
            None
        }
        (service_port, port) => service_port.or(port),
    }
}

/// Pre-stop sleep and grace period with defaults: a tier behind the ALB sleeps through
/// the deregistration delay, a tier with a port for [`DEFAULT_PRE_STOP_SLEEP_SECONDS`];
/// the grace period adds [`SHUTDOWN_SECONDS`] (at least
/// [`KUBERNETES_GRACE_PERIOD_SECONDS`]) and must outlast both.
pub fn resolve_shutdown(
    field: &str,
    tier: &Tier,
    ingress: Option<&ValidatedIngress>,
    errors: &mut Vec<SpecError>,
) -> Shutdown {
    let draining = ingress.map(|ingress| i64::from(ingress.deregistration_delay_seconds));
    let sleep_field = format!("{field}.preStopSleepSeconds");
    let grace_field = format!("{field}.terminationGracePeriodSeconds");
    if let Some(sleep) = tier
        .pre_stop_sleep_seconds
        .filter(|s| !(1..=3600).contains(s))
    {
        errors.push(SpecError::new(
            &sleep_field,
            format!("{sleep} is out of range; use 1 to 3600"),
        ));
    }
    let pre_stop_sleep_seconds = tier.pre_stop_sleep_seconds.or_else(|| match draining {
        Some(delay) => Some(delay.max(DEFAULT_PRE_STOP_SLEEP_SECONDS)),
        None => tier.port.map(|_| DEFAULT_PRE_STOP_SLEEP_SECONDS),
    });
    let termination_grace_period_seconds = match tier.termination_grace_period_seconds {
        Some(grace) => {
            if !(1..=7200).contains(&grace) {
                errors.push(SpecError::new(
                    &grace_field,
                    format!("{grace} is out of range; use 1 to 7200"),
                ));
            }
            if let Some(sleep) = pre_stop_sleep_seconds.filter(|sleep| grace <= *sleep) {
                errors.push(SpecError::new(
                    &grace_field,
                    format!("{grace} is not longer than the pre-stop sleep of {sleep} s, so pods are killed before they drain; raise it above {sleep} or lower preStopSleepSeconds"),
                ));
            } else if let Some(delay) = draining.filter(|delay| grace <= *delay) {
                errors.push(SpecError::new(
                    &grace_field,
                    format!("{grace} is not longer than the ALB's deregistration delay of {delay} s, so requests in flight are cut off; raise it above {delay} or lower ingress.deregistrationDelaySeconds"),
                ));
            }
            Some(grace)
        }
        None => pre_stop_sleep_seconds
            .map(|sleep| (sleep + SHUTDOWN_SECONDS).max(KUBERNETES_GRACE_PERIOD_SECONDS)),
    };
    Shutdown {
        pre_stop_sleep_seconds,
        termination_grace_period_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(yaml: &str) -> Tier {
        serde_norway::from_str(yaml).unwrap()
    }

    fn ingress_of(t: &Tier) -> (ValidatedIngress, Vec<SpecError>) {
        let mut errors = Vec::new();
        let ingress = resolve_ingress(
            "spec.tiers[0].ingress",
            t,
            t.ingress.as_ref().unwrap(),
            &mut errors,
        );
        (ingress, errors)
    }

    fn shutdown_of(yaml: &str) -> (Shutdown, Vec<SpecError>) {
        let t = tier(yaml);
        let (ingress, mut errors) = match &t.ingress {
            Some(_) => {
                let (ingress, errors) = ingress_of(&t);
                (Some(ingress), errors)
            }
            None => (None, Vec::new()),
        };
        let shutdown = resolve_shutdown("spec.tiers[0]", &t, ingress.as_ref(), &mut errors);
        (shutdown, errors)
    }

    const WEB: &str = "{name: web, role: presentation, image: w, port: 3000, ingress: {certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc'}";

    #[test]
    fn a_tier_behind_the_alb_sleeps_through_the_deregistration_delay_and_outlasts_it() {
        let cases = [
            (format!("{WEB}}}"), Some(30), Some(45)),
            (format!("{WEB}, terminationGracePeriodSeconds: 31}}"), Some(30), Some(31)),
            (
                "{name: web, role: presentation, image: w, port: 3000, ingress: {deregistrationDelaySeconds: 90}}".to_owned(),
                Some(90),
                Some(105),
            ),
            (
                "{name: web, role: presentation, image: w, port: 3000, ingress: {deregistrationDelaySeconds: 0}}".to_owned(),
                Some(5),
                Some(30),
            ),
            ("{name: api, role: application, image: a, port: 5000}".to_owned(), Some(5), Some(30)),
            ("{name: api, role: application, image: a, port: 5000, preStopSleepSeconds: 40}".to_owned(), Some(40), Some(55)),
            ("{name: w, role: worker, image: w}".to_owned(), None, None),
            ("{name: w, role: worker, image: w, terminationGracePeriodSeconds: 120}".to_owned(), None, Some(120)),
        ];
        for (yaml, sleep, grace) in cases {
            let (shutdown, errors) = shutdown_of(&yaml);
            assert!(errors.is_empty(), "{yaml}: {errors:?}");
            assert_eq!(shutdown.pre_stop_sleep_seconds, sleep, "{yaml}");
            assert_eq!(shutdown.termination_grace_period_seconds, grace, "{yaml}");
        }
    }

    #[test]
    fn a_grace_period_that_ends_before_the_draining_is_rejected_naming_the_field() {
        for yaml in [
            format!("{WEB}, terminationGracePeriodSeconds: 30}}"),
            "{name: api, role: application, image: a, port: 5000, preStopSleepSeconds: 20, terminationGracePeriodSeconds: 20}".to_owned(),
        ] {
            let (_, errors) = shutdown_of(&yaml);
            assert_eq!(errors.len(), 1, "{yaml}: {errors:?}");
            assert_eq!(errors[0].field, "spec.tiers[0].terminationGracePeriodSeconds");
            assert!(errors[0].message.contains("raise it above"), "{}", errors[0]);
        }
    }

    #[test]
    fn https_gets_a_tls12_policy_and_older_policies_are_refused() {
        let (ingress, errors) = ingress_of(&tier(&format!("{WEB}}}")));
        assert!(errors.is_empty());
        assert_eq!(ingress.ssl_policy.as_deref(), Some(DEFAULT_SSL_POLICY));
        let (plain, _) = ingress_of(&tier(
            "{name: web, role: presentation, image: w, port: 3000, ingress: {}}",
        ));
        assert_eq!(plain.ssl_policy, None);
        for (policy, ok) in [
            ("ELBSecurityPolicy-TLS13-1-2-Res-2021-06", true),
            ("ELBSecurityPolicy-TLS-1-2-Ext-2018-06", true),
            ("ELBSecurityPolicy-FS-1-2-Res-2020-10", true),
            ("ELBSecurityPolicy-2016-08", false),
            ("ELBSecurityPolicy-TLS-1-1-2017-01", false),
            ("ELBSecurityPolicy-TLS13-", false),
        ] {
            let yaml = format!(
                "{{name: web, role: presentation, image: w, port: 3000, ingress: {{certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc', sslPolicy: {policy}}}}}"
            );
            let (_, errors) = ingress_of(&tier(&yaml));
            assert_eq!(errors.is_empty(), ok, "{policy}: {errors:?}");
            if !ok {
                assert_eq!(errors[0].field, "spec.tiers[0].ingress.sslPolicy");
            }
        }
        let (_, errors) = ingress_of(&tier(
            "{name: web, role: presentation, image: w, port: 3000, ingress: {sslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06}}",
        ));
        assert_eq!(errors[0].field, "spec.tiers[0].ingress.sslPolicy");
        assert!(errors[0].message.contains("needs certificateArn"));
    }

    #[test]
    fn alb_attributes_waf_and_dns_names_are_checked_field_by_field() {
        let yaml = "{name: web, role: presentation, image: w, port: 3000, ingress: {idleTimeoutSeconds: 0, deregistrationDelaySeconds: 4000, wafv2AclArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc', externalDNSHostnames: [news.example.com, news.example.com, 'bad name']}}";
        let (_, errors) = ingress_of(&tier(yaml));
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.tiers[0].ingress.deregistrationDelaySeconds",
                "spec.tiers[0].ingress.idleTimeoutSeconds",
                "spec.tiers[0].ingress.wafv2AclArn",
                "spec.tiers[0].ingress.externalDNSHostnames[1]",
                "spec.tiers[0].ingress.externalDNSHostnames[2]",
            ]
        );
    }

    #[test]
    fn an_identity_needs_an_iam_role_arn() {
        for (arn, ok) in [
            ("arn:aws:iam::123456789012:role/newsread-api", true),
            ("arn:aws-us-gov:iam::123456789012:role/path/app", true),
            ("arn:aws:iam::12345:role/x", false),
            ("arn:aws:iam::123456789012:user/x", false),
            ("arn:aws:s3:::bucket", false),
            ("arn:aws:iam::123456789012:role/", false),
        ] {
            let t = tier(&format!(
                "{{name: api, role: application, image: a, port: 1, serviceAccount: {{roleArn: '{arn}'}}}}"
            ));
            let mut errors = Vec::new();
            let identity = resolve_identity("spec.tiers[1]", &t, &mut errors).unwrap();
            assert_eq!(identity.provider, IdentityProvider::Irsa);
            assert_eq!(errors.is_empty(), ok, "{arn}: {errors:?}");
            if !ok {
                assert_eq!(errors[0].field, "spec.tiers[1].serviceAccount.roleArn");
            }
        }
    }

    #[test]
    fn the_service_port_defaults_to_the_container_port() {
        let mut errors = Vec::new();
        let same = tier("{name: api, role: application, image: a, port: 3000}");
        assert_eq!(resolve_service_port("f", &same, &mut errors), Some(3000));
        let mapped = tier("{name: api, role: application, image: a, port: 3000, servicePort: 80}");
        assert_eq!(resolve_service_port("f", &mapped, &mut errors), Some(80));
        assert!(errors.is_empty());
        let portless = tier("{name: w, role: worker, image: a, servicePort: 80}");
        assert_eq!(resolve_service_port("f", &portless, &mut errors), None);
        assert_eq!(errors[0].field, "f.servicePort");
    }
}
