//! `TierIngress`: how a presentation tier is exposed through the AWS Load Balancer
//! Controller (an ALB with IP targets): host, path, TLS, the ALB's attributes, draining,
//! WAF and the Route 53 names external-dns publishes.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::shared::HTTP_PATH;

/// `pattern` of a DNS host name, optionally with a leading `*.` wildcard.
pub const HOST_NAME: &str =
    r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// How a presentation tier is exposed through the AWS Load Balancer Controller.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("!has(self.sslPolicy) || has(self.certificateArn)").message("sslPolicy applies to the HTTPS listener, which needs certificateArn").field_path(".sslPolicy"))]
#[serde(rename_all = "camelCase")]
pub struct TierIngress {
    /// Host name the ALB routes to this tier, e.g. `news.example.com`. Without it, every
    /// host matches.
    #[schemars(length(max = 253), regex(pattern = HOST_NAME))]
    pub host: Option<String>,
    /// Path prefix routed to this tier. Defaults to `/`.
    #[schemars(length(max = 1024), regex(pattern = HTTP_PATH))]
    pub path: Option<String>,
    /// ACM certificate ARN for HTTPS. When set, the ALB listens on 443 (with
    /// `sslPolicy`) and redirects HTTP to HTTPS.
    #[schemars(regex(
        pattern = r"^arn:aws[a-zA-Z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$"
    ))]
    pub certificate_arn: Option<String>,
    /// ELB security policy of the HTTPS listener
    /// (`alb.ingress.kubernetes.io/ssl-policy`); only policies without TLS 1.0 and 1.1
    /// are accepted (`ELBSecurityPolicy-TLS13-…`, `ELBSecurityPolicy-TLS-1-2-…`,
    /// `ELBSecurityPolicy-FS-1-2-…`). Defaults to `ELBSecurityPolicy-TLS13-1-2-2021-06`
    /// (TLS 1.3 and 1.2) when `certificateArn` is set.
    #[schemars(
        length(max = 128),
        regex(pattern = r"^ELBSecurityPolicy-(TLS13-|TLS-1-2-|FS-1-2-)[A-Za-z0-9-]+$")
    )]
    pub ssl_policy: Option<String>,
    /// `internet-facing` (default) or `internal`.
    pub scheme: Option<IngressScheme>,
    /// ALB group name (`alb.ingress.kubernetes.io/group.name`): Ingresses with the same
    /// group share one load balancer.
    #[schemars(length(max = 63), regex(pattern = r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$"))]
    pub group_name: Option<String>,
    /// Seconds the ALB keeps sending in-flight requests to a target it deregisters
    /// (target group attribute `deregistration_delay.timeout_seconds`; the ALB default is
    /// 300). Defaults to 30. The tier's pods keep serving at least this long after they
    /// are told to stop (`preStopSleepSeconds`), so a rollout drops no request.
    #[schemars(range(min = 0, max = 3600))]
    pub deregistration_delay_seconds: Option<i32>,
    /// Seconds the ALB keeps an idle connection open (load balancer attribute
    /// `idle_timeout.timeout_seconds`). ALB default: 60.
    #[schemars(range(min = 1, max = 4000))]
    pub idle_timeout_seconds: Option<i32>,
    /// Whether the ALB speaks HTTP/2 to clients (load balancer attribute
    /// `routing.http2.enabled`). ALB default: true.
    pub http2: Option<bool>,
    /// ARN of an AWS WAF (v2) web ACL to associate with the ALB
    /// (`alb.ingress.kubernetes.io/wafv2-acl-arn`).
    #[schemars(
        length(max = 2048),
        regex(
            pattern = r"^arn:aws[a-zA-Z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/[A-Za-z0-9_-]+/[A-Za-z0-9-]+$"
        )
    )]
    pub wafv2_acl_arn: Option<String>,
    /// DNS names external-dns publishes for the ALB, e.g. in Route 53
    /// (`external-dns.alpha.kubernetes.io/hostname`). external-dns also publishes `host`
    /// on its own; list further names here.
    #[serde(
        default,
        rename = "externalDNSHostnames",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(length(max = 10), inner(length(max = 253), regex(pattern = HOST_NAME)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub external_dns_hostnames: Vec<String>,
}

/// Whether the ALB is reachable from the internet.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(transform = crate::api::shared::field_describes_enum)]
pub enum IngressScheme {
    /// Reachable from the internet.
    InternetFacing,
    /// Reachable only from inside the VPC.
    Internal,
}
