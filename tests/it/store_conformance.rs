//! One conformance suite, run against both stores: SQLite (a temp file) and
//! MongoDB (a fresh database on the nx-27017 test server). The shared limits
//! (`LimitRepo`: window counters, the day's totals) are part of it.

use crate::common;

use chatops::store::backends::Store;
use chatops::store::{
    Approval, ApprovalStatus, AuditEvent, AuditQuery, AuditRecord, ChainReport, ChatSession, Claim,
    DayTotals, DecideError, Job, JobRelease, JobState, NewJob, RAN_PAST_ITS_LEASE, StoreStats,
    Turn, UsageRow, UsageScope, verify_audit_chain,
};
use chrono::{Duration, NaiveDate};
use common::{Backend, ReopenableStore};
use mongodb::bson::{self, doc};
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
        at: chatops::clock::now(),
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
        seq: 0,
        prev_hash: String::new(),
        hash: String::new(),
    }
}

fn approval(id: &str, expires_in: Duration) -> Approval {
    let now = chatops::clock::now();
    Approval {
        id: id.into(),
        request_id: "r1".into(),
        requester: "console:alice".into(),
        requester_groups: vec!["slack-group:S0OPS".into()],
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
        first_approver: None,
    }
}

async fn approvals_pending_are_listed_soonest_to_expire_first(store: Store) {
    let now = chatops::clock::now();
    for (id, expires_in) in [
        ("late", Duration::minutes(30)),
        ("soon", Duration::minutes(5)),
        ("gone", Duration::seconds(-1)),
        ("done", Duration::minutes(10)),
        ("mid", Duration::minutes(10)),
    ] {
        store
            .approvals
            .create_approval(&approval(id, expires_in))
            .await
            .unwrap();
    }
    store
        .approvals
        .decide_approval("done", true, "console:bob", now)
        .await
        .unwrap()
        .unwrap();
    let ids = |list: Vec<Approval>| list.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let pending = store.approvals.pending_approvals(now, 10).await.unwrap();
    assert_eq!(
        pending[0],
        approval("soon", Duration::minutes(5)).clone_with_times(&pending[0]),
        "every field read back"
    );
    assert_eq!(
        ids(pending),
        ["soon", "mid", "late"],
        "not expired, not decided"
    );
    assert_eq!(
        ids(store.approvals.pending_approvals(now, 2).await.unwrap()),
        ["soon", "mid"]
    );
    assert!(
        store
            .approvals
            .pending_approvals(now, 0)
            .await
            .unwrap()
            .is_empty()
    );
    let later = now + Duration::minutes(20);
    assert_eq!(
        ids(store.approvals.pending_approvals(later, 10).await.unwrap()),
        ["late"]
    );
}

async fn sessions_round_trip_and_expire(store: Store) {
    let now = chatops::clock::now();
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
        let stored = store.audit.append(&record).await.unwrap();
        assert_eq!(
            AuditRecord {
                seq: 0,
                prev_hash: String::new(),
                hash: String::new(),
                ..stored.clone()
            },
            record,
            "the store only sets seq, prev_hash and hash"
        );
        written.push(stored);
        store.audit.append(&audit("req-b", n)).await.unwrap();
    }
    let a = store
        .audit
        .query_audit(&AuditQuery {
            request_id: Some("req-a".into()),
            limit: 0,
            ..Default::default()
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
    assert_eq!(a, written, "records read back exactly as stored, in order");
    assert_eq!(seqs(&a), [1, 3, 5, 7, 9]);
    let all = store
        .audit
        .query_audit(&AuditQuery {
            request_id: None,
            limit: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    // The same id twice is refused: records are never overwritten, and the
    // chain goes on as if nothing happened.
    assert!(store.audit.append(&a[0]).await.is_err());
    assert_eq!(
        store.audit.append(&audit("req-c", 0)).await.unwrap().seq,
        11
    );
    assert_eq!(verify(&store).await, intact(11));
}

fn seqs(records: &[AuditRecord]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

async fn verify(store: &Store) -> ChainReport {
    verify_audit_chain(store.audit.as_ref(), 4).await.unwrap()
}

fn intact(records: u64) -> ChainReport {
    ChainReport {
        records,
        last_seq: records,
        first_broken: None,
    }
}

async fn all_audit(store: &Store) -> Vec<AuditRecord> {
    store
        .audit
        .query_audit(&AuditQuery::default())
        .await
        .unwrap()
}

/// A record whose JSON and BSON forms are easy to get subtly wrong: nested
/// arguments, floats (some that serde_json's default parser reads one unit
/// off), big and negative integers, Korean text, empty containers, nulls.
fn tricky(n: u32) -> AuditRecord {
    AuditRecord {
        event: AuditEvent::ToolAttempt {
            tool: "trigger_backtest".into(),
            call_id: format!("call_{n}"),
            arguments: json!({
                "strategy": "RSI 역추세",
                "symbols": ["005930.KS", "AAPL"],
                "params": {"period": 14, "threshold": 0.3, "weights": [0.1, 0.2, 0.1 + 0.2]},
                "floats": [2.0, 1.0 / 3.0, 1.23456e202, 5e-324, -2.5e-8, 1e21, 123456.789],
                "ints": [0, -7, 9007199254740993_u64, i64::MIN, u32::MAX],
                "nested": {"한글": "캐시 적중률은? 🚀", "list": [{"a": null, "b": true}, []], "empty": {}},
                "quote\"key": "tab\tnew\nline",
            }),
            decision: "allow".into(),
            deny_reason: None,
            role: "operator".into(),
            approval_id: Some("ap-1".into()),
            approver: Some("console:bob".into()),
        },
        ..audit("req-tricky", n)
    }
}

async fn audit_chain_links_and_verifies(store: Store) {
    assert_eq!(verify(&store).await, intact(0), "an empty log is fine");
    let mut stored = Vec::new();
    for n in 0..5 {
        stored.push(store.audit.append(&audit("req-chain", n)).await.unwrap());
    }
    assert_eq!(seqs(&stored), [1, 2, 3, 4, 5]);
    assert_eq!(stored[0].prev_hash, "");
    for pair in stored.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    for r in &stored {
        assert_eq!(r.hash.len(), 64);
        assert!(r.hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(r.chain_hash(), r.hash);
    }
    let read = all_audit(&store).await;
    assert_eq!(read, stored, "seq, prev_hash and hash read back exactly");
    assert_eq!(verify(&store).await, intact(5));
    // Any page size walks the same chain.
    for page in [0, 1, 2, 5, 1000] {
        assert_eq!(
            verify_audit_chain(store.audit.as_ref(), page)
                .await
                .unwrap(),
            intact(5),
            "page {page}"
        );
    }
    // The store sets the chain fields, whatever the record carried.
    let mut forged = audit("req-chain", 5);
    forged.seq = 99;
    forged.prev_hash = "00".repeat(32);
    forged.hash = "ff".repeat(32);
    let sixth = store.audit.append(&forged).await.unwrap();
    assert_eq!((sixth.seq, &sixth.prev_hash), (6, &stored[4].hash));
    assert_eq!(sixth.hash, sixth.chain_hash());

    // Records that are hard to round-trip still verify.
    let mut tricky_stored = Vec::new();
    for n in 0..3 {
        let mut record = tricky(n);
        if n == 1 {
            record.event = AuditEvent::MessageIn {
                platform: "slack".into(),
                language: "ko".into(),
                text: "백테스트 결과 알려줘 — \"RSI\" 0.05 ± 1e-9".into(),
            };
        }
        if n == 2 {
            record.event = AuditEvent::LlmCall {
                model: "gpt-4o-mini".into(),
                step: u32::MAX,
                prompt_tokens: 812,
                completion_tokens: 24,
                latency_ms: u64::from(u32::MAX) + 1,
                ok: false,
                error_kind: Some("rate_limited".into()),
                cost_usd: 0.0125,
                usage_counted: false,
                prompt: None,
                cut_off: false,
            };
        }
        tricky_stored.push(store.audit.append(&record).await.unwrap());
    }
    let read = store
        .audit
        .query_audit(&AuditQuery {
            after_seq: Some(6),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(read, tricky_stored);
    for r in &read {
        assert_eq!(r.chain_hash(), r.hash, "{r:?}");
    }
    // Sub-millisecond times are kept to the millisecond, as stored.
    let mut precise = audit("req-chain", 9);
    precise.at += Duration::microseconds(1234);
    let stored = store.audit.append(&precise).await.unwrap();
    assert_eq!(stored.at, precise.at - Duration::microseconds(234));
    assert_eq!(all_audit(&store).await.last(), Some(&stored));
    assert_eq!(verify(&store).await, intact(10));
}

/// A record at `t0 + minute` minutes.
fn at_minute(
    minute: i64,
    request_id: &str,
    subject: &str,
    channel: &str,
    event: AuditEvent,
) -> AuditRecord {
    let t0 = chrono::DateTime::parse_from_rfc3339("2024-06-03T09:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    AuditRecord {
        at: t0 + Duration::minutes(minute),
        request_id: request_id.into(),
        subject: subject.into(),
        channel: channel.into(),
        event,
        ..audit(request_id, 0)
    }
}

fn tool_attempt(tool: &str, arguments: serde_json::Value) -> AuditEvent {
    AuditEvent::ToolAttempt {
        tool: tool.into(),
        call_id: "c".into(),
        arguments,
        decision: "allow".into(),
        deny_reason: None,
        role: "operator".into(),
        approval_id: None,
        approver: None,
    }
}

fn tool_outcome(tool: &str, outcome: &str) -> AuditEvent {
    AuditEvent::ToolOutcome {
        tool: tool.into(),
        call_id: "c".into(),
        outcome: outcome.into(),
        duration_ms: 5,
        error_kind: None,
        error: None,
    }
}

fn delivery(outcome: &str) -> AuditEvent {
    AuditEvent::Delivery {
        job_id: "j".into(),
        purpose: "notification".into(),
        outcome: outcome.into(),
        attempts: 1,
        reason: None,
    }
}

async fn audit_query_filters(store: Store) {
    let (alice, bob) = ("slack:alice", "slack:bob");
    let (ops, dev) = ("slack:C-ops", "slack:C-dev");
    let records = [
        // seq 1..=10, one minute apart
        at_minute(
            1,
            "r1",
            alice,
            ops,
            AuditEvent::MessageIn {
                platform: "slack".into(),
                language: "ko".into(),
                text: "백테스트 돌려줘".into(),
            },
        ),
        at_minute(
            2,
            "r1",
            alice,
            ops,
            AuditEvent::LlmCall {
                model: "gpt-4o".into(),
                step: 1,
                prompt_tokens: 10,
                completion_tokens: 2,
                latency_ms: 300,
                ok: true,
                error_kind: None,
                cost_usd: 0.0125,
                usage_counted: false,
                prompt: None,
                cut_off: false,
            },
        ),
        // Arguments that mention `tool` and `outcome` match neither filter.
        at_minute(
            3,
            "r1",
            alice,
            ops,
            tool_attempt(
                "trigger_backtest",
                json!({"tool": "cache_status", "params": {"outcome": "ok"}}),
            ),
        ),
        at_minute(4, "r1", alice, ops, tool_outcome("trigger_backtest", "ok")),
        at_minute(5, "r2", bob, dev, tool_attempt("cache_status", json!({}))),
        at_minute(6, "r2", bob, dev, tool_outcome("cache_status", "error")),
        at_minute(
            7,
            "r2",
            bob,
            ops,
            AuditEvent::ApprovalDecided {
                approval_id: "ap1".into(),
                tool: "trigger_backtest".into(),
                approver: bob.into(),
                decision: "approved".into(),
                reason: None,
            },
        ),
        at_minute(8, "r3", "system", ops, delivery("dead")),
        at_minute(9, "r3", bob, ops, delivery("sent")),
        at_minute(
            10,
            "r1",
            alice,
            ops,
            AuditEvent::ReplyOut {
                chars: 120,
                offline: false,
                status: "answered".into(),
                fact_check: Some("unverified".into()),
                unverified_numbers: vec!["42".into(), "17.5 %".into()],
            },
        ),
    ];
    for r in &records {
        store.audit.append(r).await.unwrap();
    }
    let minute = |m: i64| records[0].at + Duration::minutes(m - 1);
    let s = |v: &str| Some(v.to_string());
    let cases: Vec<(&str, AuditQuery, Vec<u64>)> = vec![
        ("everything", AuditQuery::default(), (1..=10).collect()),
        (
            "request_id",
            AuditQuery {
                request_id: s("r1"),
                ..Default::default()
            },
            vec![1, 2, 3, 4, 10],
        ),
        (
            "subject",
            AuditQuery {
                subject: s(bob),
                ..Default::default()
            },
            vec![5, 6, 7, 9],
        ),
        (
            "channel",
            AuditQuery {
                channel: s(dev),
                ..Default::default()
            },
            vec![5, 6],
        ),
        (
            "tool: attempts, outcomes and approval decisions",
            AuditQuery {
                tool: s("trigger_backtest"),
                ..Default::default()
            },
            vec![3, 4, 7],
        ),
        (
            "tool, another",
            AuditQuery {
                tool: s("cache_status"),
                ..Default::default()
            },
            vec![5, 6],
        ),
        (
            "outcome of a tool",
            AuditQuery {
                outcome: s("ok"),
                ..Default::default()
            },
            vec![4],
        ),
        (
            "outcome error",
            AuditQuery {
                outcome: s("error"),
                ..Default::default()
            },
            vec![6],
        ),
        (
            "outcome of a delivery",
            AuditQuery {
                outcome: s("dead"),
                ..Default::default()
            },
            vec![8],
        ),
        (
            "kind",
            AuditQuery {
                kind: s("tool_outcome"),
                ..Default::default()
            },
            vec![4, 6],
        ),
        (
            "kind delivery",
            AuditQuery {
                kind: s("delivery"),
                ..Default::default()
            },
            vec![8, 9],
        ),
        (
            "since is inclusive",
            AuditQuery {
                since: Some(minute(4)),
                ..Default::default()
            },
            (4..=10).collect(),
        ),
        (
            "until is exclusive",
            AuditQuery {
                until: Some(minute(4)),
                ..Default::default()
            },
            vec![1, 2, 3],
        ),
        (
            "since and until",
            AuditQuery {
                since: Some(minute(3)),
                until: Some(minute(6)),
                ..Default::default()
            },
            vec![3, 4, 5],
        ),
        (
            "a millisecond either side",
            AuditQuery {
                since: Some(minute(3) + Duration::milliseconds(1)),
                until: Some(minute(6) + Duration::milliseconds(1)),
                ..Default::default()
            },
            vec![4, 5, 6],
        ),
        (
            "after_seq",
            AuditQuery {
                after_seq: Some(7),
                ..Default::default()
            },
            vec![8, 9, 10],
        ),
        (
            "after_seq 0",
            AuditQuery {
                after_seq: Some(0),
                ..Default::default()
            },
            (1..=10).collect(),
        ),
        (
            "limit",
            AuditQuery {
                limit: 3,
                ..Default::default()
            },
            vec![1, 2, 3],
        ),
        (
            "after_seq and limit",
            AuditQuery {
                after_seq: Some(3),
                limit: 2,
                ..Default::default()
            },
            vec![4, 5],
        ),
        (
            "subject and tool",
            AuditQuery {
                subject: s(alice),
                tool: s("trigger_backtest"),
                ..Default::default()
            },
            vec![3, 4],
        ),
        (
            "tool and outcome",
            AuditQuery {
                tool: s("trigger_backtest"),
                outcome: s("ok"),
                ..Default::default()
            },
            vec![4],
        ),
        (
            "request_id and channel",
            AuditQuery {
                request_id: s("r2"),
                channel: s(ops),
                ..Default::default()
            },
            vec![7],
        ),
        (
            "kind and outcome",
            AuditQuery {
                kind: s("delivery"),
                outcome: s("sent"),
                ..Default::default()
            },
            vec![9],
        ),
        (
            "subject, since, after_seq and limit",
            AuditQuery {
                subject: s(bob),
                since: Some(minute(6)),
                after_seq: Some(6),
                limit: 1,
                ..Default::default()
            },
            vec![7],
        ),
        (
            "channel, kind, until",
            AuditQuery {
                channel: s(ops),
                kind: s("tool_attempt"),
                until: Some(minute(10)),
                ..Default::default()
            },
            vec![3],
        ),
        (
            "no match",
            AuditQuery {
                subject: s(alice),
                channel: s(dev),
                ..Default::default()
            },
            vec![],
        ),
        (
            "unknown tool",
            AuditQuery {
                tool: s("rm_rf"),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (name, query, expected) in cases {
        let found = store.audit.query_audit(&query).await.unwrap();
        assert_eq!(seqs(&found), expected, "{name}: {query:?}");
    }
    // The records themselves come back whole.
    let all = all_audit(&store).await;
    for (read, written) in all.iter().zip(&records) {
        assert_eq!(
            AuditRecord {
                seq: 0,
                prev_hash: String::new(),
                hash: String::new(),
                ..read.clone()
            },
            *written
        );
    }
    // Paging through with after_seq visits every record once, in order.
    let mut paged = Vec::new();
    loop {
        let page = store
            .audit
            .query_audit(&AuditQuery {
                after_seq: paged.last().copied(),
                limit: 3,
                ..Default::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        paged.extend(seqs(&page));
    }
    assert_eq!(paged, (1..=10).collect::<Vec<_>>());
}

async fn approvals_decide_once_and_fail_closed(store: Store) {
    let now = chatops::clock::now();
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

/// Four-eyes: the first approver is recorded once, atomically; the
/// approval stays pending for the second.
async fn approvals_record_a_first_approver_once(store: Store) {
    let now = chatops::clock::now();
    store
        .approvals
        .create_approval(&approval("fe1", Duration::minutes(10)))
        .await
        .unwrap();
    let first = |by: &'static str| {
        let store = store.clone();
        async move {
            store
                .approvals
                .first_approval("fe1", by, now)
                .await
                .unwrap()
        }
    };
    assert_eq!(first("console:bob").await, Ok(None));
    assert_eq!(first("console:carol").await, Ok(Some("console:bob".into())));
    let got = store.approvals.get_approval("fe1").await.unwrap().unwrap();
    assert_eq!(got.status, ApprovalStatus::Pending);
    assert_eq!(got.first_approver.as_deref(), Some("console:bob"));
    assert_eq!(got.requester_groups, ["slack-group:S0OPS"]);
    store
        .approvals
        .decide_approval("fe1", true, "console:carol", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first("console:dave").await,
        Err(DecideError::AlreadyDecided(ApprovalStatus::Approved))
    );
    assert_eq!(
        store
            .approvals
            .first_approval("nope", "console:bob", now)
            .await
            .unwrap(),
        Err(DecideError::NotFound)
    );
    store
        .approvals
        .create_approval(&approval("fe2", Duration::seconds(-1)))
        .await
        .unwrap();
    assert_eq!(
        store
            .approvals
            .first_approval("fe2", "console:bob", now)
            .await
            .unwrap(),
        Err(DecideError::Expired)
    );
    assert_eq!(
        store
            .approvals
            .get_approval("fe2")
            .await
            .unwrap()
            .unwrap()
            .status,
        ApprovalStatus::Expired
    );
}

async fn events_are_processed_once_within_ttl(store: Store) {
    let now = chatops::clock::now();
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
    let now = chatops::clock::now();
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
    // The chain goes on where it was.
    let second = store.audit.append(&audit("req-p", 2)).await.unwrap();
    assert_eq!(second.seq, 2);
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
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].prev_hash, records[0].hash);
    assert_eq!(verify(&store).await, intact(2));
    store.health.ping().await.unwrap();
}

fn new_job(key: Option<&str>, queue: &str, run_at: chrono::DateTime<chrono::Utc>) -> NewJob {
    NewJob {
        kind: "deliver".into(),
        queue: queue.into(),
        key: key.map(str::to_string),
        payload: json!({"text": "백테스트 완료", "attempt": 1, "to": ["C123"]}),
        run_at,
    }
}

async fn enqueue(store: &Store, job: &NewJob, now: chrono::DateTime<chrono::Utc>) -> String {
    store
        .jobs
        .enqueue(job, now)
        .await
        .unwrap()
        .expect("a new key is stored")
}

/// The cap the job tests claim with (beyond what they reach, but for
/// `jobs_used_up_attempts_are_dead_at_claim`).
const MAX_ATTEMPTS: u32 = 8;

/// A claim that must be a run.
fn to_run(claim: Claim) -> Job {
    match claim {
        Claim::Run(job) => job,
        Claim::Dead(job) => panic!("expected a run, the claim buried {job:?}"),
    }
}

async fn job(store: &Store, id: &str) -> Job {
    store.jobs.get_job(id).await.unwrap().expect("job exists")
}

async fn jobs_enqueue_once_per_key(store: Store) {
    let now = chatops::clock::now();
    let first = new_job(Some("deliver:r1"), "slack", now);
    let id = enqueue(&store, &first, now).await;
    assert_eq!(
        job(&store, &id).await,
        Job {
            id: id.clone(),
            kind: "deliver".into(),
            queue: "slack".into(),
            key: "deliver:r1".into(),
            payload: first.payload.clone(),
            state: JobState::Pending,
            attempts: 0,
            run_at: now,
            lease_owner: None,
            lease_until: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    );
    // The same key again stores nothing, whatever else differs.
    let mut again = new_job(Some("deliver:r1"), "discord", now + Duration::hours(1));
    again.payload = json!({"other": true});
    assert_eq!(store.jobs.enqueue(&again, now).await.unwrap(), None);
    let all = store.jobs.list_jobs(None, 10).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].payload, first.payload);
    // Without a key, the key is the id.
    let later = now + Duration::milliseconds(5);
    let unkeyed = enqueue(&store, &new_job(None, "slack", now), later).await;
    assert_ne!(unkeyed, id);
    assert_eq!(job(&store, &unkeyed).await.key, unkeyed);
    // Listing: oldest first, by kind, limited.
    let mut digest = new_job(Some("digest:2024-06-03"), "digest", now);
    digest.kind = "digest".into();
    let digest_id = enqueue(&store, &digest, later + Duration::milliseconds(5)).await;
    let ids = |jobs: Vec<Job>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.jobs.list_jobs(None, 10).await.unwrap()),
        [id.clone(), unkeyed.clone(), digest_id.clone()]
    );
    assert_eq!(
        ids(store.jobs.list_jobs(Some("deliver"), 10).await.unwrap()),
        [id.clone(), unkeyed]
    );
    assert_eq!(
        ids(store.jobs.list_jobs(Some("digest"), 10).await.unwrap()),
        [digest_id]
    );
    assert_eq!(ids(store.jobs.list_jobs(None, 1).await.unwrap()), [id]);
    assert!(store.jobs.get_job("missing").await.unwrap().is_none());
}

async fn jobs_claim_by_queue_and_run_at(store: Store) {
    let now = chatops::clock::now();
    let lease = Duration::seconds(60);
    let later = enqueue(
        &store,
        &new_job(Some("a"), "slack", now - Duration::seconds(1)),
        now,
    )
    .await;
    let earliest = enqueue(
        &store,
        &new_job(Some("b"), "slack", now - Duration::seconds(2)),
        now,
    )
    .await;
    let future = enqueue(
        &store,
        &new_job(Some("c"), "slack", now + Duration::hours(1)),
        now,
    )
    .await;
    let other = enqueue(
        &store,
        &new_job(Some("d"), "discord", now - Duration::seconds(3)),
        now,
    )
    .await;

    let claim = |worker: &'static str, queues: &'static [&'static str], at| {
        let store = store.clone();
        async move {
            store
                .jobs
                .claim_job(worker, queues, at, lease, MAX_ATTEMPTS)
                .await
                .unwrap()
                .map(to_run)
        }
    };
    let first = claim("slack-1", &["slack"], now).await.expect("a due job");
    assert_eq!(first.id, earliest, "earliest run_at first");
    assert_eq!(first.state, JobState::Running);
    assert_eq!(first.attempts, 1);
    assert_eq!(first.lease_owner.as_deref(), Some("slack-1"));
    assert_eq!(first.lease_until, Some(now + lease));
    assert_eq!(first.updated_at, now);
    assert_eq!(job(&store, &earliest).await, first, "the claim is stored");
    assert_eq!(claim("slack-1", &["slack"], now).await.unwrap().id, later);
    // The future job is not due; the discord job is not in these queues.
    assert_eq!(claim("slack-1", &["slack"], now).await, None);
    assert_eq!(claim("slack-1", &["slack", "console"], now).await, None);
    assert_eq!(claim("slack-1", &[], now).await, None);
    assert_eq!(job(&store, &future).await.state, JobState::Pending);
    assert_eq!(job(&store, &other).await.attempts, 0);
    assert_eq!(
        claim("discord-1", &["console", "discord"], now)
            .await
            .unwrap()
            .id,
        other
    );
    // Once due, the future job is claimed.
    for id in [&earliest, &later, &other] {
        let owner = if *id == other { "discord-1" } else { "slack-1" };
        assert!(
            store
                .jobs
                .release_job(id, owner, &JobRelease::Done, now)
                .await
                .unwrap()
        );
    }
    let due = now + Duration::hours(1);
    assert_eq!(claim("slack-2", &["slack"], due).await.unwrap().id, future);
}

async fn jobs_expired_lease_moves_to_another_worker(store: Store) {
    let now = chatops::clock::now();
    let lease = Duration::seconds(30);
    let id = enqueue(&store, &new_job(Some("watch:bt-1"), "slack", now), now).await;
    let claimed = store
        .jobs
        .claim_job("w1", &["slack"], now, lease, MAX_ATTEMPTS)
        .await
        .unwrap()
        .map(to_run)
        .unwrap();
    assert_eq!(claimed.id, id);
    // While the lease runs (up to and including lease_until), nobody else gets it.
    for at in [now + Duration::seconds(10), now + lease] {
        assert_eq!(
            store
                .jobs
                .claim_job("w2", &["slack"], at, lease, MAX_ATTEMPTS)
                .await
                .unwrap()
                .map(to_run),
            None
        );
    }
    let expired = now + lease + Duration::milliseconds(1);
    let taken = store
        .jobs
        .claim_job("w2", &["slack"], expired, lease, MAX_ATTEMPTS)
        .await
        .unwrap()
        .map(to_run)
        .expect("an expired lease is claimable");
    assert_eq!(taken.id, id);
    assert_eq!(taken.attempts, 2);
    assert_eq!(taken.lease_owner.as_deref(), Some("w2"));
    assert_eq!(taken.lease_until, Some(expired + lease));
    // The first worker can no longer settle it, in any way.
    let late = expired + Duration::seconds(1);
    for release in [
        JobRelease::Done,
        JobRelease::Dead {
            error: "late".into(),
        },
        JobRelease::Snooze {
            run_at: late,
            payload: json!({"late": true}),
        },
        JobRelease::Retry {
            run_at: late,
            error: "late".into(),
            payload: json!({"late": true}),
        },
    ] {
        assert!(
            !store
                .jobs
                .release_job(&id, "w1", &release, late)
                .await
                .unwrap()
        );
    }
    assert_eq!(
        job(&store, &id).await,
        taken,
        "a refused release changes nothing"
    );
    assert!(
        store
            .jobs
            .release_job(&id, "w2", &JobRelease::Done, late)
            .await
            .unwrap()
    );
    assert!(
        !store
            .jobs
            .release_job("missing", "w2", &JobRelease::Done, late)
            .await
            .unwrap()
    );
}

async fn jobs_release_variants(store: Store) {
    let now = chatops::clock::now();
    let lease = Duration::seconds(60);
    let far = now + Duration::days(365);
    let claim = |at| {
        let store = store.clone();
        async move {
            store
                .jobs
                .claim_job("w", &["digest"], at, lease, MAX_ATTEMPTS)
                .await
                .unwrap()
                .map(to_run)
        }
    };
    let release = |id: String, r: JobRelease, at| {
        let store = store.clone();
        async move { store.jobs.release_job(&id, "w", &r, at).await.unwrap() }
    };

    // Snooze: pending again later, progress kept, the claim not counted.
    let id = enqueue(&store, &new_job(Some("poll"), "digest", now), now).await;
    assert_eq!(claim(now).await.unwrap().attempts, 1);
    let snooze_until = now + Duration::minutes(5);
    let t1 = now + Duration::seconds(1);
    assert!(
        release(
            id.clone(),
            JobRelease::Snooze {
                run_at: snooze_until,
                payload: json!({"cursor": 2}),
            },
            t1
        )
        .await
    );
    let snoozed = job(&store, &id).await;
    assert_eq!(snoozed.state, JobState::Pending);
    assert_eq!(snoozed.attempts, 0);
    assert_eq!(snoozed.payload, json!({"cursor": 2}));
    assert_eq!(snoozed.run_at, snooze_until);
    assert_eq!((snoozed.lease_owner, snoozed.lease_until), (None, None));
    assert_eq!(snoozed.updated_at, t1);
    assert_eq!(claim(t1).await, None, "not due before run_at");
    assert_eq!(claim(snooze_until).await.unwrap().attempts, 1);

    // Retry: pending again later with the error, attempts kept.
    let retry_at = now + Duration::minutes(10);
    assert!(
        release(
            id.clone(),
            JobRelease::Retry {
                run_at: retry_at,
                error: "platform timeout".into(),
                payload: json!({"cursor": 3}),
            },
            snooze_until
        )
        .await
    );
    let retried = job(&store, &id).await;
    assert_eq!(retried.state, JobState::Pending);
    assert_eq!(retried.attempts, 1);
    assert_eq!(retried.payload, json!({"cursor": 3}));
    assert_eq!(retried.last_error.as_deref(), Some("platform timeout"));
    assert_eq!(retried.run_at, retry_at);
    assert_eq!((retried.lease_owner, retried.lease_until), (None, None));
    assert_eq!(claim(retry_at).await.unwrap().attempts, 2);

    // Dead: for good.
    assert!(
        release(
            id.clone(),
            JobRelease::Dead {
                error: "gave up".into()
            },
            retry_at
        )
        .await
    );
    let dead = job(&store, &id).await;
    assert_eq!(dead.state, JobState::Dead);
    assert_eq!(dead.last_error.as_deref(), Some("gave up"));
    assert_eq!(dead.payload, json!({"cursor": 3}));
    assert_eq!((dead.lease_owner, dead.lease_until), (None, None));
    assert_eq!(claim(far).await, None);

    // Done: never claimed again, and its key stays taken.
    let done_id = enqueue(&store, &new_job(Some("once"), "digest", now), now).await;
    assert_eq!(claim(now).await.unwrap().id, done_id);
    assert!(release(done_id.clone(), JobRelease::Done, t1).await);
    let done = job(&store, &done_id).await;
    assert_eq!(done.state, JobState::Done);
    assert_eq!((done.lease_owner, done.lease_until), (None, None));
    assert_eq!(done.updated_at, t1);
    assert_eq!(claim(far).await, None);
    assert!(
        !release(done_id.clone(), JobRelease::Done, t1).await,
        "a settled job cannot be settled again"
    );
    assert_eq!(
        store
            .jobs
            .enqueue(&new_job(Some("once"), "digest", now), now)
            .await
            .unwrap(),
        None
    );
}

async fn jobs_used_up_attempts_are_dead_at_claim(store: Store) {
    let now = chatops::clock::now();
    let lease = Duration::seconds(30);
    let claim = |queue: &'static str, worker: &'static str, at| {
        let store = store.clone();
        async move {
            store
                .jobs
                .claim_job(worker, &[queue], at, lease, 2)
                .await
                .unwrap()
        }
    };
    let far = now + Duration::days(365);

    // A run that panicked, twice: each settled as failed (the worker's part),
    // each claim counted; the third claim buries it with its last reason.
    let id = enqueue(&store, &new_job(Some("panics"), "slack", now), now).await;
    for attempt in 1..=2 {
        let run = to_run(claim("slack", "w", now).await.expect("due"));
        assert_eq!(run.attempts, attempt);
        let failed = JobRelease::Failed {
            run_at: now,
            error: format!("panicked: boom {attempt}"),
        };
        assert!(
            store
                .jobs
                .release_job(&id, "w", &failed, now)
                .await
                .unwrap()
        );
        let settled = job(&store, &id).await;
        assert_eq!(settled.state, JobState::Pending);
        assert_eq!(
            settled.payload["text"], "백테스트 완료",
            "a failed run keeps the payload"
        );
    }
    let Some(Claim::Dead(dead)) = claim("slack", "w", now).await else {
        panic!("the third claim buries the job");
    };
    assert_eq!(dead.id, id);
    assert_eq!(dead.state, JobState::Dead);
    assert_eq!(dead.attempts, 2);
    assert_eq!(dead.last_error.as_deref(), Some("panicked: boom 2"));
    assert_eq!((dead.lease_owner.clone(), dead.lease_until), (None, None));
    assert_eq!(job(&store, &id).await, dead, "the burial is stored");
    assert_eq!(claim("slack", "w", far).await, None, "never claimed again");

    // A run that never settles (hung past its lease, or its worker died):
    // the claim after its lease counts it; once used up, it is buried.
    let hung = enqueue(&store, &new_job(Some("hangs"), "discord", now), now).await;
    let first = to_run(claim("discord", "w1", now).await.expect("due"));
    assert_eq!(first.attempts, 1);
    let after_first = now + lease + Duration::milliseconds(1);
    let second = to_run(
        claim("discord", "w2", after_first)
            .await
            .expect("lease ran out"),
    );
    assert_eq!((second.id.as_str(), second.attempts), (hung.as_str(), 2));
    let after_second = after_first + lease + Duration::milliseconds(1);
    let Some(Claim::Dead(dead)) = claim("discord", "w3", after_second).await else {
        panic!("a job that ran past its lease on its last attempt is buried");
    };
    assert_eq!(dead.id, hung);
    assert_eq!(dead.attempts, 2);
    assert_eq!(dead.last_error.as_deref(), Some(RAN_PAST_ITS_LEASE));
    assert_eq!(claim("discord", "w3", far).await, None);
    // Its last worker can no longer settle it.
    assert!(
        !store
            .jobs
            .release_job(&hung, "w2", &JobRelease::Done, after_second)
            .await
            .unwrap()
    );
}

async fn jobs_progress_saved_under_the_lease_outlives_the_run(store: Store) {
    let now = chatops::clock::now();
    let lease = Duration::seconds(30);
    let mut part = new_job(Some("deliver:parts"), "slack", now);
    part.payload = json!({"parts_sent": 0});
    let id = enqueue(&store, &part, now).await;
    let claim = |worker: &'static str, at| {
        let store = store.clone();
        async move {
            store
                .jobs
                .claim_job(worker, &["slack"], at, lease, MAX_ATTEMPTS)
                .await
                .unwrap()
                .map(to_run)
                .expect("due")
        }
    };
    let save = |worker: &'static str, parts: u32, at| {
        let store = store.clone();
        let id = id.clone();
        async move {
            store
                .jobs
                .save_job_progress(&id, worker, &json!({"parts_sent": parts}), at)
                .await
                .unwrap()
        }
    };
    claim("w1", now).await;
    // Only the lease holder saves progress.
    assert!(!save("w2", 9, now).await);
    assert_eq!(job(&store, &id).await.payload, json!({"parts_sent": 0}));
    assert!(save("w1", 1, now).await);
    let running = job(&store, &id).await;
    assert_eq!(running.payload, json!({"parts_sent": 1}));
    assert_eq!(
        (running.state, running.lease_owner.as_deref()),
        (JobState::Running, Some("w1"))
    );
    // A run that failed (timed out) keeps what it saved.
    let failed = JobRelease::Failed {
        run_at: now,
        error: "did not finish within its lease (stopped after 4.0 s)".into(),
    };
    assert!(
        store
            .jobs
            .release_job(&id, "w1", &failed, now)
            .await
            .unwrap()
    );
    let retried = job(&store, &id).await;
    assert_eq!(retried.payload, json!({"parts_sent": 1}));
    assert_eq!(
        retried.last_error.as_deref(),
        Some("did not finish within its lease (stopped after 4.0 s)")
    );
    assert_eq!((retried.state, retried.attempts), (JobState::Pending, 1));
    // So does one handed back at shutdown.
    claim("w1", now).await;
    assert!(save("w1", 2, now).await);
    assert_eq!(store.jobs.abandon_jobs("w1", now).await.unwrap(), 1);
    let handed_back = job(&store, &id).await;
    assert_eq!(handed_back.payload, json!({"parts_sent": 2}));
    assert_eq!(
        handed_back.attempts, 1,
        "the handed-back claim is not counted"
    );
    // Nothing is saved on a job nobody holds.
    assert!(!save("w1", 3, now).await);
}

async fn jobs_abandon_and_purge(store: Store) {
    let now = chatops::clock::now();
    let lease = Duration::seconds(60);
    let ids: Vec<String> = futures::future::join_all(["j1", "j2", "j3"].map(|k| {
        let store = store.clone();
        async move { enqueue(&store, &new_job(Some(k), "console", now), now).await }
    }))
    .await;
    let mut held = std::collections::HashMap::new();
    for worker in ["w1", "w1", "w2"] {
        let j = store
            .jobs
            .claim_job(worker, &["console"], now, lease, MAX_ATTEMPTS)
            .await
            .unwrap()
            .map(to_run)
            .unwrap();
        held.insert(j.id, worker);
    }
    let t1 = now + Duration::seconds(1);
    assert_eq!(store.jobs.abandon_jobs("w1", t1).await.unwrap(), 2);
    assert_eq!(store.jobs.abandon_jobs("w1", t1).await.unwrap(), 0);
    for id in &ids {
        let j = job(&store, id).await;
        if held[id] == "w1" {
            assert_eq!(j.state, JobState::Pending);
            assert_eq!(j.attempts, 0, "an abandoned claim is not counted");
            assert_eq!(j.run_at, t1);
            assert_eq!((j.lease_owner, j.lease_until), (None, None));
        } else {
            assert_eq!(j.state, JobState::Running);
            assert_eq!(j.lease_owner.as_deref(), Some("w2"));
        }
    }
    let again = store
        .jobs
        .claim_job("w3", &["console"], t1, lease, MAX_ATTEMPTS)
        .await
        .unwrap()
        .map(to_run)
        .unwrap();
    assert_eq!(held[&again.id], "w1");
    assert_eq!(again.attempts, 1);

    // Purge: done and dead jobs last updated before the horizon.
    let w2_job = ids.iter().find(|id| held[*id] == "w2").unwrap().clone();
    let t2 = now + Duration::seconds(2);
    assert!(
        store
            .jobs
            .release_job(&w2_job, "w2", &JobRelease::Done, t2)
            .await
            .unwrap()
    );
    assert!(
        store
            .jobs
            .release_job(
                &again.id,
                "w3",
                &JobRelease::Dead {
                    error: "bad".into()
                },
                t2
            )
            .await
            .unwrap()
    );
    let pending = ids
        .iter()
        .find(|id| **id != w2_job && **id != again.id)
        .unwrap()
        .clone();
    assert_eq!(store.jobs.purge_jobs(t2).await.unwrap(), 0);
    assert_eq!(
        store
            .jobs
            .purge_jobs(t2 + Duration::milliseconds(1))
            .await
            .unwrap(),
        2
    );
    assert!(store.jobs.get_job(&w2_job).await.unwrap().is_none());
    assert!(store.jobs.get_job(&again.id).await.unwrap().is_none());
    assert_eq!(job(&store, &pending).await.state, JobState::Pending);
    assert_eq!(
        store
            .jobs
            .purge_jobs(now + Duration::days(1))
            .await
            .unwrap(),
        0,
        "pending and running jobs are never purged"
    );
}

async fn schedule_cursor_compare_and_set(store: Store) {
    let t1 = chatops::clock::now();
    let (t2, t3) = (t1 + Duration::hours(1), t1 + Duration::hours(2));
    let jobs = &store.jobs;
    assert_eq!(jobs.schedule_cursor("digest").await.unwrap(), None);
    assert!(
        jobs.advance_schedule_cursor("digest", None, t1)
            .await
            .unwrap()
    );
    assert!(
        !jobs
            .advance_schedule_cursor("digest", None, t1)
            .await
            .unwrap()
    );
    assert_eq!(jobs.schedule_cursor("digest").await.unwrap(), Some(t1));
    assert!(
        jobs.advance_schedule_cursor("digest", Some(t1), t2)
            .await
            .unwrap()
    );
    assert!(
        !jobs
            .advance_schedule_cursor("digest", Some(t1), t3)
            .await
            .unwrap(),
        "another replica moved it"
    );
    assert_eq!(jobs.schedule_cursor("digest").await.unwrap(), Some(t2));
    // Schedules are independent.
    assert_eq!(jobs.schedule_cursor("weekly").await.unwrap(), None);
    assert!(
        !jobs
            .advance_schedule_cursor("weekly", Some(t1), t2)
            .await
            .unwrap()
    );
    assert!(
        jobs.advance_schedule_cursor("weekly", None, t3)
            .await
            .unwrap()
    );
    assert_eq!(jobs.schedule_cursor("weekly").await.unwrap(), Some(t3));
    assert_eq!(jobs.schedule_cursor("digest").await.unwrap(), Some(t2));
}

/// Two processes (two store handles on one database) claiming at once never
/// get the same job.
async fn concurrent_claimers_never_share_a_job(reopenable: &ReopenableStore) {
    let now = chatops::clock::now();
    let (a, b) = (reopenable.open().await, reopenable.open().await);
    let mut ids = Vec::new();
    for n in 0..20 {
        let run_at = now - Duration::milliseconds(n);
        ids.push(
            enqueue(
                &a,
                &new_job(Some(&format!("job-{n}")), "slack", run_at),
                now,
            )
            .await,
        );
    }
    let claimer = |store: Store, worker: &'static str| {
        tokio::spawn(async move {
            let mut claimed = Vec::new();
            while let Some(j) = store
                .jobs
                .claim_job(worker, &["slack"], now, Duration::seconds(60), MAX_ATTEMPTS)
                .await
                .unwrap()
                .map(to_run)
            {
                assert_eq!(j.lease_owner.as_deref(), Some(worker));
                assert_eq!(j.attempts, 1, "claimed once only");
                claimed.push(j.id);
            }
            claimed
        })
    };
    let (ca, cb) = (claimer(a.clone(), "slack-a"), claimer(b.clone(), "slack-b"));
    let (ca, cb) = (ca.await.unwrap(), cb.await.unwrap());
    let mut all: Vec<String> = ca.iter().chain(&cb).cloned().collect();
    all.sort();
    let claimed = all.len();
    all.dedup();
    assert_eq!(
        claimed,
        all.len(),
        "a job was claimed twice: {ca:?} / {cb:?}"
    );
    ids.sort();
    assert_eq!(all, ids, "every job was claimed");
    for id in &ca {
        assert_eq!(job(&b, id).await.lease_owner.as_deref(), Some("slack-a"));
    }
    for id in &cb {
        assert_eq!(job(&a, id).await.lease_owner.as_deref(), Some("slack-b"));
    }
}

fn day(d: &str) -> NaiveDate {
    NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()
}

fn usage_row(
    d: &str,
    subject: &str,
    channel: &str,
    model: &str,
    (calls, prompt_tokens, completion_tokens, cost_usd): (u64, u64, u64, f64),
) -> UsageRow {
    UsageRow {
        day: day(d),
        subject: subject.into(),
        channel: channel.into(),
        model: model.into(),
        calls,
        prompt_tokens,
        completion_tokens,
        cost_usd,
    }
}

async fn usage_counters_accumulate(store: Store) {
    let u = &store.usage;
    let (alice, bob) = ("slack:alice", "discord:bob");
    let (ops, dev) = ("slack:C-ops", "slack:C-dev");
    assert_eq!(
        u.usage(day("2024-01-01"), day("2030-01-01")).await.unwrap(),
        []
    );
    assert_eq!(
        u.tokens_used(day("2024-06-03"), &UsageScope::Subject(alice.into()))
            .await
            .unwrap(),
        0
    );
    // Costs are binary fractions, so the sums are exact on both stores.
    for (d, subject, channel, model, prompt, completion, cost) in [
        ("2024-06-03", alice, ops, "gpt-4o", 100, 20, 0.25),
        ("2024-06-03", alice, ops, "gpt-4o", 100, 20, 0.25),
        ("2024-06-03", alice, ops, "gpt-4o-mini", 10, 5, 0.125),
        ("2024-06-03", bob, ops, "gpt-4o", 7, 3, 0.0625),
        ("2024-06-03", alice, dev, "gpt-4o", 1, 1, 0.5),
        ("2024-06-04", alice, ops, "gpt-4o", 50, 50, 1.0),
        ("2024-06-02", bob, dev, "gpt-4o", 1000, 1000, 2.0),
        ("2024-06-03", "slack:a:b", "c", "gpt-4o", 1, 0, 0.0),
        ("2024-06-03", "slack:a", "b:c", "gpt-4o", 0, 1, 0.0),
    ] {
        u.add_usage(day(d), subject, channel, model, prompt, completion, cost)
            .await
            .unwrap();
    }
    let june_3 = vec![
        usage_row("2024-06-03", bob, ops, "gpt-4o", (1, 7, 3, 0.0625)),
        usage_row("2024-06-03", "slack:a", "b:c", "gpt-4o", (1, 0, 1, 0.0)),
        usage_row("2024-06-03", "slack:a:b", "c", "gpt-4o", (1, 1, 0, 0.0)),
        usage_row("2024-06-03", alice, dev, "gpt-4o", (1, 1, 1, 0.5)),
        usage_row("2024-06-03", alice, ops, "gpt-4o", (2, 200, 40, 0.5)),
        usage_row("2024-06-03", alice, ops, "gpt-4o-mini", (1, 10, 5, 0.125)),
    ];
    assert_eq!(
        u.usage(day("2024-06-03"), day("2024-06-03")).await.unwrap(),
        june_3,
        "one row per day, subject, channel and model; in that order"
    );
    let mut june_3_4 = june_3.clone();
    june_3_4.push(usage_row(
        "2024-06-04",
        alice,
        ops,
        "gpt-4o",
        (1, 50, 50, 1.0),
    ));
    assert_eq!(
        u.usage(day("2024-06-03"), day("2024-06-04")).await.unwrap(),
        june_3_4
    );
    let all = u.usage(day("2024-01-01"), day("2024-12-31")).await.unwrap();
    assert_eq!(all.len(), 8);
    assert_eq!(
        all[0],
        usage_row("2024-06-02", bob, dev, "gpt-4o", (1, 1000, 1000, 2.0))
    );
    assert_eq!(
        u.usage(day("2024-06-05"), day("2024-06-30")).await.unwrap(),
        []
    );
    assert_eq!(
        u.usage(day("2024-06-04"), day("2024-06-03")).await.unwrap(),
        []
    );
    let tokens = |d: &'static str, scope: UsageScope| {
        let store = store.clone();
        async move { store.usage.tokens_used(day(d), &scope).await.unwrap() }
    };
    let subject = |s: &str| UsageScope::Subject(s.into());
    let channel = |c: &str| UsageScope::Channel(c.into());
    assert_eq!(tokens("2024-06-03", subject(alice)).await, 240 + 15 + 2);
    assert_eq!(tokens("2024-06-03", subject(bob)).await, 10);
    assert_eq!(tokens("2024-06-03", channel(ops)).await, 240 + 15 + 10);
    assert_eq!(tokens("2024-06-03", channel(dev)).await, 2);
    assert_eq!(tokens("2024-06-04", subject(alice)).await, 100);
    assert_eq!(tokens("2024-06-02", channel(dev)).await, 2000);
    assert_eq!(tokens("2024-06-03", subject("slack:carol")).await, 0);
    assert_eq!(tokens("2024-06-05", channel(ops)).await, 0);
}

/// Limit counters count each hit once per key (a window), independently of
/// other keys; the day's totals add up every person, channel and model of
/// that day only.
async fn limit_counters_and_day_totals(store: Store) {
    let now = chatops::clock::now();
    let ttl = Duration::minutes(2);
    let l = &store.limits;
    for expected in 1..=3 {
        assert_eq!(
            l.count_hit("rate:user:slack:T1/U1:29000000", now, ttl)
                .await
                .unwrap(),
            expected
        );
    }
    assert_eq!(
        l.count_hit("rate:user:slack:T1/U1:29000001", now, ttl)
            .await
            .unwrap(),
        1,
        "the next window starts again"
    );
    assert_eq!(
        l.count_hit("rate:channel:slack:C1:29000000", now, ttl)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        l.count_hit("rate:user:slack:T1/U1:29000000", now, ttl)
            .await
            .unwrap(),
        4
    );

    assert_eq!(
        l.day_totals(day("2024-06-03")).await.unwrap(),
        DayTotals::default()
    );
    let u = &store.usage;
    for (d, subject, channel, model, prompt, completion, cost) in [
        (
            "2024-06-03",
            "slack:alice",
            "slack:C-ops",
            "gpt-4o",
            100,
            20,
            0.25,
        ),
        (
            "2024-06-03",
            "slack:alice",
            "slack:C-ops",
            "gpt-4o",
            100,
            20,
            0.25,
        ),
        (
            "2024-06-03",
            "discord:bob",
            "discord:9",
            "gpt-4o-mini",
            7,
            3,
            0.0625,
        ),
        (
            "2024-06-04",
            "slack:alice",
            "slack:C-ops",
            "gpt-4o",
            50,
            50,
            1.0,
        ),
    ] {
        u.add_usage(day(d), subject, channel, model, prompt, completion, cost)
            .await
            .unwrap();
    }
    assert_eq!(
        l.day_totals(day("2024-06-03")).await.unwrap(),
        DayTotals {
            tokens: 250,
            cost_usd: 0.5625
        }
    );
    assert_eq!(
        l.day_totals(day("2024-06-04")).await.unwrap(),
        DayTotals {
            tokens: 100,
            cost_usd: 1.0
        }
    );
}

/// Two processes (two store handles) counting one window at once: every hit
/// counted, each count handed out once.
async fn concurrent_limit_hits_are_counted_once(reopenable: &ReopenableStore) {
    let (a, b) = (reopenable.open().await, reopenable.open().await);
    let now = chatops::clock::now();
    let hitter = |store: Store| {
        tokio::spawn(async move {
            let mut counts = Vec::new();
            for _ in 0..20 {
                counts.push(
                    store
                        .limits
                        .count_hit("rate:user:slack:T1/U1:1", now, Duration::minutes(2))
                        .await
                        .unwrap(),
                );
            }
            counts
        })
    };
    let (x, y) = (hitter(a), hitter(b));
    let mut counts = x.await.unwrap();
    counts.extend(y.await.unwrap());
    counts.sort_unstable();
    assert_eq!(counts, (1..=40).collect::<Vec<u64>>());
}

/// Two processes (two store handles) adding to the same counters at once
/// lose nothing.
async fn concurrent_usage_adds_lose_nothing(reopenable: &ReopenableStore) {
    let (a, b) = (reopenable.open().await, reopenable.open().await);
    let d = day("2024-06-03");
    let adder = |store: Store| {
        tokio::spawn(async move {
            for n in 0..20_u64 {
                let model = if n % 2 == 0 { "gpt-4o" } else { "gpt-4o-mini" };
                store
                    .usage
                    .add_usage(d, "slack:alice", "slack:C-ops", model, 10, 1, 0.125)
                    .await
                    .unwrap();
            }
        })
    };
    let (x, y) = (adder(a.clone()), adder(b.clone()));
    x.await.unwrap();
    y.await.unwrap();
    let rows = a.usage.usage(d, d).await.unwrap();
    assert_eq!(
        rows,
        [
            usage_row(
                "2024-06-03",
                "slack:alice",
                "slack:C-ops",
                "gpt-4o",
                (20, 200, 20, 2.5)
            ),
            usage_row(
                "2024-06-03",
                "slack:alice",
                "slack:C-ops",
                "gpt-4o-mini",
                (20, 200, 20, 2.5)
            ),
        ]
    );
    assert_eq!(
        b.usage
            .tokens_used(d, &UsageScope::Channel("slack:C-ops".into()))
            .await
            .unwrap(),
        440
    );
}

/// Two processes (two store handles on one database) appending at once keep
/// one chain: no seq twice, none skipped.
async fn concurrent_audit_writers_keep_one_chain(reopenable: &ReopenableStore) {
    let (a, b) = (reopenable.open().await, reopenable.open().await);
    let writer = |store: Store, request: &'static str| {
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..30 {
                seqs.push(store.audit.append(&audit(request, n)).await.unwrap().seq);
            }
            seqs
        })
    };
    let (wa, wb) = (writer(a.clone(), "req-a"), writer(b.clone(), "req-b"));
    let (sa, sb) = (wa.await.unwrap(), wb.await.unwrap());
    for own in [&sa, &sb] {
        assert!(own.windows(2).all(|w| w[0] < w[1]), "{own:?}");
    }
    let mut both: Vec<u64> = sa.iter().chain(&sb).copied().collect();
    both.sort();
    assert_eq!(both, (1..=60).collect::<Vec<_>>(), "{sa:?} / {sb:?}");
    let all = all_audit(&b).await;
    assert_eq!(seqs(&all), (1..=60).collect::<Vec<_>>());
    assert_eq!(verify(&a).await, intact(60));
}

/// Raw access to the store's database, as someone with access to the files or
/// the server (not through the store) would have.
enum Raw {
    Sqlite(rusqlite::Connection),
    Mongo(mongodb::Collection<bson::Document>),
}

async fn raw(reopenable: &ReopenableStore) -> Raw {
    match reopenable.backend {
        Backend::Sqlite => Raw::Sqlite(
            rusqlite::Connection::open(reopenable.dir.path().join("chatops.db")).unwrap(),
        ),
        Backend::Mongo => {
            chatops::install_crypto_provider();
            let client = mongodb::Client::with_uri_str(common::mongo_uri())
                .await
                .unwrap();
            Raw::Mongo(client.database(&reopenable.db).collection("audit_log"))
        }
    }
}

impl Raw {
    /// Replace the stored record at `seq` (its content and chain fields).
    async fn overwrite(&self, record: &AuditRecord) {
        match self {
            Raw::Sqlite(c) => {
                c.execute_batch("DROP TRIGGER IF EXISTS audit_log_no_update")
                    .unwrap();
                let changed = c
                    .execute(
                        "UPDATE audit_log SET record = ?1 WHERE seq = ?2",
                        rusqlite::params![
                            serde_json::to_string(record).unwrap(),
                            record.seq as i64
                        ],
                    )
                    .unwrap();
                assert_eq!(changed, 1);
            }
            Raw::Mongo(c) => {
                let changed = c
                    .update_one(
                        doc! {"seq": record.seq as i64},
                        doc! {"$set": {
                            "event": bson::to_bson(&record.event).unwrap(),
                            "hash": &record.hash,
                        }},
                    )
                    .await
                    .unwrap();
                assert_eq!(changed.matched_count, 1);
            }
        }
    }

    /// Change the outcome of the tool outcome at `seq`, nothing else.
    async fn edit_outcome(&self, seq: u64, outcome: &str) {
        match self {
            Raw::Sqlite(c) => {
                c.execute_batch("DROP TRIGGER IF EXISTS audit_log_no_update")
                    .unwrap();
                let changed = c
                    .execute(
                        "UPDATE audit_log SET record = json_set(record, '$.event.outcome', ?1)
                         WHERE seq = ?2",
                        rusqlite::params![outcome, seq as i64],
                    )
                    .unwrap();
                assert_eq!(changed, 1);
            }
            Raw::Mongo(c) => {
                let changed = c
                    .update_one(
                        doc! {"seq": seq as i64},
                        doc! {"$set": {"event.outcome": outcome}},
                    )
                    .await
                    .unwrap();
                assert_eq!(changed.modified_count, 1);
            }
        }
    }

    /// Turn the record at `seq` into something that is not an audit record.
    async fn garble(&self, seq: u64) {
        match self {
            Raw::Sqlite(c) => {
                c.execute_batch("DROP TRIGGER IF EXISTS audit_log_no_update")
                    .unwrap();
                let changed = c
                    .execute(
                        "UPDATE audit_log SET record = json_remove(record, '$.event.outcome') WHERE seq = ?1",
                        rusqlite::params![seq as i64],
                    )
                    .unwrap();
                assert_eq!(changed, 1);
            }
            Raw::Mongo(c) => {
                let changed = c
                    .update_one(doc! {"seq": seq as i64}, doc! {"$set": {"event": "gone"}})
                    .await
                    .unwrap();
                assert_eq!(changed.modified_count, 1);
            }
        }
    }

    async fn delete(&self, seq: u64) {
        match self {
            Raw::Sqlite(c) => {
                c.execute_batch("DROP TRIGGER IF EXISTS audit_log_no_delete")
                    .unwrap();
                let deleted = c
                    .execute(
                        "DELETE FROM audit_log WHERE seq = ?1",
                        rusqlite::params![seq as i64],
                    )
                    .unwrap();
                assert_eq!(deleted, 1);
            }
            Raw::Mongo(c) => {
                let deleted = c.delete_one(doc! {"seq": seq as i64}).await.unwrap();
                assert_eq!(deleted.deleted_count, 1);
            }
        }
    }
}

async fn five_records(store: &Store) -> Vec<AuditRecord> {
    let mut stored = Vec::new();
    for n in 0..5 {
        stored.push(store.audit.append(&audit("req-t", n)).await.unwrap());
    }
    assert_eq!(verify(store).await, intact(5));
    stored
}

/// A record edited into something that no longer reads as one is named too
/// (the log stays queryable up to it).
async fn audit_garbled_record_is_named(reopenable: &ReopenableStore) {
    let store = reopenable.open().await;
    let stored = five_records(&store).await;
    raw(reopenable).await.garble(4).await;
    let report = verify(&store).await;
    let broken = report.first_broken.expect("a broken link");
    assert_eq!((broken.seq, broken.id.as_str()), (4, stored[3].id.as_str()));
    assert!(
        broken.reason.contains("no longer reads"),
        "{}",
        broken.reason
    );
    let first_three = store
        .audit
        .query_audit(&AuditQuery {
            limit: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first_three.len(), 3);
}

/// An edit made behind the store's back shows: the record no longer matches
/// its hash.
async fn audit_edit_is_detected(reopenable: &ReopenableStore) {
    let store = reopenable.open().await;
    let stored = five_records(&store).await;
    // The store itself refuses (SQLite: triggers).
    if let Raw::Sqlite(c) = raw(reopenable).await {
        let refused = c.execute(
            "UPDATE audit_log SET record = record WHERE seq = 3",
            rusqlite::params![],
        );
        assert!(refused.unwrap_err().to_string().contains("append-only"));
        let refused = c.execute("DELETE FROM audit_log WHERE seq = 3", rusqlite::params![]);
        assert!(refused.unwrap_err().to_string().contains("append-only"));
    }
    raw(reopenable).await.edit_outcome(3, "error").await;
    let edited = &all_audit(&store).await[2];
    assert!(matches!(&edited.event, AuditEvent::ToolOutcome { outcome, .. } if outcome == "error"));
    let report = verify(&store).await;
    assert_eq!(report.records, 3);
    let broken = report.first_broken.expect("the edit shows");
    assert_eq!((broken.seq, &broken.id), (3, &stored[2].id));
    assert_eq!(
        broken.reason,
        "its content does not match its hash (edited)"
    );
}

/// Someone who also recomputes the edited record's hash breaks the next link.
async fn audit_rehashed_edit_is_detected(reopenable: &ReopenableStore) {
    let store = reopenable.open().await;
    let stored = five_records(&store).await;
    let mut forged = stored[2].clone();
    forged.event = tool_outcome("echo", "error");
    forged.hash = forged.chain_hash();
    raw(reopenable).await.overwrite(&forged).await;
    let report = verify(&store).await;
    assert_eq!(report.records, 4);
    let broken = report.first_broken.expect("the re-hash shows");
    assert_eq!((broken.seq, &broken.id), (4, &stored[3].id));
    assert_eq!(broken.reason, "prev_hash does not match record 3");
}

/// A deleted record leaves a gap in seq.
async fn audit_deletion_is_detected(reopenable: &ReopenableStore) {
    let store = reopenable.open().await;
    let stored = five_records(&store).await;
    let raw = raw(reopenable).await;
    raw.delete(3).await;
    let report = verify(&store).await;
    assert_eq!(report.records, 3);
    let broken = report.first_broken.expect("the gap shows");
    assert_eq!((broken.seq, &broken.id), (4, &stored[3].id));
    assert_eq!(broken.reason, "seq 3 is missing (deleted?)");
    // The first record too.
    raw.delete(1).await;
    let broken = verify(&store).await.first_broken.unwrap();
    assert_eq!(
        (broken.seq, broken.reason.as_str()),
        (2, "seq 1 is missing (deleted?)")
    );
    // Several in a row.
    raw.delete(4).await;
    let report = verify(&store).await;
    assert_eq!(
        report.first_broken.unwrap().reason,
        "seq 1 is missing (deleted?)"
    );
    // Appending after a deletion does not hide it.
    store.audit.append(&audit("req-t", 5)).await.unwrap();
    let all = all_audit(&store).await;
    assert_eq!(seqs(&all), [2, 5, 6]);
}

/// A gap of several records is named as such.
async fn audit_gap_of_several_is_named(reopenable: &ReopenableStore) {
    let store = reopenable.open().await;
    let stored = five_records(&store).await;
    let raw = raw(reopenable).await;
    raw.delete(2).await;
    raw.delete(3).await;
    let report = verify(&store).await;
    assert_eq!(report.records, 2);
    let broken = report.first_broken.unwrap();
    assert_eq!((broken.seq, &broken.id), (4, &stored[3].id));
    assert_eq!(broken.reason, "seqs 2 to 3 are missing (deleted?)");
}

/// An audit record as the previous version wrote it: no seq, prev_hash or hash.
fn legacy(n: u32) -> AuditRecord {
    audit("req-legacy", n)
}

/// A database written by the previous version (records without a chain)
/// opens, takes new records on a chain, and `verify` names the old records.
async fn audit_log_from_before_the_chain(reopenable: &ReopenableStore) {
    let old = [legacy(0), legacy(1)];
    match reopenable.backend {
        Backend::Sqlite => {
            let c = rusqlite::Connection::open(reopenable.dir.path().join("chatops.db")).unwrap();
            // The previous version's table, verbatim.
            c.execute_batch(
                "CREATE TABLE audit_log (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    at TEXT NOT NULL,
                    request_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    record TEXT NOT NULL
                );
                CREATE INDEX audit_log_request ON audit_log (request_id);
                CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
                CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;",
            )
            .unwrap();
            for r in &old {
                let mut json = serde_json::to_value(r).unwrap();
                for chain_field in ["seq", "prev_hash", "hash"] {
                    json.as_object_mut().unwrap().remove(chain_field);
                }
                c.execute(
                    "INSERT INTO audit_log (id, at, request_id, kind, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![
                        r.id,
                        r.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                        r.request_id,
                        r.kind(),
                        json.to_string()
                    ],
                )
                .unwrap();
            }
        }
        Backend::Mongo => {
            let Raw::Mongo(c) = raw(reopenable).await else {
                unreachable!()
            };
            // The previous version's documents, and its indexes.
            c.create_index(
                mongodb::IndexModel::builder()
                    .keys(doc! {"request_id": 1})
                    .build(),
            )
            .await
            .unwrap();
            for r in &old {
                c.insert_one(doc! {
                    "_id": &r.id,
                    "at": bson::DateTime::from_millis(r.at.timestamp_millis()),
                    "request_id": &r.request_id,
                    "subject": &r.subject,
                    "channel": &r.channel,
                    "prompt_version": &r.prompt_version,
                    "kind": r.kind(),
                    "event": bson::to_bson(&r.event).unwrap(),
                })
                .await
                .unwrap();
            }
        }
    }
    let store = reopenable.open().await;
    let new = store.audit.append(&audit("req-new", 0)).await.unwrap();
    let all = all_audit(&store).await;
    assert_eq!(all.len(), 3);
    // The old records read back as written, first, without hashes.
    for (read, written) in all.iter().zip(&old) {
        assert_eq!(read.id, written.id);
        assert_eq!(read.event, written.event);
        assert_eq!((read.prev_hash.as_str(), read.hash.as_str()), ("", ""));
    }
    assert_eq!(all[2], new);
    assert_eq!(new.prev_hash, "", "the chain starts after the old records");
    assert_eq!(new.hash, new.chain_hash());
    let (old_seqs, new_seq) = match reopenable.backend {
        // SQLite numbered every record already.
        Backend::Sqlite => ([1, 2], 3),
        // MongoDB records had no seq: the chain starts at 1.
        Backend::Mongo => ([0, 0], 1),
    };
    assert_eq!(seqs(&all), [old_seqs[0], old_seqs[1], new_seq]);
    let report = verify(&store).await;
    assert_eq!(report.records, 1);
    let broken = report.first_broken.unwrap();
    assert_eq!((broken.seq, &broken.id), (old_seqs[0], &old[0].id));
    assert_eq!(
        broken.reason,
        "written before the hash chain existed (it has no hash)"
    );
    // Filters find old and new records alike.
    let by_request = store
        .audit
        .query_audit(&AuditQuery {
            request_id: Some("req-legacy".into()),
            subject: Some("console:alice".into()),
            tool: Some("echo".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_request.len(), 2);
    let by_time = store
        .audit
        .query_audit(&AuditQuery {
            since: Some(old[0].at - Duration::minutes(1)),
            until: Some(new.at + Duration::minutes(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_time, all, "time ranges match old records too");
    let before_all = store
        .audit
        .query_audit(&AuditQuery {
            until: Some(old[0].at - Duration::minutes(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(before_all, []);
    let after = store
        .audit
        .query_audit(&AuditQuery {
            after_seq: Some(old_seqs[1]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(after, [new]);
    // A later reopen (indexes and schema again) changes nothing.
    let store = reopenable.open().await;
    assert_eq!(
        store.audit.append(&audit("req-new", 1)).await.unwrap().seq,
        new_seq + 1
    );
}

/// Claim the one job of `queue` (as of `now`) and, with `release`, settle it.
async fn claim_only(
    store: &Store,
    queue: &'static str,
    expected: &str,
    now: chrono::DateTime<chrono::Utc>,
    release: Option<JobRelease>,
) {
    let claimed = store
        .jobs
        .claim_job(
            "stats-worker",
            &[queue],
            now,
            Duration::seconds(60),
            MAX_ATTEMPTS,
        )
        .await
        .unwrap()
        .map(to_run)
        .expect("a due job");
    assert_eq!(claimed.id, expected);
    if let Some(release) = release {
        assert!(
            store
                .jobs
                .release_job(expected, "stats-worker", &release, now)
                .await
                .unwrap()
        );
    }
}

async fn stats_count_what_metrics_show(store: Store) {
    let now = chatops::clock::now();
    let hour_ago = now - Duration::hours(1);
    assert_eq!(
        store.health.stats(now, hour_ago).await.unwrap(),
        StoreStats::default(),
        "an empty store counts nothing"
    );

    // Jobs: each in its own queue, so each claim takes exactly that job.
    // Created (enqueued) at distinct times, apart to the millisecond.
    let t0 = now - Duration::minutes(10);
    let add = |kind: &'static str, queue: &'static str, created_at| {
        let store = store.clone();
        async move {
            let job = NewJob {
                kind: kind.into(),
                queue: queue.into(),
                key: None,
                payload: json!({"kind": kind}),
                run_at: t0,
            };
            enqueue(&store, &job, created_at).await
        }
    };
    let dead = |error: &str| {
        Some(JobRelease::Dead {
            error: error.into(),
        })
    };
    // deliver: the oldest two are settled (dead, done) and not in the outbox.
    let deliver_dead = add("deliver", "q-deliver-dead", t0 - Duration::seconds(30)).await;
    claim_only(
        &store,
        "q-deliver-dead",
        &deliver_dead,
        now,
        dead("410 gone"),
    )
    .await;
    let deliver_done = add("deliver", "q-deliver-done", t0 - Duration::seconds(20)).await;
    claim_only(
        &store,
        "q-deliver-done",
        &deliver_done,
        now,
        Some(JobRelease::Done),
    )
    .await;
    // The oldest unsettled one is running; a newer one is pending.
    let oldest_unsettled = t0 + Duration::milliseconds(1_123);
    let deliver_running = add("deliver", "q-deliver-running", oldest_unsettled).await;
    claim_only(&store, "q-deliver-running", &deliver_running, now, None).await;
    add(
        "deliver",
        "q-deliver-pending",
        t0 + Duration::milliseconds(1_124),
    )
    .await;
    add("deliver", "q-deliver-pending", t0 + Duration::seconds(5)).await;
    // watch_backtest: pending twice, running once (claimed, then retried
    // into pending and claimed again: still one job).
    add("watch_backtest", "q-watch", t0 - Duration::minutes(5)).await;
    add("watch_backtest", "q-watch", t0 - Duration::minutes(4)).await;
    let watch_running = add("watch_backtest", "q-watch-running", t0).await;
    claim_only(
        &store,
        "q-watch-running",
        &watch_running,
        now,
        Some(JobRelease::Retry {
            run_at: now,
            error: "timeout".into(),
            payload: json!({}),
        }),
    )
    .await;
    claim_only(&store, "q-watch-running", &watch_running, now, None).await;
    // digest: one done, one dead.
    let digest_done = add("digest", "q-digest-done", t0 - Duration::minutes(1)).await;
    claim_only(
        &store,
        "q-digest-done",
        &digest_done,
        now,
        Some(JobRelease::Done),
    )
    .await;
    let digest_dead = add("digest", "q-digest-dead", t0 - Duration::minutes(2)).await;
    claim_only(
        &store,
        "q-digest-dead",
        &digest_dead,
        now,
        dead("no channel"),
    )
    .await;

    // Approvals: one pending and unexpired; the others expired or decided.
    let approvals = &store.approvals;
    approvals
        .create_approval(&approval("a-pending", Duration::hours(1)))
        .await
        .unwrap();
    approvals
        .create_approval(&approval("a-expired", -Duration::hours(1)))
        .await
        .unwrap();
    for (id, approve) in [("a-approved", true), ("a-rejected", false)] {
        approvals
            .create_approval(&approval(id, Duration::hours(1)))
            .await
            .unwrap();
        assert!(
            approvals
                .decide_approval(id, approve, "console:bob", now)
                .await
                .unwrap()
                .is_ok()
        );
    }
    // Marked expired by a refused decision: not pending either.
    approvals
        .create_approval(&approval("a-marked-expired", -Duration::hours(2)))
        .await
        .unwrap();
    assert_eq!(
        approvals
            .decide_approval("a-marked-expired", true, "console:bob", now)
            .await
            .unwrap(),
        Err(DecideError::Expired)
    );

    // Sessions: active and recent, active and old, inactive and recent.
    store
        .sessions
        .save_session(&session("s-old", now - Duration::hours(2)))
        .await
        .unwrap();
    store
        .sessions
        .save_session(&session("s-recent", now - Duration::minutes(5)))
        .await
        .unwrap();
    let mut inactive = session("s-inactive", now - Duration::minutes(1));
    inactive.is_active = false;
    store.sessions.save_session(&inactive).await.unwrap();

    // By kind, then state (by name).
    let expected_jobs = vec![
        ("deliver".to_string(), JobState::Dead, 1),
        ("deliver".to_string(), JobState::Done, 1),
        ("deliver".to_string(), JobState::Pending, 2),
        ("deliver".to_string(), JobState::Running, 1),
        ("digest".to_string(), JobState::Dead, 1),
        ("digest".to_string(), JobState::Done, 1),
        ("watch_backtest".to_string(), JobState::Pending, 2),
        ("watch_backtest".to_string(), JobState::Running, 1),
    ];
    let stats = store.health.stats(now, hour_ago).await.unwrap();
    assert_eq!(
        stats,
        StoreStats {
            jobs: expected_jobs,
            outbox_depth: 3,
            outbox_oldest: Some(oldest_unsettled),
            approvals_pending: 1,
            sessions_active: 1,
        }
    );
    // Counted as of the times given: later, the pending approval has
    // expired; a wider window holds the old session too.
    let later = store
        .health
        .stats(now + Duration::hours(2), now - Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(later.approvals_pending, 0);
    assert_eq!(later.sessions_active, 2);
    assert_eq!(later.jobs, stats.jobs);

    // Settling the oldest outbox job moves the oldest to the next one;
    // claiming the watch jobs leaves no pending watch_backtest row.
    assert!(
        store
            .jobs
            .release_job(&deliver_running, "stats-worker", &JobRelease::Done, now)
            .await
            .unwrap()
    );
    for _ in 0..2 {
        assert!(
            store
                .jobs
                .claim_job(
                    "stats-worker",
                    &["q-watch"],
                    now,
                    Duration::seconds(60),
                    MAX_ATTEMPTS
                )
                .await
                .unwrap()
                .map(to_run)
                .is_some()
        );
    }
    let stats = store.health.stats(now, hour_ago).await.unwrap();
    assert_eq!(
        stats.jobs,
        [
            ("deliver".to_string(), JobState::Dead, 1),
            ("deliver".to_string(), JobState::Done, 2),
            ("deliver".to_string(), JobState::Pending, 2),
            ("digest".to_string(), JobState::Dead, 1),
            ("digest".to_string(), JobState::Done, 1),
            ("watch_backtest".to_string(), JobState::Running, 3),
        ]
    );
    assert_eq!(stats.outbox_depth, 2);
    assert_eq!(
        stats.outbox_oldest,
        Some(t0 + Duration::milliseconds(1_124)),
        "the oldest to the millisecond"
    );
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

/// Every case on one backend: `stores` take a fresh store; `reopenable`
/// open their own handles (restarts, raw access); `multi_thread` too, on a
/// multi-threaded runtime (concurrent writers).
macro_rules! suite {
    ($module:ident, $backend:expr,
     stores: [$($name:ident),*],
     reopenable: [$($rname:ident),*],
     multi_thread: [$($mname:ident),*]) => {
        mod $module {
            use super::*;
            $(#[tokio::test] async fn $name() {
                let r = ReopenableStore::new($backend);
                super::$name(r.open().await).await;
            })*
            $(#[tokio::test] async fn $rname() {
                super::$rname(&ReopenableStore::new($backend)).await;
            })*
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $mname() {
                super::$mname(&ReopenableStore::new($backend)).await;
            })*
        }
    };
}

macro_rules! conformance {
    ($($lists:tt)*) => {
        suite!(sqlite, Backend::Sqlite, $($lists)*);
        suite!(mongo, Backend::Mongo, $($lists)*);
    };
}

conformance!(
    stores: [
        sessions_round_trip_and_expire,
        audit_is_append_only_and_ordered,
        audit_chain_links_and_verifies,
        audit_query_filters,
        approvals_decide_once_and_fail_closed,
        approvals_record_a_first_approver_once,
        approvals_pending_are_listed_soonest_to_expire_first,
        events_are_processed_once_within_ttl,
        jobs_enqueue_once_per_key,
        jobs_claim_by_queue_and_run_at,
        jobs_expired_lease_moves_to_another_worker,
        jobs_release_variants,
        jobs_abandon_and_purge,
        jobs_used_up_attempts_are_dead_at_claim,
        jobs_progress_saved_under_the_lease_outlives_the_run,
        schedule_cursor_compare_and_set,
        usage_counters_accumulate,
        limit_counters_and_day_totals,
        stats_count_what_metrics_show
    ],
    reopenable: [
        state_survives_a_restart,
        audit_edit_is_detected,
        audit_garbled_record_is_named,
        audit_rehashed_edit_is_detected,
        audit_deletion_is_detected,
        audit_gap_of_several_is_named,
        audit_log_from_before_the_chain
    ],
    multi_thread: [
        concurrent_claimers_never_share_a_job,
        concurrent_audit_writers_keep_one_chain,
        concurrent_usage_adds_lose_nothing,
        concurrent_limit_hits_are_counted_once
    ]
);
