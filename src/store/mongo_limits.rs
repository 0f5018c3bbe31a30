//! The shared limits ([`LimitRepo`]) on the MongoDB store.
//!
//! - `limit_counters`: `_id` is the counter's key (a limit's window), `n` its
//!   count, `expires_at` a BSON date with a TTL index (created by
//!   [`MongoStore::ensure_limit_indexes`], which `Store::open` calls). A hit
//!   is one `findOneAndUpdate` with upsert, `$inc` and `$setOnInsert`, atomic
//!   per document; two first hits at once may both try to insert, and the
//!   loser's retry finds the document.
//! - The day's totals read `llm_usage` by `day` (the `day + subject` index)
//!   and sum here, as `tokens_used` does: one row per person, channel and
//!   model of that day.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::IndexModel;
use mongodb::bson::doc;
use mongodb::options::{IndexOptions, ReturnDocument};

use super::mongo::{
    MongoStore, day_text, drain, get_count, get_f64, is_duplicate_key, to_bson_time,
};
use super::{DayTotals, LimitRepo, StoreError, StoreResult};

const COUNTERS: &str = "limit_counters";

impl MongoStore {
    /// The TTL index that deletes expired limit counters (idempotent).
    pub async fn ensure_limit_indexes(&self) -> StoreResult<()> {
        let ttl = IndexOptions::builder()
            .expire_after(Duration::from_secs(0))
            .build();
        self.coll(COUNTERS)
            .create_index(
                IndexModel::builder()
                    .keys(doc! {"expires_at": 1})
                    .options(ttl)
                    .build(),
            )
            .await
            .map_err(StoreError::mongo)?;
        Ok(())
    }
}

#[async_trait]
impl LimitRepo for MongoStore {
    async fn count_hit(
        &self,
        key: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<u64> {
        let update = doc! {
            "$inc": {"n": 1_i64},
            "$setOnInsert": {"expires_at": to_bson_time(now + ttl)},
        };
        let mut tries = 0;
        loop {
            tries += 1;
            match self
                .coll(COUNTERS)
                .find_one_and_update(doc! {"_id": key}, update.clone())
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await
            {
                Ok(Some(counter)) => return get_count(&counter, "n"),
                Ok(None) => {
                    return Err(StoreError::mongo(format!(
                        "counter {key}: the upsert returned no document"
                    )));
                }
                Err(e) if is_duplicate_key(&e) && tries < 3 => continue,
                Err(e) => return Err(StoreError::mongo(e)),
            }
        }
    }

    async fn day_totals(&self, day: chrono::NaiveDate) -> StoreResult<DayTotals> {
        let cursor = self
            .coll("llm_usage")
            .find(doc! {"day": day_text(day)})
            .projection(doc! {"prompt_tokens": 1, "completion_tokens": 1, "cost_usd": 1})
            .await
            .map_err(StoreError::mongo)?;
        let mut totals = DayTotals::default();
        for row in drain(cursor).await? {
            totals.tokens = totals
                .tokens
                .saturating_add(get_count(&row, "prompt_tokens")?)
                .saturating_add(get_count(&row, "completion_tokens")?);
            totals.cost_usd += get_f64(&row, "cost_usd");
        }
        Ok(totals)
    }
}
