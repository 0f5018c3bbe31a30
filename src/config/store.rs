//! The settings of the bot's own store, `[store]` (types and what they
//! mean; `config.rs` applies the environment and validates): which backend,
//! and where the audit log's head is witnessed outside the store.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The bot's own store. MongoDB when `mongodb_uri` is set, SQLite otherwise.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Env: MONGODB_URI.
    pub mongodb_uri: Option<Secret>,
    /// Env: CHATOPS_MONGODB_DB.
    pub mongodb_db: String,
    /// Env: CHATOPS_SQLITE_PATH.
    pub sqlite_path: PathBuf,
    /// The audit head file: after each audit record is committed, its `seq`
    /// and hash are written here, so `chatops audit verify` can tell a
    /// chain cut short from a whole one. Unset: `<sqlite_path>.audit-head`
    /// on SQLite, none on MongoDB (each replica needs a file of its own);
    /// empty: none.
    pub audit_head: Option<PathBuf>,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            mongodb_uri: None,
            mongodb_db: "chatops".into(),
            sqlite_path: PathBuf::from("data/chatops.db"),
            audit_head: None,
        }
    }
}

impl StoreSettings {
    /// Where the audit head is written and read, if anywhere (see
    /// [`StoreSettings::audit_head`]).
    pub fn audit_head_path(&self) -> Option<PathBuf> {
        match &self.audit_head {
            Some(path) if path.as_os_str().is_empty() => None,
            Some(path) => Some(path.clone()),
            None if self.mongodb_uri.is_some() => None,
            None => {
                let mut path = self.sqlite_path.clone().into_os_string();
                path.push(".audit-head");
                Some(PathBuf::from(path))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_head_sits_beside_the_sqlite_file_unless_set() {
        let sqlite = StoreSettings {
            sqlite_path: PathBuf::from("/var/lib/chatops/chatops.db"),
            ..Default::default()
        };
        assert_eq!(
            sqlite.audit_head_path(),
            Some(PathBuf::from("/var/lib/chatops/chatops.db.audit-head"))
        );
        let off = StoreSettings {
            audit_head: Some(PathBuf::new()),
            ..sqlite.clone()
        };
        assert_eq!(off.audit_head_path(), None);
        let mongo = StoreSettings {
            mongodb_uri: Some(Secret::new("mongodb://db:27017".to_string())),
            ..Default::default()
        };
        assert_eq!(mongo.audit_head_path(), None);
        let mongo_with_head = StoreSettings {
            audit_head: Some(PathBuf::from("/var/lib/chatops/replica-a.audit-head")),
            ..mongo
        };
        assert_eq!(
            mongo_with_head.audit_head_path(),
            Some(PathBuf::from("/var/lib/chatops/replica-a.audit-head"))
        );
    }
}
