//! Which backend the bot keeps its state in: [`Store`], the repositories of
//! one backend, opened from `[store]` — MongoDB when `mongodb_uri` is set,
//! SQLite otherwise.

use std::sync::Arc;

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

    /// MongoDB when `mongodb_uri` is set, SQLite otherwise.
    pub async fn open(settings: &StoreSettings) -> anyhow::Result<Self> {
        match &settings.mongodb_uri {
            Some(uri) => {
                let backend = MongoStore::connect(uri.expose(), &settings.mongodb_db).await?;
                backend.ensure_limit_indexes().await?;
                Ok(Self::from_backend(Arc::new(backend)))
            }
            None => Ok(Self::sqlite(SqliteStore::open(&settings.sqlite_path)?)),
        }
    }

    pub fn sqlite(backend: SqliteStore) -> Self {
        Self::from_backend(Arc::new(backend))
    }

    pub fn mongo(backend: MongoStore) -> Self {
        Self::from_backend(Arc::new(backend))
    }
}
