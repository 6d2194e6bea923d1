//! Numbered work spread over concurrent tasks: how every benchmark creates its objects
//! at a given concurrency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{BenchError, BenchResult};

/// Runs `work(index)` for every index below `total` on `concurrency` tasks, each taking
/// the next index as soon as it is done with one; returns once every task is done, with
/// the first error a task met (that task stops there, the others finish their share).
pub async fn for_each_index<F, Fut>(total: usize, concurrency: usize, work: F) -> BenchResult<()>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = BenchResult<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let next = Arc::clone(&next);
            let work = work.clone();
            tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= total {
                        return Ok::<(), BenchError>(());
                    }
                    work(index).await?;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test]
    async fn every_index_is_worked_on_once() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        for_each_index(10, 3, move |index| {
            let record = Arc::clone(&record);
            async move {
                record.lock().unwrap().push(index);
                Ok(())
            }
        })
        .await
        .unwrap();
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_failed_index_fails_the_run() {
        let result = for_each_index(5, 2, |index| async move {
            if index == 3 {
                Err("index 3 failed".into())
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(result.unwrap_err().to_string(), "index 3 failed");
    }
}
