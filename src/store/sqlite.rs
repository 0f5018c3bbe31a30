//! The embedded store: one SQLite file (default `data/chatops.db`), used when
//! no MongoDB is configured. One connection, owned by a thread of its own
//! that runs the store's calls one at a time from a queue (WAL journal); the
//! async runtime never waits on disk, and a burst of calls waits in the queue
//! instead of each holding a blocking-pool thread. WAL checkpoints run once a
//! second on a thread and a connection of their own, not inside whichever
//! commit crossed SQLite's 1,000-page mark while every other call waited
//! behind it. Every commit is durable before it is acknowledged
//! (`synchronous = FULL`: the WAL is synced at each commit; see
//! `durability.rs`).
//!
//! Times are stored as RFC 3339 UTC strings with a fixed width, so text order
//! is time order.
//!
//! Tables and their indexes (created at open, idempotently):
//! - `chat_sessions`: key `session_id`; `user_id + is_active`; `updated_at`.
//! - `audit_log`: key `seq` (the chain position: 1, 2, … without gaps);
//!   unique `id`; `request_id`; `at`; `kind`; the subject
//!   (`json_extract(record, '$.subject')`). The whole record (with `seq`,
//!   `prev_hash`, `hash`) is JSON text in `record`; the other filters
//!   (channel, the event's tool and outcome) read it with `json_extract`.
//!   Triggers refuse updates and deletes. `append` reads the end of the chain
//!   and inserts in one `BEGIN IMMEDIATE` transaction, so writers on the same
//!   file (other processes, other handles) queue on SQLite's write lock and
//!   never share a `seq`. Records written before the hash chain existed keep
//!   their `seq` (it was already the key) and read back with an empty
//!   `prev_hash` and `hash`; the first record after them links to `""`.
//! - `llm_usage`: key `day + subject + channel + model` (day as
//!   `YYYY-MM-DD` text); `day + channel`. Counters grow by upsert
//!   (`INSERT … ON CONFLICT DO UPDATE`).
//! - `approvals`: key `id`; `status + expires_at` (pending approvals for
//!   metrics).
//! - `processed_events`: key `platform + event_id`.
//! - `jobs`: key `id`; unique `key`; `queue + state + run_at` (claiming);
//!   `state + lease_until` (expired leases); `kind + state + created_at`
//!   (metrics: the counts per kind and state read the index alone, and the
//!   outbox depth and its oldest job are a range of it). Payload as JSON
//!   text; times cut to the millisecond, as MongoDB keeps them.
//! - `schedule_cursors`: key `name`, the last `tick` handled.
//! - `limit_counters`: key `key` (a limit's window), its count `n`;
//!   `expires_at` (see `sqlite_limits.rs`).

use std::path::Path;
use std::sync::{Arc, Weak, mpsc};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    AuditQuery, AuditRecord, AuditRepo, ChatSession, JobState, ProcessedEventRepo, SessionRepo,
    StoreError, StoreHealth, StoreResult, StoreStats, UsageRepo, UsageRow, UsageScope,
};

const SCHEMA: &str = r#"
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS chat_sessions (
    session_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    conversation_history TEXT NOT NULL,
    context TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    is_active INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_sessions_user ON chat_sessions (user_id, is_active);
CREATE INDEX IF NOT EXISTS chat_sessions_updated ON chat_sessions (updated_at);
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_request ON audit_log (request_id);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_kind ON audit_log (kind);
CREATE INDEX IF NOT EXISTS audit_log_subject ON audit_log (json_extract(record, '$.subject'));
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT
);
CREATE INDEX IF NOT EXISTS approvals_status ON approvals (status, expires_at);
CREATE TABLE IF NOT EXISTS processed_events (
    platform TEXT NOT NULL,
    event_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (platform, event_id)
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    queue TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    run_at TEXT NOT NULL,
    lease_owner TEXT,
    lease_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (queue, state, run_at);
CREATE INDEX IF NOT EXISTS jobs_lease ON jobs (state, lease_until);
CREATE INDEX IF NOT EXISTS jobs_kind_state ON jobs (kind, state, created_at);
CREATE TABLE IF NOT EXISTS schedule_cursors (
    name TEXT PRIMARY KEY,
    tick TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS llm_usage (
    day TEXT NOT NULL,
    subject TEXT NOT NULL,
    channel TEXT NOT NULL,
    model TEXT NOT NULL,
    calls INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    PRIMARY KEY (day, subject, channel, model)
);
CREATE INDEX IF NOT EXISTS llm_usage_channel ON llm_usage (day, channel);
CREATE TABLE IF NOT EXISTS limit_counters (
    key TEXT PRIMARY KEY,
    n INTEGER NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS limit_counters_expiry ON limit_counters (expires_at);
"#;

pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A job or cursor time: cut to the millisecond (what MongoDB keeps), so
/// both backends read back the same value and compare it the same way.
pub(super) fn ts_ms(t: DateTime<Utc>) -> String {
    use chrono::SubsecRound;
    ts(t.trunc_subsecs(3))
}

pub(super) fn parse_ts(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}

pub(super) fn json_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

/// Checkpoints the WAL of the store's file once a second, on `conn` (a
/// connection of its own), until the store is dropped. PASSIVE: it copies
/// what no reader still needs and never blocks the store's reads or writes.
fn spawn_checkpointer(conn: Connection, store: Weak<StoreThread>) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(StoreError::sqlite)?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                if store.strong_count() == 0 {
                    return;
                }
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "SQLite WAL checkpoint failed; retrying in 1 s");
                }
            }
        })
        .map_err(|e| StoreError::sqlite(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(())
}

/// A store call, run on the store thread with its connection.
type Call = Box<dyn FnOnce(&mut Connection) + Send>;

/// The thread that owns the connection; it stops when the last handle to
/// the store is dropped (the queue closes).
struct StoreThread {
    calls: mpsc::Sender<Call>,
}

impl StoreThread {
    fn spawn(mut conn: Connection) -> StoreResult<Self> {
        let (calls, queue) = mpsc::channel::<Call>();
        std::thread::Builder::new()
            .name("sqlite-store".into())
            .spawn(move || {
                for call in queue {
                    // A panicking call drops its reply (its caller gets an
                    // error); the store goes on serving the others.
                    let run = std::panic::AssertUnwindSafe(|| call(&mut conn));
                    if std::panic::catch_unwind(run).is_err() {
                        tracing::error!("a SQLite store call panicked");
                    }
                }
            })
            .map_err(|e| StoreError::sqlite(format!("cannot start the store thread: {e}")))?;
        Ok(Self { calls })
    }
}

/// SQLite-backed implementation of every repository.
#[derive(Clone)]
pub struct SqliteStore {
    thread: Arc<StoreThread>,
}

impl SqliteStore {
    /// Open (creating folders and schema as needed).
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::sqlite(format!("cannot create folder {}: {e}", dir.display()))
            })?;
        }
        let open = || {
            Connection::open(path)
                .map_err(|e| StoreError::sqlite(format!("cannot open {}: {e}", path.display())))
        };
        let conn = Self::prepare(open()?)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(StoreError::sqlite)?;
        let store = Self {
            thread: Arc::new(StoreThread::spawn(conn)?),
        };
        spawn_checkpointer(open()?, Arc::downgrade(&store.thread))?;
        Ok(store)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> StoreResult<Self> {
        let conn = Self::prepare(Connection::open_in_memory().map_err(StoreError::sqlite)?)?;
        Ok(Self {
            thread: Arc::new(StoreThread::spawn(conn)?),
        })
    }

    fn prepare(conn: Connection) -> StoreResult<Connection> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(StoreError::sqlite)?;
        conn.execute_batch(SCHEMA).map_err(StoreError::sqlite)?;
        Ok(conn)
    }

    /// Run `f` with the connection on the store thread, after the calls
    /// queued before it.
    pub(super) async fn with<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let call: Call = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.thread
            .calls
            .send(call)
            .map_err(|_| StoreError::sqlite("the SQLite store thread has stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::sqlite("a SQLite store call failed (see the log)"))?
            .map_err(store_error)
    }
}

#[async_trait]
impl SessionRepo for SqliteStore {
    async fn load_session(
        &self,
        session_id: &str,
        not_before: DateTime<Utc>,
    ) -> StoreResult<Option<ChatSession>> {
        let id = session_id.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT session_id, user_id, conversation_history, context, created_at, updated_at, is_active
                 FROM chat_sessions WHERE session_id = ?1 AND is_active = 1 AND updated_at >= ?2",
                params![id, ts(not_before)],
                |row| {
                    Ok(ChatSession {
                        session_id: row.get(0)?,
                        user_id: row.get(1)?,
                        conversation_history: serde_json::from_str(&row.get::<_, String>(2)?)
                            .map_err(json_err)?,
                        context: serde_json::from_str(&row.get::<_, String>(3)?).map_err(json_err)?,
                        created_at: parse_ts(&row.get::<_, String>(4)?)?,
                        updated_at: parse_ts(&row.get::<_, String>(5)?)?,
                        is_active: row.get(6)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn save_session(&self, session: &ChatSession) -> StoreResult<()> {
        let s = session.clone();
        let history = serde_json::to_string(&s.conversation_history).map_err(StoreError::sqlite)?;
        let context = serde_json::to_string(&s.context).map_err(StoreError::sqlite)?;
        self.with(move |c| {
            c.execute(
                "INSERT INTO chat_sessions (session_id, user_id, conversation_history, context, created_at, updated_at, is_active)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id,
                   conversation_history = excluded.conversation_history, context = excluded.context,
                   updated_at = excluded.updated_at, is_active = excluded.is_active",
                params![s.session_id, s.user_id, history, context, ts(s.created_at), ts(s.updated_at), s.is_active],
            )?;
            // Sessions idle for over a week are gone for good (the 24 h rule is
            // applied at load time; this only bounds the file).
            let horizon = ts(s.updated_at - chrono::Duration::days(7));
            c.execute("DELETE FROM chat_sessions WHERE updated_at < ?1", params![horizon])?;
            Ok(())
        })
        .await
    }
}

/// A stored audit row: the record JSON, with `seq` from its column (records
/// written before the hash chain carry none in their JSON).
fn audit_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    let seq = u64::try_from(row.get::<_, i64>(0)?).unwrap_or_default();
    // serde_json's float_roundtrip: floats read back exactly, so the hash still matches.
    let mut record: AuditRecord = serde_json::from_str(&row.get::<_, String>(1)?).map_err(|e| {
        let unreadable = UnreadableAudit {
            seq,
            id: row.get::<_, String>(2).unwrap_or_default(),
            reason: e.to_string(),
        };
        rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Text,
            Box::new(unreadable),
        )
    })?;
    record.seq = seq;
    Ok(record)
}

/// An audit row whose record no longer parses (carried out of rusqlite).
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
struct UnreadableAudit {
    seq: u64,
    id: String,
    reason: String,
}

/// A rusqlite error as a store error, keeping which audit record was unreadable.
fn store_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::FromSqlConversionFailure(_, _, inner) = &e
        && let Some(unreadable) = inner.downcast_ref::<UnreadableAudit>()
    {
        return StoreError::sqlite(&unreadable.reason)
            .unreadable_audit(unreadable.seq, &unreadable.id);
    }
    StoreError::sqlite(e)
}

#[async_trait]
impl AuditRepo for SqliteStore {
    async fn append(&self, record: &AuditRecord) -> StoreResult<AuditRecord> {
        let mut record = record.clone();
        // Kept to the millisecond, like MongoDB, so both stores hash the same
        // text for the same record.
        record.at = {
            use chrono::SubsecRound;
            record.at.trunc_subsecs(3)
        };
        self.with(move |c| {
            // IMMEDIATE: take the write lock before reading the end of the
            // chain, so no other connection can append in between.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let last: Option<(i64, Option<String>)> = tx
                .query_row(
                    "SELECT seq, json_extract(record, '$.hash') FROM audit_log
                     ORDER BY seq DESC LIMIT 1",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let (last_seq, last_hash) = last.unwrap_or((0, Some(String::new())));
            record.seq = u64::try_from(last_seq).unwrap_or_default() + 1;
            record.prev_hash = last_hash.unwrap_or_default();
            record.hash = record.chain_hash();
            let json = serde_json::to_string(&record).map_err(json_err)?;
            tx.execute(
                "INSERT INTO audit_log (seq, id, at, request_id, kind, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    last_seq + 1,
                    record.id,
                    ts(record.at),
                    record.request_id,
                    record.kind(),
                    json
                ],
            )?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    async fn query_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        use rusqlite::types::Value;
        // Only the conditions that are set, so SQLite can use the indexes
        // (`?1 IS NULL OR …` would make it scan the table).
        let mut conditions: Vec<&str> = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        let text = [
            ("request_id = ?", &query.request_id),
            ("json_extract(record, '$.subject') = ?", &query.subject),
            ("json_extract(record, '$.channel') = ?", &query.channel),
            ("json_extract(record, '$.event.tool') = ?", &query.tool),
            (
                "json_extract(record, '$.event.outcome') = ?",
                &query.outcome,
            ),
            ("kind = ?", &query.kind),
        ];
        for (condition, value) in text {
            if let Some(value) = value {
                conditions.push(condition);
                values.push(Value::Text(value.clone()));
            }
        }
        for (condition, time) in [("at >= ?", query.since), ("at < ?", query.until)] {
            if let Some(time) = time {
                conditions.push(condition);
                values.push(Value::Text(ts(time)));
            }
        }
        if let Some(after) = query.after_seq {
            conditions.push("seq > ?");
            values.push(Value::Integer(i64::try_from(after).unwrap_or(i64::MAX)));
        }
        let limit = if query.limit == 0 { 1000 } else { query.limit };
        values.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        let mut sql = String::from("SELECT seq, record, id FROM audit_log");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        // With `since`, `+seq` keeps the planner from walking the whole
        // table in seq order (stopping at the limit) instead of using the `at`
        // index: the matching records are the newest ones.
        sql.push_str(if query.since.is_some() {
            " ORDER BY +seq LIMIT ?"
        } else {
            " ORDER BY seq LIMIT ?"
        });
        self.with(move |c| {
            let mut stmt = c.prepare_cached(&sql)?;
            stmt.query_map(rusqlite::params_from_iter(values), audit_from_row)?
                .collect()
        })
        .await
    }
}

#[async_trait]
impl ProcessedEventRepo for SqliteStore {
    async fn first_delivery(
        &self,
        platform: &str,
        event_id: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<bool> {
        let (platform, event_id) = (platform.to_string(), event_id.to_string());
        self.with(move |c| {
            c.execute("DELETE FROM processed_events WHERE expires_at <= ?1", params![ts(now)])?;
            let inserted = c.execute(
                "INSERT OR IGNORE INTO processed_events (platform, event_id, expires_at) VALUES (?1, ?2, ?3)",
                params![platform, event_id, ts(now + ttl)],
            )?;
            Ok(inserted == 1)
        })
        .await
    }
}

#[async_trait]
impl StoreHealth for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    async fn stats(
        &self,
        now: DateTime<Utc>,
        active_since: DateTime<Utc>,
    ) -> StoreResult<StoreStats> {
        let (now, active_since) = (ts(now), ts(active_since));
        self.with(move |c| {
            // Every count from an index: `jobs_kind_state` (covering),
            // `approvals_status`, `chat_sessions_updated`.
            let mut stmt =
                c.prepare_cached("SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state")?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let jobs = job_counts(
                rows.into_iter()
                    .map(|(kind, state, n)| (kind, state, u64::try_from(n).unwrap_or_default())),
            );
            let (outbox_depth, outbox_oldest) = c.query_row(
                "SELECT COUNT(*), MIN(created_at) FROM jobs
                 WHERE kind = 'deliver' AND state IN ('pending', 'running')",
                [],
                |row| {
                    let n: i64 = row.get(0)?;
                    let oldest = row
                        .get::<_, Option<String>>(1)?
                        .map(|s| parse_ts(&s))
                        .transpose()?;
                    Ok((u64::try_from(n).unwrap_or_default(), oldest))
                },
            )?;
            let approvals_pending: i64 = c.query_row(
                "SELECT COUNT(*) FROM approvals WHERE status = 'pending' AND expires_at > ?1",
                params![now],
                |row| row.get(0),
            )?;
            let sessions_active: i64 = c.query_row(
                "SELECT COUNT(*) FROM chat_sessions WHERE is_active = 1 AND updated_at >= ?1",
                params![active_since],
                |row| row.get(0),
            )?;
            Ok(StoreStats {
                jobs,
                outbox_depth,
                outbox_oldest,
                approvals_pending: u64::try_from(approvals_pending).unwrap_or_default(),
                sessions_active: u64::try_from(sessions_active).unwrap_or_default(),
            })
        })
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }
}

/// (kind, state, count) rows as `StoreStats::jobs`: ordered by kind, then
/// state name; an unknown state counts as dead (it never runs again), merged
/// with the dead ones of its kind.
pub(super) fn job_counts(
    rows: impl Iterator<Item = (String, String, u64)>,
) -> Vec<(String, JobState, u64)> {
    let mut counts = std::collections::BTreeMap::<(String, &'static str), u64>::new();
    for (kind, state, n) in rows {
        let state = JobState::parse(&state).unwrap_or(JobState::Dead);
        *counts.entry((kind, state.as_str())).or_default() += n;
    }
    counts
        .into_iter()
        .map(|((kind, state), n)| (kind, JobState::parse(state).unwrap_or(JobState::Dead), n))
        .collect()
}

pub(super) fn day_text(day: chrono::NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn usage_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<UsageRow> {
    let day: String = row.get(0)?;
    let count = |i: usize| {
        row.get::<_, i64>(i)
            .map(|n| u64::try_from(n).unwrap_or_default())
    };
    Ok(UsageRow {
        day: chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?,
        subject: row.get(1)?,
        channel: row.get(2)?,
        model: row.get(3)?,
        calls: count(4)?,
        prompt_tokens: count(5)?,
        completion_tokens: count(6)?,
        cost_usd: row.get(7)?,
    })
}

#[async_trait]
impl UsageRepo for SqliteStore {
    async fn add_usage(
        &self,
        day: chrono::NaiveDate,
        subject: &str,
        channel: &str,
        model: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
        cost_usd: f64,
    ) -> StoreResult<()> {
        let (day, subject, channel, model) = (
            day_text(day),
            subject.to_string(),
            channel.to_string(),
            model.to_string(),
        );
        let (prompt, completion) = (
            saturating_i64(prompt_tokens),
            saturating_i64(completion_tokens),
        );
        self.with(move |c| {
            c.execute(
                "INSERT INTO llm_usage
                   (day, subject, channel, model, calls, prompt_tokens, completion_tokens, cost_usd)
                 VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7)
                 ON CONFLICT (day, subject, channel, model) DO UPDATE SET
                   calls = calls + 1,
                   prompt_tokens = prompt_tokens + excluded.prompt_tokens,
                   completion_tokens = completion_tokens + excluded.completion_tokens,
                   cost_usd = cost_usd + excluded.cost_usd",
                params![day, subject, channel, model, prompt, completion, cost_usd],
            )
            .map(|_| ())
        })
        .await
    }

    async fn usage(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> StoreResult<Vec<UsageRow>> {
        let (from, to) = (day_text(from), day_text(to));
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT day, subject, channel, model, calls, prompt_tokens, completion_tokens, cost_usd
                 FROM llm_usage WHERE day >= ?1 AND day <= ?2
                 ORDER BY day, subject, channel, model",
            )?;
            stmt.query_map(params![from, to], usage_from_row)?.collect()
        })
        .await
    }

    async fn tokens_used(&self, day: chrono::NaiveDate, scope: &UsageScope) -> StoreResult<u64> {
        let day = day_text(day);
        let (sql, who) = match scope {
            UsageScope::Subject(s) => (
                "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM llm_usage
                 WHERE day = ?1 AND subject = ?2",
                s.clone(),
            ),
            UsageScope::Channel(c) => (
                "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM llm_usage
                 WHERE day = ?1 AND channel = ?2",
                c.clone(),
            ),
        };
        let total: i64 = self
            .with(move |c| c.query_row(sql, params![day, who], |row| row.get(0)))
            .await?;
        Ok(u64::try_from(total).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_call_fails_alone_and_the_store_goes_on() {
        let store = SqliteStore::in_memory().unwrap();
        let failed = store
            .with(|_| -> rusqlite::Result<()> { panic!("a bug in one query") })
            .await;
        assert!(failed.is_err());
        let one: i64 = store
            .with(|c| c.query_row("SELECT 1", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(one, 1);
    }

    #[tokio::test]
    async fn calls_run_in_the_order_they_were_queued() {
        let store = SqliteStore::in_memory().unwrap();
        store
            .with(|c| c.execute_batch("CREATE TABLE seen (n INTEGER)"))
            .await
            .unwrap();
        let writes: Vec<_> = (0..50)
            .map(|n| store.with(move |c| c.execute("INSERT INTO seen VALUES (?1)", [n])))
            .collect();
        futures::future::try_join_all(writes).await.unwrap();
        let order: Vec<i64> = store
            .with(|c| {
                let mut q = c.prepare("SELECT n FROM seen ORDER BY rowid")?;
                q.query_map([], |r| r.get(0))?.collect()
            })
            .await
            .unwrap();
        assert_eq!(order, (0..50).collect::<Vec<i64>>());
    }
}
