//! The public URLs in a TieredApp's status (found reading the status code in session
//! 10): `status.url` came from the Ingress first in name order, with one scheme for the
//! whole app and the ALB's DNS name even when the tier's rule matches only its `host`
//! (the ALB answers other hosts with 404). Each tier with `ingress` now has its own
//! `status.tiers[].url`, and `status.url` is the first of them in spec order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tiered::api::TieredApp;

use support::operator::{eventually, start};

const NS: &str = "shop";

#[tokio::test]
async fn each_tier_with_ingress_has_its_own_url_and_the_app_url_is_the_first_in_spec_order() {
    let op = start(&[NS]).await;
    let app: TieredApp = serde_norway::from_str(&format!(
        "apiVersion: tiered.io/v1alpha1
kind: TieredApp
metadata: {{name: newsread, namespace: {NS}}}
spec:
  tiers:
    - name: web
      role: presentation
      image: ghcr.io/acme/web:1.0.0
      port: 8080
      ingress: {{}}
    - name: admin
      role: presentation
      image: ghcr.io/acme/admin:1.0.0
      port: 8080
      ingress:
        host: admin.example.com
        path: /console
        certificateArn: arn:aws:acm:eu-west-1:123456789012:certificate/abc
"
    ))
    .unwrap();
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    apps.create(&PostParams::default(), &app).await.unwrap();
    let ingresses: Api<Ingress> = Api::namespaced(op.client.clone(), NS);
    for (name, hostname) in [
        ("newsread-web", "k8s-web-1.eu-west-1.elb.amazonaws.com"),
        ("newsread-admin", "k8s-admin-2.eu-west-1.elb.amazonaws.com"),
    ] {
        eventually(&format!("the Ingress {name} exists"), || async {
            ingresses.get_opt(name).await.unwrap().is_some()
        })
        .await;
        // What the AWS Load Balancer Controller writes once the ALB exists.
        let status = json!({"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}});
        ingresses
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }
    eventually("the URLs are in the status", || async {
        let status = apps
            .get("newsread")
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        let urls: Vec<(String, Option<String>)> = (status.tiers.iter())
            .map(|tier| (tier.name.clone(), tier.url.clone()))
            .collect();
        status.url.as_deref() == Some("http://k8s-web-1.eu-west-1.elb.amazonaws.com")
            && urls
                == [
                    (
                        "web".to_owned(),
                        Some("http://k8s-web-1.eu-west-1.elb.amazonaws.com".to_owned()),
                    ),
                    (
                        "admin".to_owned(),
                        Some("https://admin.example.com/console".to_owned()),
                    ),
                ]
    })
    .await;
    op.stop().await;
}
