//! The shared limits ([`LimitRepo`]) on the SQLite store.
//!
//! - `limit_counters` (created with the other tables, see `sqlite.rs`): key
//!   `key`, the count `n`, `expires_at` (indexed). A hit is one upsert
//!   (`INSERT … ON CONFLICT DO UPDATE … RETURNING n`) on the store's one
//!   connection, after deleting the counters that expired: the count is exact
//!   whichever handle or process writes (SQLite's write lock).
//! - The day's totals read `llm_usage` by its key's first column (`day`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

use super::sqlite::{SqliteStore, day_text, ts};
use super::{DayTotals, LimitRepo, StoreResult};

#[async_trait]
impl LimitRepo for SqliteStore {
    async fn count_hit(
        &self,
        key: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<u64> {
        let key = key.to_string();
        let (now, expires_at) = (ts(now), ts(now + ttl));
        let n: i64 = self
            .with(move |c| {
                c.execute(
                    "DELETE FROM limit_counters WHERE expires_at <= ?1",
                    params![now],
                )?;
                c.query_row(
                    "INSERT INTO limit_counters (key, n, expires_at) VALUES (?1, 1, ?2)
                     ON CONFLICT (key) DO UPDATE SET n = n + 1
                     RETURNING n",
                    params![key, expires_at],
                    |row| row.get(0),
                )
            })
            .await?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn day_totals(&self, day: chrono::NaiveDate) -> StoreResult<DayTotals> {
        let day = day_text(day);
        let (tokens, cost_usd): (i64, f64) = self
            .with(move |c| {
                c.query_row(
                    "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0),
                            COALESCE(SUM(cost_usd), 0.0)
                     FROM llm_usage WHERE day = ?1",
                    params![day],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
            })
            .await?;
        Ok(DayTotals {
            tokens: u64::try_from(tokens).unwrap_or_default(),
            cost_usd,
        })
    }
}
