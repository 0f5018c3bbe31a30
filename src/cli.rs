//! The command line (clap): `chat`, `ask`, `serve`, `check`, `digest`. Parses
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
    /// Configuration file (TOML). Without it: embedded defaults + environment.
    #[arg(long, global = true, env = "CHATOPS_CONFIG")]
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
    /// Ask one question, print the answer, exit.
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
    /// Run every configured adapter and background worker until Ctrl-C / SIGTERM.
    Serve,
    /// Validate the configuration and probe each configured dependency.
    Check,
    /// Scheduled ops digests.
    Digest {
        /// Print the digest NAME as it would be posted now, without posting it.
        #[arg(long, value_name = "NAME")]
        preview: Option<String>,
    },
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

fn init_logging(settings: &Settings, interactive: bool) {
    use tracing_subscriber::EnvFilter;
    // In the terminal chat, logs would interleave with the conversation: warn and up only.
    let default = if interactive {
        "warn".to_string()
    } else {
        settings.log.level.clone()
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
    let mut settings = Settings::load(cli.config.as_deref(), &|k| std::env::var(k).ok())?;
    if let Some(format) = cli.log_format {
        settings.log.format = format;
    }
    let interactive = matches!(cli.command, Command::Chat(_) | Command::Ask { .. });
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
            let outcome = console::ask(&app.agent, &identity, &question, yes).await;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&console::JsonAnswer::from(&outcome))?
                );
            } else {
                println!("{}", outcome.answer);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let app = Arc::new(App::builder(settings).build().await?);
            crate::server::serve(app, crate::server::shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
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
