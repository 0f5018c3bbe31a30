//! Backtest watches: `trigger_backtest` records one per backtest it starts
//! (where to report, who asked, in which language); a worker polls the
//! platform by id (index-backed; no change streams) and, when the backtest
//! ends, posts the result through the outbox into the thread it was asked
//! in — also when the bot was down at the time: the watch waits in the
//! store. A backtest pending or running past `jobs.stuck_after_mins` is
//! reported as stuck once, citing the runbook; a watch older than
//! `jobs.watch_for_hours` gives up and says so — checked before the platform
//! is read, so a platform that keeps failing cannot keep a watch alive.
//!
//! Each message's outbox key is derived from the watch, so a poll that runs
//! twice (a lost lease) still posts once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::backoff;
use super::outbox::{OutboundMessage, Outbox};
use crate::config::JobSettings;
use crate::domain::{Caller, ChannelId, Language, RequestId, Subject, Surface};
use crate::egress::Outgoing;
use crate::i18n;
use crate::i18n::words;
use crate::platform::{Backtest, BacktestStatus, QuantPlatform};
use crate::presentation::{human_duration, status_label};
use crate::store::{Job, JobRelease, JobRepo, NewJob, StoreResult};
use crate::tools::backtest_status::BacktestStatusTool;
use crate::tools::call::ToolOutcome;
use crate::tools::registry::ToolRegistry;
use crate::tools::trigger_backtest::{BacktestWatches, StartedBacktest};
use crate::tools::{ToolContext, TypedTool};

pub const KIND: &str = "watch_backtest";
const STUCK_RUNBOOK: &str = "runbooks/stuck-jobs.md › Steps";

/// What a watch remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watch {
    pub backtest_id: String,
    /// Where to report.
    pub channel: ChannelId,
    pub thread: Option<String>,
    /// Who triggered it.
    pub requested_by: Subject,
    pub language: Language,
    /// The request that triggered it (audit joins on it).
    pub request_id: String,
    pub since: DateTime<Utc>,
    #[serde(default)]
    pub stuck_reported: bool,
    /// Reads of the quant platform that failed in a row (the next look backs off).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_reads: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Records watches: what `trigger_backtest` reports a started backtest to.
#[derive(Clone)]
pub struct WatchRecorder {
    jobs: Arc<dyn JobRepo>,
    settings: JobSettings,
    wake: Arc<Notify>,
    /// Platforms nothing can be posted to outside an answer, and why: a
    /// watch there would never report, so none is recorded (nor promised).
    unreachable: Vec<(Surface, String)>,
}

impl WatchRecorder {
    pub fn new(jobs: Arc<dyn JobRepo>, settings: JobSettings, wake: Arc<Notify>) -> Self {
        Self {
            jobs,
            settings,
            wake,
            unreachable: Vec::new(),
        }
    }

    /// Record no watch for backtests started on `platform` (`why` says what is missing).
    pub fn no_watches_on(mut self, surface: Surface, why: impl Into<String>) -> Self {
        self.unreachable.push((surface, why.into()));
        self
    }

    /// Follow `watch.backtest_id` until it ends (one watch per backtest).
    pub async fn record(&self, watch: &Watch) -> StoreResult<()> {
        let now = crate::clock::now();
        let job = NewJob {
            kind: KIND.into(),
            queue: watch.channel.surface().as_str().into(),
            key: Some(format!("watch:{}", watch.backtest_id)),
            payload: serde_json::to_value(watch).unwrap_or_default(),
            run_at: now + poll_every(&self.settings),
        };
        self.jobs.enqueue(&job, now).await?;
        self.wake.notify_one();
        Ok(())
    }
}

fn poll_every(settings: &JobSettings) -> chrono::Duration {
    chrono::Duration::seconds(settings.watch_poll_secs as i64)
}

/// Polls watches (the worker): reads the backtest's status from the platform
/// and shows its details through the registry (audited and redacted like
/// any tool output).
#[derive(Clone)]
pub struct Watcher {
    platform: Arc<dyn QuantPlatform>,
    registry: Arc<ToolRegistry>,
    outbox: Outbox,
    settings: JobSettings,
}

#[async_trait::async_trait]
impl BacktestWatches for WatchRecorder {
    async fn record(&self, started: &StartedBacktest) -> Result<(), String> {
        let platform = started.channel.surface();
        if let Some((_, why)) = self.unreachable.iter().find(|(p, _)| *p == platform) {
            return Err(why.clone());
        }
        let watch = Watch {
            backtest_id: started.backtest_id.clone(),
            channel: started.channel.clone(),
            thread: started.thread.clone(),
            requested_by: started.requested_by.clone(),
            language: started.language,
            request_id: started.request_id.clone(),
            since: crate::clock::now(),
            stuck_reported: false,
            failed_reads: 0,
        };
        WatchRecorder::record(self, &watch)
            .await
            .map_err(|e| e.to_string())
    }
}

impl Watcher {
    pub fn new(
        platform: Arc<dyn QuantPlatform>,
        registry: Arc<ToolRegistry>,
        outbox: Outbox,
        settings: JobSettings,
    ) -> Self {
        Self {
            platform,
            registry,
            outbox,
            settings,
        }
    }

    fn poll_every(&self) -> chrono::Duration {
        poll_every(&self.settings)
    }

    /// One look at the backtest.
    pub async fn poll(&self, job: &Job) -> JobRelease {
        let mut watch: Watch = match serde_json::from_value(job.payload.clone()) {
            Ok(w) => w,
            Err(e) => {
                return JobRelease::Dead {
                    error: format!("unreadable watch: {e}"),
                };
            }
        };
        let now = crate::clock::now();
        let lang = watch.language;
        // The give-up deadline comes first, whatever the platform says or
        // fails to say.
        let watch_for = chrono::Duration::hours(self.settings.watch_for_hours as i64);
        if now - watch.since > watch_for {
            let text = gave_up(&watch, self.settings.watch_for_hours);
            return self.post_and_finish(job, &watch, "gave_up", text).await;
        }
        let backtest = match self.platform.backtest(&watch.backtest_id).await {
            Ok(b) => b,
            Err(e) => {
                // The platform being down is no reason to stop watching, nor
                // a failed run of the watch: look again later (backing off),
                // until the deadline above.
                watch.failed_reads = watch.failed_reads.saturating_add(1);
                tracing::warn!(job = %job.id, backtest = %watch.backtest_id,
                    failed_reads = watch.failed_reads, error = %e, "watched backtest not readable");
                let wait =
                    chrono::Duration::from_std(backoff(watch.failed_reads)).unwrap_or_default();
                return JobRelease::Snooze {
                    run_at: now + self.poll_every().max(wait),
                    payload: serde_json::to_value(&watch).unwrap_or_default(),
                };
            }
        };
        watch.failed_reads = 0;
        let b = match backtest {
            Some(b) => b,
            None => {
                let text = Outgoing::mentioning(
                    &i18n::watch_gone(lang, &watch.backtest_id),
                    &watch.requested_by,
                );
                return self.post_and_finish(job, &watch, "gone", text).await;
            }
        };
        if b.status.is_finished() {
            let text = self.finished(&watch, &b).await;
            return self.post_and_finish(job, &watch, "done", text).await;
        }
        let stuck_for = now - b.started_at.unwrap_or(b.created_at);
        let limit = chrono::Duration::minutes(self.settings.stuck_after_mins as i64);
        if !watch.stuck_reported && stuck_for > limit {
            let text = stuck(&watch, &b, stuck_for, lang);
            if let Err(release) = self.post(job, &watch, "stuck", text).await {
                return release;
            }
            watch.stuck_reported = true;
        }
        JobRelease::Snooze {
            run_at: now + self.poll_every(),
            payload: serde_json::to_value(&watch).unwrap_or_default(),
        }
    }

    /// Post the watch's last message; the watch is done once it is stored.
    async fn post_and_finish(
        &self,
        job: &Job,
        watch: &Watch,
        what: &str,
        text: Outgoing,
    ) -> JobRelease {
        match self.post(job, watch, what, text).await {
            Ok(()) => JobRelease::Done,
            Err(release) => release,
        }
    }

    /// Enqueue one message of this watch (idempotent per `what`).
    async fn post(
        &self,
        job: &Job,
        watch: &Watch,
        what: &str,
        text: Outgoing,
    ) -> Result<(), JobRelease> {
        let message = OutboundMessage {
            channel: watch.channel.clone(),
            thread: watch.thread.clone(),
            message: text,
            purpose: "notification".into(),
            request_id: Some(watch.request_id.clone()),
            parts_sent: 0,
        };
        let key = format!("watch:{}:{what}", watch.backtest_id);
        self.outbox
            .enqueue(&key, &message)
            .await
            .map(|_| ())
            .map_err(|e| JobRelease::Retry {
                run_at: crate::clock::now()
                    + chrono::Duration::from_std(backoff(job.attempts)).unwrap_or_default(),
                error: e.to_string(),
                payload: job.payload.clone(),
            })
    }

    /// The completion message: who, what, how long, and the KPIs or the error.
    async fn finished(&self, watch: &Watch, b: &Backtest) -> Outgoing {
        let lang = watch.language;
        let took = b
            .completed_at
            .map(|done| human_duration(done - b.started_at.unwrap_or(b.created_at), lang));
        let icon = match b.status {
            BacktestStatus::Completed => "✅",
            BacktestStatus::Cancelled => "⏹",
            _ => "❌",
        };
        let status = status_label(&b.status, lang);
        let head = i18n::watch_finished(lang, icon, status, took.as_deref());
        let ctx = ToolContext {
            request_id: RequestId::from_stored(&watch.request_id),
            surface: watch.channel.surface(),
            caller: Caller {
                subject: Subject::system(&format!("watch:{}", watch.backtest_id)),
                groups: vec![],
                channel: watch.channel.clone(),
            },
            thread: watch.thread.clone(),
            language: lang,
        };
        let details = self
            .registry
            .run_for_bot(
                &ctx,
                BacktestStatusTool::NAME,
                serde_json::json!({ "backtest_id": b.id }),
            )
            .await;
        let body = if details.outcome == ToolOutcome::Ok {
            details.display
        } else {
            // The status is known; the details could not be read this time.
            format!(
                "{} {}: {}\n{}",
                words::BACKTEST.get(lang),
                b.id,
                status,
                details.display
            )
        };
        Outgoing::mentioning(&head, &watch.requested_by)
            .then("\n")
            .then(body)
    }
}

fn stuck(watch: &Watch, b: &Backtest, for_: chrono::Duration, lang: Language) -> Outgoing {
    let status = status_label(&b.status, lang);
    let took = human_duration(for_, lang);
    Outgoing::mentioning(
        &i18n::watch_stuck(lang, &b.id, status, &took, STUCK_RUNBOOK),
        &watch.requested_by,
    )
}

fn gave_up(watch: &Watch, hours: u64) -> Outgoing {
    Outgoing::mentioning(
        &i18n::watch_gave_up(watch.language, &watch.backtest_id, hours, STUCK_RUNBOOK),
        &watch.requested_by,
    )
}
