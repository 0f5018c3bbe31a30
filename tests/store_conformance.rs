//! One conformance suite, run against both stores: SQLite (a temp file) and
//! MongoDB (a fresh database on the nx-27017 test server).

mod common;

use chatops::store::{
    Approval, ApprovalStatus, AuditEvent, AuditQuery, AuditRecord, ChatSession, DecideError, Store,
    Turn,
};
use chrono::Duration;
use common::{Backend, ReopenableStore};
use serde_json::json;

fn session(id: &str, updated_at: chrono::DateTime<chrono::Utc>) -> ChatSession {
    ChatSession {
        session_id: id.into(),
        user_id: "console:alice".into(),
        conversation_history: vec![Turn {
            user: "캐시 적중률은?".into(),
            assistant: "97.3 %".into(),
            tools: vec!["cache_status".into()],
            at: updated_at,
        }],
        context: json!({"platform": "console", "channel": "console:ops", "thread": null}),
        created_at: updated_at,
        updated_at,
        is_active: true,
    }
}

fn audit(request_id: &str, n: u32) -> AuditRecord {
    AuditRecord {
        id: uuid::Uuid::now_v7().to_string(),
        at: chatops::store::now(),
        request_id: request_id.into(),
        subject: "console:alice".into(),
        channel: "console:ops".into(),
        prompt_version: "system@abc".into(),
        event: AuditEvent::ToolOutcome {
            tool: "echo".into(),
            call_id: format!("call_{n}"),
            outcome: "ok".into(),
            duration_ms: n as u64,
            error_kind: None,
            error: None,
        },
    }
}

fn approval(id: &str, expires_in: Duration) -> Approval {
    let now = chatops::store::now();
    Approval {
        id: id.into(),
        request_id: "r1".into(),
        requester: "console:alice".into(),
        channel: "console:ops".into(),
        thread: Some("1700000000.000100".into()),
        tool: "trigger_backtest".into(),
        arguments: json!({"strategy": "RSI", "symbols": ["AAPL"]}),
        args_hash: "h".into(),
        language: chatops::domain::Language::Ko,
        status: ApprovalStatus::Pending,
        created_at: now,
        expires_at: now + expires_in,
        decided_by: None,
        decided_at: None,
    }
}

async fn sessions_round_trip_and_expire(store: Store) {
    let now = chatops::store::now();
    let s = session("s1", now);
    store.sessions.save_session(&s).await.unwrap();
    let loaded = store
        .sessions
        .load_session("s1", now - Duration::hours(24))
        .await
        .unwrap();
    assert_eq!(loaded.as_ref(), Some(&s));
    // Saving again replaces (upsert by session_id).
    let mut s2 = s.clone();
    s2.conversation_history
        .push(s.conversation_history[0].clone());
    store.sessions.save_session(&s2).await.unwrap();
    let loaded = store
        .sessions
        .load_session("s1", now - Duration::hours(24))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.conversation_history.len(), 2);
    // A session last updated 25 h ago is not continued.
    let old = session("s-old", now - Duration::hours(25));
    store.sessions.save_session(&old).await.unwrap();
    assert_eq!(
        store
            .sessions
            .load_session("s-old", now - Duration::hours(24))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .sessions
            .load_session("missing", now - Duration::hours(24))
            .await
            .unwrap(),
        None
    );
}

async fn audit_is_append_only_and_ordered(store: Store) {
    let mut written = Vec::new();
    for n in 0..5 {
        let record = audit("req-a", n);
        store.audit.append(&record).await.unwrap();
        written.push(record);
        store.audit.append(&audit("req-b", n)).await.unwrap();
    }
    let a = store
        .audit
        .query_audit(&AuditQuery {
            request_id: Some("req-a".into()),
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(a.len(), 5);
    let order: Vec<String> = a
        .iter()
        .map(|r| match &r.event {
            AuditEvent::ToolOutcome { call_id, .. } => call_id.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(order, ["call_0", "call_1", "call_2", "call_3", "call_4"]);
    assert_eq!(a, written, "records read back exactly as written, in order");
    let all = store
        .audit
        .query_audit(&AuditQuery {
            request_id: None,
            limit: 3,
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    // The same id twice is refused: records are never overwritten.
    assert!(store.audit.append(&a[0]).await.is_err());
}

async fn approvals_decide_once_and_fail_closed(store: Store) {
    let now = chatops::store::now();
    store
        .approvals
        .create_approval(&approval("ap1", Duration::minutes(10)))
        .await
        .unwrap();
    let got = store.approvals.get_approval("ap1").await.unwrap().unwrap();
    assert_eq!(
        got,
        approval("ap1", Duration::minutes(10)).clone_with_times(&got)
    );
    let decided = store
        .approvals
        .decide_approval("ap1", true, "console:bob", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(decided.status, ApprovalStatus::Approved);
    assert_eq!(decided.decided_by.as_deref(), Some("console:bob"));
    // A second decision is refused.
    assert_eq!(
        store
            .approvals
            .decide_approval("ap1", false, "console:eve", now)
            .await
            .unwrap(),
        Err(DecideError::AlreadyDecided(ApprovalStatus::Approved))
    );
    // Expired: refused and marked expired.
    store
        .approvals
        .create_approval(&approval("ap2", Duration::seconds(-1)))
        .await
        .unwrap();
    assert_eq!(
        store
            .approvals
            .decide_approval("ap2", true, "console:bob", now)
            .await
            .unwrap(),
        Err(DecideError::Expired)
    );
    assert_eq!(
        store
            .approvals
            .get_approval("ap2")
            .await
            .unwrap()
            .unwrap()
            .status,
        ApprovalStatus::Expired
    );
    assert_eq!(
        store
            .approvals
            .decide_approval("nope", true, "console:bob", now)
            .await
            .unwrap(),
        Err(DecideError::NotFound)
    );
    // Rejection.
    store
        .approvals
        .create_approval(&approval("ap3", Duration::minutes(10)))
        .await
        .unwrap();
    let rejected = store
        .approvals
        .decide_approval("ap3", false, "console:bob", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rejected.status, ApprovalStatus::Rejected);
}

async fn events_are_processed_once_within_ttl(store: Store) {
    let now = chatops::store::now();
    let ttl = Duration::hours(1);
    assert!(
        store
            .events
            .first_delivery("slack", "Ev1", now, ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .events
            .first_delivery("slack", "Ev1", now, ttl)
            .await
            .unwrap()
    );
    assert!(
        store
            .events
            .first_delivery("discord", "Ev1", now, ttl)
            .await
            .unwrap()
    );
    // After the TTL the id counts as new again.
    assert!(
        store
            .events
            .first_delivery("slack", "Ev1", now + Duration::hours(2), ttl)
            .await
            .unwrap()
    );
}

async fn state_survives_a_restart(reopenable: &ReopenableStore) {
    let now = chatops::store::now();
    {
        let store = reopenable.open().await;
        store
            .sessions
            .save_session(&session("persist", now))
            .await
            .unwrap();
        store.audit.append(&audit("req-p", 1)).await.unwrap();
    }
    let store = reopenable.open().await;
    assert!(
        store
            .sessions
            .load_session("persist", now - Duration::hours(1))
            .await
            .unwrap()
            .is_some()
    );
    let records = store
        .audit
        .query_audit(&AuditQuery {
            request_id: Some("req-p".into()),
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    store.health.ping().await.unwrap();
}

trait CloneWithTimes {
    fn clone_with_times(&self, other: &Approval) -> Approval;
}

impl CloneWithTimes for Approval {
    /// Same record with the other's timestamps (created separately).
    fn clone_with_times(&self, other: &Approval) -> Approval {
        Approval {
            created_at: other.created_at,
            expires_at: other.expires_at,
            ..self.clone()
        }
    }
}

macro_rules! conformance {
    ($($name:ident),*) => {
        mod sqlite {
            use super::*;
            $(#[tokio::test] async fn $name() {
                let r = ReopenableStore::new(Backend::Sqlite);
                super::$name(r.open().await).await;
            })*
            #[tokio::test] async fn restart() { state_survives_a_restart(&ReopenableStore::new(Backend::Sqlite)).await; }
        }
        mod mongo {
            use super::*;
            $(#[tokio::test] async fn $name() {
                let r = ReopenableStore::new(Backend::Mongo);
                super::$name(r.open().await).await;
            })*
            #[tokio::test] async fn restart() { state_survives_a_restart(&ReopenableStore::new(Backend::Mongo)).await; }
        }
    };
}

conformance!(
    sessions_round_trip_and_expire,
    audit_is_append_only_and_ordered,
    approvals_decide_once_and_fail_closed,
    events_are_processed_once_within_ttl
);
