//! A write the store acknowledged survives a power loss: what makes it so
//! on each backend, in one place. It matters most for approval decisions
//! and processed-event records (a decision rolled back by a power loss
//! could be taken a second time, an event answered twice), and for audit
//! records, whose head file (`audit_head.rs`) is written after them and
//! must never be ahead of the store.
//!
//! - MongoDB: the bot's database handle carries the write concern
//!   `{w: "majority", j: true}`, so every collection and every write
//!   inherits it: acknowledged once a majority of the replica set has it in
//!   its on-disk journal.
//! - SQLite: every write is durable before it is acknowledged
//!   (`PRAGMA synchronous = FULL` in WAL mode: the WAL is synced at each
//!   commit; see `sqlite.rs`).

use mongodb::options::{Acknowledgment, DatabaseOptions, WriteConcern};
use mongodb::{Client, Database};

/// `{w: "majority", j: true}`.
pub fn durable_write_concern() -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .build()
}

/// The bot's database, every write of which is durable.
pub(super) fn durable_database(client: &Client, name: &str) -> Database {
    client.database_with_options(
        name,
        DatabaseOptions::builder()
            .write_concern(durable_write_concern())
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::sqlite::SqliteStore;

    #[tokio::test]
    async fn the_sqlite_connection_that_writes_syncs_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("chatops.db")).unwrap();
        let (journal, synchronous): (String, i64) = store
            .with(|c| {
                let journal = c.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
                let synchronous = c.pragma_query_value(None, "synchronous", |r| r.get(0))?;
                Ok((journal, synchronous))
            })
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(synchronous, 2, "PRAGMA synchronous = FULL");
    }
}
