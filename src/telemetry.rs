//! Metrics: one Prometheus recorder per process (the `metrics` facade's
//! global recorder, installed on first use), rendered on `GET /metrics`.
//! Every metric the bot exports is named here, with the helper that moves
//! it; counts of stored state (jobs, outbox, approvals, sessions) are read
//! from the store at scrape time.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `chatops_events_received_total` | platform, kind | events accepted from a chat platform |
//! | `chatops_ack_seconds` | platform | time to answer the platform's HTTP request (histogram) |
//! | `chatops_turn_seconds` | status | one agent turn, end to end (histogram) |
//! | `chatops_llm_calls_total` | model, outcome | LLM calls (ok, error) |
//! | `chatops_llm_call_seconds` | model | one LLM call (histogram) |
//! | `chatops_llm_tokens_total` | model, kind | prompt and completion tokens |
//! | `chatops_llm_cost_usd` | model | USD spent since start (a rising gauge: counters are integers) |
//! | `chatops_answers_checked_total` | model | LLM answers fact-checked against the turn's tool outputs |
//! | `chatops_answers_ungrounded_total` | model, outcome | of those, answers with numbers no tool returned: `regenerated` (the second answer was grounded) or `unverified` (sent marked) |
//! | `chatops_tool_calls_total` | tool, outcome | ok, denied, error, needs_approval, rejected |
//! | `chatops_refusals_total` | reason | messages refused (rate limits, busy, too long, too many calls) |
//! | `chatops_approvals_pending` | | approvals waiting for a decision |
//! | `chatops_outbox_depth` | | outbox messages not yet sent |
//! | `chatops_outbox_oldest_age_seconds` | | age of the oldest of those |
//! | `chatops_jobs` | kind, state | stored jobs |
//! | `chatops_sessions_active` | | conversations updated within the session TTL |

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::store::StoreStats;

/// Seconds buckets: acks are milliseconds, turns and LLM calls seconds.
const ACK_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0,
];
const SLOW_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0];

/// The process's recorder (installed on first call).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full("chatops_ack_seconds".into()), ACK_BUCKETS)
            .and_then(|b| b.set_buckets(SLOW_BUCKETS))
            .expect("histogram buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only its own");
        }
        handle
    })
}

/// The exposition text, with the store's counts set first.
pub fn render(stats: Option<&StoreStats>, now: chrono::DateTime<chrono::Utc>) -> String {
    let handle = handle();
    if let Some(s) = stats {
        gauge!("chatops_approvals_pending").set(s.approvals_pending as f64);
        gauge!("chatops_outbox_depth").set(s.outbox_depth as f64);
        let oldest = s
            .outbox_oldest
            .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
        gauge!("chatops_outbox_oldest_age_seconds").set(oldest);
        gauge!("chatops_sessions_active").set(s.sessions_active as f64);
        for (kind, state, n) in &s.jobs {
            gauge!("chatops_jobs", "kind" => kind.clone(), "state" => state.as_str())
                .set(*n as f64);
        }
    }
    handle.run_upkeep();
    handle.render()
}

pub fn event_received(platform: &'static str, kind: &'static str) {
    counter!("chatops_events_received_total", "platform" => platform, "kind" => kind).increment(1);
}

pub fn turn_finished(status: &'static str, took: Duration) {
    histogram!("chatops_turn_seconds", "status" => status).record(took.as_secs_f64());
}

pub fn llm_call(model: &str, ok: bool, took: Duration, prompt: u32, completion: u32, cost: f64) {
    let model = model.to_string();
    let outcome = if ok { "ok" } else { "error" };
    counter!("chatops_llm_calls_total", "model" => model.clone(), "outcome" => outcome)
        .increment(1);
    histogram!("chatops_llm_call_seconds", "model" => model.clone()).record(took.as_secs_f64());
    counter!("chatops_llm_tokens_total", "model" => model.clone(), "kind" => "prompt")
        .increment(prompt.into());
    counter!("chatops_llm_tokens_total", "model" => model.clone(), "kind" => "completion")
        .increment(completion.into());
    gauge!("chatops_llm_cost_usd", "model" => model).increment(cost);
}

/// One LLM answer fact-checked: `grounded`, `regenerated` or `unverified`.
pub fn fact_check(model: &str, verdict: &'static str) {
    let model = model.to_string();
    counter!("chatops_answers_checked_total", "model" => model.clone()).increment(1);
    if verdict != "grounded" {
        counter!("chatops_answers_ungrounded_total", "model" => model, "outcome" => verdict)
            .increment(1);
    }
}

pub fn tool_call(tool: &str, outcome: &'static str) {
    counter!("chatops_tool_calls_total", "tool" => tool.to_string(), "outcome" => outcome)
        .increment(1);
}

pub fn refusal(reason: &'static str) {
    counter!("chatops_refusals_total", "reason" => reason).increment(1);
}

async fn timed_ack(platform: &'static str, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    histogram!("chatops_ack_seconds", "platform" => platform)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Middleware: how long the Slack endpoints take to answer Slack.
pub async fn slack_ack(request: Request, next: Next) -> Response {
    timed_ack("slack", request, next).await
}

/// Middleware: how long the Discord interactions endpoint takes to answer Discord.
pub async fn discord_ack(request: Request, next: Next) -> Response {
    timed_ack("discord", request, next).await
}
