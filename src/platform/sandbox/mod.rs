//! The sandbox platform: the embedded default when no real platform is
//! configured.

pub mod engine;
