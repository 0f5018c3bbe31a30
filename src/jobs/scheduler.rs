//! The digest scheduler: once a second, for each `[[digests]]` schedule,
//! decide from its stored cursor whether a tick is due and enqueue one
//! `digest` job for it. It only enqueues; a worker builds and posts.
//!
//! Rules (the pure part is [`Schedule::due`]):
//! - the first time a schedule is seen, its cursor starts at the latest past
//!   tick and nothing is posted;
//! - after downtime, only the latest missed tick is posted, once, marked late
//!   (with how many were skipped);
//! - replicas run the same loop: the job key `digest:<name>:<tick>` is unique
//!   and the cursor moves by compare-and-set, so each tick is enqueued once.
//!   The job is stored before the cursor moves: a crash in between enqueues
//!   the same key again, which stores nothing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::digest::{self, DigestRun};
use super::schedule::{Due, Schedule, ScheduleError};
use crate::config::DigestSettings;
use crate::store::{JobRepo, NewJob, StoreResult};

/// How often schedules are looked at.
const EVERY: Duration = Duration::from_secs(1);

struct Entry {
    name: String,
    schedule: Schedule,
    late_after: chrono::Duration,
}

pub struct Scheduler {
    jobs: Arc<dyn JobRepo>,
    entries: Vec<Entry>,
    wake: Arc<Notify>,
}

impl Scheduler {
    pub fn new(
        jobs: Arc<dyn JobRepo>,
        digests: &[DigestSettings],
        wake: Arc<Notify>,
    ) -> Result<Self, ScheduleError> {
        let entries = digests
            .iter()
            .map(|d| {
                Ok(Entry {
                    name: d.name.clone(),
                    schedule: Schedule::parse(&d.cron, &d.timezone)?,
                    late_after: chrono::Duration::minutes(d.late_after_mins as i64),
                })
            })
            .collect::<Result<_, ScheduleError>>()?;
        Ok(Self {
            jobs,
            entries,
            wake,
        })
    }

    /// One look at every schedule at `now`; returns the runs this call
    /// enqueued (another replica may have enqueued the same ones: then none).
    pub async fn step(&self, now: DateTime<Utc>) -> Vec<DigestRun> {
        let mut enqueued = Vec::new();
        for entry in &self.entries {
            match self.step_one(entry, now).await {
                Ok(Some(run)) => enqueued.push(run),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(digest = %entry.name, error = %e, "digest schedule not checked")
                }
            }
        }
        if !enqueued.is_empty() {
            self.wake.notify_one();
        }
        enqueued
    }

    async fn step_one(&self, entry: &Entry, now: DateTime<Utc>) -> StoreResult<Option<DigestRun>> {
        let cursor_name = format!("digest:{}", entry.name);
        let cursor = self.jobs.schedule_cursor(&cursor_name).await?;
        match entry.schedule.due(cursor, now, entry.late_after) {
            Due::NotYet => Ok(None),
            Due::Start { tick } => {
                self.jobs
                    .advance_schedule_cursor(&cursor_name, None, tick)
                    .await?;
                tracing::info!(digest = %entry.name, cron = %entry.schedule.normalized(),
                    next = ?entry.schedule.next_tick_after(now), "digest schedule started");
                Ok(None)
            }
            Due::Post {
                tick,
                since,
                late,
                missed,
            } => {
                let run = DigestRun {
                    name: entry.name.clone(),
                    tick,
                    since,
                    late,
                    missed,
                };
                let job = NewJob {
                    kind: digest::KIND.into(),
                    queue: digest::QUEUE.into(),
                    key: Some(format!("digest:{}:{}", entry.name, tick.timestamp_millis())),
                    payload: serde_json::to_value(&run).unwrap_or_default(),
                    run_at: now,
                };
                let stored = self.jobs.enqueue(&job, now).await?.is_some();
                let moved = self
                    .jobs
                    .advance_schedule_cursor(&cursor_name, cursor, tick)
                    .await?;
                if stored {
                    tracing::info!(digest = %entry.name, tick = %tick, late, missed, cursor_moved = moved, "digest due");
                }
                Ok(stored.then_some(run))
            }
        }
    }

    /// Check the schedules every second until `stop`.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        while !super::stop_requested(&stop) {
            self.step(crate::clock::now()).await;
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        }
    }
}
