//! Start-up and idle benchmark: the real release binary as `chatops serve`
//! on embedded defaults (no config file, no keys: offline planner, sandbox
//! platform, a new SQLite file in an empty temporary folder as the working
//! directory, an environment emptied except `CHATOPS_HTTP_ADDR`). Measures
//! the time from spawn to the first 200 from `/healthz` and from `/readyz`
//! (polled every 2 ms), then the resident memory (`VmRSS`) after 5 s idle,
//! and in the first run after 30 s idle.
//!
//! Goal (issue #10): ready ≤ 0.5 s; idle RSS ≤ 40 MB.
//!
//! Run: `cargo bench --bench startup` (`RUNS`, default 5, changes the count).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{env_or, mib, ms, proc_status_kib, summary};

/// Polls `url` until it answers 200; the time since `since`.
async fn first_ok(http: &reqwest::Client, url: &str, since: Instant) -> Duration {
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status() == 200
        {
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(30), "{url} never 200");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::main]
async fn main() {
    chatops::install_crypto_provider();
    let runs = env_or("RUNS", 5) as usize;
    let http = reqwest::Client::new();
    let (mut healthy, mut ready, mut rss5, mut rss30) = (vec![], vec![], vec![], None);
    for run in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("bot.log")).unwrap();
        let spawned = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatops"))
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("CHATOPS_HTTP_ADDR", &addr)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let (health_url, ready_url) = (
            format!("http://{addr}/healthz"),
            format!("http://{addr}/readyz"),
        );
        let (h, r) = tokio::join!(
            first_ok(&http, &health_url, spawned),
            first_ok(&http, &ready_url, spawned),
        );
        tokio::time::sleep(Duration::from_secs(5).saturating_sub(spawned.elapsed())).await;
        let at5 = proc_status_kib(child.id(), "VmRSS").unwrap();
        let mut line = format!(
            "run {run}: /healthz 200 after {}, /readyz 200 after {}; VmRSS after 5 s {}",
            ms(h),
            ms(r),
            mib(at5)
        );
        if run == 0 {
            tokio::time::sleep(Duration::from_secs(30).saturating_sub(spawned.elapsed())).await;
            let at30 = proc_status_kib(child.id(), "VmRSS").unwrap();
            line.push_str(&format!(", after 30 s {}", mib(at30)));
            rss30 = Some(at30);
        }
        println!("{line}");
        child.kill().unwrap();
        child.wait().unwrap();
        healthy.push(h);
        ready.push(r);
        rss5.push(at5);
    }
    let max_ready = ready.iter().max().copied().unwrap_or_default();
    let max_rss = rss5.iter().copied().chain(rss30).max().unwrap_or_default();
    println!("\nstartup: {runs} cold starts of `chatops serve` on embedded defaults");
    println!("  /healthz 200: {}", summary(&mut healthy));
    println!("  /readyz 200:  {}", summary(&mut ready));
    println!(
        "  idle VmRSS: after 5 s {} (median), after 30 s {}; max {}",
        mib({
            rss5.sort();
            rss5[rss5.len() / 2]
        }),
        rss30.map(mib).unwrap_or_default(),
        mib(max_rss)
    );
    println!(
        "  goals: ready ≤ 0.5 s {}; idle RSS ≤ 40 MB {}",
        if max_ready <= Duration::from_millis(500) {
            "met"
        } else {
            "MISSED"
        },
        if max_rss * 1024 <= 40_000_000 {
            "met"
        } else {
            "MISSED"
        }
    );
}
