//! Slack ack-path benchmark: signed `/ops` slash commands sent at a fixed
//! rate to `chatops serve`'s HTTP server (release build, loopback) while the
//! agent answers each one in the background. Reports the acknowledgement
//! latency (p50 / p99 / max) and errors. Slack's deadline is 3 s; the goal
//! is p99 ≤ 20 ms.
//!
//! Run: `cargo bench --bench slack_ack` (RATE and SECONDS env vars change the load).

mod common;
#[path = "../tests/it/common/mod.rs"]
mod fixtures;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{any, post};
use chatops::app::App;
use chatops::config::Settings;
use chatops::secret::Secret;
use chatops::store::backends::Store;
use chatops::store::sqlite::SqliteStore;
use common::percentile;
use fixtures::fake_slack::{SECRET, sign};
use serde_json::json;

#[tokio::main]
async fn main() {
    chatops::install_crypto_provider();
    let rate: u64 = std::env::var("RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let seconds: u64 = std::env::var("SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);

    // A fake Slack: Web API and response_url both answer 200.
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = answered.clone();
    let slack = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slack_url = format!("http://{}", slack.local_addr().unwrap());
    let router = Router::new()
        .route(
            "/api/{method}",
            any(|| async { axum::Json(json!({"ok": true})) }),
        )
        .route(
            "/respond",
            post(move || {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::Relaxed);
                    "ok"
                }
            }),
        );
    tokio::spawn(async move { axum::serve(slack, router).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut settings = Settings::embedded();
    settings.http.addr = format!("127.0.0.1:{port}");
    settings.slack.bot_token = Some(Secret::new("xoxb-bench"));
    settings.slack.signing_secret = Some(Secret::new(SECRET));
    settings.slack.api_url = Some(format!("{slack_url}/api"));
    let store = Store::sqlite(SqliteStore::open(&dir.path().join("bench.db")).unwrap());
    let app = Arc::new(App::builder(settings).store(store).build().await.unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(chatops::server::serve(app, async move {
        let _ = stopped.await;
    }));
    let url = format!("http://127.0.0.1:{port}/slack/commands");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    for _ in 0..100 {
        if http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (http, url, slack_url) = (http.clone(), url.clone(), slack_url.clone());
        tasks.push(tokio::spawn(async move {
            let body = serde_urlencoded::to_string([
                ("team_id", "T1"),
                ("channel_id", "C1"),
                ("user_id", "U1"),
                ("command", "/ops"),
                (
                    "text",
                    if i % 2 == 0 {
                        "duckdb cache hit rate?"
                    } else {
                        "최근 실패한 백테스트 목록"
                    },
                ),
                ("response_url", &format!("{slack_url}/respond")),
            ])
            .unwrap();
            let ts = chrono::Utc::now().timestamp();
            let sent = Instant::now();
            let result = http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-slack-request-timestamp", ts.to_string())
                .header("x-slack-signature", sign(ts, &body))
                .body(body)
                .send()
                .await;
            let elapsed = sent.elapsed();
            match result {
                Ok(r) if r.status().is_success() => Ok(elapsed),
                Ok(r) => Err(format!("HTTP {}", r.status())),
                Err(e) => Err(e.to_string()),
            }
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(d) => latencies.push(d),
            Err(_) => errors += 1,
        }
    }
    let wall = started.elapsed();
    latencies.sort();
    // Let the background answers finish (bounded).
    for _ in 0..300 {
        if answered.load(Ordering::Relaxed) as u64 >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "slack_ack: {total} signed slash commands at {rate}/s over {:.1} s",
        wall.as_secs_f64()
    );
    println!(
        "ack latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; errors {errors}; answers delivered {}",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        answered.load(Ordering::Relaxed)
    );
    let _ = stop.send(());
    let _ = server.await;
}
