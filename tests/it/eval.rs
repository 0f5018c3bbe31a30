//! `chatops eval` as a user runs it: the real binary on a JSON-lines file,
//! with the offline planner (embedded defaults) and with an LLM (a scripted
//! OpenAI-compatible server on loopback).

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::config_file::ConfigFile;
use common::{FakeLlm, Scripted};
use serde_json::Value;

/// The binary in `dir` on embedded defaults, with its own temporary
/// directory, so leftovers can be checked.
fn chatops(dir: &Path) -> Command {
    let mut cmd = common::chatops_in(dir);
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    cmd.env("TMPDIR", tmp);
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const OFFLINE_CASES: &str = r#"{"id":"cache-1","question":"what's the duckdb cache hit rate?","lang":"en","expect":{"tools":[{"name":"cache_status","args":{"cache":"duckdb"}}],"outcome":"ok"}}
{"id":"followup-1","question":"AAPL and NVDA","lang":"en","history":["run a backtest of SMA crossover 20/50"],"expect":{"tools":[{"name":"trigger_backtest","args":{"strategy":"SMA crossover 20/50","symbols":["NVDA","AAPL"]}}],"outcome":"needs_approval"}}
{"id":"denied-1","question":"RSI 전략 AAPL로 백테스트 돌려줘","lang":"ko","user":"slack:T1/U2","channel":"slack:C0OPS","expect":{"tools":[{"name":"trigger_backtest"}],"outcome":"denied"}}
{"id":"wrong-1","question":"what's the duckdb cache hit rate?","lang":"en","expect":{"tools":[{"name":"recent_failures"}]}}
"#;

fn run_offline(dir: &Path, extra: &[&str]) -> Output {
    std::fs::write(dir.join("cases.jsonl"), OFFLINE_CASES).unwrap();
    chatops(dir)
        .args(["eval", "cases.jsonl"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn offline_eval_scores_each_case_and_totals() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_offline(dir.path(), &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for id in ["cache-1", "followup-1", "denied-1"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("PASS") && l.contains(id)),
            "{id} passes:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("FAIL wrong-1")
            && stdout.contains("tools: expected [recent_failures], called cache_status"),
        "{stdout}"
    );
    assert!(stdout.contains("cases passed     3/4 (75.0%)"), "{stdout}");
    assert!(stdout.contains("korean         1/1 (100.0%)"), "{stdout}");
    assert!(stdout.contains("arguments        2/2 (100.0%)"), "{stdout}");
    assert!(stdout.contains("offline-planner"), "{stdout}");
    // The bot's own store is not touched, and the scratch store is removed.
    assert!(
        !dir.path().join("data").exists(),
        "no data/ in the working directory"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

#[test]
fn min_accuracy_fails_the_run_below_the_pass_rate() {
    let dir = tempfile::tempdir().unwrap();
    let below = run_offline(dir.path(), &["--min-accuracy", "0.8"]);
    assert_eq!(below.status.code(), Some(1), "{}", text(&below.stdout));
    assert!(
        text(&below.stderr).contains("75.0% of cases passed, below --min-accuracy 80.0%"),
        "{}",
        text(&below.stderr)
    );
    // 3 of 4 overall, but English 2 of 3: the gate holds per language too.
    let english = run_offline(dir.path(), &["--min-accuracy", "0.75"]);
    assert_eq!(english.status.code(), Some(1), "{}", text(&english.stderr));
    assert!(
        text(&english.stderr).contains("66.7% of English cases passed, below --min-accuracy 75.0%"),
        "{}",
        text(&english.stderr)
    );
    let at = run_offline(dir.path(), &["--min-accuracy", "0.66"]);
    assert_eq!(at.status.code(), Some(0), "{}", text(&at.stderr));
    let nonsense = run_offline(dir.path(), &["--min-accuracy", "80"]);
    assert_eq!(nonsense.status.code(), Some(2));
    assert!(text(&nonsense.stderr).contains("between 0 and 1"));
}

/// Issue 18: a read question that ends in a mutating call fails its case
/// and fails the gate at any pass rate.
#[test]
fn a_read_question_that_triggers_fails_the_gate_at_any_rate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cases.jsonl"),
        r#"{"id":"read-1","question":"run RSI on AAPL","lang":"en","expect":{"tools":[{"name":"compare_strategies"}]}}
{"id":"cache-1","question":"what's the duckdb cache hit rate?","lang":"en","expect":{"tools":[{"name":"cache_status"}]}}
"#,
    )
    .unwrap();
    let out = chatops(dir.path())
        .args(["eval", "cases.jsonl", "--min-accuracy", "0"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("a read question made a mutating call: trigger_backtest"),
        "{stdout}"
    );
    assert!(stdout.contains("read-only reads  1/2 (50.0%)"), "{stdout}");
    assert!(
        text(&out.stderr).contains("1 read question(s) made a mutating call"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn json_report_carries_every_case_and_the_totals() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_offline(dir.path(), &["--json", "--only=-1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["totals"]["cases"]["passed"], 3);
    assert_eq!(report["totals"]["cases"]["judged"], 4);
    let cases = report["cases"].as_array().unwrap();
    let followup = &cases[1];
    assert_eq!(followup["called"][0]["name"], "trigger_backtest");
    assert_eq!(followup["called"][0]["outcome"], "needs_approval");
    assert_eq!(cases[2]["called"][0]["outcome"], "denied");
    assert!(
        cases[3]["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("tools:")
    );
}

#[test]
fn a_bad_file_is_refused_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.jsonl"),
        format!(
            "{}\n{{\"id\":\"x\",\"question\":\"q\",\"lang\":\"en\",\"expect\":{{\"tools\":[{{\"name\":\"cache_stats\"}}]}}}}\n",
            OFFLINE_CASES.lines().next().unwrap()
        ),
    )
    .unwrap();
    let out = chatops(dir.path())
        .args(["eval", "bad.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.jsonl: line 2 (x): unknown tool \"cache_stats\""),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing ran");

    let missing = chatops(dir.path())
        .args(["eval", "nope.jsonl"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read nope.jsonl"));
}

#[tokio::test]
async fn with_an_llm_the_eval_counts_tokens_lifts_budgets_and_catches_an_ungrounded_number() {
    // Case 1: the model looks up the cache, then makes a number up — and,
    // asked again by the live fact check, makes it up again (the answer goes
    // out marked unverified; the eval still counts it). Case 2: chatter.
    let llm = FakeLlm::start(vec![
        Scripted::tool_calls(&[("call_1", "cache_status", r#"{"cache":"duckdb"}"#)]),
        Scripted::answer("DuckDB served 98765 lookups today."),
        Scripted::answer("DuckDB served 98765 lookups today."),
        Scripted::answer("Hello! Ask me about caches, failures or backtests."),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cases.jsonl"),
        r#"{"id":"llm-cache","question":"what's the duckdb cache hit rate?","lang":"en","expect":{"tools":[{"name":"cache_status","args":{"cache":"duckdb"}}],"outcome":"ok"}}
{"id":"llm-hello","question":"hi there","lang":"en","expect":{"tools":[],"outcome":"none"}}
"#,
    )
    .unwrap();
    // A daily budget the first case alone uses up: the eval lifts it, so the
    // second case is still the LLM's (not the planner's) to score.
    ConfigFile::new()
        .set("limits.user_daily_tokens", 100)
        .write(dir.path());
    let mut cmd = chatops(dir.path());
    cmd.args(["--config", "chatops.toml", "eval", "cases.jsonl"])
        .env("OPENAI_BASE_URL", llm.base_url())
        .env("OPENAI_API_KEY", "sk-eval-test-key")
        .env("CHATOPS_LLM_MODEL", "gpt-4o-mini");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("FAIL llm-cache"), "{stdout}");
    assert!(
        stdout.contains("ungrounded numbers (in no tool output): 98765"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("PASS llm-hello") && l.ends_with("812 + 24 tokens")),
        "{stdout}"
    );
    assert!(stdout.contains("tool selection   2/2 (100.0%)"), "{stdout}");
    assert!(stdout.contains("grounding        0/1 (0.0%)"), "{stdout}");
    // Four completions of 812 prompt and 24 completion tokens each (the server's usage).
    assert!(
        stdout.contains("tokens           3248 in, 96 out"),
        "{stdout}"
    );
    let requests = llm.requests();
    assert_eq!(requests.len(), 4);
    assert!(
        requests[0]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["function"]["name"] == "cache_status"),
        "the model is offered the tools"
    );
    assert!(!stdout.contains("sk-eval-test-key"));
}
