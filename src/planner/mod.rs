//! The offline planner's pure part: Korean and English ops questions → one
//! tool call, a follow-up question, or help. `agent/offline.rs` wraps it as a
//! model; the cases in `intent_cases.jsonl` pin its behaviour.

pub mod intent;
