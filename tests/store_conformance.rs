//! One conformance suite, run against both stores: SQLite (a temp file) and
//! MongoDB (a fresh database on the nx-27017 test server).

mod common;

use chatops::store::{
    Approval, ApprovalStatus, AuditEvent, AuditQuery, AuditRecord, ChatSession, DecideError, Job,
    JobRelease, JobState, NewJob, Store, Turn,
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
        seq: 0,
        prev_hash: String::new(),
        hash: String::new(),
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
    assert_eq!(a, written, "records read back exactly as written, in order");
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
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
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

async fn job(store: &Store, id: &str) -> Job {
    store.jobs.get_job(id).await.unwrap().expect("job exists")
}

async fn jobs_enqueue_once_per_key(store: Store) {
    let now = chatops::store::now();
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
    let now = chatops::store::now();
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
                .claim_job(worker, queues, at, lease)
                .await
                .unwrap()
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
    let now = chatops::store::now();
    let lease = Duration::seconds(30);
    let id = enqueue(&store, &new_job(Some("watch:bt-1"), "slack", now), now).await;
    let claimed = store
        .jobs
        .claim_job("w1", &["slack"], now, lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, id);
    // While the lease runs (up to and including lease_until), nobody else gets it.
    for at in [now + Duration::seconds(10), now + lease] {
        assert_eq!(
            store
                .jobs
                .claim_job("w2", &["slack"], at, lease)
                .await
                .unwrap(),
            None
        );
    }
    let expired = now + lease + Duration::milliseconds(1);
    let taken = store
        .jobs
        .claim_job("w2", &["slack"], expired, lease)
        .await
        .unwrap()
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
    let now = chatops::store::now();
    let lease = Duration::seconds(60);
    let far = now + Duration::days(365);
    let claim = |at| {
        let store = store.clone();
        async move {
            store
                .jobs
                .claim_job("w", &["digest"], at, lease)
                .await
                .unwrap()
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

async fn jobs_abandon_and_purge(store: Store) {
    let now = chatops::store::now();
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
            .claim_job(worker, &["console"], now, lease)
            .await
            .unwrap()
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
        .claim_job("w3", &["console"], t1, lease)
        .await
        .unwrap()
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
    let t1 = chatops::store::now();
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
    let now = chatops::store::now();
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
                .claim_job(worker, &["slack"], now, Duration::seconds(60))
                .await
                .unwrap()
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
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_claims() {
                concurrent_claimers_never_share_a_job(&ReopenableStore::new(Backend::Sqlite)).await;
            }
        }
        mod mongo {
            use super::*;
            $(#[tokio::test] async fn $name() {
                let r = ReopenableStore::new(Backend::Mongo);
                super::$name(r.open().await).await;
            })*
            #[tokio::test] async fn restart() { state_survives_a_restart(&ReopenableStore::new(Backend::Mongo)).await; }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_claims() {
                concurrent_claimers_never_share_a_job(&ReopenableStore::new(Backend::Mongo)).await;
            }
        }
    };
}

conformance!(
    sessions_round_trip_and_expire,
    audit_is_append_only_and_ordered,
    approvals_decide_once_and_fail_closed,
    events_are_processed_once_within_ttl,
    jobs_enqueue_once_per_key,
    jobs_claim_by_queue_and_run_at,
    jobs_expired_lease_moves_to_another_worker,
    jobs_release_variants,
    jobs_abandon_and_purge,
    schedule_cursor_compare_and_set
);
