//! The command line (clap): `chat`, `ask`, `approvals`, `approve`,
//! `cancel`, `serve`, `check`, `digest`, `usage`, `audit`, `eval`. Parses
//! arguments, loads settings, sets up logging, builds the [`App`] and hands
//! over to the console, the server or the checks.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::app::App;
use crate::config::{LogFormat, Settings};
use crate::console::{self, ConsoleIdentity};

#[derive(Debug, Parser)]
#[command(
    name = "chatops",
    version,
    about = "ChatOps agent for the quant platform's ops team"
)]
pub struct Cli {
    /// Configuration file (TOML); else `CHATOPS_CONFIG` when set and not
    /// empty. Without either: embedded defaults + environment.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Log format (overrides log.format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Talk to the agent in this terminal.
    Chat(Identity),
    /// Ask one question, print the answer, exit: 0 answered, 3 refused or
    /// denied, 4 failed, 5 waiting for approval (`chatops approvals`).
    Ask {
        /// The question, in English or Korean.
        question: String,
        /// Print {"answer","language","tool_calls","model","usage"} as JSON.
        #[arg(long)]
        json: bool,
        /// Approve mutating actions up front (otherwise they are reported as needs_approval and not run).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        identity: Identity,
    },
    /// List the pending approvals (id, tool, requester, channel, redacted
    /// arguments, expiry).
    Approvals,
    /// Approve a pending approval as the console user (RBAC in the
    /// approval's own channel: set --channel to it; audited); its call runs.
    Approve {
        /// The approval id, from `chatops approvals` or `ask --json`.
        id: String,
        #[command(flatten)]
        identity: Identity,
    },
    /// Cancel a pending approval as the console user (the requester, or
    /// someone holding the tool's role in its channel; audited).
    Cancel {
        /// The approval id.
        id: String,
        #[command(flatten)]
        identity: Identity,
    },
    /// Run every configured adapter and background worker until Ctrl-C / SIGTERM.
    Serve,
    /// Validate the configuration and probe each configured dependency.
    Check,
    /// LLM tokens and cost by user, channel and model.
    Usage {
        /// Days to cover, today included (UTC), 1-31.
        #[arg(long, default_value_t = 1)]
        days: u32,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Query the audit log (or export it as JSON lines); `audit verify` checks its hash chain.
    Audit(AuditArgs),
    /// Run an eval set (JSON lines) through the agent and score it: tool
    /// selection, arguments, outcome, language, grounding, latency, tokens.
    Eval {
        /// The eval set, e.g. evals/ops.jsonl.
        file: PathBuf,
        /// Exit 1 when fewer than this fraction of cases pass (0-1, e.g. 0.9).
        #[arg(long, value_parser = crate::eval::parse_min_accuracy)]
        min_accuracy: Option<f64>,
        /// Only the cases whose id contains this.
        #[arg(long)]
        only: Option<String>,
        /// Print the per-case results and totals as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Scheduled ops digests.
    Digest {
        /// Print the digest NAME as it would be posted now, without posting it.
        #[arg(long, value_name = "NAME")]
        preview: Option<String>,
    },
}

/// `chatops audit [filters] [--json]` or `chatops audit verify`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub action: Option<AuditAction>,
    /// Subject, e.g. slack:T0123/U0456 or console:alice.
    #[arg(long)]
    pub user: Option<String>,
    /// Channel, e.g. slack:C0OPS.
    #[arg(long)]
    pub channel: Option<String>,
    #[arg(long)]
    pub tool: Option<String>,
    /// ok, denied, error, needs_approval, rejected (tool outcomes); sent, dead (deliveries).
    #[arg(long)]
    pub outcome: Option<String>,
    /// Record kind: message_in, llm_call, tool_attempt, tool_outcome, refused…
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long)]
    pub request: Option<String>,
    /// From (RFC 3339, YYYY-MM-DD, or an age such as 24h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Until (same forms).
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many records (default: 100 in the table; with --json
    /// every matching record, read in pages). Where it stops is said.
    #[arg(long)]
    pub limit: Option<usize>,
    /// One JSON object per line (every field, hashes included).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Walk the hash chain from the first record; name the first broken link,
    /// or a chain cut short of the head recorded outside the store (exit 1).
    Verify {
        /// The audit head file to check against (default: `store.audit_head`,
        /// beside the SQLite file unless set, when it exists).
        #[arg(long, value_name = "FILE")]
        head: Option<std::path::PathBuf>,
    },
}

impl AuditArgs {
    fn query(&self) -> anyhow::Result<crate::store::AuditQuery> {
        let now = chrono::Utc::now();
        let time = |t: &Option<String>| {
            t.as_deref()
                .map(|t| crate::admin::parse_time(t, now))
                .transpose()
                .map_err(|e| anyhow::anyhow!(e))
        };
        Ok(crate::store::AuditQuery {
            request_id: self.request.clone(),
            subject: self.user.clone(),
            channel: self.channel.clone(),
            tool: self.tool.clone(),
            outcome: self.outcome.clone(),
            kind: self.kind.clone(),
            since: time(&self.since)?,
            until: time(&self.until)?,
            after_seq: None,
            // Paged by `admin::query` up to `--limit`.
            limit: 0,
        })
    }
}

/// The console identity: `console:<user>` in channel `console:<channel>`.
#[derive(Debug, Args)]
pub struct Identity {
    /// Console user name (default: $USER).
    #[arg(long)]
    pub user: Option<String>,
    /// Console channel name, for channel policies.
    #[arg(long, default_value = "terminal")]
    pub channel: String,
}

impl Identity {
    fn resolve(&self) -> anyhow::Result<ConsoleIdentity> {
        let user = self.user.clone().unwrap_or_else(console::default_user);
        ConsoleIdentity::new(&user, &self.channel).map_err(|e| anyhow::anyhow!(e))
    }
}

/// serenity wraps each REST request in an info span that prints the request
/// (its route, which for an interaction's webhook holds the interaction's
/// token) with every line logged inside it: its HTTP module logs warnings
/// and errors only, whatever `RUST_LOG` or `log.level` says.
pub const LOG_CAPS: [&str; 1] = ["serenity::http=warn"];

/// `filter` with [`LOG_CAPS`] added.
pub fn capped(mut filter: tracing_subscriber::EnvFilter) -> tracing_subscriber::EnvFilter {
    for cap in LOG_CAPS {
        if let Ok(directive) = cap.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

fn init_logging(settings: &Settings, interactive: bool) {
    use tracing_subscriber::EnvFilter;
    // In the terminal chat, logs would interleave with the conversation: warn and up only.
    let default = if interactive {
        "warn".to_string()
    } else {
        settings.log.level.clone()
    };
    // An empty RUST_LOG (as `.env` files leave it) counts as unset, not as "log nothing".
    let filter = capped(
        std::env::var("RUST_LOG")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .and_then(|v| EnvFilter::try_new(v).ok())
            .unwrap_or_else(|| EnvFilter::new(default)),
    );
    // Colour only on a terminal: a log file or journald gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match settings.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Entry point of the binary.
pub async fn run(cli: Cli) -> ExitCode {
    match run_inner(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run_inner(cli: Cli) -> anyhow::Result<ExitCode> {
    // An empty variable (as `.env.example` sourced leaves it) counts as unset,
    // here as in `Settings::apply_env`: clap's `env =` would demand a value.
    let config = cli.config.clone().or_else(|| {
        std::env::var_os("CHATOPS_CONFIG")
            .filter(|v| !v.to_string_lossy().trim().is_empty())
            .map(PathBuf::from)
    });
    let mut settings = crate::app::load_settings(config.as_deref(), &|k| std::env::var(k).ok())?;
    if let Some(format) = cli.log_format {
        settings.log.format = format;
    }
    let interactive = matches!(
        cli.command,
        Command::Chat(_)
            | Command::Ask { .. }
            | Command::Eval { .. }
            | Command::Approvals
            | Command::Approve { .. }
            | Command::Cancel { .. }
    );
    init_logging(&settings, interactive);

    match cli.command {
        Command::Chat(identity) => {
            let identity = identity.resolve()?;
            let app = App::builder(settings).build().await?;
            console::chat(&app, identity, &banner(&app)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ask {
            question,
            json,
            yes,
            identity,
        } => {
            let identity = identity.resolve()?;
            let app = App::builder(settings).build().await?;
            let outcome = console::ask(&app.pipeline, &identity, &question, yes).await;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&console::JsonAnswer::from(&outcome))?
                );
            } else {
                println!("{}", outcome.answer);
            }
            let code = console::exit_code(&outcome);
            if code == console::AWAITING_APPROVAL {
                eprintln!(
                    "Decide it from this terminal with `chatops approve ID` or `chatops cancel ID` \
                     (list: `chatops approvals`), or ask again with --yes."
                );
            }
            Ok(ExitCode::from(code))
        }
        Command::Approvals => {
            let app = App::builder(settings).build().await?;
            let pending = app
                .registry
                .pending_approvals(console::PENDING_SHOWN)
                .await?;
            println!("{}", console::render_pending(&pending));
            Ok(ExitCode::SUCCESS)
        }
        Command::Approve { id, identity } => decide(settings, &id, &identity, true).await,
        Command::Cancel { id, identity } => decide(settings, &id, &identity, false).await,
        Command::Serve => {
            let app = Arc::new(App::builder(settings).build().await?);
            crate::server::serve(app, crate::server::shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Usage { days, json } => {
            let store = crate::store::backends::Store::open(&settings.store).await?;
            println!("{}", crate::admin::usage(&store, days, json).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(args) => {
            let store = crate::store::backends::Store::open(&settings.store).await?;
            match args.action {
                Some(AuditAction::Verify { head }) => {
                    let head = match (head, settings.store.audit_head_path()) {
                        (Some(given), _) => crate::admin::HeadFile::Given(given),
                        (None, Some(configured)) => crate::admin::HeadFile::Configured(configured),
                        (None, None) => crate::admin::HeadFile::None,
                    };
                    let (report, intact) = crate::admin::verify(&store, &head).await?;
                    println!("{report}");
                    Ok(if intact {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    })
                }
                None => {
                    let (out, stopped) =
                        crate::admin::query(&store, &args.query()?, args.json, args.limit).await?;
                    println!("{out}");
                    if let Some(stopped) = stopped {
                        eprintln!("audit: {stopped}");
                    }
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::Eval {
            file,
            min_accuracy,
            only,
            json,
        } => eval(settings, &file, min_accuracy, only.as_deref(), json).await,
        Command::Digest { preview } => {
            let app = App::builder(settings).build().await?;
            let Some(name) = preview else {
                println!("{}", list_digests(&app.settings));
                return Ok(ExitCode::SUCCESS);
            };
            match app.digester().preview(&name, chrono::Utc::now()).await {
                Ok(text) => {
                    println!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Check => {
            let app = App::builder(settings).build().await?;
            let rows = crate::check::run_checks(&app).await;
            println!("{}", crate::check::render(&rows));
            let down = rows
                .iter()
                .any(|r| r.state == crate::check::ProbeState::Down);
            Ok(if down {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// `chatops approve ID` / `chatops cancel ID` (exit codes: `console::decide`).
async fn decide(
    settings: Settings,
    id: &str,
    identity: &Identity,
    approve: bool,
) -> anyhow::Result<ExitCode> {
    let identity = identity.resolve()?;
    let app = App::builder(settings).build().await?;
    let (text, code) = console::decide(&app, &identity, id, approve).await;
    println!("{text}");
    Ok(ExitCode::from(code))
}

/// `chatops eval`: the cases, one line each as they finish, then the totals
/// (or one JSON object). Exit 1 below `--min-accuracy`, 2 on a bad file.
async fn eval(
    mut settings: Settings,
    file: &std::path::Path,
    min_accuracy: Option<f64>,
    only: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use crate::eval;
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    eval::prepare(&mut settings);
    // A throwaway store: the eval's sessions, audit and usage stay out of the bot's.
    let scratch = tempfile::Builder::new().prefix("chatops-eval-").tempdir()?;
    let store = crate::store::backends::Store::sqlite(crate::store::sqlite::SqliteStore::open(
        &scratch.path().join("eval.db"),
    )?);
    let app = App::builder(settings).store(store).build().await?;
    let cases = eval::parse_cases(&text, &app.agent.registry().tool_names())
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let cases: Vec<_> = cases
        .into_iter()
        .filter(|c| only.is_none_or(|o| c.id.contains(o)))
        .collect();
    if cases.is_empty() {
        anyhow::bail!("no case id contains {:?}", only.unwrap_or_default());
    }
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let mut results = Vec::with_capacity(cases.len());
    for case in &cases {
        let result = eval::run_case(&app.agent, case, &run_id).await;
        if !json {
            println!("{}", eval::render_case(&result));
        }
        results.push(result);
    }
    let totals = eval::Totals::of(&results);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"cases": results, "totals": totals}))?
        );
    } else {
        println!("\n{}", totals.render());
    }
    if let Some(min) = min_accuracy {
        let failures = totals.gate_failures(min);
        for failure in &failures {
            eprintln!("eval: {failure}");
        }
        if !failures.is_empty() {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `chatops digest` without `--preview`: the configured schedules.
fn list_digests(settings: &Settings) -> String {
    if settings.digests.is_empty() {
        return "No digests configured: add [[digests]] to chatops.toml (see chatops.example.toml).".into();
    }
    let now = chrono::Utc::now();
    settings
        .digests
        .iter()
        .map(|d| {
            let next = crate::jobs::schedule::Schedule::parse(&d.cron, &d.timezone)
                .ok()
                .and_then(|s| {
                    let next = s.next_tick_after(now)?;
                    Some(format!(
                        "read as \"{}\"; next {}",
                        s.normalized(),
                        crate::jobs::schedule::describe_tick(next, s.timezone())
                    ))
                })
                .unwrap_or_default();
            format!(
                "{}: \"{}\" ({}) → {}; {next}",
                d.name,
                d.cron,
                d.timezone,
                d.channels.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the chat prints first: which model and store are in use.
fn banner(app: &App) -> String {
    let s = &app.settings;
    let model = if s.llm.is_configured() {
        format!("{} at {}", s.llm.model, s.llm.effective_base_url())
    } else {
        "offline planner (no LLM configured)".to_string()
    };
    let store = match &s.store.mongodb_uri {
        Some(_) => format!("MongoDB ({})", s.store.mongodb_db),
        None => format!("SQLite ({})", s.store.sqlite_path.display()),
    };
    let platform = match app.platform.kind() {
        crate::platform::PlatformKind::Sandbox => "sandbox (demo data)",
        crate::platform::PlatformKind::Live => "live",
    };
    format!("chatops — model: {model}; store: {store}; platform: {platform}")
}
