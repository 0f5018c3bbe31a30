//! Durable jobs in one process: the digest scheduler on a controllable
//! clock (cron, time zone, missed runs, replicas racing on one MongoDB), the
//! outbox over real HTTP against a fake Slack that fails, rate-limits, then
//! accepts (or has lost the channel), and backtest watches against the fake
//! platform (completion in the asking thread, stuck reports).
//! Restarts and several processes are in `replicas`.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chatops::config::{DigestSection, DigestSettings};
use chatops::console::{self, ConsoleIdentity};
use chatops::domain::{ChannelId, Language, Surface};
use chatops::egress::{Egress, Outgoing, Part};
use chatops::jobs::outbox::{ChatSink, OutboundMessage, SendError, Sinks};
use chatops::jobs::scheduler::Scheduler;
use chatops::store::backends::Store;
use chatops::store::{AuditEvent, JobState};
use chrono::{DateTime, TimeZone, Utc};
use common::app::TestApp;
use common::fake_platform::{FakePlatform, performance};
use common::fake_slack::FakeSlack;
use tokio::sync::Notify;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn digest(name: &str, cron: &str, timezone: &str) -> DigestSettings {
    DigestSettings {
        name: name.into(),
        cron: cron.into(),
        timezone: timezone.into(),
        channels: vec!["slack:C0DIGEST".into()],
        sections: vec![DigestSection::CacheStatus],
        language: Language::En,
        llm_summary: false,
        late_after_mins: 10,
    }
}

async fn digest_jobs(store: &Store) -> Vec<chatops::store::Job> {
    store.jobs.list_jobs(Some("digest"), 1000).await.unwrap()
}

#[tokio::test]
async fn a_schedule_posts_each_tick_once_and_one_late_digest_after_downtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::sqlite_store(&dir.path().join("t.db"));
    // Weekdays at 09:00 in Seoul (00:00 UTC), as a crontab line.
    let digests = [digest("morning", "0 9 * * 1-5", "Asia/Seoul")];
    let scheduler = Scheduler::new(store.jobs.clone(), &digests, Arc::new(Notify::new())).unwrap();

    // First seen on Sunday 22 Nov: the schedule starts, nothing is posted.
    assert!(scheduler.step(at("2026-11-22T03:00:00Z")).await.is_empty());
    // Monday 08:59 KST: not yet.
    assert!(scheduler.step(at("2026-11-22T23:59:00Z")).await.is_empty());
    // Monday 09:00:01 KST: one digest, on time, covering since Friday 09:00 KST.
    let runs = scheduler.step(at("2026-11-23T00:00:01Z")).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].tick, at("2026-11-23T00:00:00Z"));
    assert_eq!(runs[0].since, at("2026-11-20T00:00:00Z"));
    assert!(!runs[0].late);
    // The same minute again (the loop runs every second): nothing more.
    assert!(scheduler.step(at("2026-11-23T00:00:30Z")).await.is_empty());

    // Down from Monday 10:00 KST until Thursday 11:30 KST: Tue, Wed, Thu were
    // missed; one digest, for Thursday, marked late, covering since Monday.
    let runs = scheduler.step(at("2026-11-26T02:30:00Z")).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].tick, at("2026-11-26T00:00:00Z"));
    assert_eq!(runs[0].since, at("2026-11-23T00:00:00Z"));
    assert!(runs[0].late);
    assert_eq!(runs[0].missed, 2);
    assert!(scheduler.step(at("2026-11-26T02:30:01Z")).await.is_empty());

    let jobs = digest_jobs(&store).await;
    assert_eq!(jobs.len(), 2);
    assert!(
        jobs.iter()
            .all(|j| j.queue == "digest" && j.state == JobState::Pending)
    );
    assert_eq!(jobs[1].payload["late"], true);

    // A restart keeps the cursor: no digest is posted again.
    let again = Scheduler::new(store.jobs.clone(), &digests, Arc::new(Notify::new())).unwrap();
    assert!(again.step(at("2026-11-26T03:00:00Z")).await.is_empty());
}

#[tokio::test]
async fn the_time_zone_decides_when_a_digest_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::sqlite_store(&dir.path().join("t.db"));
    let digests = [
        digest("seoul", "0 9 * * *", "Asia/Seoul"),
        digest("new-york", "0 9 * * *", "America/New_York"),
    ];
    let scheduler = Scheduler::new(store.jobs.clone(), &digests, Arc::new(Notify::new())).unwrap();
    // Started after Sunday's 09:00 in New York (14:00 UTC).
    assert!(scheduler.step(at("2026-11-22T15:00:00Z")).await.is_empty());
    // 09:00 KST = 00:00 UTC.
    let runs = scheduler.step(at("2026-11-23T00:00:05Z")).await;
    assert_eq!(
        runs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["seoul"]
    );
    // 09:00 EST = 14:00 UTC.
    assert!(scheduler.step(at("2026-11-23T13:59:00Z")).await.is_empty());
    let runs = scheduler.step(at("2026-11-23T14:00:05Z")).await;
    assert_eq!(
        runs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["new-york"]
    );
}

#[tokio::test]
async fn replicas_on_one_mongodb_enqueue_each_tick_once() {
    let db = common::fresh_db_name();
    let (a, b) = (
        chatops::store::mongo::MongoStore::connect(&common::mongo_uri(), &db)
            .await
            .unwrap(),
        chatops::store::mongo::MongoStore::connect(&common::mongo_uri(), &db)
            .await
            .unwrap(),
    );
    let (a, b) = (Store::mongo(a), Store::mongo(b));
    let digests = [digest("every-minute", "* * * * *", "Asia/Seoul")];
    let one = Scheduler::new(a.jobs.clone(), &digests, Arc::new(Notify::new())).unwrap();
    let two = Scheduler::new(b.jobs.clone(), &digests, Arc::new(Notify::new())).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 30).unwrap();
    let mut posted = 0;
    for minute in 0..6 {
        let now = start + chrono::Duration::minutes(minute);
        let (x, y) = tokio::join!(one.step(now), two.step(now));
        posted += x.len() + y.len();
    }
    // Minute 0 starts the schedule; minutes 1-5 are five ticks.
    assert_eq!(posted, 5);
    let jobs = digest_jobs(&a).await;
    assert_eq!(jobs.len(), 5);
    let mut ticks: Vec<String> = jobs.iter().map(|j| j.payload["tick"].to_string()).collect();
    ticks.dedup();
    assert_eq!(ticks.len(), 5);
}

/// A Slack-enabled bot on the sandbox, served over HTTP; its worker posts to the fake Slack.
async fn slack_bot(slack: &FakeSlack) -> TestApp {
    let mut settings = common::settings_with_llm(None);
    settings.jobs.idle_poll_ms = 100;
    TestApp::builder(settings)
        .fast_sandbox()
        .slack(slack)
        .serve()
        .build()
        .await
}

fn message(channel: &str, text: &str) -> OutboundMessage {
    OutboundMessage {
        channel: ChannelId::parse(channel).unwrap(),
        thread: Some("1700000000.000001".into()),
        message: Outgoing::text(text),
        purpose: "notification".into(),
        request_id: None,
        parts_sent: 0,
    }
}

async fn deliveries(app: &chatops::app::App) -> Vec<(String, u32, Option<String>)> {
    common::audit_log(app)
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::Delivery {
                outcome,
                attempts,
                reason,
                ..
            } => Some((outcome, attempts, reason)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_outbox_delivers_once_through_a_failure_and_a_rate_limit() {
    chatops::install_crypto_provider();
    let slack = FakeSlack::start().await;
    slack
        .state
        .fail_posts
        .store(1, std::sync::atomic::Ordering::SeqCst);
    slack
        .state
        .rate_limit_posts
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let app = slack_bot(&slack).await;

    let text = "🔔 backtest 68ed543a5f9683d5569add2c completed";
    assert!(
        app.outbox
            .enqueue("test:1", &message("slack:C0OPS", text))
            .await
            .unwrap()
    );
    // The same key again (a job that ran twice) stores nothing.
    assert!(
        !app.outbox
            .enqueue("test:1", &message("slack:C0OPS", text))
            .await
            .unwrap()
    );

    let post = slack
        .wait_post("68ed543a5f9683d5569add2c", Duration::from_secs(20))
        .await;
    assert_eq!(post["channel"], "C0OPS");
    assert_eq!(post["thread_ts"], "1700000000.000001");
    // Give a wrongly repeated delivery time to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(slack.posts_containing("68ed543a5f9683d5569add2c").len(), 1);
    assert_eq!(slack.calls("failed").len(), 1, "the 500 was seen");
    assert_eq!(slack.calls("rate_limited").len(), 1, "the 429 was seen");
    let jobs = app.store.jobs.list_jobs(Some("deliver"), 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Done);
    // The 500, the 429 (handed back to the outbox, which waits Retry-After), then sent.
    assert_eq!(deliveries(&app).await, [("sent".to_string(), 3, None)]);
}

#[tokio::test]
async fn a_message_to_a_channel_that_is_gone_is_dead_with_its_reason_and_audited() {
    chatops::install_crypto_provider();
    let slack = FakeSlack::start().await;
    *slack.state.gone_channel.lock().unwrap() = Some("C0GONE".into());
    let app = slack_bot(&slack).await;
    app.outbox
        .enqueue(
            "test:gone",
            &message("slack:C0GONE", "digest for a deleted channel"),
        )
        .await
        .unwrap();
    for _ in 0..200 {
        if !deliveries(&app).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let job = &app.store.jobs.list_jobs(Some("deliver"), 10).await.unwrap()[0];
    assert_eq!(job.state, JobState::Dead);
    assert!(
        job.last_error
            .as_deref()
            .unwrap()
            .contains("channel_not_found"),
        "{job:?}"
    );
    let audited = deliveries(&app).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].0, "dead");
    assert!(
        audited[0]
            .2
            .as_deref()
            .unwrap()
            .contains("channel_not_found")
    );
    assert_eq!(slack.calls("channel_not_found").len(), 1, "not retried");
}

/// Messages the worker posts to the terminal queue, recorded.
struct Recorded(Mutex<Vec<String>>, Egress);

impl Default for Recorded {
    fn default() -> Self {
        Self(
            Mutex::default(),
            Egress::new(Arc::new(chatops::redact::Redactor::new(vec![]))),
        )
    }
}

#[async_trait]
impl ChatSink for Recorded {
    fn split(&self, message: &Outgoing) -> Vec<Vec<Part>> {
        vec![self.1.parts(Surface::Console, message, usize::MAX)]
    }
    async fn send(
        &self,
        _: &str,
        _: Option<&str>,
        parts: &[Part],
        _: &str,
    ) -> Result<(), SendError> {
        for part in parts {
            self.0.lock().unwrap().push(part.text().to_string());
        }
        Ok(())
    }
}

impl Recorded {
    async fn wait_for(&self, needle: &str, within: Duration) -> String {
        let until = tokio::time::Instant::now() + within;
        loop {
            if let Some(m) = self.0.lock().unwrap().iter().find(|m| m.contains(needle)) {
                return m.clone();
            }
            assert!(
                tokio::time::Instant::now() < until,
                "no message contains {needle:?}: {:?}",
                self.0.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_watched_backtest_is_reported_stuck_once_then_finished() {
    chatops::install_crypto_provider();
    let platform = FakePlatform::start().await;
    let mut settings = common::settings_with_llm(None);
    platform.configure(&mut settings);
    settings.jobs.watch_poll_secs = 1;
    settings.jobs.idle_poll_ms = 100;
    settings.jobs.stuck_after_mins = 1;
    let app = TestApp::builder(settings).build().await;
    let me = ConsoleIdentity::new("alice", "ops").unwrap();
    let started = console::ask(
        &app.pipeline,
        &me,
        "RSI 전략으로 AAPL 2024년 백테스트 실행해줘",
        true,
    )
    .await;
    assert!(
        started.answer.contains("끝나면 결과를 여기에 올리겠습니다"),
        "{}",
        started.answer
    );
    let id = platform.wait_triggered(1, Duration::from_secs(5)).await[0].clone();
    // The platform's worker picked it up five minutes ago and is still at it.
    platform
        .mark_running(&id, chrono::Duration::minutes(5))
        .await;

    let sink = Arc::new(Recorded::default());
    let sinks = Sinks::from([(Surface::Console, sink.clone() as Arc<dyn ChatSink>)]);
    let worker = app.worker(vec!["console".into()], sinks);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped, Duration::from_secs(1)));

    let stuck = sink
        .wait_for("멈춘 것 같습니다", Duration::from_secs(10))
        .await;
    assert!(
        stuck.contains(&id) && stuck.contains("runbooks/stuck-jobs.md"),
        "{stuck}"
    );
    assert!(stuck.contains("alice"), "names who asked: {stuck}");
    // Still running: polled again, not reported again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    platform
        .finish(&id, chrono::Duration::minutes(7), performance(0.182, 1.42))
        .await;
    let done = sink.wait_for("완료", Duration::from_secs(10)).await;
    assert!(
        done.contains(&id) && done.contains("+18.2 %") && done.contains("7분"),
        "{done}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let all = sink.0.lock().unwrap().clone();
    assert_eq!(all.len(), 2, "one stuck notice, one result: {all:?}");
    let _ = stop.send(true);
    running.await.unwrap();
    let watch = &app
        .store
        .jobs
        .list_jobs(Some("watch_backtest"), 10)
        .await
        .unwrap()[0];
    assert_eq!(watch.state, JobState::Done);
}
