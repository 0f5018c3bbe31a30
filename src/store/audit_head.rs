//! The audit chain's head, witnessed outside the store: after each audit
//! record is committed, its `seq` and hash are written to a file
//! (`store.audit_head`; by default `<sqlite file>.audit-head`), so cutting
//! the newest records — which leaves a shorter chain that still links up —
//! is caught by `chatops audit verify`, which checks that the chain still
//! holds the head it was shown.
//!
//! Owns the file's format ([`AuditHead`]: one JSON object, read as untrusted
//! text), writing it atomically (a temporary file beside it, then a rename:
//! a reader sees the old head or the new one, never half of one), and
//! [`WitnessedAudit`], the [`AuditRepo`] every append goes through when a
//! head file is configured (`Store::open` wraps the backend's audit log in
//! it: one place, whatever the caller).
//!
//! Order: the head is written only after `append` returned, i.e. after the
//! record was committed (and made durable: see `durability.rs`), so a crash
//! between the two leaves an older head — which the chain still holds — and
//! never a head ahead of the store. Within a process the head only moves
//! forward (appends that finish out of order do not move it back), and a
//! head the chain no longer holds is never moved at all, so the bot writing
//! on after a cut does not cover it up (remove the file once the cut is
//! understood; the next record starts a new head). Several
//! replicas on one MongoDB each keep a file of their own: each head is a
//! record of the one chain, so each is a valid witness.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{AuditQuery, AuditRecord, AuditRepo, StoreResult};

/// The newest record this process appended: its place in the chain and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    pub seq: u64,
    /// SHA-256, 64 lowercase hex digits ([`AuditRecord::chain_hash`]).
    pub hash: String,
}

impl AuditHead {
    pub fn of(record: &AuditRecord) -> Self {
        Self {
            seq: record.seq,
            hash: record.hash.clone(),
        }
    }

    /// The file's text: one JSON line.
    pub fn to_text(&self) -> String {
        format!("{{\"seq\":{},\"hash\":\"{}\"}}\n", self.seq, self.hash)
    }

    /// Read a head file's text (untrusted: anyone with the disk may have
    /// written it). Says what is wrong without quoting the text back.
    pub fn parse(text: &str) -> Result<Self, String> {
        let head: Self = serde_json::from_str(text.trim()).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Eof => "it ends too soon",
                serde_json::error::Category::Syntax => "it is not JSON",
                _ => "it is not an object of a seq (a whole number) and a hash (text), nothing else",
            };
            // serde's own message may quote the text: only where, and what kind.
            format!(
                "not an audit head ({what}, at line {} column {}); expected {{\"seq\":…,\"hash\":\"…\"}}",
                e.line(),
                e.column()
            )
        })?;
        if head.seq == 0 {
            return Err("seq 0 is no record (the chain starts at 1)".into());
        }
        let is_hash = head.hash.len() == 64
            && head
                .hash
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !is_hash {
            return Err("its hash is not 64 lowercase hex digits".into());
        }
        Ok(head)
    }

    /// The head in `path`; `Ok(None)` when there is no such file.
    pub fn read(path: &Path) -> Result<Option<Self>, String> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| format!("audit head file {}: not UTF-8 text", path.display()))?;
                Self::parse(&text)
                    .map(Some)
                    .map_err(|e| format!("audit head file {}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("audit head file {}: {e}", path.display())),
        }
    }

    /// Replace the head in `path` atomically: a temporary file in the same
    /// folder, then a rename over the old one.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, self.to_text().as_bytes())?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// A store's audit log whose every append also moves the head file.
pub struct WitnessedAudit {
    inner: Arc<dyn AuditRepo>,
    path: PathBuf,
    witness: tokio::sync::Mutex<Witness>,
}

/// What this process knows about the head file.
#[derive(Default)]
struct Witness {
    /// Whether the head found in the file at the first append was checked.
    checked: bool,
    /// The `seq` of the head in the file (0: none yet).
    written: u64,
    /// The chain no longer holds the head in the file: it stays as it is,
    /// for `audit verify` to show, until an operator removes it.
    frozen: bool,
}

impl WitnessedAudit {
    pub fn new(inner: Arc<dyn AuditRepo>, path: PathBuf) -> Self {
        Self {
            inner,
            path,
            witness: tokio::sync::Mutex::new(Witness::default()),
        }
    }

    /// Move the head file to `record` (just committed), unless a newer head
    /// is there already. At the first append of the process, the head left
    /// in the file must still be in the chain; if it is not (the newest
    /// records were cut, or the chain rewritten), the file is left alone, so
    /// the bot writing on does not hide the cut. Failures are logged, not
    /// returned: the record itself is committed, and an older head still
    /// verifies.
    async fn witness(&self, record: &AuditRecord) {
        let mut w = self.witness.lock().await;
        if !w.checked {
            w.checked = true;
            match AuditHead::read(&self.path) {
                Ok(None) => {}
                Ok(Some(old)) => match check_head(self.inner.as_ref(), &old, record.seq).await {
                    Ok(HeadFinding::Holds) => w.written = old.seq,
                    Ok(finding) => {
                        w.frozen = true;
                        tracing::error!(
                            path = %self.path.display(), head_seq = old.seq, appended_seq = record.seq,
                            ?finding,
                            "the audit chain no longer holds its head: the newest records were cut or \
                             rewritten; the head file is kept as it is (run `chatops audit verify`)"
                        );
                    }
                    Err(e) => {
                        w.checked = false;
                        tracing::warn!(error = %e, "the audit head could not be checked; trying again at the next record");
                        return;
                    }
                },
                // Not a head (damaged): replaced by a good one.
                Err(e) => tracing::warn!(error = %e, "replacing an unreadable audit head file"),
            }
        }
        if w.frozen || record.seq <= w.written {
            return;
        }
        match AuditHead::of(record).write(&self.path) {
            Ok(()) => w.written = record.seq,
            Err(e) => tracing::error!(
                path = %self.path.display(), seq = record.seq, error = %e,
                "the audit head file could not be written; `audit verify` checks against an older head"
            ),
        }
    }
}

#[async_trait]
impl AuditRepo for WitnessedAudit {
    async fn append(&self, record: &AuditRecord) -> StoreResult<AuditRecord> {
        let stored = self.inner.append(record).await?;
        self.witness(&stored).await;
        Ok(stored)
    }

    async fn query_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        self.inner.query_audit(query).await
    }
}

/// What the chain says about a head it was shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadFinding {
    /// The chain holds the head's seq with the head's hash.
    Holds,
    /// The chain ends before the head's seq: the newest records were cut.
    Truncated { head_seq: u64, store_end: u64 },
    /// The record at the head's seq has another hash: the chain was
    /// rewritten up to there.
    Differs { head_seq: u64, store_end: u64 },
}

/// Check `head` against the chain of `repo` by the record at the head's
/// seq; `store_end` (where the chain ends, for the finding) is not trusted
/// for the decision, since another writer may have appended since.
pub async fn check_head(
    repo: &dyn AuditRepo,
    head: &AuditHead,
    store_end: u64,
) -> StoreResult<HeadFinding> {
    let at_head = repo
        .query_audit(&AuditQuery {
            after_seq: Some(head.seq.saturating_sub(1)),
            limit: 1,
            ..Default::default()
        })
        .await?;
    Ok(match at_head.first() {
        Some(r) if r.seq == head.seq && r.hash == head.hash => HeadFinding::Holds,
        Some(r) if r.seq == head.seq => HeadFinding::Differs {
            head_seq: head.seq,
            store_end,
        },
        // Nothing at the head's seq: the chain ends before it (or has a gap
        // there, which `verify_audit_chain` names first).
        _ => HeadFinding::Truncated {
            head_seq: head.seq,
            store_end,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_head_reads_back_as_written() {
        let head = AuditHead {
            seq: 42,
            hash: HASH.into(),
        };
        assert_eq!(AuditHead::parse(&head.to_text()), Ok(head.clone()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chatops.db.audit-head");
        assert_eq!(AuditHead::read(&path), Ok(None));
        head.write(&path).unwrap();
        assert_eq!(AuditHead::read(&path), Ok(Some(head)));
    }

    #[test]
    fn a_damaged_head_is_told_plainly_without_its_text() {
        for garbage in [
            "",
            "garbage",
            "{\"seq\":0,\"hash\":\"\"}",
            "{\"seq\":-1,\"hash\":\"00\"}",
            "{\"seq\":3,\"hash\":\"ZZZZ\"}",
            "{\"seq\":18446744073709551616,\"hash\":\"00\"}",
            "{\"seq\":3,\"hash\":\"0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\"}",
            "{\"seq\":3,\"hash\":\"sk-live-secret\",\"extra\":1}",
            "{\"seq\":\"sk-live-secret\",\"hash\":\"00\"}",
        ] {
            let err = AuditHead::parse(garbage).unwrap_err();
            assert!(!err.contains("sk-live-secret"), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("head");
        std::fs::write(&path, [0xff, 0xfe, b'{']).unwrap();
        assert!(AuditHead::read(&path).unwrap_err().contains("not UTF-8"));
    }

    proptest::proptest! {
        #![proptest_config(crate::text::nasty::config())]

        /// A head file may hold anything: it is read or refused, never a panic.
        #[test]
        fn prop_any_head_text_is_read_or_refused(
            text in crate::text::nasty::text(),
            seq in proptest::num::u64::ANY,
        ) {
            let _ = AuditHead::parse(&text);
            let _ = AuditHead::parse(&format!("{{\"seq\":{seq},\"hash\":\"{text}\"}}"));
            let head = AuditHead { seq: seq.max(1), hash: HASH.into() };
            proptest::prop_assert_eq!(AuditHead::parse(&head.to_text()), Ok(head));
        }
    }
}
