//! The quant platform the tools operate on (see `platform-contract.md`).
//! `sandbox/` holds the built-in demo platform; its backtest engine is pure
//! and tested against hand-computed KPIs.

pub mod sandbox;
