//! Shared test fixtures: the real stores (a fresh MongoDB database per test
//! on the nx-27017 server started by `scripts/with-mongodb.sh`, or a SQLite
//! file), a scripted OpenAI-compatible HTTP server, two small tools, the bot
//! in-process ([`app::TestApp`]) or as its own process
//! ([`bot_process::BotProcess`]) on a config file ([`config_file::ConfigFile`]),
//! and fakes of Slack, Discord and the quant platform.
//! The benches include this module too (`#[path]`): submodules refer to each
//! other through `super::`, never `crate::common`.
#![allow(dead_code)]

pub mod app;
pub mod bot_process;
pub mod config_file;
pub mod fake_discord;
pub mod fake_platform;
pub mod fake_slack;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chatops::config::Settings;
use chatops::domain::Role;
use chatops::secret::Secret;
use chatops::store::backends::Store;
use chatops::store::mongo::MongoStore;
use chatops::store::sqlite::SqliteStore;
use chatops::tools::{ToolContext, ToolError, ToolOutput, TypedTool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// The `chatops` binary run in `dir` as on a fresh machine: no `CHATOPS_*`,
/// LLM, Slack or Discord variables from the environment (embedded defaults).
pub fn chatops_in(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chatops"));
    cmd.current_dir(dir);
    for var in chatops::config::ENV_KEYS
        .iter()
        .map(|(v, _)| v)
        .chain(&["CHATOPS_CONFIG", "RUST_LOG"])
    {
        cmd.env_remove(var);
    }
    cmd
}

/// The MongoDB the tests use. Missing is a loud failure, never a skip.
pub fn mongo_uri() -> String {
    std::env::var("CHATOPS_TEST_MONGODB_URI").unwrap_or_else(|_| {
        panic!(
            "CHATOPS_TEST_MONGODB_URI is not set: these tests need a MongoDB wire-protocol server. \
             Run the suite with `scripts/test.sh` (it installs and starts nx-27017), or \
             `scripts/with-mongodb.sh cargo test`."
        )
    })
}

/// A fresh database on the test server.
pub async fn mongo_store(db: &str) -> Store {
    chatops::install_crypto_provider();
    let backend = MongoStore::connect(&mongo_uri(), db)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test MongoDB at {}: {e}", mongo_uri()));
    Store::mongo(backend)
}

pub fn fresh_db_name() -> String {
    format!("chatops_test_{}", uuid::Uuid::new_v4().simple())
}

pub fn sqlite_store(path: &std::path::Path) -> Store {
    Store::sqlite(SqliteStore::open(path).expect("sqlite store opens"))
}

/// Which backend a test runs against.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Mongo,
}

/// A store of the given kind that can be reopened ("the process restarted").
pub struct ReopenableStore {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub db: String,
}

impl ReopenableStore {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            dir: tempfile::tempdir().unwrap(),
            db: fresh_db_name(),
        }
    }

    pub async fn open(&self) -> Store {
        match self.backend {
            Backend::Sqlite => sqlite_store(&self.dir.path().join("chatops.db")),
            Backend::Mongo => mongo_store(&self.db).await,
        }
    }
}

/// One scripted HTTP answer of the fake LLM.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// How long the server waits before answering.
    pub delay: std::time::Duration,
}

impl Scripted {
    /// A chat completion that calls tools: (id, name, arguments string).
    pub fn tool_calls(calls: &[(&str, &str, &str)]) -> Self {
        let tool_calls: Vec<Value> = calls
            .iter()
            .map(|(id, name, args)| {
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
            })
            .collect();
        Self::completion(
            json!({"role": "assistant", "content": null, "tool_calls": tool_calls}),
            "tool_calls",
        )
    }

    /// A chat completion with a final text answer.
    pub fn answer(text: &str) -> Self {
        Self::completion(json!({"role": "assistant", "content": text}), "stop")
    }

    /// A text answer the server stopped at the model's length limit
    /// (`finish_reason: "length"`).
    pub fn cut_off(text: &str) -> Self {
        Self::completion(json!({"role": "assistant", "content": text}), "length")
    }

    /// An answer with nothing in it: `content` as given (`null`, `""`, blank)
    /// and no tool calls.
    pub fn nothing(content: Value) -> Self {
        Self::completion(json!({"role": "assistant", "content": content}), "stop")
    }

    fn completion(message: Value, finish: &str) -> Self {
        Self {
            status: 200,
            headers: vec![],
            delay: std::time::Duration::ZERO,
            body: json!({
                "id": "chatcmpl-test", "object": "chat.completion", "created": 1741569952,
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 812, "completion_tokens": 24, "total_tokens": 836}
            })
            .to_string(),
        }
    }

    pub fn error(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.to_string(),
            delay: std::time::Duration::ZERO,
        }
    }

    pub fn after(mut self, delay: std::time::Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The same completion without a `usage` object (some local servers).
    pub fn without_usage(mut self) -> Self {
        let mut body: Value = serde_json::from_str(&self.body).unwrap();
        body.as_object_mut().unwrap().remove("usage");
        self.body = body.to_string();
        self
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
}

#[derive(Default)]
struct LlmState {
    script: Mutex<VecDeque<Scripted>>,
    requests: Mutex<Vec<(HeaderMap, Value)>>,
}

/// A scripted OpenAI-compatible server on a loopback port.
#[derive(Clone)]
pub struct FakeLlm {
    state: Arc<LlmState>,
    pub addr: SocketAddr,
}

impl FakeLlm {
    pub async fn start(script: Vec<Scripted>) -> Self {
        let state = Arc::new(LlmState {
            script: Mutex::new(script.into()),
            requests: Mutex::default(),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .route(
                "/v1/models",
                get(|| async {
                    axum::Json(json!({"object": "list", "data": [{"id": "gpt-4o-mini"}]}))
                }),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { state, addr }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request body received, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    pub fn request_headers(&self) -> Vec<HeaderMap> {
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .map(|(h, _)| h.clone())
            .collect()
    }

    pub fn remaining(&self) -> usize {
        self.state.script.lock().unwrap().len()
    }
}

async fn completions(
    State(state): State<Arc<LlmState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let body: Value = serde_json::from_str(&body).expect("the client sends JSON");
    state.requests.lock().unwrap().push((headers, body));
    let next = state.script.lock().unwrap().pop_front();
    let Some(scripted) = next else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "script exhausted").into_response();
    };
    tokio::time::sleep(scripted.delay).await;
    let mut response = (
        StatusCode::from_u16(scripted.status).unwrap(),
        scripted.body,
    )
        .into_response();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    for (name, value) in scripted.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// The API key the tests give the fake LLM.
pub const TEST_LLM_KEY: &str = "sk-test-abcdefghijklmnop1234";

/// Settings for a test: embedded defaults pointed at the fake LLM.
pub fn settings_with_llm(llm: Option<&FakeLlm>) -> Settings {
    let mut s = Settings::embedded();
    if let Some(llm) = llm {
        s.llm.base_url = Some(llm.base_url());
        s.llm.api_key = Some(Secret::new(TEST_LLM_KEY));
        s.llm.max_retries = 2;
    }
    s.agent.llm_call_timeout_secs = 20;
    s
}

/// `echo`: a read-only tool that returns its arguments and counts its runs.
#[derive(Default, Clone)]
pub struct EchoTool {
    pub runs: Arc<AtomicUsize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EchoArgs {
    /// Text to echo back.
    pub text: String,
    /// Optional credential-looking field, to check redaction.
    #[serde(default)]
    pub note: Option<String>,
}

#[async_trait]
impl TypedTool for EchoTool {
    type Args = EchoArgs;
    const NAME: &'static str = "echo";
    const DESCRIPTION: &'static str = "Echo the text back.";
    const REQUIRED_ROLE: Role = Role::Viewer;
    const MUTATING: bool = false;

    async fn run(&self, _: &ToolContext, args: EchoArgs) -> Result<ToolOutput, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(ToolOutput {
            data: json!({"echo": args.text, "hit_rate": 0.973}),
            display: format!("echo: {}", args.text),
        })
    }
}

/// `deploy`: a mutating tool (operator) that counts its runs.
#[derive(Default, Clone)]
pub struct DeployTool {
    pub runs: Arc<AtomicUsize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployArgs {
    /// What to deploy.
    pub target: String,
}

#[async_trait]
impl TypedTool for DeployTool {
    type Args = DeployArgs;
    const NAME: &'static str = "deploy";
    const DESCRIPTION: &'static str = "Deploy something (mutating).";
    const REQUIRED_ROLE: Role = Role::Operator;
    const MUTATING: bool = true;

    async fn run(&self, _: &ToolContext, args: DeployArgs) -> Result<ToolOutput, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(ToolOutput {
            data: json!({"deployed": args.target}),
            display: format!("deployed {}", args.target),
        })
    }
}

/// Wait, when the clock minute is nearly over, for the next one: a test of
/// the per-minute limits then runs inside one window.
pub async fn away_from_a_minute_end() {
    use chrono::Timelike;
    let second = chrono::Utc::now().second();
    if second >= 45 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(61 - second))).await;
    }
}

/// A free loopback address for `http.addr`.
pub fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// The app's whole audit log (up to the store's default page of 1,000), oldest first.
pub async fn audit_log(app: &chatops::app::App) -> Vec<chatops::store::AuditRecord> {
    app.store
        .audit
        .query_audit(&chatops::store::AuditQuery::default())
        .await
        .unwrap()
}

/// (tool, outcome) of every tool outcome in the app's audit log, in order.
pub async fn tool_outcomes(app: &chatops::app::App) -> Vec<(String, String)> {
    audit_log(app)
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            chatops::store::AuditEvent::ToolOutcome { tool, outcome, .. } => Some((tool, outcome)),
            _ => None,
        })
        .collect()
}

/// How many times `tool` ran and succeeded (its `ok` outcome records).
pub async fn successful_runs(app: &chatops::app::App, tool: &str) -> usize {
    tool_outcomes(app)
        .await
        .iter()
        .filter(|(t, outcome)| t == tool && outcome == "ok")
        .count()
}

/// Every log line of this test process (debug and up, from every area of
/// the one test binary, with the binary's caps: `chatops::cli::LOG_CAPS`),
/// captured in memory by the process's global
/// subscriber: the only one, nothing else in the tests installs one;
/// installed on first use (a thread-local one misses events whose callsites
/// another thread registered first).
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl CapturedLogs {
    pub fn start() -> &'static CapturedLogs {
        static LOGS: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            use tracing_subscriber::layer::SubscriberExt;
            let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
            let writer = {
                let buffer = buffer.clone();
                move || LogWriter(buffer.clone())
            };
            let subscriber = tracing_subscriber::registry()
                .with(chatops::cli::capped(tracing_subscriber::EnvFilter::new(
                    "debug",
                )))
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(writer)
                        .with_ansi(false),
                );
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in this test process");
            CapturedLogs { buffer }
        })
    }

    /// Everything logged so far, by every test of this process.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
