//! The job worker: claims due jobs from its queues with a lease, runs each
//! kind's handler within the lease, settles it (done, snoozed, retried with
//! backoff, dead), purges finished jobs, and hands unfinished ones back at
//! shutdown.
//!
//! A run that panics or runs out of its time is settled here as a failed
//! attempt (the payload the job saved kept); the store's claim counts every
//! attempt and buries a job that used up `jobs.max_attempts`, which the
//! worker then audits (`job_dead`).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{approval_expiry, backoff, digest, outbox, run_deadline, stop_requested, watch};
use crate::audit::Auditor;
use crate::config::JobSettings;
use crate::domain::{Caller, ChannelId, RequestId, Subject, Surface};
use crate::store::{AuditEvent, Claim, Job, JobRelease, JobRepo};

/// Longest panic message kept in a job's `last_error` (characters).
const PANIC_MESSAGE_CHARS: usize = 300;

/// How often a worker deletes finished jobs past their keep time.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Runs each kind of job.
pub struct Handlers {
    pub deliver: outbox::Deliverer,
    pub watch: watch::Watcher,
    pub expiry: approval_expiry::Expirer,
    /// Only `chatops serve` builds digests.
    pub digest: Option<digest::Digester>,
    /// Records the jobs that used up their attempts.
    pub auditor: Auditor,
}

impl Handlers {
    async fn run(&self, job: &Job) -> JobRelease {
        match job.kind.as_str() {
            outbox::KIND => self.deliver.deliver(job).await,
            watch::KIND => self.watch.poll(job).await,
            approval_expiry::KIND => self.expiry.run(job).await,
            digest::KIND => match &self.digest {
                Some(digests) => digests.run(job).await,
                None => JobRelease::Dead {
                    error: "this process builds no digests".into(),
                },
            },
            other => JobRelease::Dead {
                error: format!("unknown job kind {other:?}"),
            },
        }
    }
}

/// Claims and runs jobs of some queues until stopped.
pub struct Worker {
    id: String,
    jobs: Arc<dyn JobRepo>,
    queues: Vec<String>,
    handlers: Arc<Handlers>,
    settings: JobSettings,
    wake: Arc<Notify>,
}

impl Worker {
    /// `wake` is notified when this process enqueues something due now.
    pub fn new(
        jobs: Arc<dyn JobRepo>,
        queues: Vec<String>,
        handlers: Handlers,
        settings: JobSettings,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            id: worker_id(),
            jobs,
            queues,
            handlers: Arc::new(handlers),
            settings,
            wake,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Claim and run jobs until `stop` turns true; then let running jobs
    /// finish for up to `drain`, and hand back (lease release) what is left.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>, drain: Duration) {
        let queues: Vec<&str> = self.queues.iter().map(String::as_str).collect();
        let idle = Duration::from_millis(self.settings.idle_poll_ms);
        let lease = self.settings.lease();
        let max_attempts = self.settings.max_attempts;
        let mut running: JoinSet<()> = JoinSet::new();
        let mut last_purge: Option<std::time::Instant> = None;
        tracing::info!(worker = %self.id, queues = ?queues, "job worker started");
        while !stop_requested(&stop) {
            while running.try_join_next().is_some() {}
            if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                last_purge = Some(std::time::Instant::now());
                self.purge().await;
            }
            if running.len() >= self.settings.concurrency {
                tokio::select! {
                    _ = running.join_next() => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                continue;
            }
            let claimed = self
                .jobs
                .claim_job(&self.id, &queues, crate::clock::now(), lease, max_attempts)
                .await;
            match claimed {
                Ok(Some(Claim::Run(job))) => {
                    let (jobs, handlers, worker) =
                        (self.jobs.clone(), self.handlers.clone(), self.id.clone());
                    let settings = self.settings.clone();
                    running.spawn(run_one(jobs, handlers, worker, job, settings));
                }
                Ok(Some(Claim::Dead(job))) => self.handlers.buried(&job).await,
                Ok(None) => {
                    tokio::select! {
                        _ = tokio::time::sleep(idle) => {}
                        _ = self.wake.notified() => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                }
                Err(e) => {
                    tracing::error!(worker = %self.id, error = %e, "cannot claim jobs; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(idle.max(Duration::from_secs(1))) => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                }
            }
        }
        let finished = tokio::time::timeout(drain, async {
            while running.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        if !finished {
            running.abort_all();
        }
        match self.jobs.abandon_jobs(&self.id, crate::clock::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(worker = %self.id, jobs = n, "unfinished jobs handed back"),
            Err(e) => tracing::warn!(worker = %self.id, error = %e,
                "unfinished jobs not handed back; they are claimable when their lease expires"),
        }
        tracing::info!(worker = %self.id, "job worker stopped");
    }

    async fn purge(&self) {
        let keep = chrono::Duration::days(self.settings.keep_finished_days as i64);
        match self.jobs.purge_jobs(crate::clock::now() - keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "finished jobs purged"),
            Err(e) => tracing::warn!(error = %e, "finished jobs not purged"),
        }
    }
}

impl Handlers {
    /// Log and audit a job its claim found with its attempts used up.
    async fn buried(&self, job: &Job) {
        let reason = job.last_error.clone().unwrap_or_else(|| "failed".into());
        tracing::error!(job = %job.id, kind = %job.kind, attempts = job.attempts, error = %reason,
            "job dead: its attempts are used up; it will not run again");
        let text = |key: &str| job.payload.get(key).and_then(|v| v.as_str());
        let channel = text("channel")
            .and_then(|c| ChannelId::parse(c).ok())
            .or_else(|| ChannelId::new(Surface::Console, &job.queue).ok())
            .or_else(|| ChannelId::new(Surface::Console, "jobs").ok());
        let Some(channel) = channel else { return };
        let request_id =
            text("request_id").map_or_else(RequestId::generate, RequestId::from_stored);
        let worker = Caller {
            subject: Subject::system("jobs"),
            groups: vec![],
            channel,
        };
        let event = AuditEvent::JobDead {
            job_id: job.id.clone(),
            job_kind: job.kind.clone(),
            attempts: job.attempts,
            reason,
        };
        self.auditor
            .record_or_log(&request_id, &worker, event)
            .await;
    }
}

/// Run one claimed job until its run deadline and settle it. A panic or a
/// run out of time is a failed attempt; when it was the job's last, it is
/// due at once, so the next claim buries it without waiting out a backoff.
async fn run_one(
    jobs: Arc<dyn JobRepo>,
    handlers: Arc<Handlers>,
    worker: String,
    job: Job,
    settings: JobSettings,
) {
    let deadline = run_deadline(&job, settings.lease());
    let limit = (deadline - crate::clock::now())
        .to_std()
        .unwrap_or_default();
    let run = AssertUnwindSafe(handlers.run(&job)).catch_unwind();
    let failed = match tokio::time::timeout(limit, run).await {
        Ok(Ok(release)) => Ok(release),
        Ok(Err(panic)) => {
            let message = crate::text::panic_message(&*panic);
            let message = handlers.auditor.redact_text(&message);
            Err(format!(
                "panicked: {}",
                crate::text::shorten(&message, PANIC_MESSAGE_CHARS)
            ))
        }
        Err(_) => Err(format!(
            "did not finish within its lease (stopped after {:.1} s)",
            limit.as_secs_f64()
        )),
    };
    let release = match failed {
        Ok(release) => release,
        Err(error) => {
            tracing::error!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %error,
                "job run failed");
            JobRelease::Failed {
                run_at: crate::clock::now()
                    + chrono::Duration::from_std(backoff(job.attempts)).unwrap_or_default(),
                error,
            }
        }
    };
    let release = last_attempt_due_now(release, &job, settings.max_attempts);
    match jobs
        .release_job(&job.id, &worker, &release, crate::clock::now())
        .await
    {
        Ok(true) => {
            tracing::debug!(job = %job.id, kind = %job.kind, release = release_name(&release), "job settled")
        }
        Ok(false) => tracing::warn!(job = %job.id, kind = %job.kind,
            "job lease lost before it was settled; another worker owns it now"),
        Err(e) => tracing::error!(job = %job.id, kind = %job.kind, error = %e,
            "job not settled; it runs again when its lease expires"),
    }
}

/// A retry after the job's last attempt is due at once: the next claim
/// buries it (and it is audited) instead of it waiting out a backoff first.
fn last_attempt_due_now(release: JobRelease, job: &Job, max_attempts: u32) -> JobRelease {
    if job.attempts < max_attempts {
        return release;
    }
    let now = crate::clock::now();
    match release {
        JobRelease::Retry { error, payload, .. } => JobRelease::Retry {
            run_at: now,
            error,
            payload,
        },
        JobRelease::Failed { error, .. } => JobRelease::Failed { run_at: now, error },
        other => other,
    }
}

fn release_name(release: &JobRelease) -> &'static str {
    match release {
        JobRelease::Done => "done",
        JobRelease::Snooze { .. } => "snoozed",
        JobRelease::Retry { .. } => "retry",
        JobRelease::Failed { .. } => "failed",
        JobRelease::Dead { .. } => "dead",
    }
}

/// `<host>-<pid>-<random>`: unique per process, readable in the store.
fn worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}
