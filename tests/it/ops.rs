//! Operating the bot: `/metrics` after a scripted conversation (the real
//! binary, over real HTTP: signed Slack requests in, a scripted LLM, the fake
//! Slack), `/readyz` following a MongoDB server that stops and comes back,
//! and SIGTERM during a turn (the real binary): the turn completes and the
//! process exits 0.

use crate::common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chatops::secret::Secret;
use common::app::TestApp;
use common::bot_process::BotProcess;
use common::config_file::ConfigFile;
use common::fake_slack::{FakeSlack, OPERATOR, SlackClient, TEAM, mention};
use common::{FakeLlm, Scripted};

/// The value of `name` with exactly these labels in Prometheus text (0 when
/// absent). `fact_check` reads the in-process recorder with it too.
pub(crate) fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, label_text) = match series.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            continue;
        }
        let found: BTreeMap<&str, &str> = label_text
            .split(',')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        let wanted: BTreeMap<&str, &str> = labels.iter().copied().collect();
        if found == wanted {
            return value.parse().unwrap();
        }
    }
    0.0
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_move_by_what_a_scripted_conversation_did() {
    chatops::install_crypto_provider();
    let slack = FakeSlack::start().await;
    let llm = FakeLlm::start(vec![
        Scripted::tool_calls(&[("c1", "cache_status", "{}")]),
        Scripted::answer("DuckDB hits 97.3 %."),
        Scripted::tool_calls(&[(
            "t1",
            "trigger_backtest",
            r#"{"strategy": "RSI", "symbols": ["AAPL"], "start_date": "2024-01-01", "end_date": "2024-06-30"}"#,
        )]),
        Scripted::answer("It needs approval."),
    ])
    .await;
    // Its own process: the metrics recorder is per process, and the other
    // tests of this binary move the same counters.
    let dir = tempfile::tempdir().unwrap();
    let config = ConfigFile::new()
        .sqlite(&dir.path().join("chatops.db"))
        .llm(&llm)
        .set("llm.model", "metrics-test-model")
        .set("llm.max_retries", 2)
        .set("agent.llm_call_timeout_secs", 20)
        .slack(&slack)
        .bind(&format!("slack:{TEAM}/{OPERATOR}"), "operator")
        .set("limits.user_per_minute", 2)
        .write(dir.path());
    let bot = BotProcess::start(&config, dir.path().join("bot.log")).await;
    let addr = bot.addr;
    let client = SlackClient::new(addr, &slack.url);

    let before = scrape(addr).await;
    // A slash command answered with one tool call (two LLM calls)…
    assert_eq!(
        client
            .command(OPERATOR, "cache status", "m1")
            .await
            .status(),
        200
    );
    slack
        .wait_calls("respond/m1", 1, Duration::from_secs(10))
        .await;
    // …a mention that asks for an approval (two more)…
    let asked = mention(
        OPERATOR,
        "run RSI on AAPL for 2024",
        "1700000300.000100",
        None,
    );
    assert_eq!(client.event("EvMETRICS01", asked, &[]).await.status(), 200);
    slack
        .wait_post("It needs approval.", Duration::from_secs(10))
        .await;
    // …and a third message within the minute: refused by the rate limit.
    assert_eq!(
        client
            .command(OPERATOR, "cache status", "m3")
            .await
            .status(),
        200
    );
    slack
        .wait_calls("respond/m3", 1, Duration::from_secs(10))
        .await;
    let after = scrape(addr).await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    let model = ("model", "metrics-test-model");
    assert_eq!(
        moved(
            "chatops_events_received_total",
            &[("platform", "slack"), ("kind", "command")]
        ),
        2.0
    );
    assert_eq!(
        moved(
            "chatops_events_received_total",
            &[("platform", "slack"), ("kind", "mention")]
        ),
        1.0
    );
    assert_eq!(
        moved("chatops_ack_seconds_count", &[("platform", "slack")]),
        3.0
    );
    assert_eq!(
        moved("chatops_llm_calls_total", &[model, ("outcome", "ok")]),
        4.0
    );
    assert_eq!(
        moved("chatops_llm_tokens_total", &[model, ("kind", "prompt")]),
        4.0 * 812.0
    );
    assert_eq!(
        moved("chatops_llm_tokens_total", &[model, ("kind", "completion")]),
        4.0 * 24.0
    );
    assert_eq!(moved("chatops_llm_call_seconds_count", &[model]), 4.0);
    assert_eq!(
        moved(
            "chatops_tool_calls_total",
            &[("tool", "cache_status"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "chatops_tool_calls_total",
            &[("tool", "trigger_backtest"), ("outcome", "needs_approval")]
        ),
        1.0
    );
    assert_eq!(
        moved("chatops_turn_seconds_count", &[("status", "answered")]),
        2.0
    );
    assert_eq!(
        moved("chatops_refusals_total", &[("reason", "rate_limited_user")]),
        1.0
    );
    // Read from the store at scrape time.
    assert_eq!(sample(&after, "chatops_approvals_pending", &[]), 1.0);
    assert_eq!(sample(&after, "chatops_outbox_depth", &[]), 0.0);
    assert!(
        sample(&after, "chatops_sessions_active", &[]) >= 2.0,
        "{after}"
    );
}

/// An nx-27017 server of this test's own, to stop and start again.
struct OwnServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl OwnServer {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
        };
        server.restart();
        server
    }

    fn restart(&mut self) {
        let python = std::env::var("CHATOPS_TEST_NX_PYTHON")
            .expect("run with scripts/with-mongodb.sh (CHATOPS_TEST_NX_PYTHON)");
        let launcher = std::env::var("CHATOPS_TEST_NX_LAUNCHER").unwrap();
        let d = self.dir.path();
        let child = Command::new(python)
            .arg(launcher)
            .arg("--data-dir")
            .arg(d)
            .args(["--host", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("--log-file")
            .arg(d.join("nx.log"))
            .arg("--pid-file")
            .arg(d.join("nx.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nx-27017 did not start on {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            for _ in 0..60 {
                if child.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn readyz(addr: std::net::SocketAddr) -> (u16, String) {
    let r = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn readyz_follows_the_store_down_and_back() {
    chatops::install_crypto_provider();
    let mut server = OwnServer::start();
    let store = chatops::store::backends::Store::open(&chatops::config::StoreSettings {
        mongodb_uri: Some(Secret::new(server.uri())),
        mongodb_db: "chatops_ready".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let app = TestApp::builder(common::settings_with_llm(None))
        .store(store)
        .serve()
        .build()
        .await;
    let addr = app.addr();
    assert_eq!(readyz(addr).await, (200, "ready".to_string()));

    server.stop();
    let (status, body) = readyz(addr).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("not ready: store (mongodb)"), "{body}");
    assert_eq!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .unwrap()
            .status(),
        200,
        "alive all the same"
    );

    server.restart();
    let until = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let (status, body) = readyz(addr).await;
        if status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "not ready again: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn sigterm_during_a_turn_lets_it_finish_and_exits_zero() {
    chatops::install_crypto_provider();
    let slack = FakeSlack::start().await;
    // The model takes 3 s to answer: SIGTERM arrives in the middle of the turn.
    let llm = FakeLlm::start(vec![
        Scripted::answer("Caches are fine (answered after SIGTERM).").after(Duration::from_secs(3)),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = ConfigFile::new()
        .llm(&llm)
        .sqlite(&dir.path().join("chatops.db"))
        .slack(&slack)
        .write(dir.path());
    let mut bot = BotProcess::start(&config, dir.path().join("bot.log")).await;
    let client = SlackClient::new(bot.addr, &slack.url);
    let asked = mention(OPERATOR, "how are the caches?", "1700000400.000100", None);
    assert_eq!(client.event("EvTERM01", asked, &[]).await.status(), 200);
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while llm.requests().is_empty() {
        assert!(
            tokio::time::Instant::now() < until,
            "the turn did not start:\n{}",
            bot.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let status = bot.terminate(Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0), "{}", bot.logs());
    let answers = slack.posts_containing("answered after SIGTERM");
    assert_eq!(
        answers.len(),
        1,
        "the turn in progress finished: {}",
        bot.logs()
    );
    assert_eq!(answers[0]["thread_ts"], "1700000400.000100");
    let logs = bot.logs();
    assert!(logs.contains("waiting for events in progress"), "{logs}");
    assert!(logs.contains("stopped cleanly"), "{logs}");
}
