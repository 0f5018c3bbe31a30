//! The MongoDB store's approvals: one document per approval; every
//! decision is one conditional update, so two clicks — on any replica —
//! cannot both win.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;

use super::mongo::{
    MongoStore, bson_to_json, from_bson_time, get_str, get_time, json_to_bson, to_bson_time,
};
use super::{Approval, ApprovalRepo, ApprovalStatus, DecideError, StoreError, StoreResult};

fn approval_from_doc(d: &Document) -> StoreResult<Approval> {
    Ok(Approval {
        id: get_str(d, "_id"),
        request_id: get_str(d, "request_id"),
        requester: get_str(d, "requester"),
        requester_groups: d
            .get_array("requester_groups")
            .map(|groups| {
                groups
                    .iter()
                    .filter_map(|g| g.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        channel: get_str(d, "channel"),
        thread: d.get_str("thread").ok().map(str::to_string),
        tool: get_str(d, "tool"),
        arguments: bson_to_json(d.get("arguments")),
        args_hash: get_str(d, "args_hash"),
        language: if get_str(d, "language") == "ko" {
            crate::domain::Language::Ko
        } else {
            crate::domain::Language::En
        },
        status: ApprovalStatus::parse(&get_str(d, "status")).unwrap_or(ApprovalStatus::Rejected),
        created_at: get_time(d, "created_at")?,
        expires_at: get_time(d, "expires_at")?,
        decided_by: d.get_str("decided_by").ok().map(str::to_string),
        decided_at: d
            .get_datetime("decided_at")
            .ok()
            .map(|t| from_bson_time(*t)),
        first_approver: d.get_str("first_approver").ok().map(str::to_string),
    })
}

#[async_trait]
impl ApprovalRepo for MongoStore {
    async fn create_approval(&self, a: &Approval) -> StoreResult<()> {
        self.coll("approvals")
            .insert_one(doc! {
                "_id": &a.id,
                "request_id": &a.request_id,
                "requester": &a.requester,
                "requester_groups": &a.requester_groups,
                "channel": &a.channel,
                "thread": a.thread.as_deref(),
                "tool": &a.tool,
                "arguments": json_to_bson(&a.arguments)?,
                "args_hash": &a.args_hash,
                "language": a.language.code(),
                "status": a.status.as_str(),
                "created_at": to_bson_time(a.created_at),
                "expires_at": to_bson_time(a.expires_at),
            })
            .await
            .map_err(StoreError::mongo)?;
        Ok(())
    }

    async fn pending_approvals(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Approval>> {
        // limit(0) would mean "no limit" to the server.
        if limit == 0 {
            return Ok(Vec::new());
        }
        let cursor = self
            .coll("approvals")
            .find(doc! {"status": "pending", "expires_at": {"$gt": to_bson_time(now)}})
            .sort(doc! {"expires_at": 1, "_id": 1})
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(StoreError::mongo)?;
        super::mongo::drain(cursor)
            .await?
            .iter()
            .map(approval_from_doc)
            .collect()
    }

    async fn get_approval(&self, id: &str) -> StoreResult<Option<Approval>> {
        self.coll("approvals")
            .find_one(doc! {"_id": id})
            .await
            .map_err(StoreError::mongo)?
            .as_ref()
            .map(approval_from_doc)
            .transpose()
    }

    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<Approval, DecideError>> {
        let status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Rejected
        };
        let coll = self.coll("approvals");
        let updated = coll
            .find_one_and_update(
                doc! {"_id": id, "status": "pending", "expires_at": {"$gt": to_bson_time(now)}},
                doc! {"$set": {"status": status.as_str(), "decided_by": by, "decided_at": to_bson_time(now)}},
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(StoreError::mongo)?;
        if let Some(d) = updated {
            return Ok(Ok(approval_from_doc(&d)?));
        }
        let Some(current) = self.get_approval(id).await? else {
            return Ok(Err(DecideError::NotFound));
        };
        Ok(Err(match current.status {
            ApprovalStatus::Pending | ApprovalStatus::Expired => {
                coll.update_one(
                    doc! {"_id": id, "status": "pending"},
                    doc! {"$set": {"status": "expired"}},
                )
                .await
                .map_err(StoreError::mongo)?;
                DecideError::Expired
            }
            other => DecideError::AlreadyDecided(other),
        }))
    }

    async fn first_approval(
        &self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<Option<String>, DecideError>> {
        let coll = self.coll("approvals");
        let updated = coll
            .update_one(
                doc! {"_id": id, "status": "pending", "expires_at": {"$gt": to_bson_time(now)},
                "first_approver": null},
                doc! {"$set": {"first_approver": by}},
            )
            .await
            .map_err(StoreError::mongo)?;
        if updated.modified_count == 1 {
            return Ok(Ok(None));
        }
        let Some(current) = self.get_approval(id).await? else {
            return Ok(Err(DecideError::NotFound));
        };
        Ok(match current.status {
            ApprovalStatus::Pending if current.expires_at > now => Ok(current.first_approver),
            ApprovalStatus::Pending | ApprovalStatus::Expired => {
                coll.update_one(
                    doc! {"_id": id, "status": "pending"},
                    doc! {"$set": {"status": "expired"}},
                )
                .await
                .map_err(StoreError::mongo)?;
                Err(DecideError::Expired)
            }
            other => Err(DecideError::AlreadyDecided(other)),
        })
    }
}
