//! The production store: the bot's own MongoDB database (official driver).
//!
//! Collections and their indexes (created at connect, idempotently):
//! - `chat_sessions`: unique `session_id`; `user_id`; `updated_at` with a 24 h
//!   TTL; `is_active`; `user_id + is_active` (the platform's own record).
//! - `audit_log`: `request_id`; `at`. Insert-only from this code.
//! - `approvals`: `_id` is the approval id; `status + expires_at`.
//! - `processed_events`: unique `platform + event_id`; TTL on `expires_at`.
//!
//! No multi-document transactions: every write is a single-document,
//! idempotent or conditional operation.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};

use super::{
    Approval, ApprovalRepo, ApprovalStatus, AuditQuery, AuditRecord, AuditRepo, ChatSession,
    DecideError, ProcessedEventRepo, SessionRepo, StoreError, StoreHealth, StoreResult,
};

fn to_bson_time(t: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis())
}

fn from_bson_time(t: bson::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or_default()
}

fn get_time(d: &Document, key: &str) -> StoreResult<DateTime<Utc>> {
    d.get_datetime(key)
        .map(|t| from_bson_time(*t))
        .map_err(|e| StoreError::mongo(format!("field {key}: {e}")))
}

fn get_str(d: &Document, key: &str) -> String {
    d.get_str(key).unwrap_or_default().to_string()
}

fn json_to_bson(v: &serde_json::Value) -> StoreResult<Bson> {
    bson::to_bson(v).map_err(StoreError::mongo)
}

fn bson_to_json(b: Option<&Bson>) -> serde_json::Value {
    b.cloned()
        .map(|b| b.into_relaxed_extjson())
        .unwrap_or(serde_json::Value::Null)
}

/// MongoDB-backed implementation of every repository.
#[derive(Clone)]
pub struct MongoStore {
    db: Database,
}

impl MongoStore {
    /// Connect, check the server answers, create indexes.
    pub async fn connect(uri: &str, db_name: &str) -> StoreResult<Self> {
        let mut options = ClientOptions::parse(uri).await.map_err(StoreError::mongo)?;
        options.server_selection_timeout = Some(Duration::from_secs(5));
        options.connect_timeout = Some(Duration::from_secs(5));
        options.app_name = Some("chatops".into());
        let client = Client::with_options(options).map_err(StoreError::mongo)?;
        let store = Self {
            db: client.database(db_name),
        };
        store.ping().await?;
        store.ensure_indexes().await?;
        Ok(store)
    }

    fn coll(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    async fn ensure_indexes(&self) -> StoreResult<()> {
        let unique = || IndexOptions::builder().unique(true).build();
        let ttl = |secs: u64| {
            IndexOptions::builder()
                .expire_after(Duration::from_secs(secs))
                .build()
        };
        let index = |keys: Document, options: Option<IndexOptions>| {
            IndexModel::builder().keys(keys).options(options).build()
        };
        let sets: [(&str, Vec<IndexModel>); 4] = [
            (
                "chat_sessions",
                vec![
                    index(doc! {"session_id": 1}, Some(unique())),
                    index(doc! {"user_id": 1}, None),
                    index(doc! {"updated_at": 1}, Some(ttl(24 * 3600))),
                    index(doc! {"is_active": 1}, None),
                    index(doc! {"user_id": 1, "is_active": 1}, None),
                ],
            ),
            (
                "audit_log",
                vec![
                    index(doc! {"request_id": 1}, None),
                    index(doc! {"at": 1}, None),
                ],
            ),
            (
                "approvals",
                vec![index(doc! {"status": 1, "expires_at": 1}, None)],
            ),
            (
                "processed_events",
                vec![
                    index(doc! {"platform": 1, "event_id": 1}, Some(unique())),
                    index(doc! {"expires_at": 1}, Some(ttl(0))),
                ],
            ),
        ];
        for (collection, models) in sets {
            self.coll(collection)
                .create_indexes(models)
                .await
                .map_err(|e| StoreError::mongo(format!("creating indexes on {collection}: {e}")))?;
        }
        Ok(())
    }
}

#[async_trait]
impl SessionRepo for MongoStore {
    async fn load_session(
        &self,
        session_id: &str,
        not_before: DateTime<Utc>,
    ) -> StoreResult<Option<ChatSession>> {
        let found = self
            .coll("chat_sessions")
            .find_one(doc! {
                "session_id": session_id,
                "is_active": true,
                "updated_at": {"$gte": to_bson_time(not_before)},
            })
            .await
            .map_err(StoreError::mongo)?;
        let Some(d) = found else { return Ok(None) };
        let history = d
            .get("conversation_history")
            .cloned()
            .unwrap_or(Bson::Array(vec![]));
        Ok(Some(ChatSession {
            session_id: get_str(&d, "session_id"),
            user_id: get_str(&d, "user_id"),
            conversation_history: bson::from_bson(history).map_err(StoreError::mongo)?,
            context: bson_to_json(d.get("context")),
            created_at: get_time(&d, "created_at")?,
            updated_at: get_time(&d, "updated_at")?,
            is_active: d.get_bool("is_active").unwrap_or(false),
        }))
    }

    async fn save_session(&self, s: &ChatSession) -> StoreResult<()> {
        let history = bson::to_bson(&s.conversation_history).map_err(StoreError::mongo)?;
        // A whole-document replace (not $set): one idempotent write, and
        // every field keeps its BSON type.
        self.coll("chat_sessions")
            .replace_one(
                doc! {"session_id": &s.session_id},
                doc! {
                    "session_id": &s.session_id,
                    "user_id": &s.user_id,
                    "conversation_history": history,
                    "context": json_to_bson(&s.context)?,
                    "created_at": to_bson_time(s.created_at),
                    "updated_at": to_bson_time(s.updated_at),
                    "is_active": s.is_active,
                },
            )
            .upsert(true)
            .await
            .map_err(StoreError::mongo)?;
        Ok(())
    }
}

#[async_trait]
impl AuditRepo for MongoStore {
    async fn append(&self, r: &AuditRecord) -> StoreResult<()> {
        let event = bson::to_bson(&r.event).map_err(StoreError::mongo)?;
        self.coll("audit_log")
            .insert_one(doc! {
                "_id": &r.id,
                "at": to_bson_time(r.at),
                "request_id": &r.request_id,
                "subject": &r.subject,
                "channel": &r.channel,
                "prompt_version": &r.prompt_version,
                "kind": r.kind(),
                "event": event,
            })
            .await
            .map_err(StoreError::mongo)?;
        Ok(())
    }

    async fn query_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let filter = match &query.request_id {
            Some(id) => doc! {"request_id": id},
            None => doc! {},
        };
        let limit = if query.limit == 0 { 1000 } else { query.limit } as i64;
        let mut cursor = self
            .coll("audit_log")
            .find(filter)
            .sort(doc! {"_id": 1}) // ids are UUIDv7: time-ordered, monotonic per process
            .limit(limit)
            .await
            .map_err(StoreError::mongo)?;
        let mut out = Vec::new();
        while cursor.advance().await.map_err(StoreError::mongo)? {
            let d = cursor.deserialize_current().map_err(StoreError::mongo)?;
            let event = d
                .get("event")
                .cloned()
                .ok_or_else(|| StoreError::mongo("audit record without event"))?;
            out.push(AuditRecord {
                id: get_str(&d, "_id"),
                at: get_time(&d, "at")?,
                request_id: get_str(&d, "request_id"),
                subject: get_str(&d, "subject"),
                channel: get_str(&d, "channel"),
                prompt_version: get_str(&d, "prompt_version"),
                event: bson::from_bson(event).map_err(StoreError::mongo)?,
            });
        }
        Ok(out)
    }
}

fn approval_from_doc(d: &Document) -> StoreResult<Approval> {
    Ok(Approval {
        id: get_str(d, "_id"),
        request_id: get_str(d, "request_id"),
        requester: get_str(d, "requester"),
        channel: get_str(d, "channel"),
        thread: d.get_str("thread").ok().map(str::to_string),
        tool: get_str(d, "tool"),
        arguments: bson_to_json(d.get("arguments")),
        args_hash: get_str(d, "args_hash"),
        language: if get_str(d, "language") == "ko" {
            crate::domain::Language::Ko
        } else {
            crate::domain::Language::En
        },
        status: ApprovalStatus::parse(&get_str(d, "status")).unwrap_or(ApprovalStatus::Rejected),
        created_at: get_time(d, "created_at")?,
        expires_at: get_time(d, "expires_at")?,
        decided_by: d.get_str("decided_by").ok().map(str::to_string),
        decided_at: d
            .get_datetime("decided_at")
            .ok()
            .map(|t| from_bson_time(*t)),
    })
}

#[async_trait]
impl ApprovalRepo for MongoStore {
    async fn create_approval(&self, a: &Approval) -> StoreResult<()> {
        self.coll("approvals")
            .insert_one(doc! {
                "_id": &a.id,
                "request_id": &a.request_id,
                "requester": &a.requester,
                "channel": &a.channel,
                "thread": a.thread.as_deref(),
                "tool": &a.tool,
                "arguments": json_to_bson(&a.arguments)?,
                "args_hash": &a.args_hash,
                "language": a.language.code(),
                "status": a.status.as_str(),
                "created_at": to_bson_time(a.created_at),
                "expires_at": to_bson_time(a.expires_at),
            })
            .await
            .map_err(StoreError::mongo)?;
        Ok(())
    }

    async fn get_approval(&self, id: &str) -> StoreResult<Option<Approval>> {
        self.coll("approvals")
            .find_one(doc! {"_id": id})
            .await
            .map_err(StoreError::mongo)?
            .as_ref()
            .map(approval_from_doc)
            .transpose()
    }

    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<Approval, DecideError>> {
        let status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Rejected
        };
        let coll = self.coll("approvals");
        let updated = coll
            .find_one_and_update(
                doc! {"_id": id, "status": "pending", "expires_at": {"$gt": to_bson_time(now)}},
                doc! {"$set": {"status": status.as_str(), "decided_by": by, "decided_at": to_bson_time(now)}},
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(StoreError::mongo)?;
        if let Some(d) = updated {
            return Ok(Ok(approval_from_doc(&d)?));
        }
        let Some(current) = self.get_approval(id).await? else {
            return Ok(Err(DecideError::NotFound));
        };
        Ok(Err(match current.status {
            ApprovalStatus::Pending | ApprovalStatus::Expired => {
                coll.update_one(
                    doc! {"_id": id, "status": "pending"},
                    doc! {"$set": {"status": "expired"}},
                )
                .await
                .map_err(StoreError::mongo)?;
                DecideError::Expired
            }
            other => DecideError::AlreadyDecided(other),
        }))
    }
}

#[async_trait]
impl ProcessedEventRepo for MongoStore {
    async fn first_delivery(
        &self,
        platform: &str,
        event_id: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<bool> {
        let coll = self.coll("processed_events");
        let expires_at = to_bson_time(now + ttl);
        match coll
            .insert_one(doc! {"platform": platform, "event_id": event_id, "expires_at": expires_at})
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => {
                // TTL deletion is lazy: an expired record counts as unseen.
                let refreshed = coll
                    .update_one(
                        doc! {"platform": platform, "event_id": event_id, "expires_at": {"$lte": to_bson_time(now)}},
                        doc! {"$set": {"expires_at": expires_at}},
                    )
                    .await
                    .map_err(StoreError::mongo)?;
                Ok(refreshed.modified_count == 1)
            }
            Err(e) => Err(StoreError::mongo(e)),
        }
    }
}

/// Duplicate key, matched on the server's code (11000), not its message.
fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => e.to_string().contains("E11000"),
    }
}

#[async_trait]
impl StoreHealth for MongoStore {
    fn backend(&self) -> &'static str {
        "mongodb"
    }
    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! {"ping": 1})
            .await
            .map(|_| ())
            .map_err(StoreError::mongo)
    }
}
