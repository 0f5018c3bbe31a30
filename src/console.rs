//! The terminal adapter: `chatops chat` (interactive) and `chatops ask` (one
//! turn). It builds the same [`ChatEvent`] Slack and Discord will, so a
//! message from the terminal runs the same pipeline.
//!
//! Approvals in the terminal: `chat` asks y/n on the same input (end of input
//! means no); `ask` reports `needs_approval` and runs nothing unless `--yes`.
//! Notifications for the terminal (queue `console`) are printed by the
//! worker `chat` runs; `ask` runs none, so they wait for the next `chat`.

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};
use tokio::sync::Mutex;

use crate::agent::model::Usage;
use crate::agent::outcome::TurnOutcome;
use crate::app::App;
use crate::domain::{Caller, ChannelId, ChatEvent, Language, RequestId, Subject, Surface};
use crate::egress::{Egress, Outgoing, Part};
use crate::i18n;
use crate::jobs::outbox::{ChatSink, SendError, Sinks};
use crate::store::Approval;
use crate::tools::approval::DeferApproval;
use crate::tools::approval::{ApprovalGate, GateDecision};
use crate::turn::{ChatSurface, TurnPipeline};

/// Who is typing, and where, as RBAC sees it.
#[derive(Debug, Clone)]
pub struct ConsoleIdentity {
    pub caller: Caller,
}

impl ConsoleIdentity {
    /// `console:<user>` in channel `console:<channel>`.
    pub fn new(user: &str, channel: &str) -> Result<Self, String> {
        Ok(Self {
            caller: Caller {
                subject: Subject::console(user)?,
                groups: vec![],
                channel: ChannelId::new(Surface::Console, channel)?,
            },
        })
    }

    pub fn event(&self, text: &str) -> ChatEvent {
        ChatEvent {
            request_id: RequestId::generate(),
            surface: Surface::Console,
            event_id: None,
            caller: self.caller.clone(),
            thread: None,
            text: text.to_string(),
        }
    }
}

/// The default console user: `$USER`, or `local`.
pub fn default_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| Subject::console(u).is_ok())
        .unwrap_or_else(|| "local".into())
}

mod tty;

/// The chat's input: lines from a pipe, or from a terminal read without the
/// kernel's 4,095-byte line cap (see `tty`).
enum Input {
    Piped(Lines<BufReader<Stdin>>),
    Terminal,
}

impl Input {
    fn open() -> Self {
        if tty::is_terminal() {
            Input::Terminal
        } else {
            Input::Piped(BufReader::new(tokio::io::stdin()).lines())
        }
    }

    async fn next_line(&mut self) -> std::io::Result<Option<String>> {
        match self {
            Input::Piped(lines) => lines.next_line().await,
            Input::Terminal => tokio::task::spawn_blocking(tty::read_line)
                .await
                .map_err(std::io::Error::other)?,
        }
    }
}

type InputLines = Arc<Mutex<Input>>;

/// Asks the person at the terminal; reads the answer from the chat's input.
struct TerminalGate {
    input: InputLines,
    approver: Caller,
    /// The language of the message being answered.
    language: Language,
}

#[async_trait]
impl ApprovalGate for TerminalGate {
    async fn request(&self, _: &Approval, summary: &str) -> GateDecision {
        print!("{}", i18n::approval_prompt(self.language, summary));
        let _ = std::io::stdout().flush();
        let line = self.input.lock().await.next_line().await;
        match line {
            Ok(Some(answer))
                if matches!(
                    answer.trim().to_lowercase().as_str(),
                    "y" | "yes" | "네" | "예" | "ㅇ"
                ) =>
            {
                GateDecision::Approve {
                    by: self.approver.subject.clone(),
                    groups: self.approver.groups.clone(),
                }
            }
            _ => GateDecision::Reject {
                by: self.approver.subject.clone(),
            },
        }
    }
}

/// `ask --yes`: the caller approves their own request up front.
struct PreApproved {
    approver: Caller,
}

#[async_trait]
impl ApprovalGate for PreApproved {
    async fn request(&self, _: &Approval, _: &str) -> GateDecision {
        GateDecision::Approve {
            by: self.approver.subject.clone(),
            groups: self.approver.groups.clone(),
        }
    }
}

/// The outbox's way into the terminal: notifications (a watched backtest
/// ended) are printed between prompts.
pub struct ConsoleSink {
    egress: Arc<Egress>,
}

#[async_trait]
impl ChatSink for ConsoleSink {
    fn split(&self, message: &Outgoing) -> Vec<Vec<Part>> {
        vec![self.egress.parts(Surface::Console, message, usize::MAX)]
    }

    async fn send(
        &self,
        _: &str,
        _: Option<&str>,
        parts: &[Part],
        _: &str,
    ) -> Result<(), SendError> {
        for part in parts {
            print!("\n{}\n", part.text());
        }
        print!("\n> ");
        let _ = std::io::stdout().flush();
        Ok(())
    }
}

/// The interactive terminal session. Returns at end of input or `/quit`.
/// A worker of the console queue runs meanwhile: backtests triggered from
/// the terminal (now or in an earlier chat) are reported when they end.
pub async fn chat(app: &App, identity: ConsoleIdentity, banner: &str) -> anyhow::Result<()> {
    let sinks = Sinks::from([(
        Surface::Console,
        Arc::new(ConsoleSink {
            egress: app.egress.clone(),
        }) as Arc<dyn ChatSink>,
    )]);
    let worker = app.worker(vec![Surface::Console.as_str().into()], sinks);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(worker.run(stopped, std::time::Duration::from_secs(5)));
    let result = converse(&app.pipeline, identity, banner).await;
    let _ = stop.send(true);
    let _ = worker.await;
    result
}

async fn converse(
    pipeline: &TurnPipeline,
    identity: ConsoleIdentity,
    banner: &str,
) -> anyhow::Result<()> {
    let input: InputLines = Arc::new(Mutex::new(Input::open()));
    println!("{banner}");
    println!(
        "You are {} in {}. Ask in English or Korean; /quit to leave.",
        identity.caller.subject, identity.caller.channel
    );
    loop {
        print!("\n> ");
        std::io::stdout().flush()?;
        let line = input.lock().await.next_line().await?;
        let Some(line) = line else { break };
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if matches!(text, "/quit" | "/exit" | "/q") {
            break;
        }
        let gate = TerminalGate {
            input: input.clone(),
            approver: identity.caller.clone(),
            language: Language::detect(text),
        };
        let terminal = Terminal::printing();
        pipeline.run(&identity.event(text), &gate, &terminal).await;
    }
    Ok(())
}

/// One tool call in `ask --json`.
#[derive(Debug, Serialize)]
pub struct JsonToolCall {
    pub name: String,
    pub arguments: serde_json::Value,
    pub outcome: String,
}

/// `ask --json` output.
#[derive(Debug, Serialize)]
pub struct JsonAnswer {
    pub answer: String,
    pub language: Language,
    pub tool_calls: Vec<JsonToolCall>,
    pub model: String,
    pub usage: Usage,
}

impl From<&TurnOutcome> for JsonAnswer {
    fn from(o: &TurnOutcome) -> Self {
        Self {
            answer: o.answer.clone(),
            language: o.language,
            tool_calls: o
                .tool_calls
                .iter()
                .map(|c| JsonToolCall {
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                    outcome: c.outcome.as_str().into(),
                })
                .collect(),
            model: o.model.clone(),
            usage: o.usage,
        }
    }
}

/// `chatops ask`'s exit code, for scripts (README "Using it"): 0 answered;
/// 3 refused (too long, rate-limited, busy) or a tool call denied or
/// rejected; 4 the turn failed, timed out or hit its step limit, or a tool
/// call failed; 5 an action waits for approval (nothing run). The worst
/// wins, in that order: failed, refused, waiting. (2 stays bad usage or
/// configuration, before any turn.)
pub const AWAITING_APPROVAL: u8 = 5;

pub fn exit_code(outcome: &TurnOutcome) -> u8 {
    use crate::agent::outcome::TurnStatus;
    use crate::tools::call::ToolOutcome;
    let calls = |o: ToolOutcome| outcome.tool_calls.iter().any(|c| c.outcome == o);
    match outcome.status {
        TurnStatus::Failed | TurnStatus::Timeout | TurnStatus::StepLimit => return 4,
        TurnStatus::Refused | TurnStatus::RefusedAgain | TurnStatus::Ignored => return 3,
        TurnStatus::Answered => {}
    }
    if calls(ToolOutcome::Error) {
        4
    } else if calls(ToolOutcome::Denied) || calls(ToolOutcome::Rejected) {
        3
    } else if calls(ToolOutcome::NeedsApproval) {
        AWAITING_APPROVAL
    } else {
        0
    }
}

/// One turn: `chatops ask`. The answer is what the terminal shows (through
/// the egress); the caller prints it, as text or JSON.
pub async fn ask(
    pipeline: &TurnPipeline,
    identity: &ConsoleIdentity,
    question: &str,
    yes: bool,
) -> TurnOutcome {
    let event = identity.event(question);
    let terminal = Terminal::recording();
    let mut outcome = if yes {
        let gate = PreApproved {
            approver: identity.caller.clone(),
        };
        pipeline.run(&event, &gate, &terminal).await
    } else {
        pipeline.run(&event, &DeferApproval, &terminal).await
    };
    outcome.answer = terminal.shown();
    outcome
}

/// The terminal as a chat surface: prints each part (`chat`) or keeps them
/// for the caller to print (`ask`).
struct Terminal {
    print: bool,
    shown: std::sync::Mutex<Vec<String>>,
}

impl Terminal {
    fn printing() -> Self {
        Self {
            print: true,
            shown: Default::default(),
        }
    }

    fn recording() -> Self {
        Self {
            print: false,
            shown: Default::default(),
        }
    }

    /// What was shown, part after part.
    fn shown(&self) -> String {
        self.shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }
}

#[async_trait]
impl ChatSurface for Terminal {
    fn surface(&self) -> Surface {
        Surface::Console
    }

    fn part_chars(&self) -> usize {
        usize::MAX
    }

    async fn post(&self, _outcome: &TurnOutcome, parts: &[Part]) -> bool {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        for part in parts {
            if self.print {
                println!("\n{}", part.text());
            }
            shown.push(part.text().to_string());
        }
        true
    }
}

/// How many pending approvals `chatops approvals` lists at most.
pub const PENDING_SHOWN: usize = 200;

/// `chatops approvals`: the pending approvals as a table (arguments
/// redacted), soonest to expire first, and how to decide one.
pub fn render_pending(pending: &[Approval]) -> String {
    if pending.is_empty() {
        return "No pending approvals.".into();
    }
    let rows: Vec<Vec<String>> = pending
        .iter()
        .map(|a| {
            let args = a.arguments.to_string();
            let args = if args.chars().count() > 60 {
                format!("{}…", args.chars().take(59).collect::<String>())
            } else {
                args
            };
            vec![
                a.id.clone(),
                a.tool.clone(),
                a.requester.clone(),
                a.channel.clone(),
                args,
                a.expires_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            ]
        })
        .collect();
    let mut out = crate::presentation::table(
        &[
            "id",
            "tool",
            "requester",
            "channel",
            "arguments",
            "expires (UTC)",
        ],
        &rows,
    );
    out.push_str(&format!(
        "\n{} pending. Decide one with `chatops approve ID` or `chatops cancel ID`, \
         with --channel set to the approval's own channel (console:NAME → --channel NAME).",
        pending.len()
    ));
    out
}

/// `chatops approve ID` / `chatops cancel ID`: the console user decides a
/// pending approval through the one approval path (the registry's
/// `decide_pending`: RBAC in the approval's own channel, every outcome
/// audited; approved, the stored call runs for its requester). The text
/// shown and the exit code: 0 decided (approved and run, or cancelled);
/// 3 refused; 4 approved but the call failed; 5 a second approver is needed.
pub async fn decide(
    app: &App,
    identity: &ConsoleIdentity,
    id: &str,
    approve: bool,
) -> (String, u8) {
    use crate::tools::approval::{NotApproved, PendingDecision};
    use crate::tools::call::ToolOutcome;
    let click_id = format!("console:{}", uuid::Uuid::new_v4().simple());
    let click = crate::turn::Click {
        id: &click_id,
        approval_id: id,
        approve,
        clicker: &identity.caller,
    };
    let by = identity.caller.subject.to_string();
    let (text, code) = match app.pipeline.decide(&click).await {
        None => ("That decision was ignored; nothing was run.".to_string(), 3),
        Some(PendingDecision::Ran(result, approval)) => {
            let code = match result.outcome {
                ToolOutcome::Ok => 0,
                ToolOutcome::Error => 4,
                _ => 3,
            };
            let head = format!(
                "Approved {} ({}) as {by}; it ran for {}:",
                approval.tool, approval.id, approval.requester
            );
            (format!("{head}\n{}", result.display), code)
        }
        Some(PendingDecision::NotApproved(why, approval)) => {
            let (lang, tool) = approval
                .as_ref()
                .map_or((Language::En, ""), |a| (a.language, a.tool.as_str()));
            let mut text = why.explain(lang, tool, &by);
            if let (NotApproved::WrongChannel, Some(a)) = (&why, &approval) {
                text.push_str(&match a.channel.strip_prefix("console:") {
                    Some(name) => format!(
                        "\nIt was asked in {}: from the terminal, decide it with --channel {name}.",
                        a.channel
                    ),
                    None => format!(
                        "\nIt was asked in {}: decide it there, not from the terminal.",
                        a.channel
                    ),
                });
            }
            let code = match why {
                NotApproved::Cancelled => 0,
                NotApproved::AwaitingSecond => 5,
                _ => 3,
            };
            (text, code)
        }
    };
    let shown = app
        .egress
        .parts(Surface::Console, &Outgoing::text(text), usize::MAX)
        .iter()
        .map(|p| p.text().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    (shown, code)
}
