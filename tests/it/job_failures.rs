//! Background work that cannot loop or double-post, through the real worker:
//! a job whose run panics or runs out of its time is a failed attempt and,
//! after `jobs.max_attempts`, dead with its reason, audited, never claimed
//! again (SQLite and MongoDB); a watch gives up at its deadline while the
//! platform keeps failing; an outbox message in three Slack parts posts each
//! part once when part two is held up (no answer, or a 429 whose Retry-After
//! is longer than the lease). The store's side of it (the cap at claim,
//! progress kept under the lease) is in `store_conformance`.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chatops::config::Settings;
use chatops::domain::{ChannelId, Language, Subject, Surface};
use chatops::egress::{Egress, Outgoing, Part};
use chatops::jobs::outbox::{ChatSink, OutboundMessage, SendError, Sinks};
use chatops::jobs::watch::{Watch, WatchRecorder};
use chatops::store::backends::Store;
use chatops::store::{AuditEvent, Job, JobState};
use common::app::TestApp;
use common::fake_platform::{ApiMode, FakePlatform};
use common::fake_slack::FakeSlack;

/// What a [`Misbehaving`] sink does with every send.
#[derive(Clone, Copy)]
enum Misbehaviour {
    Panics,
    NeverAnswers,
}

/// A terminal sink that panics or hangs on every send, counting them.
struct Misbehaving {
    how: Misbehaviour,
    sends: AtomicUsize,
    egress: Egress,
}

impl Misbehaving {
    fn new(how: Misbehaviour) -> Arc<Self> {
        Arc::new(Self {
            how,
            sends: AtomicUsize::new(0),
            egress: Egress::new(Arc::new(chatops::redact::Redactor::new(vec![]))),
        })
    }
}

#[async_trait]
impl ChatSink for Misbehaving {
    fn split(&self, message: &Outgoing) -> Vec<Vec<Part>> {
        vec![self.egress.parts(Surface::Console, message, usize::MAX)]
    }
    async fn send(&self, _: &str, _: Option<&str>, _: &[Part], _: &str) -> Result<(), SendError> {
        self.sends.fetch_add(1, Ordering::SeqCst);
        match self.how {
            Misbehaviour::Panics => panic!("the sink fell over"),
            Misbehaviour::NeverAnswers => std::future::pending().await,
        }
    }
}

/// Messages posted to the terminal queue, recorded.
struct Recorded(Mutex<Vec<String>>, Egress);

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
        let text: Vec<&str> = parts.iter().map(Part::text).collect();
        self.0.lock().unwrap().push(text.join("\n"));
        Ok(())
    }
}

fn console_sinks(sink: Arc<dyn ChatSink>) -> Sinks {
    Sinks::from([(Surface::Console, sink)])
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

/// Wait (bounded) until `check` holds for the job of `kind`; that job.
async fn wait_job(
    store: &Store,
    kind: &str,
    within: Duration,
    check: impl Fn(&Job) -> bool,
) -> Job {
    let until = tokio::time::Instant::now() + within;
    loop {
        let jobs = store.jobs.list_jobs(Some(kind), 10).await.unwrap();
        if let Some(job) = jobs.iter().find(|j| check(j)) {
            return job.clone();
        }
        assert!(
            tokio::time::Instant::now() < until,
            "no {kind} job as expected: {:?}",
            jobs.iter()
                .map(|j| (
                    j.state,
                    j.attempts,
                    j.last_error.clone(),
                    j.payload.get("parts_sent")
                ))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `job_dead` records: (job kind, attempts, reason).
async fn jobs_dead(app: &chatops::app::App) -> Vec<(String, u32, String)> {
    common::audit_log(app)
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::JobDead {
                job_kind,
                attempts,
                reason,
                ..
            } => Some((job_kind, attempts, reason)),
            _ => None,
        })
        .collect()
}

fn two_attempts() -> Settings {
    let mut settings = common::settings_with_llm(None);
    settings.jobs.max_attempts = 2;
    settings.jobs.idle_poll_ms = 100;
    settings
}

/// A delivery whose sink misbehaves `how`, on `store`: dead after two
/// attempts with a reason containing `reason`, audited once, and never
/// claimed again.
async fn misbehaving_delivery_is_dead_after_its_attempts(
    store: Store,
    settings: Settings,
    how: Misbehaviour,
    reason: &str,
) {
    let app = TestApp::builder(settings).store(store).build().await;
    let sink = Misbehaving::new(how);
    let worker = app.worker(vec!["console".into()], console_sinks(sink.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped, Duration::from_secs(1)));
    app.outbox
        .enqueue(
            "test:misbehaves",
            &message("console:ops", "the nightly digest"),
        )
        .await
        .unwrap();

    let dead = wait_job(&app.store, "deliver", Duration::from_secs(20), |j| {
        j.state == JobState::Dead
    })
    .await;
    let last_error = dead.last_error.clone().unwrap_or_default();
    assert_eq!(dead.attempts, 2, "{last_error}");
    assert!(last_error.contains(reason), "{last_error}");
    // The worker that found it used up audits it (just after the burial),
    // once, with the reason.
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while jobs_dead(&app).await.is_empty() && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let audited = jobs_dead(&app).await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!((audited[0].0.as_str(), audited[0].1), ("deliver", 2));
    assert!(audited[0].2.contains(reason), "{audited:?}");
    // Never claimed (nor sent) again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.sends.load(Ordering::SeqCst), 2);
    assert_eq!(
        app.store.jobs.get_job(&dead.id).await.unwrap().unwrap(),
        dead
    );
    let _ = stop.send(true);
    running.await.unwrap();
    assert_eq!(jobs_dead(&app).await.len(), 1);
}

#[tokio::test]
async fn a_panicking_job_is_dead_after_its_attempts_audited_and_never_claimed_again_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::sqlite_store(&dir.path().join("t.db"));
    misbehaving_delivery_is_dead_after_its_attempts(
        store,
        two_attempts(),
        Misbehaviour::Panics,
        "panicked: the sink fell over",
    )
    .await;
}

#[tokio::test]
async fn a_panicking_job_is_dead_after_its_attempts_audited_and_never_claimed_again_on_mongodb() {
    let store = common::mongo_store(&common::fresh_db_name()).await;
    misbehaving_delivery_is_dead_after_its_attempts(
        store,
        two_attempts(),
        Misbehaviour::Panics,
        "panicked: the sink fell over",
    )
    .await;
}

#[tokio::test]
async fn a_job_that_runs_past_its_time_counts_as_an_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::sqlite_store(&dir.path().join("t.db"));
    let mut settings = two_attempts();
    // Runs end 1.8 s into their 2 s lease.
    settings.jobs.lease_secs = 2;
    misbehaving_delivery_is_dead_after_its_attempts(
        store,
        settings,
        Misbehaviour::NeverAnswers,
        "lease",
    )
    .await;
}

#[tokio::test]
async fn a_watch_gives_up_at_its_deadline_while_the_platform_keeps_failing() {
    chatops::install_crypto_provider();
    let platform = FakePlatform::start().await;
    let mut settings = common::settings_with_llm(None);
    platform.configure(&mut settings);
    settings.jobs.watch_poll_secs = 1;
    settings.jobs.idle_poll_ms = 100;
    settings.jobs.watch_for_hours = 1;
    let app = TestApp::builder(settings.clone()).build().await;
    *platform.api.mode.lock().unwrap() = ApiMode::ServerError;

    // A watch whose hour is up three seconds from now.
    let backtest = "68ed543a5f9683d5569add2c";
    let recorder = WatchRecorder::new(
        app.store.jobs.clone(),
        settings.jobs.clone(),
        app.wake.clone(),
    );
    recorder
        .record(&Watch {
            backtest_id: backtest.into(),
            channel: ChannelId::parse("console:ops").unwrap(),
            thread: None,
            requested_by: Subject::parse("console:alice").unwrap(),
            language: Language::En,
            request_id: "req-watch".into(),
            since: chatops::clock::now() - chrono::Duration::hours(1)
                + chrono::Duration::seconds(3),
            stuck_reported: false,
            failed_reads: 0,
        })
        .await
        .unwrap();
    let sink = Arc::new(Recorded(
        Mutex::default(),
        Egress::new(Arc::new(chatops::redact::Redactor::new(vec![]))),
    ));
    let worker = app.worker(vec!["console".into()], console_sinks(sink.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped, Duration::from_secs(1)));

    // The platform's answers fail (HTTP 502) before the deadline…
    wait_job(&app.store, "watch_backtest", Duration::from_secs(10), |j| {
        j.payload["failed_reads"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    // …and the watch gives up all the same, and says so once.
    let done = wait_job(&app.store, "watch_backtest", Duration::from_secs(20), |j| {
        j.state == JobState::Done
    })
    .await;
    assert_eq!(done.state, JobState::Done);
    let said = |sink: &Recorded| {
        sink.0
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.contains("I stopped watching it") && m.contains(backtest))
            .count()
    };
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while said(&sink) == 0 && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(said(&sink), 1, "{:?}", sink.0.lock().unwrap());
    let _ = stop.send(true);
    running.await.unwrap();
}

/// 81 lines of about 2,000 characters: one Slack section each, so three
/// Slack messages (40, 40 and 1 sections); `LINE-000`, `LINE-040` and
/// `LINE-080` open the three.
fn three_part_message() -> String {
    (0..81)
        .map(|i| format!("LINE-{i:03} {}", "lorem ipsum ".repeat(165)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Posts Slack accepted whose body holds `needle`.
fn accepted_posts(slack: &FakeSlack, needle: &str) -> usize {
    slack
        .calls("chat.postMessage")
        .iter()
        .filter(|body| body.to_string().contains(needle))
        .count()
}

/// A Slack bot whose jobs have a 5 s lease (their runs end at 4.5 s).
async fn slack_bot_with_a_short_lease(slack: &FakeSlack) -> TestApp {
    let mut settings = common::settings_with_llm(None);
    settings.jobs.idle_poll_ms = 100;
    settings.jobs.lease_secs = 5;
    TestApp::builder(settings)
        .fast_sandbox()
        .slack(slack)
        .serve()
        .build()
        .await
}

/// Enqueue the three-part message; wait until all three parts are out and
/// check each was posted exactly once.
async fn three_parts_post_once(app: &TestApp, slack: &FakeSlack) {
    app.outbox
        .enqueue(
            "test:three-parts",
            &message("slack:C0OPS", &three_part_message()),
        )
        .await
        .unwrap();
    wait_job(&app.store, "deliver", Duration::from_secs(40), |j| {
        j.state == JobState::Done
    })
    .await;
    // Give a wrongly repeated part time to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for first_line in ["LINE-000", "LINE-040", "LINE-080"] {
        assert_eq!(
            accepted_posts(slack, first_line),
            1,
            "the part opening with {first_line} is posted once"
        );
    }
    assert_eq!(slack.calls("chat.postMessage").len(), 3);
}

#[tokio::test]
async fn a_message_in_three_parts_posts_each_once_when_part_two_gets_no_answer() {
    chatops::install_crypto_provider();
    let slack = FakeSlack::start().await;
    *slack.state.hang_post_containing.lock().unwrap() = Some("LINE-040".into());
    let app = slack_bot_with_a_short_lease(&slack).await;
    three_parts_post_once(&app, &slack).await;
    assert_eq!(slack.calls("hung").len(), 1, "part two was held up once");
    let job = &app.store.jobs.list_jobs(Some("deliver"), 10).await.unwrap()[0];
    assert_eq!(job.attempts, 2, "{:?}", job.last_error);
}

#[tokio::test]
async fn a_part_rate_limited_past_the_lease_releases_the_job_and_no_part_posts_twice() {
    chatops::install_crypto_provider();
    let slack = FakeSlack::start().await;
    // Retry-After: 8 s, past the 5 s lease (the retry honours it, so the
    // test does not wait out an hour).
    *slack.state.rate_limit_post_containing.lock().unwrap() = Some(("LINE-040".into(), 8));
    let app = slack_bot_with_a_short_lease(&slack).await;
    app.outbox
        .enqueue(
            "test:three-parts",
            &message("slack:C0OPS", &three_part_message()),
        )
        .await
        .unwrap();
    // Part one out, part two rate-limited: the job is handed back (not held
    // by a send waiting out the hour), part one recorded as sent.
    let released = wait_job(&app.store, "deliver", Duration::from_secs(20), |j| {
        j.state == JobState::Pending && j.attempts == 1
    })
    .await;
    assert_eq!(
        released.payload["parts_sent"], 1,
        "part one recorded as sent ({:?})",
        released.last_error
    );
    assert_eq!(released.lease_owner, None);
    assert_eq!(slack.calls("rate_limited").len(), 1);
    // The rest goes out on the retry; nothing twice.
    wait_job(&app.store, "deliver", Duration::from_secs(40), |j| {
        j.state == JobState::Done
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for first_line in ["LINE-000", "LINE-040", "LINE-080"] {
        assert_eq!(accepted_posts(&slack, first_line), 1, "{first_line}");
    }
}
