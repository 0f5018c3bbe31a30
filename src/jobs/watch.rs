//! Backtest watches: `trigger_backtest` records one per backtest it starts
//! (where to report, who asked, in which language); a worker polls the
//! platform by id (index-backed; no change streams) and, when the backtest
//! ends, posts the result through the outbox into the thread it was asked
//! in — also when the bot was down at the time: the watch waits in the
//! store. A backtest pending or running past `jobs.stuck_after_mins` is
//! reported as stuck once, citing the runbook; a watch older than
//! `jobs.watch_for_hours` gives up and says so.
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
use crate::domain::{ChannelId, Language, Subject};
use crate::platform::{Backtest, BacktestStatus, QuantPlatform};
use crate::store::{Job, JobRelease, JobRepo, NewJob, StoreResult};
use crate::tools::backtest_status::{describe_backtest, status_label};
use crate::tools::render::tr;

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
}

/// Records watches (the trigger tool) and polls them (the worker).
#[derive(Clone)]
pub struct Watcher {
    jobs: Arc<dyn JobRepo>,
    platform: Arc<dyn QuantPlatform>,
    outbox: Outbox,
    settings: JobSettings,
    wake: Arc<Notify>,
}

impl Watcher {
    pub fn new(
        jobs: Arc<dyn JobRepo>,
        platform: Arc<dyn QuantPlatform>,
        outbox: Outbox,
        settings: JobSettings,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            jobs,
            platform,
            outbox,
            settings,
            wake,
        }
    }

    /// Follow `watch.backtest_id` until it ends (one watch per backtest).
    pub async fn record(&self, watch: &Watch) -> StoreResult<()> {
        let now = crate::store::now();
        let job = NewJob {
            kind: KIND.into(),
            queue: watch.channel.platform().as_str().into(),
            key: Some(format!("watch:{}", watch.backtest_id)),
            payload: serde_json::to_value(watch).unwrap_or_default(),
            run_at: now + self.poll_every(),
        };
        self.jobs.enqueue(&job, now).await?;
        self.wake.notify_one();
        Ok(())
    }

    fn poll_every(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.settings.watch_poll_secs as i64)
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
        let now = crate::store::now();
        let lang = watch.language;
        let backtest = match self.platform.backtest(&watch.backtest_id).await {
            Ok(b) => b,
            Err(e) => {
                // The platform being down is no reason to stop watching.
                return JobRelease::Retry {
                    run_at: now
                        + self.poll_every().max(
                            chrono::Duration::from_std(backoff(job.attempts)).unwrap_or_default(),
                        ),
                    error: e.to_string(),
                    payload: job.payload.clone(),
                };
            }
        };
        let b = match backtest {
            Some(b) => b,
            None => {
                let text = match lang {
                    Language::En => format!(
                        "🔔 {}: I stopped following backtest {}: the platform no longer has it.",
                        watch.requested_by.mention(),
                        watch.backtest_id
                    ),
                    Language::Ko => format!(
                        "🔔 {}: 백테스트 {}를 더 이상 추적하지 않습니다. 플랫폼에 해당 백테스트가 없습니다.",
                        watch.requested_by.mention(),
                        watch.backtest_id
                    ),
                };
                return self.post_and_finish(job, &watch, "gone", text).await;
            }
        };
        if b.status.is_finished() {
            let text = self.finished(&watch, &b).await;
            return self.post_and_finish(job, &watch, "done", text).await;
        }
        let watch_for = chrono::Duration::hours(self.settings.watch_for_hours as i64);
        if now - watch.since > watch_for {
            let text = gave_up(&watch, self.settings.watch_for_hours);
            return self.post_and_finish(job, &watch, "gave_up", text).await;
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
        text: String,
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
        text: String,
    ) -> Result<(), JobRelease> {
        let message = OutboundMessage {
            channel: watch.channel.clone(),
            thread: watch.thread.clone(),
            text,
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
                run_at: crate::store::now()
                    + chrono::Duration::from_std(backoff(job.attempts)).unwrap_or_default(),
                error: e.to_string(),
                payload: job.payload.clone(),
            })
    }

    /// The completion message: who, what, how long, and the KPIs or the error.
    async fn finished(&self, watch: &Watch, b: &Backtest) -> String {
        let lang = watch.language;
        let took = b
            .completed_at
            .map(|done| human_duration(done - b.started_at.unwrap_or(b.created_at), lang));
        let icon = match b.status {
            BacktestStatus::Completed => "✅",
            BacktestStatus::Cancelled => "⏹",
            _ => "❌",
        };
        let who = watch.requested_by.mention();
        let status = status_label(&b.status, lang);
        let head = match (lang, took) {
            (Language::En, Some(took)) => {
                format!("{icon} {who}, your backtest {status} after {took}.")
            }
            (Language::En, None) => format!("{icon} {who}, your backtest {status}."),
            (Language::Ko, Some(took)) => {
                format!("{icon} {who} 님, 요청하신 백테스트가 끝났습니다: {status} (소요 {took}).")
            }
            (Language::Ko, None) => {
                format!("{icon} {who} 님, 요청하신 백테스트가 끝났습니다: {status}.")
            }
        };
        let body = match describe_backtest(self.platform.as_ref(), &b.id, lang).await {
            Ok(output) => output.display,
            // The status is known; the details could not be read this time.
            Err(e) => format!(
                "{} {}: {}\n{e}",
                tr(lang, "Backtest", "백테스트"),
                b.id,
                status
            ),
        };
        format!("{head}\n{body}")
    }
}

fn stuck(watch: &Watch, b: &Backtest, for_: chrono::Duration, lang: Language) -> String {
    let who = watch.requested_by.mention();
    let status = status_label(&b.status, lang);
    let took = human_duration(for_, lang);
    match lang {
        Language::En => format!(
            "⚠️ {who}, backtest {} has been {status} for {took}; it looks stuck. I keep watching and will post when it ends.\nWhat to check: {STUCK_RUNBOOK}",
            b.id
        ),
        Language::Ko => format!(
            "⚠️ {who} 님, 백테스트 {}가 {took} 동안 {status} 상태입니다. 멈춘 것 같습니다. 계속 지켜보고 끝나면 알려 드리겠습니다.\n확인할 것: {STUCK_RUNBOOK}",
            b.id
        ),
    }
}

fn gave_up(watch: &Watch, hours: u64) -> String {
    let who = watch.requested_by.mention();
    match watch.language {
        Language::En => format!(
            "⌛ {who}, backtest {} has not ended after {hours} h; I stopped watching it. Ask for its status any time.\nWhat to check: {STUCK_RUNBOOK}",
            watch.backtest_id
        ),
        Language::Ko => format!(
            "⌛ {who} 님, 백테스트 {}가 {hours}시간이 지나도 끝나지 않아 추적을 멈췄습니다. 상태는 언제든 물어보세요.\n확인할 것: {STUCK_RUNBOOK}",
            watch.backtest_id
        ),
    }
}

/// `2 h 13 min`, `45 s` / `2시간 13분`, `45초`.
pub fn human_duration(d: chrono::Duration, lang: Language) -> String {
    let secs = d.num_seconds().max(0);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (lang, h, m) {
        (Language::En, 0, 0) => format!("{s} s"),
        (Language::En, 0, _) => format!("{m} min {s} s"),
        (Language::En, _, _) => format!("{h} h {m} min"),
        (Language::Ko, 0, 0) => format!("{s}초"),
        (Language::Ko, 0, _) => format!("{m}분 {s}초"),
        (Language::Ko, _, _) => format!("{h}시간 {m}분"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        let d = |s| chrono::Duration::seconds(s);
        assert_eq!(human_duration(d(45), Language::En), "45 s");
        assert_eq!(human_duration(d(125), Language::En), "2 min 5 s");
        assert_eq!(human_duration(d(7980), Language::En), "2 h 13 min");
        assert_eq!(human_duration(d(7980), Language::Ko), "2시간 13분");
        assert_eq!(human_duration(d(-5), Language::Ko), "0초");
    }
}
