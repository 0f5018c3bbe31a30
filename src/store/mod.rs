//! The bot's own persistent state, behind repository traits with two
//! implementations: MongoDB (`mongo.rs`, production) and SQLite (`sqlite.rs`,
//! the embedded default). Both pass the same conformance suite
//! (`tests/it/store_conformance.rs`).
//!
//! Owns the record types (sessions, audit records, approvals, processed
//! events, jobs and schedule cursors, LLM usage, limit counters) and the
//! traits. The shared limits ([`LimitRepo`]) are implemented in files of their
//! own (`sqlite_limits.rs`, `mongo_limits.rs`). The audit
//! trait has no update or delete: the log is append-only by construction,
//! and each record carries the hash of the one before it, so an edit made
//! behind the bot's back shows ([`verify_audit_chain`]).

pub mod audit_head;
pub mod backends;
mod durability;
pub mod mongo;
mod mongo_approvals;
mod mongo_jobs;
pub mod mongo_limits;
pub mod sqlite;
mod sqlite_approvals;
mod sqlite_jobs;
pub mod sqlite_limits;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A storage failure. The message is for operators (logs), never for chat.
#[derive(Debug, thiserror::Error)]
#[error("{backend} store: {message}")]
pub struct StoreError {
    pub backend: &'static str,
    pub message: String,
    /// Set when an audit record no longer reads as one (edited into
    /// nonsense): its `seq` and id, for `verify_audit_chain` to name.
    pub unreadable_audit: Option<(u64, String)>,
}

impl StoreError {
    pub fn sqlite(e: impl std::fmt::Display) -> Self {
        Self {
            backend: "sqlite",
            message: e.to_string(),
            unreadable_audit: None,
        }
    }
    pub fn mongo(e: impl std::fmt::Display) -> Self {
        Self {
            backend: "mongodb",
            message: e.to_string(),
            unreadable_audit: None,
        }
    }

    /// The audit record `seq` (`id`) cannot be read.
    pub fn unreadable_audit(self, seq: u64, id: &str) -> Self {
        Self {
            message: format!(
                "audit record seq {seq} ({id}) cannot be read: {}",
                self.message
            ),
            unreadable_audit: Some((seq, id.to_string())),
            ..self
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One question and its answer, as kept in a session's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub user: String,
    pub assistant: String,
    /// Names of the tools that ran for this answer.
    #[serde(default)]
    pub tools: Vec<String>,
    pub at: DateTime<Utc>,
}

/// A conversation (`chat_sessions`; field names follow the platform's own record).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatSession {
    pub session_id: String,
    pub user_id: String,
    pub conversation_history: Vec<Turn>,
    /// Free-form state of the conversation (platform, channel, thread).
    pub context: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub is_active: bool,
}

/// Sessions: load the live one, save after each turn.
#[async_trait]
pub trait SessionRepo: Send + Sync {
    /// The session if it exists, is active and was updated after `not_before`.
    async fn load_session(
        &self,
        session_id: &str,
        not_before: DateTime<Utc>,
    ) -> StoreResult<Option<ChatSession>>;
    /// Insert or replace by `session_id`.
    async fn save_session(&self, session: &ChatSession) -> StoreResult<()>;
}

/// One audit record. Appended, never changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: String,
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub subject: String,
    pub channel: String,
    /// Content hash of the system prompt in force.
    pub prompt_version: String,
    pub event: AuditEvent,
    /// Position in this store's chain: 1, 2, … without gaps. Set by `append`.
    #[serde(default)]
    pub seq: u64,
    /// The previous record's `hash` (empty for the first). Set by `append`.
    #[serde(default)]
    pub prev_hash: String,
    /// [`AuditRecord::chain_hash`] of this record. Set by `append`.
    #[serde(default)]
    pub hash: String,
}

impl AuditRecord {
    pub fn kind(&self) -> &'static str {
        self.event.kind()
    }

    /// The hash this record must carry: SHA-256 (hex) over `prev_hash` and the
    /// canonical JSON of every other field but `hash` itself.
    pub fn chain_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let content = serde_json::json!({
            "id": self.id,
            "at": self.at,
            "request_id": self.request_id,
            "subject": self.subject,
            "channel": self.channel,
            "prompt_version": self.prompt_version,
            "event": self.event,
            "seq": self.seq,
            "prev_hash": self.prev_hash,
        });
        let mut h = Sha256::new();
        h.update(crate::canonical::canonical_json(&content).as_bytes());
        hex::encode(h.finalize())
    }
}

/// What happened. Arguments are stored redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditEvent {
    MessageIn {
        platform: String,
        language: String,
        /// The message, redacted.
        text: String,
    },
    LlmCall {
        model: String,
        step: u32,
        prompt_tokens: u32,
        completion_tokens: u32,
        latency_ms: u64,
        ok: bool,
        error_kind: Option<String>,
        /// USD, from the model catalog's prices.
        #[serde(default)]
        cost_usd: f64,
        /// The server reported no usage: the tokens were counted.
        #[serde(default)]
        usage_counted: bool,
        /// The version of the prompt the call was made with (`system@…`,
        /// `digest_summary@…`); absent on records from before it was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
        /// The server stopped the answer at the model's length limit.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cut_off: bool,
    },
    /// A message that was not run, and why (message_too_long,
    /// rate_limited_user, rate_limited_channel, busy, too_many_tool_calls).
    /// A refused message is recorded by its length and hash, never its text;
    /// records from before these were kept have neither.
    Refused {
        reason: String,
        retry_after_secs: Option<u64>,
        /// The message's length in characters (secrets removed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chars: Option<u64>,
        /// SHA-256 (hex) of the message's text (secrets removed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        /// Nothing was posted: the person was already told in this window.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        quiet: bool,
    },
    /// A fleet-wide daily cap was reached (`limits.global_daily_tokens` or
    /// `limits.global_daily_cost_usd`): recorded once per cap and day across
    /// the replicas, when the admins are told.
    CapReached {
        /// tokens or cost_usd.
        cap: String,
        /// The UTC day, `YYYY-MM-DD`.
        day: String,
        /// Tokens or USD used that day by everyone.
        used: f64,
        limit: f64,
        /// Where the admins were told (`limits.alert_channel`); `None` when
        /// none is configured (or the alert could not be stored).
        alert_channel: Option<String>,
    },
    /// An event the bot did not answer: from a workspace (Slack team,
    /// Discord guild or `dm`) outside the allowlist (`workspace_not_served`).
    Ignored { reason: String, workspace: String },
    /// A daily token budget was used up; the offline planner answered.
    BudgetExceeded {
        /// user or channel.
        scope: String,
        used: u64,
        limit: u64,
    },
    /// The message held what looks like a secret (removed before anything else saw it).
    SecretInMessage {
        /// What was found: api key, token, password in a connection string…
        kinds: Vec<String>,
    },
    /// `model …`: the conversation's model shown, set or refused.
    ModelSelected {
        model: String,
        /// shown, set or refused.
        outcome: String,
    },
    ToolAttempt {
        tool: String,
        call_id: String,
        arguments: Value,
        /// `allow` or `deny`.
        decision: String,
        deny_reason: Option<String>,
        role: String,
        approval_id: Option<String>,
        approver: Option<String>,
    },
    ToolOutcome {
        tool: String,
        call_id: String,
        /// ok, denied, error, needs_approval, rejected.
        outcome: String,
        duration_ms: u64,
        error_kind: Option<String>,
        /// Operator-facing error detail, redacted.
        error: Option<String>,
    },
    /// A decision on an approval: a human's (approved, cancelled, or refused
    /// and why), or its expiry when nobody decided in time (`system:approvals`).
    ApprovalDecided {
        approval_id: String,
        tool: String,
        approver: String,
        /// approved, cancelled, first_approval (four-eyes), refused or expired.
        decision: String,
        reason: Option<String>,
    },
    ReplyOut {
        chars: u32,
        offline: bool,
        /// answered, step_limit, timeout, failed.
        status: String,
        /// The live fact check of an LLM answer (`agent::fact_check`):
        /// `grounded`, `regenerated` (asked again once, then grounded) or
        /// `unverified` (sent with its ungrounded numbers marked). Absent
        /// when nothing was checked: an offline answer, no tool data this
        /// turn, or a record from before the check.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fact_check: Option<String>,
        /// The numbers marked unverified in the answer, as written ("42",
        /// "17.5 %"), at most 20.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unverified_numbers: Vec<String>,
    },
    /// A job used up its attempts (each failed, panicked, timed out or ran
    /// past its lease): dead, never run again. Recorded by the worker whose
    /// claim found it so.
    JobDead {
        job_id: String,
        /// deliver, watch_backtest, digest, approval_expiry…
        job_kind: String,
        attempts: u32,
        /// How its last attempt ended.
        reason: String,
    },
    /// An outbox message left the bot for good: sent, or dead and why.
    Delivery {
        job_id: String,
        /// What the message was: notification, digest…
        purpose: String,
        /// sent or dead.
        outcome: String,
        attempts: u32,
        reason: Option<String>,
    },
}

impl AuditEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            AuditEvent::MessageIn { .. } => "message_in",
            AuditEvent::LlmCall { .. } => "llm_call",
            AuditEvent::ToolAttempt { .. } => "tool_attempt",
            AuditEvent::ToolOutcome { .. } => "tool_outcome",
            AuditEvent::ApprovalDecided { .. } => "approval_decided",
            AuditEvent::ReplyOut { .. } => "reply_out",
            AuditEvent::Delivery { .. } => "delivery",
            AuditEvent::JobDead { .. } => "job_dead",
            AuditEvent::Refused { .. } => "refused",
            AuditEvent::Ignored { .. } => "ignored",
            AuditEvent::BudgetExceeded { .. } => "budget_exceeded",
            AuditEvent::CapReached { .. } => "cap_reached",
            AuditEvent::SecretInMessage { .. } => "secret_in_message",
            AuditEvent::ModelSelected { .. } => "model_selected",
        }
    }
}

/// Which records to read back; every filter that is set must match.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub request_id: Option<String>,
    /// Who (`subject`).
    pub subject: Option<String>,
    /// Where (`channel`).
    pub channel: Option<String>,
    /// Records about this tool (tool attempts, outcomes, approval decisions).
    pub tool: Option<String>,
    /// The event's `outcome` (tool outcomes: ok, denied, error…; deliveries: sent, dead).
    pub outcome: Option<String>,
    /// The event kind (`tool_outcome`, `llm_call`…).
    pub kind: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// Only records with `seq` above this (paging through the chain).
    pub after_seq: Option<u64>,
    /// At most this many (0: at most 1,000).
    pub limit: usize,
}

/// The append-only audit log. There is deliberately no update or delete.
#[async_trait]
pub trait AuditRepo: Send + Sync {
    /// Append `record` at the end of this store's chain. The store sets
    /// `seq`, `prev_hash` and `hash` (whatever the record carried) and
    /// returns the record as stored. Safe with several writers (replicas):
    /// a writer that loses the race for a `seq` retries on the new end.
    async fn append(&self, record: &AuditRecord) -> StoreResult<AuditRecord>;
    /// Matching records in chain order (by `seq`), oldest first.
    async fn query_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
}

/// What `chatops audit verify` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainReport {
    /// Records checked.
    pub records: u64,
    /// The seq of the last record that links up (0: none); with an intact
    /// chain, where the store ends.
    pub last_seq: u64,
    /// The first record that does not link up, if any.
    pub first_broken: Option<BrokenLink>,
}

/// A record whose link in the chain is broken, and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokenLink {
    pub seq: u64,
    pub id: String,
    /// e.g. "its content does not match its hash (edited)", "seq 41 is missing (deleted)",
    /// "prev_hash does not match record 40".
    pub reason: String,
}

/// Walk the whole chain in `seq` order, `page` records at a time, and report
/// the first broken link: a record whose content no longer matches its hash
/// (edited), whose `prev_hash` is not the previous record's hash (edited or
/// re-linked), or a gap in `seq` (deleted).
///
/// Records written before the chain existed (an audit log older than this
/// version: no `hash`) cannot be checked; the first of them is reported as
/// the first broken link, with the reason "written before the hash chain
/// existed". Nothing is checked past the first break. Deleting the newest
/// records (cutting the tail) leaves a valid shorter chain: the head kept
/// outside the store (`audit_head.rs`) catches that.
pub async fn verify_audit_chain(repo: &dyn AuditRepo, page: usize) -> StoreResult<ChainReport> {
    /// Why `record` does not follow `last` (seq and hash of the previous record;
    /// `None` for the first), if it does not.
    fn broken_link(last: Option<&(u64, String)>, record: &AuditRecord) -> Option<String> {
        if record.hash.is_empty() && last.is_none() {
            return Some("written before the hash chain existed (it has no hash)".into());
        }
        let (expected_seq, expected_prev) = match last {
            Some((seq, hash)) => (seq + 1, hash.as_str()),
            None => (1, ""),
        };
        if record.seq > expected_seq {
            return Some(if record.seq == expected_seq + 1 {
                format!("seq {expected_seq} is missing (deleted?)")
            } else {
                format!(
                    "seqs {expected_seq} to {} are missing (deleted?)",
                    record.seq - 1
                )
            });
        }
        if record.seq < expected_seq {
            return Some(format!(
                "seq {} comes after seq {} (duplicated or re-numbered)",
                record.seq,
                expected_seq - 1
            ));
        }
        if record.prev_hash != expected_prev {
            return Some(match last {
                Some((seq, _)) => format!("prev_hash does not match record {seq}"),
                None => "prev_hash of the first record is not empty".into(),
            });
        }
        if record.chain_hash() != record.hash {
            return Some("its content does not match its hash (edited)".into());
        }
        None
    }

    let page = if page == 0 { 1000 } else { page };
    let mut records = 0_u64;
    // The last good record's seq and hash.
    let mut last: Option<(u64, String)> = None;
    loop {
        let batch = match repo
            .query_audit(&AuditQuery {
                after_seq: last.as_ref().map(|(seq, _)| *seq),
                limit: page,
                ..Default::default()
            })
            .await
        {
            Ok(batch) => batch,
            // A record edited into something that is not a record any more.
            Err(StoreError {
                unreadable_audit: Some((seq, id)),
                ..
            }) => {
                return Ok(ChainReport {
                    records: records + 1,
                    last_seq: last.map_or(0, |(seq, _)| seq),
                    first_broken: Some(BrokenLink {
                        seq,
                        id,
                        reason: "it no longer reads as an audit record (edited)".into(),
                    }),
                });
            }
            Err(e) => return Err(e),
        };
        if batch.is_empty() {
            break;
        }
        for record in batch {
            records += 1;
            if let Some(reason) = broken_link(last.as_ref(), &record) {
                return Ok(ChainReport {
                    records,
                    last_seq: last.map_or(0, |(seq, _)| seq),
                    first_broken: Some(BrokenLink {
                        seq: record.seq,
                        id: record.id,
                        reason,
                    }),
                });
            }
            last = Some((record.seq, record.hash));
        }
    }
    Ok(ChainReport {
        records,
        last_seq: last.map_or(0, |(seq, _)| seq),
        first_broken: None,
    })
}

/// One row of LLM usage: per UTC day, person, channel and model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    pub day: chrono::NaiveDate,
    pub subject: String,
    pub channel: String,
    pub model: String,
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
}

/// Whose tokens to count.
#[derive(Debug, Clone, PartialEq)]
pub enum UsageScope {
    Subject(String),
    Channel(String),
}

/// LLM usage counters (tokens and cost), for budgets and `/ops usage`.
#[async_trait]
pub trait UsageRepo: Send + Sync {
    /// Add one LLM call to the counters of (`day`, `subject`, `channel`,
    /// `model`), creating the row when it is the first. Atomic increments:
    /// replicas may add concurrently.
    #[allow(clippy::too_many_arguments)]
    async fn add_usage(
        &self,
        day: chrono::NaiveDate,
        subject: &str,
        channel: &str,
        model: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
        cost_usd: f64,
    ) -> StoreResult<()>;
    /// Rows of days `from..=to`, ordered by day, subject, channel, model.
    async fn usage(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> StoreResult<Vec<UsageRow>>;
    /// Prompt + completion tokens used on `day` by `scope` (all models).
    async fn tokens_used(&self, day: chrono::NaiveDate, scope: &UsageScope) -> StoreResult<u64>;
}

/// What every LLM call of one UTC day added up to, over every person,
/// channel and model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DayTotals {
    /// Prompt + completion tokens.
    pub tokens: u64,
    pub cost_usd: f64,
}

/// What limits that must hold across replicas read and count: every replica
/// shares the store, so a limit counted here holds for the fleet, not per
/// process.
#[async_trait]
pub trait LimitRepo: Send + Sync {
    /// Add one to the counter `key` and return its count, this hit included
    /// (1 for the first). A new counter expires `ttl` after `now`; the key
    /// names its window (scope, id and the window's start), so it is never
    /// counted again after that and expiry only frees the space. Atomic:
    /// replicas may count the same key at once and no hit is lost.
    async fn count_hit(
        &self,
        key: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<u64>;
    /// Tokens and cost of every LLM call on `day`, everyone and every channel.
    async fn day_totals(&self, day: chrono::NaiveDate) -> StoreResult<DayTotals>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

/// A mutating tool call waiting for (or past) a human decision. Bound to the
/// exact tool and arguments by `args_hash`.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    pub id: String,
    pub request_id: String,
    pub requester: String,
    /// The requester's platform groups when they asked (their role on the record).
    pub requester_groups: Vec<String>,
    pub channel: String,
    pub thread: Option<String>,
    pub tool: String,
    pub arguments: Value,
    pub args_hash: String,
    /// The language of the request, for what is said when it is decided.
    pub language: crate::domain::Language,
    pub status: ApprovalStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Four-eyes: who gave the first of two approvals.
    pub first_approver: Option<String>,
}

/// Why a decision could not be recorded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecideError {
    #[error("no such approval")]
    NotFound,
    #[error("already {}", .0.as_str())]
    AlreadyDecided(ApprovalStatus),
    #[error("expired")]
    Expired,
}

#[async_trait]
pub trait ApprovalRepo: Send + Sync {
    async fn create_approval(&self, approval: &Approval) -> StoreResult<()>;
    async fn get_approval(&self, id: &str) -> StoreResult<Option<Approval>>;
    /// Pending approvals not expired at `now`, the soonest to expire first,
    /// at most `limit` (`chatops approvals`).
    async fn pending_approvals(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Approval>>;
    /// Atomically move a pending, unexpired approval to approved or rejected.
    /// An expired one is marked expired and refused (fails closed).
    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<Approval, DecideError>>;
    /// Four-eyes: atomically record `by` as the first approver of a pending,
    /// unexpired approval that has none (`Ok(None)`); when someone approved
    /// first already, who (`Ok(Some(first))`). An expired one is marked
    /// expired and refused.
    async fn first_approval(
        &self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<Option<String>, DecideError>>;
}

/// Deduplication of platform deliveries (Slack retries, gateway replays).
#[async_trait]
pub trait ProcessedEventRepo: Send + Sync {
    /// True the first time `(platform, event_id)` is seen within the TTL.
    async fn first_delivery(
        &self,
        platform: &str,
        event_id: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> StoreResult<bool>;
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for `run_at`.
    Pending,
    /// Claimed by a worker until `lease_until`; claimable again after it.
    Running,
    /// Finished; never runs again.
    Done,
    /// Failed for good (`last_error` says why).
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "done" => Self::Done,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

/// A job to store: background work the bot promised (a backtest watch, a
/// digest, an outbound message).
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// What to do: `watch_backtest`, `digest`, `deliver`.
    pub kind: String,
    /// Which workers may run it: `slack`, `discord`, `console` (jobs that
    /// post there) or `digest`.
    pub queue: String,
    /// Unique over all jobs: enqueueing a key that exists stores nothing.
    /// `None` uses the job's id.
    pub key: Option<String>,
    pub payload: Value,
    pub run_at: DateTime<Utc>,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub queue: String,
    pub key: String,
    pub payload: Value,
    pub state: JobState,
    /// Claims since the job was stored or last snoozed.
    pub attempts: u32,
    pub run_at: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a worker settles a job it claimed.
#[derive(Debug, Clone, PartialEq)]
pub enum JobRelease {
    /// Finished.
    Done,
    /// Nothing failed, run again at `run_at` (a poll that found nothing yet):
    /// `payload` replaces the stored one and `attempts` goes back to 0.
    Snooze {
        run_at: DateTime<Utc>,
        payload: Value,
    },
    /// Failed; run again at `run_at`. `payload` replaces the stored one
    /// (progress made before the failure).
    Retry {
        run_at: DateTime<Utc>,
        error: String,
        payload: Value,
    },
    /// The run failed without saying how to go on (it panicked, or ran out
    /// of its time): run again at `run_at`. The stored payload is kept, with
    /// any progress the job saved while it ran ([`JobRepo::save_job_progress`]).
    Failed {
        run_at: DateTime<Utc>,
        error: String,
    },
    /// Failed for good.
    Dead { error: String },
}

/// What a claim hands the worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Run it: running under the worker's lease, this claim counted in `attempts`.
    Run(Job),
    /// Its attempts were used up (`max_attempts` claims, each failed, timed
    /// out or ran past its lease): it is dead now, `last_error` says how its
    /// last attempt ended. Nobody runs it; the worker audits it.
    Dead(Job),
}

impl Claim {
    /// The job to run, if this claim is one.
    pub fn into_run(self) -> Option<Job> {
        match self {
            Claim::Run(job) => Some(job),
            Claim::Dead(_) => None,
        }
    }
}

/// `last_error` of a job buried at claim while its lease had run out: its
/// last attempt never settled (the worker hung past its lease, crashed or
/// was killed).
pub const RAN_PAST_ITS_LEASE: &str = "ran past its lease without settling";

/// Durable background work, claimed with a lease. Jobs whose worker died are
/// claimable again once the lease expires; a worker whose lease expired can no
/// longer settle the job (`release_job` answers false).
#[async_trait]
pub trait JobRepo: Send + Sync {
    /// Store a pending job. `Ok(None)` when a job with the same key exists
    /// (whatever its state): nothing is stored.
    async fn enqueue(&self, job: &NewJob, now: DateTime<Utc>) -> StoreResult<Option<String>>;
    /// Atomically claim the job with the earliest `run_at` among those in
    /// `queues` that are pending with `run_at <= now`, or running with
    /// `lease_until < now`. It becomes running, owned by `worker` until
    /// `now + lease`, with `attempts + 1`: every claim counts, so a run that
    /// panics, hangs or dies before it settles is an attempt too.
    ///
    /// The cap is kept here, the one place every run passes through: a due
    /// job already claimed `max_attempts` times is never handed out again.
    /// Such jobs are buried first, one per call ([`Claim::Dead`]): dead, with
    /// [`RAN_PAST_ITS_LEASE`] as `last_error` when its lease had run out, else
    /// the error its last attempt settled with.
    async fn claim_job(
        &self,
        worker: &str,
        queues: &[&str],
        now: DateTime<Utc>,
        lease: chrono::Duration,
        max_attempts: u32,
    ) -> StoreResult<Option<Claim>>;
    /// Replace the payload of a job `worker` holds: progress saved while it
    /// runs (an outbox part sent), kept whatever ends the run. False (and
    /// nothing changes) when the job is not running under `worker`'s lease.
    async fn save_job_progress(
        &self,
        id: &str,
        worker: &str,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Settle a job `worker` claimed. False (and nothing changes) when the job
    /// is not running under `worker`'s lease any more.
    async fn release_job(
        &self,
        id: &str,
        worker: &str,
        release: &JobRelease,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Give back every job `worker` holds (shutdown): pending again at once,
    /// the claim not counted.
    async fn abandon_jobs(&self, worker: &str, now: DateTime<Utc>) -> StoreResult<u64>;
    async fn get_job(&self, id: &str) -> StoreResult<Option<Job>>;
    /// Jobs of `kind` (all kinds when `None`), oldest first, at most `limit`.
    async fn list_jobs(&self, kind: Option<&str>, limit: usize) -> StoreResult<Vec<Job>>;
    /// Delete done and dead jobs last updated before `before`; returns how many.
    async fn purge_jobs(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// The last tick the schedule `name` was handled for.
    async fn schedule_cursor(&self, name: &str) -> StoreResult<Option<DateTime<Utc>>>;
    /// Compare-and-set the schedule's cursor from `from` (`None`: no cursor
    /// yet) to `to`. False when the cursor was not `from` (another replica
    /// moved it).
    async fn advance_schedule_cursor(
        &self,
        name: &str,
        from: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
    ) -> StoreResult<bool>;
}

/// Counts of the bot's own state, for `/metrics` (read at scrape time).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// (kind, state, how many), every combination that has jobs.
    pub jobs: Vec<(String, JobState, u64)>,
    /// Outbox depth: `deliver` jobs not yet settled (pending or running).
    pub outbox_depth: u64,
    /// When the oldest of those was stored.
    pub outbox_oldest: Option<DateTime<Utc>>,
    /// Approvals pending and not yet expired at `now`.
    pub approvals_pending: u64,
    /// Active sessions updated at or after `active_since`.
    pub sessions_active: u64,
}

/// Liveness of the backend, for `chatops check` and readiness, and its counts for metrics.
#[async_trait]
pub trait StoreHealth: Send + Sync {
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;
    /// Index-backed counts (no collection scans beyond the jobs table's state index).
    async fn stats(
        &self,
        now: DateTime<Utc>,
        active_since: DateTime<Utc>,
    ) -> StoreResult<StoreStats>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_out_record_from_before_the_fact_check_reads_and_hashes_as_stored() {
        let stored = r#"{"kind":"reply_out","chars":12,"offline":false,"status":"answered"}"#;
        let event: AuditEvent = serde_json::from_str(stored).unwrap();
        assert_eq!(
            event,
            AuditEvent::ReplyOut {
                chars: 12,
                offline: false,
                status: "answered".into(),
                fact_check: None,
                unverified_numbers: Vec::new(),
            }
        );
        // Serialized back exactly as stored: its chain hash is unchanged.
        assert_eq!(
            crate::canonical::canonical_json(&serde_json::to_value(&event).unwrap()),
            crate::canonical::canonical_json(&serde_json::from_str(stored).unwrap())
        );
    }
}
