//! The one way tests (and benches) write a config file for the `chatops`
//! binary: a `chatops.toml` built key by key, with shortcuts for the fakes at
//! the process edges, checked to parse as [`chatops::config::Settings`]
//! (unknown keys and wrong types fail here, naming the line) when written.
//!
//! ```ignore
//! let config = ConfigFile::new()
//!     .sqlite(&dir.path().join("chatops.db"))
//!     .llm(&llm)
//!     .slack(&slack)
//!     .bind(&format!("slack:{TEAM}/{OPERATOR}"), "operator")
//!     .set("limits.user_per_minute", 2)
//!     .write(dir.path());
//! ```

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::FakeLlm;
use super::fake_platform::{FakePlatform, TOKEN};
use super::fake_slack::{BOT_TOKEN, FakeSlack, SECRET};

/// A `chatops.toml` under construction.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    table: Table,
}

impl ConfigFile {
    /// An empty file: every setting at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// `key` (dotted: `"limits.user_daily_tokens"`) = `value`.
    pub fn set(self, key: &str, value: impl Into<Value>) -> Self {
        let path: Vec<&str> = key.split('.').collect();
        self.set_at(&path, value.into())
    }

    /// TOML text merged in (tables deep-merged, later values win), for what
    /// has no shortcut, e.g. `[[digests]]` entries (appended).
    pub fn toml(mut self, text: &str) -> Self {
        let extra: Table = text
            .parse()
            .unwrap_or_else(|e| panic!("test config snippet is not TOML: {e}\n{text}"));
        merge(&mut self.table, extra);
        self
    }

    /// The bot's store: SQLite at `path`.
    pub fn sqlite(self, path: &Path) -> Self {
        self.set("store.sqlite_path", path.display().to_string())
    }

    /// The bot's store: database `db` on the test MongoDB.
    pub fn mongo(self, db: &str) -> Self {
        self.set("store.mongodb_uri", super::mongo_uri())
            .set("store.mongodb_db", db)
    }

    /// The scripted LLM, with the test key.
    pub fn llm(self, llm: &FakeLlm) -> Self {
        self.set("llm.base_url", llm.base_url())
            .set("llm.api_key", super::TEST_LLM_KEY)
    }

    /// The fake Slack (bot token, signing secret, Web API URL).
    pub fn slack(self, slack: &FakeSlack) -> Self {
        self.set("slack.bot_token", BOT_TOKEN)
            .set("slack.signing_secret", SECRET)
            .set("slack.api_url", slack.api_url())
    }

    /// The fake quant platform (API, token, its database on the test MongoDB).
    pub fn platform(self, platform: &FakePlatform) -> Self {
        self.set("platform.api_url", platform.url.clone())
            .set("platform.api_token", TOKEN)
            .set("platform.mongodb_uri", super::mongo_uri())
            .set("platform.mongodb_db", platform.db_name.clone())
    }

    /// `[rbac.bindings]`: `subject` (`"slack:T1/U2"`, `"slack-group:S0OPS"`…) has `role`.
    pub fn bind(self, subject: &str, role: &str) -> Self {
        self.set_at(&["rbac", "bindings", subject], role.into())
    }

    /// The file's text.
    pub fn text(&self) -> String {
        toml::to_string(&self.table).expect("a TOML table serializes")
    }

    /// Write `dir/chatops.toml`, check it parses as settings, return its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("chatops.toml");
        self.write_to(&path);
        path
    }

    /// Write the file at `path` and check it parses as settings.
    pub fn write_to(&self, path: &Path) {
        let text = self.text();
        std::fs::write(path, &text).unwrap();
        if let Err(e) = chatops::config::Settings::from_file(path) {
            panic!("the test wrote a config the bot cannot read: {e}\n{text}");
        }
    }

    fn set_at(mut self, path: &[&str], value: Value) -> Self {
        let (last, parents) = path.split_last().expect("a key");
        let mut table = &mut self.table;
        for part in parents {
            table = table
                .entry(part.to_string())
                .or_insert_with(|| Value::Table(Table::new()))
                .as_table_mut()
                .unwrap_or_else(|| panic!("{part} in {path:?} is not a table"));
        }
        table.insert(last.to_string(), value);
        self
    }
}

/// `extra` into `base`: tables merge, arrays of tables append, values replace.
fn merge(base: &mut Table, extra: Table) {
    for (key, value) in extra {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(mine)), Value::Table(theirs)) => merge(mine, theirs),
            (Some(Value::Array(mine)), Value::Array(theirs))
                if theirs.iter().all(Value::is_table) =>
            {
                mine.extend(theirs)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}
