//! Chat adapters: each turns its platform's events into the bot's own
//! [`crate::domain::ChatEvent`], acknowledges the platform at once, runs the
//! agent in the background and delivers the answer back where the question
//! was asked. The terminal adapter lives in `console.rs`.
//!
//! Invariants: only `adapters/slack/*` imports slack-morphism; only
//! `adapters/discord/*` imports serenity.

pub mod discord;
pub mod format;
pub mod slack;
