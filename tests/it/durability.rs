//! What a power loss or a quiet edit cannot undo (issue 16, items 19 and
//! 21): the writes that carry decisions are durable on both stores, and
//! cutting the newest audit records is caught by `chatops audit verify`
//! against the head file the bot keeps beside its store.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use chatops::config::StoreSettings;
use chatops::store::audit_head::AuditHead;
use chatops::store::backends::Store;
use chatops::store::mongo::MongoStore;
use chatops::store::{AuditEvent, AuditRecord};
use common::chatops_in as chatops;
use mongodb::options::Acknowledgment;

/// `chatops ask` as a terminal user on embedded defaults: a few audit
/// records in `dir/data/chatops.db`, the head beside it.
fn ask(dir: &Path, question: &str) {
    let out = chatops(dir)
        .args(["ask", "--user", "alice", question])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn verify(dir: &Path, extra: &[&str]) -> Output {
    chatops(dir)
        .args(["audit", "verify"])
        .args(extra)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn head_file(dir: &Path) -> PathBuf {
    dir.join("data/chatops.db.audit-head")
}

fn store_end(db: &Path) -> u64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT MAX(seq) FROM audit_log", [], |r| r.get::<_, i64>(0))
        .unwrap() as u64
}

/// What someone with the disk can do: lift the append-only trigger and
/// delete the newest `n` records.
fn cut_newest(db: &Path, n: u64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("DROP TRIGGER audit_log_no_delete")
        .unwrap();
    let end = store_end(db);
    conn.execute(
        "DELETE FROM audit_log WHERE seq > ?1",
        [i64::try_from(end - n).unwrap()],
    )
    .unwrap();
}

#[test]
fn cutting_the_newest_audit_records_is_caught_by_the_head_file() {
    let dir = tempfile::tempdir().unwrap();
    ask(dir.path(), "runbook for a stuck backtest");
    ask(dir.path(), "what's the duckdb cache hit rate?");
    let db = dir.path().join("data/chatops.db");
    let head = AuditHead::read(&head_file(dir.path())).unwrap().unwrap();
    assert_eq!(head.seq, store_end(&db), "the head is the newest record");

    let whole = verify(dir.path(), &[]);
    let report = text(&whole.stdout);
    assert!(whole.status.success(), "{report}");
    assert!(
        report.contains("holds the head in") && report.contains(&format!("(seq {})", head.seq)),
        "{report}"
    );

    cut_newest(&db, 3);
    let cut = verify(dir.path(), &[]);
    let report = text(&cut.stdout);
    assert_eq!(cut.status.code(), Some(1), "{report}{}", text(&cut.stderr));
    assert!(report.contains("audit chain TRUNCATED"), "{report}");
    assert!(
        report.contains(&format!("says seq {}", head.seq)),
        "names the head's seq: {report}"
    );
    assert!(
        report.contains(&format!("ends at seq {}", head.seq - 3)),
        "says where the store ends: {report}"
    );

    // The bot writing on does not cover the cut up: the head stays.
    ask(dir.path(), "is alpha vantage ok?");
    assert_eq!(
        AuditHead::read(&head_file(dir.path())).unwrap(),
        Some(head.clone())
    );
    let later = verify(dir.path(), &[]);
    let report = text(&later.stdout);
    assert_eq!(later.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("audit chain BROKEN at seq {}", head.seq)),
        "the record now at the head's seq is another one: {report}"
    );
}

#[test]
fn without_a_head_file_verify_still_works_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    ask(dir.path(), "runbook for a stuck backtest");
    std::fs::remove_file(head_file(dir.path())).unwrap();
    let out = verify(dir.path(), &[]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    assert!(report.contains("audit chain intact"), "{report}");
    assert!(report.contains("checked without a head"), "{report}");
    assert!(report.contains("no head file at"), "{report}");

    // A head given on the command line must exist.
    let out = verify(dir.path(), &["--head", "elsewhere.audit-head"]);
    assert_eq!(out.status.code(), Some(2), "cannot check: exit 2");
    assert!(
        text(&out.stderr).contains("elsewhere.audit-head does not exist"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_damaged_head_file_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    ask(dir.path(), "runbook for a stuck backtest");
    for garbage in [
        &b"{\"seq\": \"sk-live-0123456789abcdef\"}"[..],
        b"",
        b"\xff\xfe\x00",
        b"{\"seq\":18446744073709551616,\"hash\":\"00\"}",
    ] {
        std::fs::write(head_file(dir.path()), garbage).unwrap();
        let out = verify(dir.path(), &[]);
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "cannot check, not a panic (101): {stderr}"
        );
        assert!(stderr.contains("audit head file"), "{stderr}");
        assert!(stderr.contains("chatops.db.audit-head"), "{stderr}");
        assert!(
            !stderr.contains("sk-live"),
            "its text is not quoted back: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

fn record(n: u32) -> AuditRecord {
    AuditRecord {
        id: uuid::Uuid::now_v7().to_string(),
        at: chatops::clock::now(),
        request_id: format!("req-{n}"),
        subject: "console:alice".into(),
        channel: "console:ops".into(),
        prompt_version: "system@abc".into(),
        event: AuditEvent::ToolOutcome {
            tool: "echo".into(),
            call_id: format!("call_{n}"),
            outcome: "ok".into(),
            duration_ms: u64::from(n),
            error_kind: None,
            error: None,
        },
        seq: 0,
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// Two replicas on one MongoDB, each with its own head file: each head is
/// a record of the one chain, and each catches a cut past it.
#[tokio::test]
async fn replicas_on_one_mongodb_each_keep_a_head_that_witnesses_the_chain() {
    chatops::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_db_name();
    let settings = |name: &str| StoreSettings {
        mongodb_uri: Some(chatops::secret::Secret::new(common::mongo_uri())),
        mongodb_db: db.clone(),
        audit_head: Some(dir.path().join(format!("{name}.audit-head"))),
        ..Default::default()
    };
    let (a, b) = (
        Store::open(&settings("a")).await.unwrap(),
        Store::open(&settings("b")).await.unwrap(),
    );
    let mut last = Vec::new();
    for n in 0..6 {
        let replica = if n % 2 == 0 { &a } else { &b };
        last.push(replica.audit.append(&record(n)).await.unwrap());
    }
    let head = |name: &str| {
        AuditHead::read(&dir.path().join(format!("{name}.audit-head")))
            .unwrap()
            .unwrap()
    };
    assert_eq!(head("a"), AuditHead::of(&last[4]));
    assert_eq!(head("b"), AuditHead::of(&last[5]));
    for name in ["a", "b"] {
        let given = chatops::admin::HeadFile::Given(dir.path().join(format!("{name}.audit-head")));
        let (report, intact) = chatops::admin::verify(&a, &given).await.unwrap();
        assert!(intact, "{report}");
    }

    // Cut the newest record: replica b's head (seq 6) is gone, a's (5) holds.
    let client = mongodb::Client::with_uri_str(common::mongo_uri())
        .await
        .unwrap();
    client
        .database(&db)
        .collection::<mongodb::bson::Document>("audit_log")
        .delete_many(mongodb::bson::doc! {"seq": {"$gt": 5_i64}})
        .await
        .unwrap();
    let (report, intact) = chatops::admin::verify(
        &a,
        &chatops::admin::HeadFile::Given(dir.path().join("b.audit-head")),
    )
    .await
    .unwrap();
    assert!(!intact);
    assert!(
        report.contains("TRUNCATED")
            && report.contains("says seq 6")
            && report.contains("ends at seq 5"),
        "{report}"
    );
}

/// Item 19: the writes that carry decisions wait for the journal of a
/// majority on MongoDB; SQLite's side is a unit test in
/// `src/store/durability.rs`.
#[tokio::test]
async fn mongodb_decisions_and_processed_events_are_written_with_majority_and_journal() {
    chatops::install_crypto_provider();
    let store = MongoStore::connect(&common::mongo_uri(), &common::fresh_db_name())
        .await
        .unwrap();
    for collection in ["approvals", "processed_events", "audit_log"] {
        let concern = store
            .write_concern_of(collection)
            .unwrap_or_else(|| panic!("{collection} has no write concern"));
        assert_eq!(concern.w, Some(Acknowledgment::Majority), "{collection}");
        assert_eq!(concern.journal, Some(true), "{collection}");
    }
}
