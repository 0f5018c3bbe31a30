//! The embedded store: one SQLite file (default `data/chatops.db`), used when
//! no MongoDB is configured. One connection behind a mutex, WAL journal; every
//! call runs on tokio's blocking pool so the async runtime never waits on disk.
//!
//! Times are stored as RFC 3339 UTC strings with a fixed width, so text order
//! is time order.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Approval, ApprovalRepo, ApprovalStatus, AuditQuery, AuditRecord, AuditRepo, ChatSession,
    DecideError, ProcessedEventRepo, SessionRepo, StoreError, StoreHealth, StoreResult,
};

const SCHEMA: &str = r#"
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
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
CREATE TABLE IF NOT EXISTS processed_events (
    platform TEXT NOT NULL,
    event_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (platform, event_id)
);
"#;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}

fn json_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

/// SQLite-backed implementation of every repository.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Open (creating folders and schema as needed).
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::sqlite(format!("cannot create folder {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open(path)
            .map_err(|e| StoreError::sqlite(format!("cannot open {}: {e}", path.display())))?;
        Self::init(conn)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> StoreResult<Self> {
        Self::init(Connection::open_in_memory().map_err(StoreError::sqlite)?)
    }

    fn init(conn: Connection) -> StoreResult<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(StoreError::sqlite)?;
        conn.execute_batch(SCHEMA).map_err(StoreError::sqlite)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Run `f` with the connection on the blocking pool.
    async fn with<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(StoreError::sqlite)?
        .map_err(StoreError::sqlite)
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

#[async_trait]
impl AuditRepo for SqliteStore {
    async fn append(&self, record: &AuditRecord) -> StoreResult<()> {
        let json = serde_json::to_string(record).map_err(StoreError::sqlite)?;
        let (id, at, request_id, kind) = (
            record.id.clone(),
            ts(record.at),
            record.request_id.clone(),
            record.kind(),
        );
        self.with(move |c| {
            c.execute(
                "INSERT INTO audit_log (id, at, request_id, kind, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, at, request_id, kind, json],
            )
            .map(|_| ())
        })
        .await
    }

    async fn query_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let request_id = query.request_id.clone();
        let limit = if query.limit == 0 { 1000 } else { query.limit } as i64;
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT record FROM audit_log WHERE (?1 IS NULL OR request_id = ?1)
                 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![request_id, limit], |row| row.get::<_, String>(0))?;
            rows.map(|r| r.and_then(|json| serde_json::from_str(&json).map_err(json_err)))
                .collect()
        })
        .await
    }
}

fn approval_json(a: &Approval) -> serde_json::Value {
    serde_json::json!({
        "request_id": a.request_id, "requester": a.requester, "channel": a.channel,
        "thread": a.thread, "tool": a.tool, "arguments": a.arguments, "args_hash": a.args_hash,
        "language": a.language,
        "created_at": ts(a.created_at),
    })
}

fn approval_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Approval> {
    let id: String = row.get(0)?;
    let record: serde_json::Value =
        serde_json::from_str(&row.get::<_, String>(1)?).map_err(json_err)?;
    let status: String = row.get(2)?;
    let text = |k: &str| record[k].as_str().unwrap_or_default().to_string();
    Ok(Approval {
        id,
        request_id: text("request_id"),
        requester: text("requester"),
        channel: text("channel"),
        thread: record["thread"].as_str().map(str::to_string),
        tool: text("tool"),
        arguments: record["arguments"].clone(),
        args_hash: text("args_hash"),
        language: serde_json::from_value(record["language"].clone()).unwrap_or_default(),
        status: ApprovalStatus::parse(&status).unwrap_or(ApprovalStatus::Rejected),
        created_at: parse_ts(&text("created_at"))?,
        expires_at: parse_ts(&row.get::<_, String>(3)?)?,
        decided_by: row.get(4)?,
        decided_at: row
            .get::<_, Option<String>>(5)?
            .map(|s| parse_ts(&s))
            .transpose()?,
    })
}

const APPROVAL_COLUMNS: &str = "id, record, status, expires_at, decided_by, decided_at";

#[async_trait]
impl ApprovalRepo for SqliteStore {
    async fn create_approval(&self, approval: &Approval) -> StoreResult<()> {
        let a = approval.clone();
        let record = approval_json(&a).to_string();
        self.with(move |c| {
            c.execute(
                "INSERT INTO approvals (id, record, status, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![a.id, record, a.status.as_str(), ts(a.expires_at)],
            )
            .map(|_| ())
        })
        .await
    }

    async fn get_approval(&self, id: &str) -> StoreResult<Option<Approval>> {
        let id = id.to_string();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
                params![id],
                approval_from_row,
            )
            .optional()
        })
        .await
    }

    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<Approval, DecideError>> {
        let (id, by) = (id.to_string(), by.to_string());
        let status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Rejected
        };
        self.with(move |c| {
            let tx = c.transaction()?;
            let changed = tx.execute(
                "UPDATE approvals SET status = ?1, decided_by = ?2, decided_at = ?3
                 WHERE id = ?4 AND status = 'pending' AND expires_at > ?3",
                params![status.as_str(), by, ts(now), id],
            )?;
            let current = tx
                .query_row(
                    &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
                    params![id],
                    approval_from_row,
                )
                .optional()?;
            let result = match current {
                None => Err(DecideError::NotFound),
                Some(a) if changed == 1 => Ok(a),
                Some(a) if a.status == ApprovalStatus::Pending => {
                    tx.execute(
                        "UPDATE approvals SET status = 'expired' WHERE id = ?1 AND status = 'pending'",
                        params![id],
                    )?;
                    Err(DecideError::Expired)
                }
                Some(a) if a.status == ApprovalStatus::Expired => Err(DecideError::Expired),
                Some(a) => Err(DecideError::AlreadyDecided(a.status)),
            };
            tx.commit()?;
            Ok(result)
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
    async fn ping(&self) -> StoreResult<()> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }
}
