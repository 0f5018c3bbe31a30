//! chatops: a ChatOps agent for the ops team of a quant-trading platform.
//!
//! Code map (the path of one message, top to bottom):
//! - [`cli`], [`console`], [`server`], [`check`], [`admin`] — entry points:
//!   terminal chat, one-shot `ask`, the long-running `serve`, dependency
//!   `check`, `usage` and `audit` reports; [`eval`] scores the agent on an
//!   eval set (`chatops eval`).
//! - [`app`] — wiring: builds everything from [`config::Settings`].
//! - [`domain`] — the bot's own vocabulary (`ChatEvent`, `Subject`, `ChannelId`, `Language`).
//! - [`agent`] — one turn: session + prompt → model ⇄ tools → answer;
//!   `agent::llm` (OpenAI-compatible) and `agent::offline` (planner) are the models.
//! - [`planner`] — the offline planner's rules (Korean and English).
//! - [`tools`] — the `Tool` trait, the registry (RBAC → approval → audit → run),
//!   one file per tool.
//! - [`rbac`] — who may run what where. [`audit`] — the append-only log.
//! - [`store`] — repositories with MongoDB and SQLite implementations.
//! - [`platform`] — the quant platform the tools operate on (sandbox engine).
//! - [`governance`] — rate limits, model policy, token budgets and usage.
//! - [`jobs`] — durable background work: backtest watches, the outbox,
//!   scheduled digests, the worker that runs them.
//! - [`prompts`], [`i18n`], [`redact`] — prompt files, bilingual texts, secret removal.
//! - [`text`] — cutting untrusted text on character boundaries.

pub mod adapters;
pub mod admin;
pub mod agent;
pub mod app;
pub mod audit;
pub mod canonical;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod domain;
pub mod egress;
pub mod eval;
pub mod governance;
pub mod i18n;
pub mod jobs;
pub mod planner;
pub mod platform;
pub mod presentation;
pub mod prompts;
pub mod rbac;
pub mod redact;
pub mod secret;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod tools;
pub mod turn;

/// Install ring as rustls' process-wide crypto provider. Call once at the top
/// of `main` and of every test process; later calls are no-ops.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
