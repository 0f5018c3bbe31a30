//! The job worker: claims due jobs from its queues with a lease, runs each
//! kind's handler within the lease, settles it (done, snoozed, retried with
//! backoff, dead), purges finished jobs, and hands unfinished ones back at
//! shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{approval_expiry, backoff, digest, outbox, stop_requested, watch};
use crate::config::JobSettings;
use crate::store::{Job, JobRelease, JobRepo};

/// How often a worker deletes finished jobs past their keep time.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Runs each kind of job.
pub struct Handlers {
    pub deliver: outbox::Deliverer,
    pub watch: watch::Watcher,
    pub expiry: approval_expiry::Expirer,
    /// Only `chatops serve` builds digests.
    pub digest: Option<digest::Digester>,
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
        // A job runs for at most 90 % of its lease, so it is settled before
        // anyone else may claim it.
        let run_limit = lease
            .to_std()
            .unwrap_or(Duration::from_secs(60))
            .mul_f64(0.9);
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
                .claim_job(&self.id, &queues, crate::clock::now(), lease)
                .await;
            match claimed {
                Ok(Some(job)) => {
                    let (jobs, handlers, worker) =
                        (self.jobs.clone(), self.handlers.clone(), self.id.clone());
                    running.spawn(run_one(jobs, handlers, worker, job, run_limit));
                }
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

/// Run one claimed job within `limit` and settle it.
async fn run_one(
    jobs: Arc<dyn JobRepo>,
    handlers: Arc<Handlers>,
    worker: String,
    job: Job,
    limit: Duration,
) {
    let release = match tokio::time::timeout(limit, handlers.run(&job)).await {
        Ok(release) => release,
        Err(_) => JobRelease::Retry {
            run_at: crate::clock::now()
                + chrono::Duration::from_std(backoff(job.attempts)).unwrap_or_default(),
            error: format!("timed out after {} s", limit.as_secs()),
            payload: job.payload.clone(),
        },
    };
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

fn release_name(release: &JobRelease) -> &'static str {
    match release {
        JobRelease::Done => "done",
        JobRelease::Snooze { .. } => "snoozed",
        JobRelease::Retry { .. } => "retry",
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
