//! The MongoDB store's jobs and schedule cursors: a claim is one
//! find-and-modify (the server picks and claims atomically); a settle is one
//! conditional update on the worker's lease.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;

use super::mongo::{
    MongoStore, bson_to_json, drain, get_ms, get_ms_required, get_str, is_duplicate_key,
    json_to_bson, to_ms,
};
use super::{
    Claim, Job, JobRelease, JobRepo, JobState, NewJob, RAN_PAST_ITS_LEASE, StoreError, StoreResult,
};

fn job_from_doc(d: &Document) -> StoreResult<Job> {
    let attempts = match d.get("attempts") {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(f)) => *f as i64,
        _ => 0,
    };
    Ok(Job {
        id: get_str(d, "_id"),
        kind: get_str(d, "kind"),
        queue: get_str(d, "queue"),
        key: get_str(d, "key"),
        payload: bson_to_json(d.get("payload")),
        // An unknown state never runs again.
        state: JobState::parse(&get_str(d, "state")).unwrap_or(JobState::Dead),
        attempts: u32::try_from(attempts.max(0)).unwrap_or(u32::MAX),
        run_at: get_ms_required(d, "run_at")?,
        lease_owner: d.get_str("lease_owner").ok().map(str::to_string),
        lease_until: get_ms(d, "lease_until")?,
        last_error: d.get_str("last_error").ok().map(str::to_string),
        created_at: get_ms_required(d, "created_at")?,
        updated_at: get_ms_required(d, "updated_at")?,
    })
}

#[async_trait]
impl JobRepo for MongoStore {
    async fn enqueue(&self, job: &NewJob, now: DateTime<Utc>) -> StoreResult<Option<String>> {
        let id = uuid::Uuid::now_v7().to_string();
        let key = job.key.as_deref().unwrap_or(&id);
        match self
            .coll("jobs")
            .insert_one(doc! {
                "_id": &id,
                "kind": &job.kind,
                "queue": &job.queue,
                "key": key,
                "payload": json_to_bson(&job.payload)?,
                "state": JobState::Pending.as_str(),
                "attempts": 0_i32,
                "run_at": to_ms(job.run_at),
                "lease_owner": Bson::Null,
                "lease_until": Bson::Null,
                "last_error": Bson::Null,
                "created_at": to_ms(now),
                "updated_at": to_ms(now),
            })
            .await
        {
            Ok(_) => Ok(Some(id)),
            Err(e) if is_duplicate_key(&e) => Ok(None),
            Err(e) => Err(StoreError::mongo(e)),
        }
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
        let now_ms = to_ms(now);
        let jobs = self.coll("jobs");
        let max = i64::from(max_attempts);
        let pending_due = doc! {"state": JobState::Pending.as_str(), "run_at": {"$lte": now_ms}};
        let lease_expired =
            doc! {"state": JobState::Running.as_str(), "lease_until": {"$lt": now_ms}};
        let dead = doc! {
            "state": JobState::Dead.as_str(),
            "lease_owner": Bson::Null,
            "lease_until": Bson::Null,
            "updated_at": now_ms,
        };
        // One find-and-modify each: the server picks and changes atomically,
        // so two workers never get the same job. The due jobs whose attempts
        // are used up are buried first (one update per state, as the reason
        // differs and not every wire-compatible server has pipeline updates).
        let mut past_lease = dead.clone();
        past_lease.insert("last_error", RAN_PAST_ITS_LEASE);
        for (due, set) in [
            (lease_expired.clone(), past_lease),
            (pending_due.clone(), dead),
        ] {
            let mut filter = due;
            filter.insert("queue", doc! {"$in": queues});
            filter.insert("attempts", doc! {"$gte": max});
            let buried = jobs
                .find_one_and_update(filter, doc! {"$set": set})
                .sort(doc! {"run_at": 1, "_id": 1})
                .return_document(ReturnDocument::After)
                .await
                .map_err(StoreError::mongo)?;
            if let Some(d) = buried {
                return Ok(Some(Claim::Dead(job_from_doc(&d)?)));
            }
        }
        let claimed = jobs
            .find_one_and_update(
                doc! {
                    "queue": {"$in": queues},
                    "attempts": {"$lt": max},
                    "$or": [pending_due, lease_expired],
                },
                doc! {
                    "$set": {
                        "state": JobState::Running.as_str(),
                        "lease_owner": worker,
                        "lease_until": to_ms(now + lease),
                        "updated_at": now_ms,
                    },
                    "$inc": {"attempts": 1_i32},
                },
            )
            .sort(doc! {"run_at": 1, "_id": 1})
            .return_document(ReturnDocument::After)
            .await
            .map_err(StoreError::mongo)?;
        Ok(claimed
            .as_ref()
            .map(job_from_doc)
            .transpose()?
            .map(Claim::Run))
    }

    async fn save_job_progress(
        &self,
        id: &str,
        worker: &str,
        payload: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let result = self
            .coll("jobs")
            .update_one(
                doc! {"_id": id, "state": JobState::Running.as_str(), "lease_owner": worker},
                doc! {"$set": {"payload": json_to_bson(payload)?, "updated_at": to_ms(now)}},
            )
            .await
            .map_err(StoreError::mongo)?;
        Ok(result.matched_count == 1)
    }

    async fn release_job(
        &self,
        id: &str,
        worker: &str,
        release: &JobRelease,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut set = doc! {
            "lease_owner": Bson::Null,
            "lease_until": Bson::Null,
            "updated_at": to_ms(now),
        };
        match release {
            JobRelease::Done => {
                set.insert("state", JobState::Done.as_str());
            }
            JobRelease::Snooze { run_at, payload } => {
                set.insert("state", JobState::Pending.as_str());
                set.insert("run_at", to_ms(*run_at));
                set.insert("payload", json_to_bson(payload)?);
                set.insert("attempts", 0_i32);
            }
            JobRelease::Retry {
                run_at,
                error,
                payload,
            } => {
                set.insert("state", JobState::Pending.as_str());
                set.insert("run_at", to_ms(*run_at));
                set.insert("payload", json_to_bson(payload)?);
                set.insert("last_error", error.as_str());
            }
            JobRelease::Failed { run_at, error } => {
                set.insert("state", JobState::Pending.as_str());
                set.insert("run_at", to_ms(*run_at));
                set.insert("last_error", error.as_str());
            }
            JobRelease::Dead { error } => {
                set.insert("state", JobState::Dead.as_str());
                set.insert("last_error", error.as_str());
            }
        }
        let result = self
            .coll("jobs")
            .update_one(
                doc! {"_id": id, "state": JobState::Running.as_str(), "lease_owner": worker},
                doc! {"$set": set},
            )
            .await
            .map_err(StoreError::mongo)?;
        Ok(result.matched_count == 1)
    }

    async fn abandon_jobs(&self, worker: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let coll = self.coll("jobs");
        let now_ms = to_ms(now);
        let give_back = doc! {
            "state": JobState::Pending.as_str(),
            "run_at": now_ms,
            "lease_owner": Bson::Null,
            "lease_until": Bson::Null,
            "updated_at": now_ms,
        };
        // Two passes instead of a pipeline update ($max of attempts - 1 and 0),
        // which not every wire-compatible server has: first the claims that
        // count (attempts > 0, uncounted), then any others as they are.
        let counted = coll
            .update_many(
                doc! {"state": JobState::Running.as_str(), "lease_owner": worker, "attempts": {"$gt": 0}},
                doc! {"$set": give_back.clone(), "$inc": {"attempts": -1_i32}},
            )
            .await
            .map_err(StoreError::mongo)?;
        let rest = coll
            .update_many(
                doc! {"state": JobState::Running.as_str(), "lease_owner": worker},
                doc! {"$set": give_back},
            )
            .await
            .map_err(StoreError::mongo)?;
        Ok(counted.modified_count + rest.modified_count)
    }

    async fn get_job(&self, id: &str) -> StoreResult<Option<Job>> {
        self.coll("jobs")
            .find_one(doc! {"_id": id})
            .await
            .map_err(StoreError::mongo)?
            .as_ref()
            .map(job_from_doc)
            .transpose()
    }

    async fn list_jobs(&self, kind: Option<&str>, limit: usize) -> StoreResult<Vec<Job>> {
        // limit(0) would mean "no limit" to the server.
        if limit == 0 {
            return Ok(Vec::new());
        }
        let filter = match kind {
            Some(kind) => doc! {"kind": kind},
            None => doc! {},
        };
        let cursor = self
            .coll("jobs")
            .find(filter)
            .sort(doc! {"created_at": 1, "_id": 1})
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(StoreError::mongo)?;
        drain(cursor).await?.iter().map(job_from_doc).collect()
    }

    async fn purge_jobs(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let result = self
            .coll("jobs")
            .delete_many(doc! {
                "state": {"$in": [JobState::Done.as_str(), JobState::Dead.as_str()]},
                "updated_at": {"$lt": to_ms(before)},
            })
            .await
            .map_err(StoreError::mongo)?;
        Ok(result.deleted_count)
    }

    async fn schedule_cursor(&self, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let found = self
            .coll("schedule_cursors")
            .find_one(doc! {"_id": name})
            .await
            .map_err(StoreError::mongo)?;
        match found {
            Some(d) => get_ms(&d, "tick"),
            None => Ok(None),
        }
    }

    async fn advance_schedule_cursor(
        &self,
        name: &str,
        from: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let coll = self.coll("schedule_cursors");
        match from {
            None => match coll.insert_one(doc! {"_id": name, "tick": to_ms(to)}).await {
                Ok(_) => Ok(true),
                Err(e) if is_duplicate_key(&e) => Ok(false),
                Err(e) => Err(StoreError::mongo(e)),
            },
            Some(from) => {
                let result = coll
                    .update_one(
                        doc! {"_id": name, "tick": to_ms(from)},
                        doc! {"$set": {"tick": to_ms(to)}},
                    )
                    .await
                    .map_err(StoreError::mongo)?;
                Ok(result.matched_count == 1)
            }
        }
    }
}
