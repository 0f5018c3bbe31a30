//! How `chatops serve` starts a chat adapter: what every adapter is built
//! from ([`Wiring`]) and what each one hands back once started
//! ([`Launched`]): its HTTP routes, the connections it keeps open, the sink
//! background jobs post through, what it serves (for the start-up log) and
//! how it says it is ready. Each adapter's own `launch.rs` decides these
//! from its settings; `server.rs` only merges them.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::domain::Surface;
use crate::jobs::approval_expiry::ApprovalExpiries;
use crate::jobs::outbox::ChatSink;
use crate::store::{JobRepo, SessionRepo};
use crate::turn::TurnPipeline;

/// What every chat adapter is built from.
#[derive(Clone)]
pub struct Wiring {
    pub pipeline: Arc<TurnPipeline>,
    pub sessions: Arc<dyn SessionRepo>,
    pub jobs: Arc<dyn JobRepo>,
    pub session_ttl_hours: u64,
    /// Turns true when `chatops serve` is asked to stop.
    pub stopped: watch::Receiver<bool>,
}

impl Wiring {
    /// Where posted approval requests' expiry jobs go.
    pub fn approval_expiries(&self) -> ApprovalExpiries {
        ApprovalExpiries::new(self.jobs.clone())
    }

    /// Resolves when `chatops serve` is asked to stop.
    pub fn when_stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stopped = self.stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    }
}

/// Whether an adapter can serve now (for `/readyz`).
#[async_trait]
pub trait Readiness: Send + Sync {
    /// `None` when ready; otherwise what is missing, for the probe's body.
    async fn not_ready(&self) -> Option<String>;
}

/// What a started adapter brings to `chatops serve`.
pub struct Launched {
    pub routes: Router,
    /// Connections it keeps open (Socket Mode, the Discord gateway); each
    /// ends when `Wiring::stopped` turns true.
    pub tasks: Vec<JoinHandle<()>>,
    /// How background jobs (answers later, digests, notices) post there,
    /// when they can.
    pub sink: Option<(Surface, Arc<dyn ChatSink>)>,
    /// What it serves, for the start-up log ("Slack (Events API)").
    pub serving: Vec<&'static str>,
    pub readiness: Option<Arc<dyn Readiness>>,
}

impl Launched {
    pub(super) fn new() -> Self {
        Self {
            routes: Router::new(),
            tasks: Vec::new(),
            sink: None,
            serving: Vec::new(),
            readiness: None,
        }
    }
}
