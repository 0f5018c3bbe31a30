//! Which backend the bot keeps its state in: [`Store`], the repositories of
//! one backend, opened from `[store]` — MongoDB when `mongodb_uri` is set,
//! SQLite otherwise — with its audit log witnessed by the head file when one
//! is configured.

use std::sync::Arc;

use super::audit_head::WitnessedAudit;
use super::mongo::MongoStore;
use super::sqlite::SqliteStore;
use super::{
    ApprovalRepo, AuditRepo, JobRepo, LimitRepo, ProcessedEventRepo, SessionRepo, StoreHealth,
    UsageRepo,
};
use crate::config::StoreSettings;

/// Every repository of one backend.
#[derive(Clone)]
pub struct Store {
    pub sessions: Arc<dyn SessionRepo>,
    pub audit: Arc<dyn AuditRepo>,
    pub approvals: Arc<dyn ApprovalRepo>,
    pub events: Arc<dyn ProcessedEventRepo>,
    pub jobs: Arc<dyn JobRepo>,
    pub usage: Arc<dyn UsageRepo>,
    /// Counters shared by the replicas (rate windows, the fleet's day totals).
    pub limits: Arc<dyn LimitRepo>,
    pub health: Arc<dyn StoreHealth>,
}

impl Store {
    fn from_backend<B>(backend: Arc<B>) -> Self
    where
        B: SessionRepo
            + AuditRepo
            + ApprovalRepo
            + ProcessedEventRepo
            + JobRepo
            + UsageRepo
            + LimitRepo
            + StoreHealth
            + 'static,
    {
        Self {
            sessions: backend.clone(),
            audit: backend.clone(),
            approvals: backend.clone(),
            events: backend.clone(),
            jobs: backend.clone(),
            usage: backend.clone(),
            limits: backend.clone(),
            health: backend,
        }
    }

    /// MongoDB when `mongodb_uri` is set, SQLite otherwise; with an audit
    /// head file ([`StoreSettings::audit_head_path`]), every audit append
    /// moves it ([`WitnessedAudit`]).
    pub async fn open(settings: &StoreSettings) -> anyhow::Result<Self> {
        let mut store = match &settings.mongodb_uri {
            Some(uri) => {
                let backend = MongoStore::connect(uri.expose(), &settings.mongodb_db).await?;
                backend.ensure_limit_indexes().await?;
                Self::from_backend(Arc::new(backend))
            }
            None => Self::sqlite(SqliteStore::open(&settings.sqlite_path)?),
        };
        if let Some(head) = settings.audit_head_path() {
            store.audit = Arc::new(WitnessedAudit::new(store.audit, head));
        }
        Ok(store)
    }

    pub fn sqlite(backend: SqliteStore) -> Self {
        Self::from_backend(Arc::new(backend))
    }

    pub fn mongo(backend: MongoStore) -> Self {
        Self::from_backend(Arc::new(backend))
    }
}
