//! The `chatops` binary as a user runs it: embedded defaults in an empty
//! folder, no keys, no servers.

use crate::common;

use std::process::Command;

use common::chatops_in as chatops;
use common::config_file::ConfigFile;
use serde_json::Value;

#[test]
fn ask_json_answers_on_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = chatops(dir.path())
        .args([
            "ask",
            "--json",
            "--user",
            "alice",
            "runbook for a stuck backtest",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["language"], "en");
    assert_eq!(json["model"], "offline-planner");
    assert_eq!(json["tool_calls"][0]["name"], "search_runbooks");
    assert_eq!(json["tool_calls"][0]["outcome"], "ok");
    assert!(json["tool_calls"][0]["arguments"].is_object());
    assert!(
        json["answer"]
            .as_str()
            .unwrap()
            .contains("runbooks/stuck-jobs.md")
    );
    assert_eq!(json["usage"]["total_tokens"], 0);
    // The embedded SQLite store was created under ./data.
    assert!(dir.path().join("data/chatops.db").exists());
}

#[test]
fn chat_reads_questions_until_end_of_input() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = chatops(dir.path())
        .args(["chat", "--user", "bob"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all("몽고디비 연결 안될 때 런북\n/quit\n".as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("console:bob"), "{stdout}");
    assert!(
        stdout.contains("runbooks/mongodb-unavailable.md"),
        "{stdout}"
    );
    assert!(stdout.contains("오프라인 모드"), "{stdout}");
}

#[test]
fn check_prints_a_table_and_bad_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = chatops(dir.path()).arg("check").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("store") && stdout.contains("sqlite"),
        "{stdout}"
    );
    assert!(stdout.contains("offline planner"), "{stdout}");

    // An unreachable LLM is reported down, and the exit code says so.
    let out = chatops(dir.path())
        .arg("check")
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .env("OPENAI_API_KEY", "sk-check-abcdefghijklmnopqrst")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("llm") && stdout.contains("DOWN"),
        "{stdout}"
    );
    assert!(!stdout.contains("sk-check-abcdefghijklmnopqrst"));

    let out = chatops(dir.path())
        .args(["ask", "hi"])
        .env("CHATOPS_DEFAULT_ROLE", "superuser")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CHATOPS_DEFAULT_ROLE"), "{stderr}");
    assert!(stderr.contains("viewer, operator or admin"), "{stderr}");
}

#[test]
fn a_config_file_that_does_not_parse_never_shows_a_secret_value() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "abc123unquotedSigningSecret";
    let config = dir.path().join("chatops.toml");
    std::fs::write(
        &config,
        format!("[slack]\nbot_token = \"xoxb-1-2-3\"\nsigning_secret = {secret}\n"),
    )
    .unwrap();
    for command in ["check", "serve"] {
        let out = chatops(dir.path())
            .arg("--config")
            .arg(&config)
            .arg(command)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("line 3") && stderr.contains("slack.signing_secret"),
            "{command}: {stderr}"
        );
        assert!(
            !stderr.contains(secret),
            "{command} showed the secret: {stderr}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    }
}

#[test]
fn serve_answers_health_probes_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let addr = common::free_addr();
    let child = chatops(dir.path())
        .arg("serve")
        .env("CHATOPS_HTTP_ADDR", &addr)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let get = |path: &str| -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr.as_str()).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    };
    let mut health = None;
    for _ in 0..100 {
        health = get("/healthz");
        if health.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let health = health.expect("serve listens");
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok"),
        "{health}"
    );
    let ready = get("/readyz").unwrap();
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.ends_with("ready"),
        "{ready}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped cleanly"));
}

/// README's first command answers the top ops questions from the sandbox.
#[test]
fn the_top_questions_are_answered_from_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("현재 DuckDB 캐시 적중률은?", "cache_status", "ok", "97.3 %"),
        (
            "최근 실패한 백테스트 목록",
            "recent_failures",
            "ok",
            "Alpha Vantage rate limit exceeded",
        ),
        ("알파밴티지 괜찮아?", "alpha_vantage_health", "ok", "212 ms"),
        (
            "RSI 전략이랑 모멘텀 전략 비교해줘",
            "compare_strategies",
            "ok",
            "RSI mean reversion",
        ),
        (
            "is alpha vantage rate limited?",
            "alpha_vantage_health",
            "ok",
            "latency",
        ),
        (
            "why did last night's backtests fail?",
            "recent_failures",
            "ok",
            "Symbol not found: TWTR",
        ),
        (
            "run the SMA crossover strategy on AAPL and MSFT for 2024",
            "trigger_backtest",
            "needs_approval",
            "approval",
        ),
    ];
    for (question, tool, outcome, needle) in cases {
        let out = chatops(dir.path())
            .args(["ask", "--json", question])
            .output()
            .unwrap();
        // Exit 5: an action waits for approval (README "Using it").
        assert_eq!(
            out.status.code(),
            Some(if outcome == "needs_approval" { 5 } else { 0 }),
            "{question}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["tool_calls"][0]["name"], tool, "{question}");
        assert_eq!(json["tool_calls"][0]["outcome"], outcome, "{question}");
        let answer = json["answer"].as_str().unwrap();
        assert!(answer.contains(needle), "{question}: {answer}");
        let sandbox_note = if json["language"] == "ko" {
            "샌드박스"
        } else {
            "sandbox"
        };
        assert!(
            outcome != "ok" || answer.contains(sandbox_note),
            "{question}: {answer}"
        );
    }
}

#[test]
fn digest_preview_prints_a_configured_digest_without_posting_it() {
    let dir = tempfile::tempdir().unwrap();
    ConfigFile::new()
        .toml(
            r#"
[[digests]]
name = "morning"
cron = "0 9 * * 1-5"
channels = ["slack:C0OPS"]
sections = ["cache_status", "failures", "backtests_completed"]
language = "ko"
"#,
        )
        .write(dir.path());
    let run = |args: &[&str]| {
        chatops(dir.path())
            .args(["--config", "chatops.toml", "digest"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--preview", "morning"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("운영 다이제스트: morning"), "{text}");
    assert!(text.contains("KST"), "the schedule's time zone: {text}");
    assert!(text.contains("캐시") && text.contains("duckdb"), "{text}");
    assert!(text.contains("실패한 백테스트"), "{text}");
    // Completed backtests carry backtest_report's one-line curve summary.
    assert!(
        text.contains("최고의 달") && text.contains("최장 낙폭"),
        "{text}"
    );

    let listed = run(&[]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("read as \"0 0 9 * * MON-FRI\""),
        "which form was read: {listed}"
    );

    let unknown = run(&["--preview", "evening"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("configured: morning"));
}

#[test]
fn audit_exports_json_lines_and_verify_points_at_an_edited_record() {
    let dir = tempfile::tempdir().unwrap();
    for question in [
        "cache status",
        "최근 실패한 백테스트 목록",
        "is alpha vantage ok?",
    ] {
        let out = chatops(dir.path())
            .args(["ask", "--user", "alice", question])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let run = |args: &[&str]| chatops(dir.path()).args(args).output().unwrap();

    let verified = run(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&verified.stdout).to_string();
    assert!(verified.status.success(), "{text}");
    assert!(text.starts_with("audit chain intact:"), "{text}");

    let export = run(&[
        "audit",
        "--json",
        "--kind",
        "tool_outcome",
        "--user",
        "console:alice",
    ]);
    let lines: Vec<Value> = String::from_utf8_lossy(&export.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one tool outcome per question");
    assert!(
        lines
            .iter()
            .all(|l| l["hash"].as_str().unwrap().len() == 64)
    );
    let tools: Vec<&str> = lines
        .iter()
        .map(|l| l["event"]["tool"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        ["cache_status", "recent_failures", "alpha_vantage_health"]
    );
    let table = run(&["audit", "--tool", "recent_failures", "--since", "1h"]);
    let table = String::from_utf8_lossy(&table.stdout).to_string();
    assert!(
        table.contains("tool_attempt") && table.contains("2 record(s)"),
        "{table}"
    );
    let bad = run(&["audit", "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));

    // Someone with the database file edits a record behind the bot's back.
    let db = rusqlite::Connection::open(dir.path().join("data/chatops.db")).unwrap();
    db.execute_batch("DROP TRIGGER audit_log_no_update")
        .unwrap();
    db.execute(
        "UPDATE audit_log SET record = replace(record, '\"ok\"', '\"error\"') WHERE seq = 5",
        [],
    )
    .unwrap();
    drop(db);
    let tampered = run(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&tampered.stdout).to_string();
    assert_eq!(tampered.status.code(), Some(1), "{text}");
    assert!(
        text.contains("BROKEN at seq 5") && text.contains("edited"),
        "{text}"
    );
}

#[test]
fn usage_reports_on_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = chatops(dir.path())
        .args(["usage", "--days", "7"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("No LLM calls."));
    let bad = chatops(dir.path())
        .args(["usage", "--days", "99"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
