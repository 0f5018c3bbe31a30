//! The production store: the bot's own MongoDB database (official driver).
//!
//! Collections and their indexes (created at connect, idempotently):
//! - `chat_sessions`: unique `session_id`; `user_id`; `updated_at` with a 24 h
//!   TTL; `is_active`; `user_id + is_active` (the platform's own record).
//! - `audit_log`: `_id` is the record id; unique sparse `seq` (the chain
//!   position); `request_id`; `at_ms`; `at`; `subject`. Insert-only from this
//!   code. The event is the subdocument `event` (with its `kind` tag, also
//!   copied to the top-level `kind`), so `event.tool` and `event.outcome`
//!   filter. `seq` is Int64, `prev_hash` and `hash` hex strings, `at` a BSON
//!   date (whole-document insert) and `at_ms` the same time as Int64 epoch
//!   milliseconds, which time ranges filter on (nx-27017 compares dates to the
//!   second; records from before `at_ms` are matched on `at`). The hash
//!   covers the record, not these query copies (`kind`, `at_ms`). `append`
//!   reads the end of the chain and inserts `seq + 1`; a writer that loses
//!   the race to another replica gets a duplicate key on `seq`, re-reads the
//!   end and tries again (bounded, with a short random pause; no
//!   transaction needed). Records written before the hash chain
//!   existed have no `seq` (the index is sparse so they do not collide): they
//!   read back with `seq` 0 and empty hashes and sort before the chain, and
//!   the chain itself starts at 1.
//! - `llm_usage`: `_id` is the JSON array `[day, subject, channel, model]`
//!   (unambiguous whatever the names contain), with those four also as
//!   fields (`day` a `YYYY-MM-DD` string); `day + subject`; `day + channel`.
//!   Counters grow by `update_one` with upsert and `$inc` (the key fields by
//!   `$setOnInsert`), atomic per document.
//! - `approvals`: `_id` is the approval id; `status + expires_at`.
//! - `processed_events`: unique `platform + event_id`; TTL on `expires_at`.
//! - `jobs`: `_id` is the job id; unique `key` (every job has one: its id when
//!   none is given); `queue + state + run_at` (claiming); `state + lease_until`
//!   (expired leases); `kind + state + created_at` (metrics: the counts per
//!   kind and state walk this index in order, the outbox depth and its oldest
//!   job are a range of it).
//! - `schedule_cursors`: `_id` is the schedule name, `tick` the last tick
//!   handled.
//! - `limit_counters`: `_id` is a limit's window, `n` its count; TTL on
//!   `expires_at` (see `mongo_limits.rs`).
//!
//! Job times (`run_at`, `lease_until`, `created_at`, `updated_at`) and cursor
//! ticks are Int64 epoch milliseconds, not BSON dates: they are written by
//! `$set` and compared in filters, and some wire-compatible servers (the
//! nx-27017 test server) keep a date written by `$set` as a string, which
//! breaks those comparisons.
//!
//! Metrics (`stats`) count with aggregations that nx-27017 evaluates too:
//! its `$group` takes a compound `_id` (`{kind: "$kind", state: "$state"}`)
//! as a literal, so jobs are grouped on `$concat` of kind, a separator and
//! state, split again at the last separator (states never contain it).
//! Approvals and sessions keep BSON dates (whole-document writes), so their
//! counts compare dates, to the second on nx-27017.
//!
//! Every write carries `{w: "majority", j: true}` (the database handle's
//! write concern, set in `durability.rs`).
//!
//! No multi-document transactions: every write is a single-document,
//! idempotent or conditional operation (`abandon_jobs` and `purge_jobs` are
//! many of those: each document changes atomically on its own condition).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};

use super::{
    ApprovalStatus, AuditQuery, AuditRecord, AuditRepo, ChatSession, JobState, ProcessedEventRepo,
    SessionRepo, StoreError, StoreHealth, StoreResult, StoreStats, UsageRepo, UsageRow, UsageScope,
};

pub(super) fn to_bson_time(t: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis())
}

pub(super) fn from_bson_time(t: bson::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or_default()
}

pub(super) fn get_time(d: &Document, key: &str) -> StoreResult<DateTime<Utc>> {
    d.get_datetime(key)
        .map(|t| from_bson_time(*t))
        .map_err(|e| StoreError::mongo(format!("field {key}: {e}")))
}

/// A job or cursor time as stored: Int64 epoch milliseconds.
pub(super) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// An epoch-milliseconds field (any numeric BSON type); `None` when absent or
/// null.
pub(super) fn get_ms(d: &Document, key: &str) -> StoreResult<Option<DateTime<Utc>>> {
    let ms = match d.get(key) {
        None | Some(Bson::Null) => return Ok(None),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(f)) if f.fract() == 0.0 => *f as i64,
        Some(other) => {
            return Err(StoreError::mongo(format!(
                "field {key}: expected epoch milliseconds, found {other}"
            )));
        }
    };
    DateTime::from_timestamp_millis(ms)
        .map(Some)
        .ok_or_else(|| StoreError::mongo(format!("field {key}: {ms} is out of range")))
}

pub(super) fn get_ms_required(d: &Document, key: &str) -> StoreResult<DateTime<Utc>> {
    get_ms(d, key)?.ok_or_else(|| StoreError::mongo(format!("field {key}: missing")))
}

pub(super) fn get_str(d: &Document, key: &str) -> String {
    d.get_str(key).unwrap_or_default().to_string()
}

/// A count stored by this code (any numeric BSON type; servers may narrow
/// Int64 to Int32); 0 when absent.
pub(super) fn get_count(d: &Document, key: &str) -> StoreResult<u64> {
    let n = match d.get(key) {
        None | Some(Bson::Null) => 0,
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(f)) if f.fract() == 0.0 => *f as i64,
        Some(other) => {
            return Err(StoreError::mongo(format!(
                "field {key}: expected a count, found {other}"
            )));
        }
    };
    u64::try_from(n).map_err(|_| StoreError::mongo(format!("field {key}: {n} is negative")))
}

pub(super) fn get_f64(d: &Document, key: &str) -> f64 {
    match d.get(key) {
        Some(Bson::Double(f)) => *f,
        Some(Bson::Int64(n)) => *n as f64,
        Some(Bson::Int32(n)) => f64::from(*n),
        _ => 0.0,
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn json_to_bson(v: &serde_json::Value) -> StoreResult<Bson> {
    bson::to_bson(v).map_err(StoreError::mongo)
}

pub(super) fn bson_to_json(b: Option<&Bson>) -> serde_json::Value {
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
            db: super::durability::durable_database(&client, db_name),
        };
        store.ping().await?;
        store.ensure_indexes().await?;
        Ok(store)
    }

    pub(super) fn coll(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    /// The write concern the store's writes to `collection` carry (what the
    /// driver sends), e.g. for `approvals` and `processed_events`.
    pub fn write_concern_of(&self, collection: &str) -> Option<mongodb::options::WriteConcern> {
        self.coll(collection).write_concern().cloned()
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
        let unique_sparse = || IndexOptions::builder().unique(true).sparse(true).build();
        let sets: [(&str, Vec<IndexModel>); 6] = [
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
                    index(doc! {"seq": 1}, Some(unique_sparse())),
                    index(doc! {"request_id": 1}, None),
                    index(doc! {"at_ms": 1}, None),
                    index(doc! {"at": 1}, None),
                    index(doc! {"subject": 1}, None),
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
            (
                "jobs",
                vec![
                    index(doc! {"key": 1}, Some(unique())),
                    index(doc! {"queue": 1, "state": 1, "run_at": 1}, None),
                    index(doc! {"state": 1, "lease_until": 1}, None),
                    index(doc! {"kind": 1, "state": 1, "created_at": 1}, None),
                ],
            ),
            (
                "llm_usage",
                vec![
                    index(doc! {"day": 1, "subject": 1}, None),
                    index(doc! {"day": 1, "channel": 1}, None),
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

/// How many times `append` tries to take the next `seq` before giving up.
const APPEND_ATTEMPTS: u32 = 50;

/// A short random pause (1–5 ms, a little longer as attempts pile up) before
/// a writer that lost the race for a `seq` tries again.
async fn append_backoff(attempt: u32) {
    let random = u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 5);
    let ms = 1 + random + u64::from(attempt.min(10));
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

fn audit_from_doc(d: &Document) -> StoreResult<AuditRecord> {
    read_audit(d).map_err(|e| {
        let seq = get_count(d, "seq").unwrap_or_default();
        e.unreadable_audit(seq, &get_str(d, "_id"))
    })
}

fn read_audit(d: &Document) -> StoreResult<AuditRecord> {
    let event = d
        .get("event")
        .cloned()
        .ok_or_else(|| StoreError::mongo("audit record without event"))?;
    Ok(AuditRecord {
        id: get_str(d, "_id"),
        at: get_time(d, "at")?,
        request_id: get_str(d, "request_id"),
        subject: get_str(d, "subject"),
        channel: get_str(d, "channel"),
        prompt_version: get_str(d, "prompt_version"),
        event: bson::from_bson(event).map_err(StoreError::mongo)?,
        seq: get_count(d, "seq")?,
        prev_hash: get_str(d, "prev_hash"),
        hash: get_str(d, "hash"),
    })
}

#[async_trait]
impl AuditRepo for MongoStore {
    async fn append(&self, r: &AuditRecord) -> StoreResult<AuditRecord> {
        let coll = self.coll("audit_log");
        let mut record = r.clone();
        // BSON dates keep milliseconds: hash what reads back.
        record.at = from_bson_time(to_bson_time(record.at));
        let event = bson::to_bson(&record.event).map_err(StoreError::mongo)?;
        for attempt in 0..APPEND_ATTEMPTS {
            let last = coll
                .find_one(doc! {"seq": {"$gte": 1_i64}})
                .sort(doc! {"seq": -1})
                .projection(doc! {"seq": 1, "hash": 1})
                .await
                .map_err(StoreError::mongo)?;
            let (last_seq, last_hash) = match &last {
                Some(d) => (get_count(d, "seq")?, get_str(d, "hash")),
                None => (0, String::new()),
            };
            record.seq = last_seq + 1;
            record.prev_hash = last_hash;
            record.hash = record.chain_hash();
            let inserted = coll
                .insert_one(doc! {
                    "_id": &record.id,
                    "seq": to_i64(record.seq),
                    "prev_hash": &record.prev_hash,
                    "hash": &record.hash,
                    "at": to_bson_time(record.at),
                    "at_ms": to_ms(record.at),
                    "request_id": &record.request_id,
                    "subject": &record.subject,
                    "channel": &record.channel,
                    "prompt_version": &record.prompt_version,
                    "kind": record.kind(),
                    "event": event.clone(),
                })
                .await;
            match inserted {
                Ok(_) => return Ok(record),
                Err(e) if is_duplicate_key(&e) => {
                    // Either another writer took this seq (try again on the
                    // new end) or this id is stored already (never overwritten).
                    let taken = coll
                        .find_one(doc! {"_id": &record.id})
                        .projection(doc! {"_id": 1})
                        .await
                        .map_err(StoreError::mongo)?;
                    if taken.is_some() {
                        return Err(StoreError::mongo(format!(
                            "audit record {} exists already: {e}",
                            record.id
                        )));
                    }
                    append_backoff(attempt).await;
                }
                Err(e) => return Err(StoreError::mongo(e)),
            }
        }
        Err(StoreError::mongo(format!(
            "audit record {} not appended: lost the race for the next seq {APPEND_ATTEMPTS} times",
            record.id
        )))
    }

    async fn query_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        // Every condition a clause of one `$and`: nx-27017 drops sibling
        // conditions of an `$or` that compares dates.
        let mut clauses = Vec::new();
        for (key, value) in [
            ("request_id", &q.request_id),
            ("subject", &q.subject),
            ("channel", &q.channel),
            ("event.tool", &q.tool),
            ("event.outcome", &q.outcome),
            ("kind", &q.kind),
        ] {
            if let Some(value) = value {
                clauses.push(doc! {key: value.as_str()});
            }
        }
        // Time ranges on `at_ms` (epoch milliseconds; `at` for records from
        // before it existed): exact to the millisecond also on servers that
        // compare dates to the second (nx-27017).
        let (mut at_ms, mut at) = (doc! {}, doc! {});
        if let Some(since) = q.since {
            at_ms.insert("$gte", to_ms(since));
            at.insert("$gte", to_bson_time(since));
        }
        if let Some(until) = q.until {
            at_ms.insert("$lt", to_ms(until));
            at.insert("$lt", to_bson_time(until));
        }
        if !at_ms.is_empty() {
            clauses.push(doc! {"$or": [
                {"at_ms": at_ms},
                {"at_ms": {"$exists": false}, "at": at},
            ]});
        }
        // Paging through the chain only sees chained records, whose seq is
        // unique: seq alone orders them (and the seq index serves the sort).
        // Otherwise records from before the chain (no seq) come first, by id
        // (UUIDv7: time order).
        let sort = match q.after_seq {
            Some(after) => {
                clauses.push(doc! {"seq": {"$gt": to_i64(after)}});
                doc! {"seq": 1}
            }
            None => doc! {"seq": 1, "_id": 1},
        };
        let filter = if clauses.is_empty() {
            doc! {}
        } else {
            doc! {"$and": clauses}
        };
        let limit = if q.limit == 0 { 1000 } else { q.limit };
        let cursor = self
            .coll("audit_log")
            .find(filter)
            .sort(sort)
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(StoreError::mongo)?;
        drain(cursor).await?.iter().map(audit_from_doc).collect()
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
pub(super) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
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
    async fn stats(
        &self,
        now: DateTime<Utc>,
        active_since: DateTime<Utc>,
    ) -> StoreResult<StoreStats> {
        let jobs = self.coll("jobs");
        // Sorted on the `kind + state + created_at` index first, so the
        // server groups while walking it (kind and state are all it reads).
        let groups = aggregate(
            &jobs,
            vec![
                doc! {"$sort": {"kind": 1, "state": 1}},
                doc! {"$group": {
                    "_id": {"$concat": ["$kind", JOB_GROUP_SEPARATOR, "$state"]},
                    "n": {"$sum": 1_i32},
                }},
            ],
        )
        .await?;
        let mut rows = Vec::with_capacity(groups.len());
        for g in &groups {
            // A job without a string kind or state (not written by this
            // code) groups under null: counted as a dead job of no kind.
            let (kind, state) = g
                .get_str("_id")
                .ok()
                .and_then(|id| id.rsplit_once(JOB_GROUP_SEPARATOR))
                .unwrap_or(("", ""));
            rows.push((kind.to_string(), state.to_string(), get_count(g, "n")?));
        }
        let outbox = aggregate(
            &jobs,
            vec![
                doc! {"$match": {
                    "kind": "deliver",
                    "state": {"$in": [JobState::Pending.as_str(), JobState::Running.as_str()]},
                }},
                doc! {"$group": {"_id": Bson::Null, "n": {"$sum": 1_i32}, "oldest": {"$min": "$created_at"}}},
            ],
        )
        .await?;
        let (outbox_depth, outbox_oldest) = match outbox.first() {
            Some(d) => (get_count(d, "n")?, get_ms(d, "oldest")?),
            None => (0, None),
        };
        let approvals_pending = self
            .coll("approvals")
            .count_documents(doc! {
                "status": ApprovalStatus::Pending.as_str(),
                "expires_at": {"$gt": to_bson_time(now)},
            })
            .await
            .map_err(StoreError::mongo)?;
        let sessions_active = self
            .coll("chat_sessions")
            .count_documents(doc! {
                "is_active": true,
                "updated_at": {"$gte": to_bson_time(active_since)},
            })
            .await
            .map_err(StoreError::mongo)?;
        Ok(StoreStats {
            jobs: super::sqlite::job_counts(rows.into_iter()),
            outbox_depth,
            outbox_oldest,
            approvals_pending,
            sessions_active,
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! {"ping": 1})
            .await
            .map(|_| ())
            .map_err(StoreError::mongo)
    }
}

/// Between kind and state in the `$group` key of the job counts.
const JOB_GROUP_SEPARATOR: &str = "\u{1f}";

/// Every document an aggregation returns (a handful: groups).
async fn aggregate(
    coll: &Collection<Document>,
    pipeline: Vec<Document>,
) -> StoreResult<Vec<Document>> {
    drain(coll.aggregate(pipeline).await.map_err(StoreError::mongo)?).await
}

/// Every document left in `cursor`, in order.
pub(super) async fn drain(mut cursor: mongodb::Cursor<Document>) -> StoreResult<Vec<Document>> {
    let mut out = Vec::new();
    while cursor.advance().await.map_err(StoreError::mongo)? {
        out.push(cursor.deserialize_current().map_err(StoreError::mongo)?);
    }
    Ok(out)
}

pub(super) fn day_text(day: chrono::NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn usage_from_doc(d: &Document) -> StoreResult<UsageRow> {
    let day = get_str(d, "day");
    Ok(UsageRow {
        day: chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
            .map_err(|e| StoreError::mongo(format!("field day: {day:?}: {e}")))?,
        subject: get_str(d, "subject"),
        channel: get_str(d, "channel"),
        model: get_str(d, "model"),
        calls: get_count(d, "calls")?,
        prompt_tokens: get_count(d, "prompt_tokens")?,
        completion_tokens: get_count(d, "completion_tokens")?,
        cost_usd: get_f64(d, "cost_usd"),
    })
}

#[async_trait]
impl UsageRepo for MongoStore {
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
        let day = day_text(day);
        let id = serde_json::json!([day, subject, channel, model]).to_string();
        let update = doc! {
            "$inc": {
                "calls": 1_i64,
                "prompt_tokens": to_i64(prompt_tokens),
                "completion_tokens": to_i64(completion_tokens),
                "cost_usd": cost_usd,
            },
            "$setOnInsert": {"day": &day, "subject": subject, "channel": channel, "model": model},
        };
        // Two first calls for one key at once: both may try to insert, and
        // the loser gets a duplicate key; its second try finds the document.
        let mut tries = 0;
        loop {
            tries += 1;
            match self
                .coll("llm_usage")
                .update_one(doc! {"_id": &id}, update.clone())
                .upsert(true)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_duplicate_key(&e) && tries < 3 => continue,
                Err(e) => return Err(StoreError::mongo(e)),
            }
        }
    }

    async fn usage(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> StoreResult<Vec<UsageRow>> {
        let cursor = self
            .coll("llm_usage")
            .find(doc! {"day": {"$gte": day_text(from), "$lte": day_text(to)}})
            .sort(doc! {"day": 1, "subject": 1, "channel": 1, "model": 1})
            .await
            .map_err(StoreError::mongo)?;
        drain(cursor).await?.iter().map(usage_from_doc).collect()
    }

    async fn tokens_used(&self, day: chrono::NaiveDate, scope: &UsageScope) -> StoreResult<u64> {
        let filter = match scope {
            UsageScope::Subject(s) => doc! {"day": day_text(day), "subject": s},
            UsageScope::Channel(c) => doc! {"day": day_text(day), "channel": c},
        };
        // A handful of rows (one per channel or person and model): summed
        // here rather than by an aggregation.
        let cursor = self
            .coll("llm_usage")
            .find(filter)
            .projection(doc! {"prompt_tokens": 1, "completion_tokens": 1})
            .await
            .map_err(StoreError::mongo)?;
        let mut total = 0_u64;
        for d in drain(cursor).await? {
            total = total
                .saturating_add(get_count(&d, "prompt_tokens")?)
                .saturating_add(get_count(&d, "completion_tokens")?);
        }
        Ok(total)
    }
}
