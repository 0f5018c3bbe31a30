//! The SQLite store's jobs and schedule cursors: a claim is one UPDATE
//! (the pick and the claim atomic, also against other processes on the same
//! file); a settle is one conditional UPDATE on the worker's lease.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::sqlite::{SqliteStore, json_err, parse_ts, ts_ms};
use super::{
    Claim, Job, JobRelease, JobRepo, JobState, NewJob, RAN_PAST_ITS_LEASE, StoreError, StoreResult,
};

const JOB_COLUMNS: &str = "id, kind, queue, key, payload, state, attempts, run_at, lease_owner, \
     lease_until, last_error, created_at, updated_at";

fn job_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let state: String = row.get(5)?;
    Ok(Job {
        id: row.get(0)?,
        kind: row.get(1)?,
        queue: row.get(2)?,
        key: row.get(3)?,
        payload: serde_json::from_str(&row.get::<_, String>(4)?).map_err(json_err)?,
        // An unknown state never runs again.
        state: JobState::parse(&state).unwrap_or(JobState::Dead),
        attempts: row.get(6)?,
        run_at: parse_ts(&row.get::<_, String>(7)?)?,
        lease_owner: row.get(8)?,
        lease_until: row
            .get::<_, Option<String>>(9)?
            .map(|s| parse_ts(&s))
            .transpose()?,
        last_error: row.get(10)?,
        created_at: parse_ts(&row.get::<_, String>(11)?)?,
        updated_at: parse_ts(&row.get::<_, String>(12)?)?,
    })
}

#[async_trait]
impl JobRepo for SqliteStore {
    async fn enqueue(&self, job: &NewJob, now: DateTime<Utc>) -> StoreResult<Option<String>> {
        let id = uuid::Uuid::now_v7().to_string();
        let key = job.key.clone().unwrap_or_else(|| id.clone());
        let payload = serde_json::to_string(&job.payload).map_err(StoreError::sqlite)?;
        let (kind, queue, run_at, now) = (
            job.kind.clone(),
            job.queue.clone(),
            ts_ms(job.run_at),
            ts_ms(now),
        );
        self.with(move |c| {
            let inserted = c.execute(
                "INSERT INTO jobs (id, kind, queue, key, payload, state, attempts, run_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?7, ?7)
                 ON CONFLICT (key) DO NOTHING",
                params![id, kind, queue, key, payload, run_at, now],
            )?;
            Ok((inserted == 1).then_some(id))
        })
        .await
    }

    async fn claim_job(
        &self,
        worker: &str,
        queues: &[&str],
        now: DateTime<Utc>,
        lease: chrono::Duration,
        max_attempts: u32,
    ) -> StoreResult<Option<Claim>> {
        if queues.is_empty() {
            return Ok(None);
        }
        let queues = serde_json::to_string(queues).map_err(StoreError::sqlite)?;
        let (worker, lease_until, now) = (worker.to_string(), ts_ms(now + lease), ts_ms(now));
        // One statement each: the pick and the change are atomic, also
        // against other processes on the same file (SQLite's write lock).
        // The due jobs whose attempts are used up are buried first.
        self.with(move |c| {
            let due = "queue IN (SELECT value FROM json_each(?1))
                 AND ((state = 'pending' AND run_at <= ?2)
                   OR (state = 'running' AND lease_until < ?2))";
            let buried = c
                .query_row(
                    &format!(
                        "UPDATE jobs SET state = 'dead',
                           last_error = CASE WHEN state = 'running' THEN ?4 ELSE last_error END,
                           lease_owner = NULL, lease_until = NULL, updated_at = ?2
                         WHERE id = (
                           SELECT id FROM jobs WHERE {due} AND attempts >= ?3
                           ORDER BY run_at, id LIMIT 1)
                         RETURNING {JOB_COLUMNS}"
                    ),
                    params![queues, now, max_attempts, RAN_PAST_ITS_LEASE],
                    job_from_row,
                )
                .optional()?;
            if let Some(job) = buried {
                return Ok(Some(Claim::Dead(job)));
            }
            c.query_row(
                &format!(
                    "UPDATE jobs SET state = 'running', lease_owner = ?4, lease_until = ?5,
                       attempts = attempts + 1, updated_at = ?2
                     WHERE id = (
                       SELECT id FROM jobs WHERE {due} AND attempts < ?3
                       ORDER BY run_at, id LIMIT 1)
                     RETURNING {JOB_COLUMNS}"
                ),
                params![queues, now, max_attempts, worker, lease_until],
                job_from_row,
            )
            .optional()
            .map(|job| job.map(Claim::Run))
        })
        .await
    }

    async fn save_job_progress(
        &self,
        id: &str,
        worker: &str,
        payload: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let payload = serde_json::to_string(payload).map_err(StoreError::sqlite)?;
        let (id, worker, now) = (id.to_string(), worker.to_string(), ts_ms(now));
        self.with(move |c| {
            let changed = c.execute(
                "UPDATE jobs SET payload = ?1, updated_at = ?2
                 WHERE id = ?3 AND state = 'running' AND lease_owner = ?4",
                params![payload, now, id, worker],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release_job(
        &self,
        id: &str,
        worker: &str,
        release: &JobRelease,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let s = Settle::of(release);
        let payload = s
            .payload
            .map(serde_json::to_string)
            .transpose()
            .map_err(StoreError::sqlite)?;
        let (state, run_at, reset, error) = (
            s.state.as_str(),
            s.run_at.map(ts_ms),
            s.reset_attempts,
            s.error.map(str::to_string),
        );
        let (id, worker, now) = (id.to_string(), worker.to_string(), ts_ms(now));
        self.with(move |c| {
            let changed = c.execute(
                "UPDATE jobs SET state = ?1, run_at = COALESCE(?2, run_at),
                   payload = COALESCE(?3, payload),
                   attempts = CASE WHEN ?4 THEN 0 ELSE attempts END,
                   last_error = COALESCE(?5, last_error),
                   lease_owner = NULL, lease_until = NULL, updated_at = ?6
                 WHERE id = ?7 AND state = 'running' AND lease_owner = ?8",
                params![state, run_at, payload, reset, error, now, id, worker],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn abandon_jobs(&self, worker: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let (worker, now) = (worker.to_string(), ts_ms(now));
        self.with(move |c| {
            let changed = c.execute(
                "UPDATE jobs SET state = 'pending', run_at = ?1, attempts = MAX(attempts - 1, 0),
                   lease_owner = NULL, lease_until = NULL, updated_at = ?1
                 WHERE state = 'running' AND lease_owner = ?2",
                params![now, worker],
            )?;
            Ok(changed as u64)
        })
        .await
    }

    async fn get_job(&self, id: &str) -> StoreResult<Option<Job>> {
        let id = id.to_string();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                params![id],
                job_from_row,
            )
            .optional()
        })
        .await
    }

    async fn list_jobs(&self, kind: Option<&str>, limit: usize) -> StoreResult<Vec<Job>> {
        let kind = kind.map(str::to_string);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE (?1 IS NULL OR kind = ?1)
                 ORDER BY created_at, id LIMIT ?2"
            ))?;
            stmt.query_map(params![kind, limit], job_from_row)?
                .collect()
        })
        .await
    }

    async fn purge_jobs(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let before = ts_ms(before);
        self.with(move |c| {
            let deleted = c.execute(
                "DELETE FROM jobs WHERE state IN ('done', 'dead') AND updated_at < ?1",
                params![before],
            )?;
            Ok(deleted as u64)
        })
        .await
    }

    async fn schedule_cursor(&self, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let name = name.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT tick FROM schedule_cursors WHERE name = ?1",
                params![name],
                |row| parse_ts(&row.get::<_, String>(0)?),
            )
            .optional()
        })
        .await
    }

    async fn advance_schedule_cursor(
        &self,
        name: &str,
        from: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (name, from, to) = (name.to_string(), from.map(ts_ms), ts_ms(to));
        self.with(move |c| {
            let changed = match from {
                None => c.execute(
                    "INSERT INTO schedule_cursors (name, tick) VALUES (?1, ?2)
                     ON CONFLICT (name) DO NOTHING",
                    params![name, to],
                )?,
                Some(from) => c.execute(
                    "UPDATE schedule_cursors SET tick = ?1 WHERE name = ?2 AND tick = ?3",
                    params![to, name, from],
                )?,
            };
            Ok(changed == 1)
        })
        .await
    }
}

/// What settling a job writes: the new state, and the fields a variant
/// replaces (`None`: kept).
struct Settle<'a> {
    state: JobState,
    run_at: Option<DateTime<Utc>>,
    payload: Option<&'a serde_json::Value>,
    reset_attempts: bool,
    error: Option<&'a str>,
}

impl<'a> Settle<'a> {
    fn of(release: &'a JobRelease) -> Self {
        let keep = |state| Settle {
            state,
            run_at: None,
            payload: None,
            reset_attempts: false,
            error: None,
        };
        match release {
            JobRelease::Done => keep(JobState::Done),
            JobRelease::Snooze { run_at, payload } => Settle {
                run_at: Some(*run_at),
                payload: Some(payload),
                reset_attempts: true,
                ..keep(JobState::Pending)
            },
            JobRelease::Retry {
                run_at,
                error,
                payload,
            } => Settle {
                run_at: Some(*run_at),
                payload: Some(payload),
                error: Some(error),
                ..keep(JobState::Pending)
            },
            JobRelease::Failed { run_at, error } => Settle {
                run_at: Some(*run_at),
                error: Some(error),
                ..keep(JobState::Pending)
            },
            JobRelease::Dead { error } => Settle {
                error: Some(error),
                ..keep(JobState::Dead)
            },
        }
    }
}
