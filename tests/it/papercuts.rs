//! Papercuts a new user trips over on the first day (issue 17, items 11-18),
//! each through the `chatops` binary as a person runs it.

use crate::common;

use common::chatops_in as chatops;

/// Every variable `.env.example` lists, set as sourcing it unedited leaves
/// them: empty.
fn empty_env_example(cmd: &mut std::process::Command) -> usize {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example"))
        .expect(".env.example");
    let mut n = 0;
    for line in example.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let name = line.split('=').next().unwrap_or_default();
        cmd.env(name, "");
        n += 1;
    }
    n
}

#[test]
fn every_empty_variable_of_env_example_counts_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["ask", "--json", "runbook for a stuck backtest"][..],
        &["check"][..],
        &["audit", "--json"][..],
    ] {
        let mut cmd = chatops(dir.path());
        assert!(empty_env_example(&mut cmd) > 20, "read .env.example");
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "chatops {args:?} with .env.example's empty variables: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The defaults were used: the offline planner and SQLite under ./data.
    let mut cmd = chatops(dir.path());
    empty_env_example(&mut cmd);
    let out = cmd
        .args(["ask", "--json", "runbook for a stuck backtest"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["model"], "offline-planner");
    assert!(dir.path().join("data/chatops.db").exists());
}

/// `chatops ask` in `dir` with `env`; its exit code and JSON answer.
fn ask(dir: &std::path::Path, env: &[(&str, &str)], question: &str) -> (i32, serde_json::Value) {
    let out = chatops(dir)
        .envs(env.iter().copied())
        .args(["ask", "--json", question])
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exited"), json)
}

#[test]
fn ask_exits_by_what_happened_to_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = |j: &serde_json::Value| j["tool_calls"][0]["outcome"].clone();
    // 0: answered.
    let (code, json) = ask(dir.path(), &[], "runbook for a stuck backtest");
    assert_eq!((code, outcome(&json)), (0, "ok".into()));
    // 5: an action waits for approval, nothing run.
    let (code, json) = ask(
        dir.path(),
        &[],
        "run the SMA crossover strategy on AAPL and MSFT for 2024",
    );
    assert_eq!((code, outcome(&json)), (5, "needs_approval".into()));
    // 3: denied (usage is for admins; the terminal user is an operator)...
    let (code, json) = ask(dir.path(), &[], "이번 달 LLM 비용 얼마나 나왔어?");
    assert_eq!((code, outcome(&json)), (3, "denied".into()));
    // ... or refused (too long).
    let (code, json) = ask(dir.path(), &[], &"a".repeat(5000));
    assert_eq!(code, 3, "{json}");
    assert!(json["tool_calls"].as_array().unwrap().is_empty());
    // 4: the turn's tool failed (a platform API nobody answers).
    let dead = [
        ("PLATFORM_API_URL", "http://127.0.0.1:9"),
        ("PLATFORM_MONGODB_URI", "mongodb://127.0.0.1:9"),
        ("PLATFORM_MONGODB_DB", "platform"),
    ];
    let (code, json) = ask(
        dir.path(),
        &dead,
        "status of backtest 68ed543a5f9683d5569add2c",
    );
    assert_eq!((code, outcome(&json)), (4, "error".into()));
    // 2: bad usage, before any turn.
    let out = chatops(dir.path()).args(["ask"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_offline_note_reads_plain_in_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = chatops(dir.path())
        .args(["ask", "runbook for a stuck backtest"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\n(offline mode: answered by the built-in planner, without the LLM)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("_(offline") && !stdout.contains(")_"),
        "{stdout}"
    );
    // Identifiers keep their underscores.
    let out = chatops(dir.path())
        .args(["ask", "--json", "runbook for a stuck backtest"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["answer"].as_str().unwrap().contains("(offline mode:"));
}

#[tokio::test]
async fn the_audit_export_is_whole_and_a_table_says_where_it_stopped() {
    use chatops::store::{AuditEvent, AuditRecord, AuditRepo};
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let store =
        chatops::store::sqlite::SqliteStore::open(&dir.path().join("data/chatops.db")).unwrap();
    const N: usize = 1234; // more than the table's 100 and the export's page of 1,000
    for n in 0..N {
        let record = AuditRecord {
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
                duration_ms: 1,
                error_kind: None,
                error: None,
            },
            seq: 0,
            prev_hash: String::new(),
            hash: String::new(),
        };
        store.append(&record).await.unwrap();
    }
    drop(store);
    let run = |args: &[&str]| {
        let out = chatops(dir.path()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The export: every record, in chain order, nothing said on stderr.
    let (stdout, stderr) = run(&["audit", "--json"]);
    let seqs: Vec<u64> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs.len(), N, "{stderr}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert!(!stderr.contains("stopped"), "{stderr}");
    // An export with a limit says where it stopped, on stderr.
    let (stdout, stderr) = run(&["audit", "--json", "--limit", "1100"]);
    assert_eq!(stdout.lines().count(), 1100);
    assert!(stderr.contains("stopped at 1100 record(s)"), "{stderr}");
    // The table shows a screenful and says so.
    let (stdout, _) = run(&["audit"]);
    assert!(
        stdout.contains("100 record(s); stopped at 100 record(s)")
            && stdout.contains("--json for every record"),
        "{stdout}"
    );
    let (stdout, _) = run(&["audit", "--limit", "2000"]);
    assert!(
        stdout.trim_end().ends_with(&format!("{N} record(s)")),
        "{stdout}"
    );
}

/// `chatops serve` on `config` until its log says `until`, then SIGTERM;
/// its exit code and stderr.
fn serve_until(dir: &std::path::Path, config: &std::path::Path, until: &str) -> (i32, String) {
    let log = dir.join("serve.log");
    let mut child = chatops(dir)
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("CHATOPS_HTTP_ADDR", common::free_addr())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    for _ in 0..200 {
        if read().contains(until) || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), read())
}

#[test]
fn serve_says_what_it_serves_and_which_discord_targets_it_cannot_reach() {
    let dir = tempfile::tempdir().unwrap();
    let digest = r#"
        [[digests]]
        name = "morning"
        cron = "0 9 * * 1-5"
        channels = ["discord:1122334455667788"]
        sections = ["cache_status"]
    "#;
    let config = common::config_file::ConfigFile::new()
        .toml(digest)
        .set("limits.alert_channel", "discord:99887766")
        .write(dir.path());
    // check: a warning row naming DISCORD_TOKEN for each target; not a failure.
    let out = chatops(dir.path())
        .args(["--config", config.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let targets = stdout
        .lines()
        .find(|l| l.starts_with("targets"))
        .unwrap_or_else(|| panic!("no targets row:\n{stdout}"));
    assert!(targets.contains("warn"), "{targets}");
    assert!(
        targets.contains(
            "digest 'morning' posts to discord:1122334455667788, which needs DISCORD_TOKEN"
        ) && targets.contains("limits.alert_channel posts to discord:99887766"),
        "{targets}"
    );
    // serve with no chat adapter: warned, and the same targets named.
    let (code, log) = serve_until(dir.path(), &config, "no chat adapter enabled");
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("no chat adapter enabled"), "{log}");
    assert!(
        log.contains(
            "digest 'morning' posts to discord:1122334455667788, which needs DISCORD_TOKEN"
        ) && log.contains("limits.alert_channel posts to discord:99887766"),
        "{log}"
    );
    // serve with Slack's Events API: named at start-up.
    let slack = dir.path().join("slack.toml");
    common::config_file::ConfigFile::new()
        .set("slack.bot_token", "xoxb-test")
        .set("slack.signing_secret", "test-signing-secret")
        .set("slack.api_url", "http://127.0.0.1:9")
        .write_to(&slack);
    let (_, log) = serve_until(dir.path(), &slack, "chat adapters enabled");
    assert!(
        log.contains("chat adapters enabled") && log.contains("Slack (Events API)"),
        "{log}"
    );
    assert!(!log.contains("DISCORD_TOKEN"), "{log}");
}

#[test]
fn approvals_left_by_ask_are_listed_and_decided_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_file::ConfigFile::new()
        .bind("console:alice", "operator")
        .bind("console:bob", "operator")
        .bind("console:vic", "viewer")
        .write(dir.path());
    let run = |args: &[&str]| {
        let out = chatops(dir.path())
            .args(["--config", config.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().expect("exited"),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let trigger = "run the SMA crossover strategy on AAPL and MSFT for 2024";
    let (code, out) = run(&["ask", "--json", "--user", "alice", trigger]);
    assert_eq!(code, 5, "{out}");
    // Listed: id, tool, requester, channel, arguments, expiry.
    let (code, listing) = run(&["approvals"]);
    assert_eq!(code, 0);
    let row = listing
        .lines()
        .find(|l| l.contains("trigger_backtest"))
        .unwrap_or_else(|| panic!("not listed:\n{listing}"));
    assert!(
        row.contains("console:alice") && row.contains("console:terminal") && row.contains("AAPL"),
        "{row}"
    );
    let id = row.split_whitespace().next().unwrap().to_string();
    // A viewer may not approve it.
    let (code, out) = run(&["approve", &id, "--user", "vic"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("console:vic may not approve trigger_backtest"),
        "{out}"
    );
    // From another console channel: refused, saying which --channel decides it.
    let (code, out) = run(&["approve", &id, "--user", "bob", "--channel", "elsewhere"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("--channel terminal"), "{out}");
    // An operator in its channel approves it: the stored call runs.
    let (code, out) = run(&["approve", &id, "--user", "bob"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Approved trigger_backtest"), "{out}");
    let (_, listing) = run(&["approvals"]);
    assert!(listing.contains("No pending approvals"), "{listing}");
    // Once only.
    let (code, _) = run(&["approve", &id, "--user", "bob"]);
    assert_eq!(code, 3);
    // Every decision audited.
    let (_, audit) = run(&["audit", "--kind", "approval_decided", "--json"]);
    let decisions: Vec<(String, String)> = audit
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                r["event"]["approver"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["event"]["decision"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("console:vic".into(), "refused".into()),
            ("console:bob".into(), "refused".into()),
            ("console:bob".into(), "approved".into()),
            ("console:bob".into(), "refused".into()),
        ],
        "{audit}"
    );
    // The requester cancels another.
    run(&["ask", "--user", "alice", trigger]);
    let (_, listing) = run(&["approvals"]);
    let row = listing
        .lines()
        .find(|l| l.contains("trigger_backtest"))
        .unwrap();
    let id = row.split_whitespace().next().unwrap();
    let (code, out) = run(&["cancel", id, "--user", "alice"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cancelled"), "{out}");
}

#[test]
fn the_terminal_chat_reads_lines_longer_than_the_kernels_line_cap() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    // `script` gives chatops a real terminal (a pty), whose canonical mode
    // keeps at most 4,095 bytes of a line; a pipe has no such cap.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("script");
    for (var, _) in chatops::config::ENV_KEYS {
        cmd.env_remove(var);
    }
    let chat = format!("{} chat --user bob", env!("CARGO_BIN_EXE_chatops"));
    let mut child = cmd
        .env_remove("CHATOPS_CONFIG")
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .args(["-qfec", &chat, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let wait_for = |needle: &str| {
        for _ in 0..400 {
            if String::from_utf8_lossy(&seen.lock().unwrap()).contains(needle) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "no {needle:?} in:\n{}",
            String::from_utf8_lossy(&seen.lock().unwrap())
        );
    };
    let mut stdin = child.stdin.take().unwrap();
    wait_for("> ");
    // The prompt is printed just before the line is read; let the read begin.
    std::thread::sleep(std::time::Duration::from_millis(500));
    stdin
        .write_all(format!("{}\n", "a".repeat(5000)).as_bytes())
        .unwrap();
    wait_for("characters long");
    stdin.write_all(b"/quit\n").unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let out = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(status.success(), "{out}");
    assert!(
        out.contains("Your message is 5000 characters long"),
        "{}",
        &out[out.len().saturating_sub(400)..]
    );
}
