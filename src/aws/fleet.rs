//! One shared, batched read of every DB instance this cluster owns, per resync window:
//! DescribeDBInstances, paged with `Marker`, kept for the window and read by every
//! ManagedDatabase's reconcile instead of one Describe each.
//!
//! RDS' DescribeDBInstances filters (`db-instance-id`, `engine`, …) do not include
//! tags, in AWS as in moto, so the `tiered.io/cluster` tag is matched on the `TagList`
//! that each described instance carries.
//!
//! A mutating call makes only what it changed stale ([`Windowed::mark_stale`]): that
//! resource is described on its own until a fleet read taken after the mark shows it
//! again, and the rest of the read stays in use. Forgetting the whole read after every
//! change made each create re-read every page (quadratic in the fleet's size: the
//! 1,000-database run never finished).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_rds::types::DbInstance;
use tokio::sync::Mutex;

use crate::aws::errors::{AwsError, not_found_is_none, sent};
use crate::aws::pages::keyed_pages;
use crate::aws::rds_actions::DESCRIBE_DB_INSTANCES;
use crate::aws::tags::CLUSTER;

/// DB instances by identifier.
pub type Instances = HashMap<String, DbInstance>;

/// A read of a whole fleet, shared for a window, with the ids changed since it was
/// taken ([`Windowed::mark_stale`]).
#[derive(Debug)]
pub struct Windowed<V> {
    window: Duration,
    /// The last read and when it started.
    cache: Mutex<Option<(Instant, Arc<V>)>>,
    /// When each id was last changed by a mutating call.
    stale: std::sync::Mutex<HashMap<String, Instant>>,
}

/// One fleet read as a reconcile sees it: the read, and which ids changed after it
/// started.
#[derive(Debug)]
pub struct View<'a, V> {
    /// The read.
    pub read: Arc<V>,
    started: Instant,
    marks: &'a std::sync::Mutex<HashMap<String, Instant>>,
}

impl<V> View<'_, V> {
    /// When the read started.
    pub const fn started(&self) -> Instant {
        self.started
    }

    /// Whether `id` changed after this read started: it is described on its own.
    pub fn is_stale(&self, id: &str) -> bool {
        self.marks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .is_some_and(|marked| *marked >= self.started)
    }
}

impl<V> Windowed<V> {
    /// A read kept for `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            cache: Mutex::new(None),
            stale: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The read, taken now with `read` when the kept one is older than the window.
    /// Concurrent callers wait for one read rather than each making their own.
    ///
    /// # Errors
    /// `read`'s.
    pub async fn view<F, Fut>(&self, read: F) -> Result<View<'_, V>, AwsError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, AwsError>>,
    {
        let mut cache = self.cache.lock().await;
        let (started, value) = match cache.as_ref() {
            Some((started, value)) if started.elapsed() < self.window => {
                (*started, Arc::clone(value))
            }
            kept => {
                // Marks older than the read this one replaces are shown by both (a view
                // of that read may still be in use).
                let previous = kept.map(|(started, _)| *started);
                let started = Instant::now();
                let value = Arc::new(read().await?);
                *cache = Some((started, Arc::clone(&value)));
                if let Some(previous) = previous {
                    self.stale_marks().retain(|_, marked| *marked >= previous);
                }
                (started, value)
            }
        };
        Ok(View {
            read: value,
            started,
            marks: &self.stale,
        })
    }

    /// `id` was changed now (a mutating call was sent for it, answered or not): reads
    /// taken before do not show it as it is.
    pub fn mark_stale(&self, id: &str) {
        self.stale_marks().insert(id.to_owned(), Instant::now());
    }

    fn stale_marks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // A poisoned lock only means a panic while inserting a mark: still sound.
        self.stale.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The cached fleet of one cluster.
#[derive(Debug)]
pub struct Fleet {
    cluster: String,
    read: Windowed<Instances>,
}

impl Fleet {
    /// A fleet of the instances tagged `tiered.io/cluster=<cluster>`, re-read at most
    /// once per `window`.
    pub fn new(cluster: impl Into<String>, window: Duration) -> Self {
        Self {
            cluster: cluster.into(),
            read: Windowed::new(window),
        }
    }

    /// The fleet, read now when the cached read is older than the window, with the ids
    /// changed since it was read.
    ///
    /// # Errors
    /// A page's DescribeDBInstances failed.
    pub async fn view(&self, rds: &aws_sdk_rds::Client) -> Result<View<'_, Instances>, AwsError> {
        self.read
            .view(|| describe_cluster_instances(rds, &self.cluster))
            .await
    }

    /// The fleet as read (stale ids included), read now when older than the window.
    ///
    /// # Errors
    /// A page's DescribeDBInstances failed.
    pub async fn instances(&self, rds: &aws_sdk_rds::Client) -> Result<Arc<Instances>, AwsError> {
        Ok(self.view(rds).await?.read)
    }

    /// The instance `identifier` changed now: it (and what belongs to it, e.g. its
    /// read replicas, see the caller) is described on its own until the next read.
    pub fn mark_stale(&self, identifier: &str) {
        self.read.mark_stale(identifier);
    }
}

/// Every DB instance tagged `tiered.io/cluster=<cluster>`, all pages.
///
/// # Errors
/// A page's call failed.
pub async fn describe_cluster_instances(
    rds: &aws_sdk_rds::Client,
    cluster: &str,
) -> Result<Instances, AwsError> {
    let list = |marker| async move {
        let request = rds
            .describe_db_instances()
            .set_marker(marker)
            .max_records(100);
        let page = sent(DESCRIBE_DB_INSTANCES, request.send()).await?;
        Ok((page.db_instances.unwrap_or_default(), page.marker))
    };
    let ours = |instance: &DbInstance| {
        instance
            .tag_list()
            .iter()
            .any(|tag| tag.key() == Some(CLUSTER) && tag.value() == Some(cluster))
    };
    keyed_pages(list, |instance| {
        instance.db_instance_identifier().filter(|_| ours(instance))
    })
    .await
}

/// One DB instance by identifier; `None` when RDS says it does not exist.
pub async fn describe_instance(
    rds: &aws_sdk_rds::Client,
    identifier: &str,
) -> Result<Option<DbInstance>, AwsError> {
    let described = rds
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
        .map(|output| output.db_instances().first().cloned())
        .map_err(|error| AwsError::from_sdk(DESCRIBE_DB_INSTANCES, error));
    not_found_is_none(described)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_mark_makes_only_its_id_stale_until_a_read_taken_after_it() {
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let read = || async {
            reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok::<_, AwsError>(())
        };
        let shared = Windowed::new(Duration::from_mins(5));
        assert!(!shared.view(read).await.unwrap().is_stale("a"));
        shared.mark_stale("a");
        let view = shared.view(read).await.unwrap();
        assert!(view.is_stale("a"));
        assert!(!view.is_stale("b"));
        assert_eq!(reads.load(std::sync::atomic::Ordering::Relaxed), 1, "kept");

        let expired = Windowed::new(Duration::ZERO);
        expired.view(read).await.unwrap();
        expired.mark_stale("a");
        let next = expired.view(read).await.unwrap();
        assert!(!next.is_stale("a"), "a read taken after the mark shows it");
    }
}
