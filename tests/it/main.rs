//! The integration tests, linked as one test binary (`cargo test --test it`):
//! one module per area, sharing `common` (the real stores, fakes at the
//! process edges, [`common::app::TestApp`] for an in-process bot and
//! [`common::config_file::ConfigFile`] for the `chatops` binary's config
//! files). Run one area with a filter: `cargo test --test it slack::`.
//!
//! Everything here shares one process: the metrics recorder and the tracing
//! subscriber are per process, so a test that reads `/metrics` runs the bot
//! as its own process ([`common::bot_process::BotProcess`]), and nothing but
//! [`common::CapturedLogs`] installs a global subscriber.

mod common;

mod agent_loop;
mod approval_expiry;
mod architecture;
mod cli;
mod discord;
mod durability;
mod eval;
mod every_turn;
mod fact_check;
mod governance;
mod job_failures;
mod jobs;
mod live_platform;
mod odd_answers;
mod ops;
mod papercuts;
mod promises;
mod rbac_matrix;
mod replicas;
mod slack;
mod slack_throttle;
mod store_conformance;
mod token_economy;
mod tools;
mod trust;
