//! The SQLite store's approvals: one row per approval (the request as a
//! JSON `record`, status and decision in columns); every decision is one
//! conditional UPDATE in a transaction, so two clicks cannot both win.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::sqlite::{SqliteStore, json_err, parse_ts, ts};
use super::{Approval, ApprovalRepo, ApprovalStatus, DecideError, StoreResult};

fn approval_json(a: &Approval) -> serde_json::Value {
    serde_json::json!({
        "request_id": a.request_id, "requester": a.requester, "channel": a.channel,
        "requester_groups": a.requester_groups,
        "thread": a.thread, "tool": a.tool, "arguments": a.arguments, "args_hash": a.args_hash,
        "language": a.language,
        "created_at": ts(a.created_at),
    })
}

fn approval_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Approval> {
    let id: String = row.get(0)?;
    let record: serde_json::Value =
        serde_json::from_str(&row.get::<_, String>(1)?).map_err(json_err)?;
    let status: String = row.get(2)?;
    let text = |k: &str| record[k].as_str().unwrap_or_default().to_string();
    Ok(Approval {
        id,
        request_id: text("request_id"),
        requester: text("requester"),
        requester_groups: serde_json::from_value(record["requester_groups"].clone())
            .unwrap_or_default(),
        channel: text("channel"),
        thread: record["thread"].as_str().map(str::to_string),
        tool: text("tool"),
        arguments: record["arguments"].clone(),
        args_hash: text("args_hash"),
        language: serde_json::from_value(record["language"].clone()).unwrap_or_default(),
        status: ApprovalStatus::parse(&status).unwrap_or(ApprovalStatus::Rejected),
        created_at: parse_ts(&text("created_at"))?,
        expires_at: parse_ts(&row.get::<_, String>(3)?)?,
        decided_by: row.get(4)?,
        decided_at: row
            .get::<_, Option<String>>(5)?
            .map(|s| parse_ts(&s))
            .transpose()?,
        first_approver: record["first_approver"].as_str().map(str::to_string),
    })
}

const APPROVAL_COLUMNS: &str = "id, record, status, expires_at, decided_by, decided_at";

#[async_trait]
impl ApprovalRepo for SqliteStore {
    async fn create_approval(&self, approval: &Approval) -> StoreResult<()> {
        let a = approval.clone();
        let record = approval_json(&a).to_string();
        self.with(move |c| {
            c.execute(
                "INSERT INTO approvals (id, record, status, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![a.id, record, a.status.as_str(), ts(a.expires_at)],
            )
            .map(|_| ())
        })
        .await
    }

    async fn pending_approvals(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Approval>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE status = 'pending' \
                 AND expires_at > ?1 ORDER BY expires_at, id LIMIT ?2"
            ))?;
            stmt.query_map(params![ts(now), limit], approval_from_row)?
                .collect()
        })
        .await
    }

    async fn get_approval(&self, id: &str) -> StoreResult<Option<Approval>> {
        let id = id.to_string();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
                params![id],
                approval_from_row,
            )
            .optional()
        })
        .await
    }

    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<Approval, DecideError>> {
        let (id, by) = (id.to_string(), by.to_string());
        let status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Rejected
        };
        self.with(move |c| {
            let tx = c.transaction()?;
            let changed = tx.execute(
                "UPDATE approvals SET status = ?1, decided_by = ?2, decided_at = ?3
                 WHERE id = ?4 AND status = 'pending' AND expires_at > ?3",
                params![status.as_str(), by, ts(now), id],
            )?;
            let current = tx
                .query_row(
                    &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
                    params![id],
                    approval_from_row,
                )
                .optional()?;
            let result = match current {
                None => Err(DecideError::NotFound),
                Some(a) if changed == 1 => Ok(a),
                Some(a) => Err(not_decidable(&tx, &id, a.status)?),
            };
            tx.commit()?;
            Ok(result)
        })
        .await
    }

    async fn first_approval(
        &self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<Option<String>, DecideError>> {
        let (id, by) = (id.to_string(), by.to_string());
        self.with(move |c| {
            let tx = c.transaction()?;
            let changed = tx.execute(
                "UPDATE approvals SET record = json_set(record, '$.first_approver', ?1)
                 WHERE id = ?2 AND status = 'pending' AND expires_at > ?3
                   AND json_extract(record, '$.first_approver') IS NULL",
                params![by, id, ts(now)],
            )?;
            let current = tx
                .query_row(
                    &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
                    params![id],
                    approval_from_row,
                )
                .optional()?;
            let result = match current {
                None => Err(DecideError::NotFound),
                Some(_) if changed == 1 => Ok(None),
                Some(a) if a.status == ApprovalStatus::Pending && a.expires_at > now => {
                    Ok(a.first_approver)
                }
                Some(a) => Err(not_decidable(&tx, &id, a.status)?),
            };
            tx.commit()?;
            Ok(result)
        })
        .await
    }
}

/// Why an approval the conditional update did not change cannot be decided:
/// a pending one is past its time (marked expired here, failing closed),
/// else it is expired or decided already.
fn not_decidable(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    status: ApprovalStatus,
) -> rusqlite::Result<DecideError> {
    Ok(match status {
        ApprovalStatus::Pending => {
            tx.execute(
                "UPDATE approvals SET status = 'expired' WHERE id = ?1 AND status = 'pending'",
                params![id],
            )?;
            DecideError::Expired
        }
        ApprovalStatus::Expired => DecideError::Expired,
        decided => DecideError::AlreadyDecided(decided),
    })
}
