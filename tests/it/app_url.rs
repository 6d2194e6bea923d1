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
use tiered::api::tiered_app::TierRole;

use support::operator::{eventually, start, two_tier_app};

const NS: &str = "shop";

#[tokio::test]
async fn each_tier_with_ingress_has_its_own_url_and_the_app_url_is_the_first_in_spec_order() {
    let op = start(&[NS]).await;
    // web: the ingress of `two_tier_app` (host news.example.com, path /, no
    // certificate); api: a second presentation tier with its own host, path and
    // certificate. `newsread-api` comes first in name order, `web` first in the spec.
    let mut app = two_tier_app(NS);
    app.spec.tiers[1].role = TierRole::Presentation;
    app.spec.tiers[1].ingress = Some(
        serde_json::from_value(json!({
            "host": "admin.example.com",
            "path": "/console",
            "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
        }))
        .unwrap(),
    );
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    apps.create(&PostParams::default(), &app).await.unwrap();
    let ingresses: Api<Ingress> = Api::namespaced(op.client.clone(), NS);
    for (name, hostname) in [
        ("newsread-web", "k8s-web-1.eu-west-1.elb.amazonaws.com"),
        ("newsread-api", "k8s-api-2.eu-west-1.elb.amazonaws.com"),
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
        status.url.as_deref() == Some("http://news.example.com")
            && urls
                == [
                    ("web".to_owned(), Some("http://news.example.com".to_owned())),
                    (
                        "api".to_owned(),
                        Some("https://admin.example.com/console".to_owned()),
                    ),
                ]
    })
    .await;
    op.stop().await;
}
