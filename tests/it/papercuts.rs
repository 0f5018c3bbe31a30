//! Papercuts a new user trips over on the first day (issue 17, items 11-18),
//! each through the `chatops` binary as a person runs it.

use crate::common;

use common::chatops_in as chatops;

/// Every variable `.env.example` lists, set as sourcing it unedited leaves
/// them: empty.
fn empty_env_example(cmd: &mut std::process::Command) -> usize {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example"))
        .expect(".env.example");
    let mut n = 0;
    for line in example.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let name = line.split('=').next().unwrap_or_default();
        cmd.env(name, "");
        n += 1;
    }
    n
}

#[test]
fn every_empty_variable_of_env_example_counts_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["ask", "--json", "runbook for a stuck backtest"][..],
        &["check"][..],
        &["audit", "--json"][..],
    ] {
        let mut cmd = chatops(dir.path());
        assert!(empty_env_example(&mut cmd) > 20, "read .env.example");
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "chatops {args:?} with .env.example's empty variables: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The defaults were used: the offline planner and SQLite under ./data.
    let mut cmd = chatops(dir.path());
    empty_env_example(&mut cmd);
    let out = cmd
        .args(["ask", "--json", "runbook for a stuck backtest"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["model"], "offline-planner");
    assert!(dir.path().join("data/chatops.db").exists());
}
