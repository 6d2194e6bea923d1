//! Listings AWS pages with a `Marker` (RDS and ElastiCache alike): [`all_pages`]
//! gathers every item, [`keyed_pages`] keeps them by id. Each drives the caller's one
//! paged call, `page(marker)`, which sends one request and answers its items and the
//! next marker (none or empty: the last page); the loop over the markers is written
//! once here.

use std::collections::HashMap;
use std::future::Future;

use crate::aws::errors::AwsError;

/// Hands each page's items to `each`, from the first page to the last.
async fn for_each_page<T, F, Fut>(mut page: F, mut each: impl FnMut(Vec<T>)) -> Result<(), AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut marker = None;
    loop {
        let (found, next) = page(marker.take()).await?;
        each(found);
        match next {
            Some(next) if !next.is_empty() => marker = Some(next),
            _ => return Ok(()),
        }
    }
}

/// Every item of the listing `page` sends, in AWS's order.
///
/// # Errors
/// The first failed call's.
pub async fn all_pages<T, F, Fut>(page: F) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut items = Vec::new();
    for_each_page(page, |found| items.extend(found)).await?;
    Ok(items)
}

/// Every item of the listing `page` sends that `key` gives an id (the others are left
/// out), by that id; a later item of the same id replaces an earlier one.
///
/// # Errors
/// The first failed call's.
pub async fn keyed_pages<T, F, Fut>(
    page: F,
    key: impl Fn(&T) -> Option<&str>,
) -> Result<HashMap<String, T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut keyed = HashMap::new();
    for_each_page(page, |found| {
        for item in found {
            if let Some(id) = key(&item).map(str::to_owned) {
                keyed.insert(id, item);
            }
        }
    })
    .await?;
    Ok(keyed)
}
