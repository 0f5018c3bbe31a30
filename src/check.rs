//! `chatops check`: validates the configuration (loading it already did),
//! then probes each configured dependency and prints a table of what is up.
//! Slack is up only when `auth.test` answers `ok: true` (it answers HTTP 200
//! either way); `invalid_auth` and the like are down, with Slack's code.
//! Probes are cheap reads with a 5 s timeout; Alpha Vantage is called at most
//! once (the reading is cached and counted against the bot's daily budget).

use std::time::{Duration, Instant};

use crate::app::App;

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub dependency: &'static str,
    pub state: ProbeState,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeState {
    Up,
    Down,
    /// Not configured, or configured but not probed; neither is a failure.
    Info,
    /// Configured but cannot work as configured; not a failure (exit 0).
    Warn,
}

impl ProbeState {
    fn label(self) -> &'static str {
        match self {
            ProbeState::Up => "up",
            ProbeState::Down => "DOWN",
            ProbeState::Info => "-",
            ProbeState::Warn => "warn",
        }
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

fn row(dependency: &'static str, state: ProbeState, detail: impl Into<String>) -> Probe {
    Probe {
        dependency,
        state,
        detail: detail.into(),
    }
}

/// What a successful HTTP answer must also say for the dependency to be up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Any 2xx.
    Success,
    /// Slack's Web API: HTTP 200 either way; the JSON's `ok` tells.
    SlackOk,
}

async fn http_probe(
    dependency: &'static str,
    request: reqwest::RequestBuilder,
    expect: Expect,
) -> Probe {
    let started = Instant::now();
    match request.timeout(TIMEOUT).send().await {
        Ok(r) if r.status().is_success() => {
            let took = format!(
                "HTTP {} in {} ms",
                r.status().as_u16(),
                started.elapsed().as_millis()
            );
            if expect == Expect::Success {
                return row(dependency, ProbeState::Up, took);
            }
            match r.json::<serde_json::Value>().await {
                Ok(body) if body["ok"] == true => row(dependency, ProbeState::Up, took),
                Ok(body) => {
                    let error: String = body["error"]
                        .as_str()
                        .unwrap_or("no error code")
                        .chars()
                        .take(80)
                        .collect();
                    row(
                        dependency,
                        ProbeState::Down,
                        format!("answered ok: false ({error})"),
                    )
                }
                Err(_) => row(
                    dependency,
                    ProbeState::Down,
                    "HTTP 200 without Slack's JSON answer",
                ),
            }
        }
        Ok(r) => row(
            dependency,
            ProbeState::Down,
            format!("HTTP {}", r.status().as_u16()),
        ),
        Err(e) if e.is_timeout() => row(
            dependency,
            ProbeState::Down,
            format!("no answer within {} s", TIMEOUT.as_secs()),
        ),
        Err(e) => row(
            dependency,
            ProbeState::Down,
            format!("unreachable ({})", e.without_url()),
        ),
    }
}

/// Probe everything configured.
pub async fn run_checks(app: &App) -> Vec<Probe> {
    let s = &app.settings;
    let http = reqwest::Client::new();
    let mut rows = vec![row(
        "config",
        ProbeState::Up,
        match &s.source {
            Some(path) => format!("{} (+ environment)", path.display()),
            None => "embedded defaults (+ environment)".into(),
        },
    )];

    let started = Instant::now();
    rows.push(match app.store.health.ping().await {
        Ok(()) => row(
            "store",
            ProbeState::Up,
            format!(
                "{} in {} ms",
                app.store.health.backend(),
                started.elapsed().as_millis()
            ),
        ),
        Err(e) => row("store", ProbeState::Down, e.to_string()),
    });

    rows.push(match &app.llm {
        None => row(
            "llm",
            ProbeState::Info,
            "not configured: the offline planner answers",
        ),
        Some(llm) => match llm.probe().await {
            Ok(()) => row(
                "llm",
                ProbeState::Up,
                format!("{} at {}", s.llm.model, s.llm.effective_base_url()),
            ),
            Err(e) => row("llm", ProbeState::Down, e.to_string()),
        },
    });

    for (dependency, result) in app.platform.probe().await {
        rows.push(match result {
            Ok(found) => row(dependency, ProbeState::Up, found),
            Err(e) => row(dependency, ProbeState::Down, e.message),
        });
    }

    rows.push(match &s.slack.bot_token {
        None => row("slack", ProbeState::Info, "not configured"),
        Some(token) => {
            let base = s
                .slack
                .api_url
                .as_deref()
                .unwrap_or("https://slack.com/api");
            http_probe(
                "slack",
                http.post(format!("{}/auth.test", base.trim_end_matches('/')))
                    .bearer_auth(token.expose()),
                Expect::SlackOk,
            )
            .await
        }
    });

    rows.push(match &s.discord.token {
        None => row("discord", ProbeState::Info, "not configured"),
        Some(token) => {
            let base = s
                .discord
                .api_url
                .as_deref()
                .unwrap_or("https://discord.com/api/v10");
            let req = http
                .get(format!("{}/users/@me", base.trim_end_matches('/')))
                .header("Authorization", format!("Bot {}", token.expose()));
            http_probe("discord", req, Expect::Success).await
        }
    });

    if s.alpha_vantage.api_key.is_none() {
        rows.push(row("alpha_vantage", ProbeState::Info, "not configured"));
    } else {
        // One real call at most (it is cached and counted against the daily budget).
        rows.push(match app.platform.alpha_vantage_health().await {
            Ok(h) => {
                use crate::platform::AlphaVantageStatus::*;
                let state = match h.status {
                    Healthy | Slow => ProbeState::Up,
                    _ => ProbeState::Down,
                };
                row(
                    "alpha_vantage",
                    state,
                    format!("{}: {}", h.status.as_str(), h.detail),
                )
            }
            Err(e) => row("alpha_vantage", ProbeState::Down, e.message),
        });
    }

    let unreachable = crate::app::discord_targets_without_token(s);
    if !unreachable.is_empty() {
        let detail = unreachable
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        rows.push(row("targets", ProbeState::Warn, detail));
    }

    for probe in &mut rows {
        probe.detail = app.redactor.redact(&probe.detail).into_owned();
    }
    rows
}

/// The table as text.
pub fn render(rows: &[Probe]) -> String {
    let width = rows.iter().map(|r| r.dependency.len()).max().unwrap_or(0);
    rows.iter()
        .map(|r| {
            format!(
                "{:width$}  {:4}  {}",
                r.dependency,
                r.state.label(),
                r.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
