//! What AWS holds, read from moto directly (never through the fault layer, so a read
//! cannot fail on purpose): instances with their tags, replication groups, snapshots;
//! and the fault layer's record of every call (`GET /_faults/calls`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use aws_faults::Call;
use aws_sdk_elasticache::config::{BehaviorVersion, Credentials, Region};

use crate::BenchResult;

/// One RDS instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// `DBInstanceIdentifier`.
    pub id: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// One replication group.
#[derive(Debug, Clone)]
pub struct Group {
    /// `ReplicationGroupId`.
    pub id: String,
    /// `Status` (moto keeps a deleted group `deleting` for ever).
    pub status: String,
}

/// Clients on moto.
pub struct Moto {
    rds: aws_sdk_rds::Client,
    elasticache: aws_sdk_elasticache::Client,
}

impl Moto {
    /// Clients for the moto at `endpoint`.
    pub fn new(endpoint: &str) -> Self {
        let credentials = Credentials::new("chaos", "chaos", None, None, "chaos");
        let rds = aws_sdk_rds::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(credentials.clone())
            .build();
        let elasticache = aws_sdk_elasticache::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(credentials)
            .build();
        Self {
            rds: aws_sdk_rds::Client::from_conf(rds),
            elasticache: aws_sdk_elasticache::Client::from_conf(elasticache),
        }
    }

    /// Every DB instance, with tags.
    pub async fn instances(&self) -> BenchResult<Vec<Instance>> {
        let mut found = Vec::new();
        let mut pages = self.rds.describe_db_instances().into_paginator().send();
        while let Some(page) = pages.next().await {
            for instance in page?.db_instances() {
                found.push(Instance {
                    id: instance
                        .db_instance_identifier()
                        .unwrap_or_default()
                        .to_owned(),
                    tags: instance
                        .tag_list()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                        .collect(),
                });
            }
        }
        Ok(found)
    }

    /// Every DB snapshot id.
    pub async fn snapshots(&self) -> BenchResult<Vec<String>> {
        let mut found = Vec::new();
        let mut pages = self.rds.describe_db_snapshots().into_paginator().send();
        while let Some(page) = pages.next().await {
            found.extend(
                page?
                    .db_snapshots()
                    .iter()
                    .filter_map(|s| s.db_snapshot_identifier().map(str::to_owned)),
            );
        }
        Ok(found)
    }

    /// Every replication group.
    pub async fn groups(&self) -> BenchResult<Vec<Group>> {
        let mut found = Vec::new();
        let mut pages = self
            .elasticache
            .describe_replication_groups()
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            found.extend(page?.replication_groups().iter().map(|g| Group {
                id: g.replication_group_id().unwrap_or_default().to_owned(),
                status: g.status().unwrap_or_default().to_owned(),
            }));
        }
        Ok(found)
    }
}

/// The fault layer's record of every call, from `GET <endpoint>/_faults/calls`. A raw
/// HTTP/1.1 request: the driver needs no HTTP client for one local JSON read.
pub fn calls(endpoint: &str) -> BenchResult<Vec<Call>> {
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("the fault layer's endpoint {endpoint} is not http://"))?
        .trim_end_matches('/');
    let addr = authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("{authority} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request =
        format!("GET /_faults/calls HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8(response)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("the fault layer's answer has no body")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("the fault layer answered {head}").into());
    }
    Ok(serde_json::from_str(body)?)
}
