//! Role-based access control: who may run which tool in which channel.
//!
//! Rules (deny by default):
//! 1. A caller's role is the highest role bound to their subject or to any of
//!    their platform groups; with no binding, `console_role` for `console:*`
//!    subjects when set, otherwise `default_role`. The role `none` grants
//!    nothing: the agent tells such a person how to get access and runs
//!    nothing.
//! 2. A channel policy can only narrow: cap the role (`max_role`), forbid
//!    mutating tools, allow-list or deny-list tools.
//! 3. A tool runs when the (capped) role is at least the tool's required role
//!    (`rbac.tools` overrides the tool's own default). A tool the registry
//!    does not know is denied.
//!
//! Pure: no IO. The registry calls [`Rbac::decide`] both when it offers tools to
//! the model and again when it executes one.

use crate::config::{ChannelPolicy, RbacSettings};
use crate::domain::{Caller, Language, Role};
use crate::i18n;

/// What RBAC needs to know about a tool.
#[derive(Debug, Clone, Copy)]
pub struct ToolPolicy<'a> {
    pub name: &'a str,
    /// The tool's own default minimum role.
    pub required_role: Role,
    pub mutating: bool,
}

/// The outcome of an authorization check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow { role: Role },
    Deny(DenyReason),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// Why a call was denied; rendered for people by `i18n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// The caller's role is below what the tool needs (in this channel).
    NeedsRole {
        required: Role,
        have: Role,
        channel: String,
    },
    /// The channel forbids mutating tools.
    ChannelForbidsMutating { channel: String },
    /// The channel does not allow this tool.
    ChannelForbidsTool { channel: String },
    /// No such tool.
    UnknownTool,
}

impl DenyReason {
    /// Stable short code for audit records.
    pub fn code(&self) -> &'static str {
        match self {
            DenyReason::NeedsRole { .. } => "needs_role",
            DenyReason::ChannelForbidsMutating { .. } => "channel_forbids_mutating",
            DenyReason::ChannelForbidsTool { .. } => "channel_forbids_tool",
            DenyReason::UnknownTool => "unknown_tool",
        }
    }
}

impl DenyReason {
    /// "You need the operator role to trigger backtests in #ops".
    pub fn explain(&self, lang: Language, tool: &str) -> String {
        let action = i18n::tool_action(lang, tool);
        match self {
            DenyReason::NeedsRole {
                required,
                have,
                channel,
            } => i18n::refusals::needs_role(
                lang,
                &required.to_string(),
                &action,
                channel,
                &have.to_string(),
            ),
            DenyReason::ChannelForbidsMutating { channel } => {
                i18n::refusals::channel_forbids_mutating(lang, channel)
            }
            DenyReason::ChannelForbidsTool { channel } => {
                i18n::refusals::channel_forbids_tool(lang, &action, channel)
            }
            DenyReason::UnknownTool => i18n::refusals::unknown_tool(lang, tool),
        }
    }
}

/// Accepted forms of a binding key.
pub fn check_binding_subject(subject: &str) -> Result<(), String> {
    const PREFIXES: [&str; 5] = [
        "slack:",
        "discord:",
        "console:",
        "slack-group:",
        "discord-role:",
    ];
    if PREFIXES
        .iter()
        .any(|p| subject.starts_with(p) && subject.len() > p.len())
    {
        Ok(())
    } else {
        Err(format!(
            "expected a subject starting with one of {}",
            PREFIXES.join(", ")
        ))
    }
}

/// The checks of `[rbac]` the types cannot express: every binding names a
/// subject or group the bot knows.
pub fn validate_settings(settings: &RbacSettings) -> Result<(), crate::config::ConfigError> {
    for subject in settings.bindings.keys() {
        check_binding_subject(subject)
            .map_err(|e| crate::config::invalid(&format!("rbac.bindings.\"{subject}\""), e))?;
    }
    for (tool, role) in &settings.tools {
        if *role == Role::NoAccess {
            return Err(crate::config::invalid(
                &format!("rbac.tools.{tool}"),
                "`none` grants nothing, so no tool can require it; use viewer, operator or admin",
            ));
        }
    }
    Ok(())
}

/// The RBAC rules of one configuration.
#[derive(Debug, Clone)]
pub struct Rbac {
    settings: RbacSettings,
}

impl Rbac {
    pub fn new(settings: RbacSettings) -> Self {
        Self { settings }
    }

    /// The caller's role before any channel narrowing.
    pub fn role_of(&self, caller: &Caller) -> Role {
        let bound = std::iter::once(caller.subject.as_str())
            .chain(caller.groups.iter().map(String::as_str))
            .filter_map(|key| self.settings.bindings.get(key).copied())
            .max();
        bound.unwrap_or_else(
            || match (caller.subject.surface(), self.settings.console_role) {
                (Some(crate::domain::Surface::Console), Some(role)) => role,
                _ => self.settings.default_role,
            },
        )
    }

    fn channel_policy(&self, caller: &Caller) -> Option<&ChannelPolicy> {
        self.settings.channels.get(caller.channel.as_str())
    }

    /// The channel's display name for explanations.
    pub fn channel_label(&self, caller: &Caller) -> String {
        self.channel_policy(caller)
            .and_then(|p| p.name.clone())
            .unwrap_or_else(|| format!("#{}", caller.channel.local()))
    }

    /// The minimum role for a tool, after `rbac.tools` overrides.
    pub fn required_role(&self, tool: &ToolPolicy<'_>) -> Role {
        self.settings
            .tools
            .get(tool.name)
            .copied()
            .unwrap_or(tool.required_role)
    }

    /// The caller's role in their channel, after the channel's cap.
    pub fn effective_role(&self, caller: &Caller) -> Role {
        let role = self.role_of(caller);
        match self.channel_policy(caller).and_then(|p| p.max_role) {
            Some(cap) => role.min(cap),
            None => role,
        }
    }

    /// May `caller` run `tool` here? `None` for the tool means unknown: deny.
    pub fn decide(&self, caller: &Caller, tool: Option<&ToolPolicy<'_>>) -> Decision {
        let Some(tool) = tool else {
            return Decision::Deny(DenyReason::UnknownTool);
        };
        let channel = self.channel_label(caller);
        if let Some(policy) = self.channel_policy(caller) {
            if policy.deny_tools.iter().any(|t| t == tool.name)
                || policy
                    .allow_tools
                    .as_ref()
                    .is_some_and(|allowed| !allowed.iter().any(|t| t == tool.name))
            {
                return Decision::Deny(DenyReason::ChannelForbidsTool { channel });
            }
            if tool.mutating && policy.allow_mutating == Some(false) {
                return Decision::Deny(DenyReason::ChannelForbidsMutating { channel });
            }
        }
        let required = self.required_role(tool);
        let have = self.effective_role(caller);
        if have >= required {
            Decision::Allow { role: have }
        } else {
            Decision::Deny(DenyReason::NeedsRole {
                required,
                have,
                channel,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChannelId, Subject, Surface};

    fn settings() -> RbacSettings {
        let toml = r##"
            default_role = "viewer"
            [bindings]
            "slack:T1/UADMIN" = "admin"
            "slack:T1/UOPS" = "operator"
            "slack-group:S0OPS" = "operator"
            "discord-role:42" = "operator"
            "console:root" = "admin"
            [channels."slack:CGENERAL"]
            name = "#general"
            allow_mutating = false
            [channels."slack:CREADONLY"]
            max_role = "viewer"
            [channels."slack:CCACHE"]
            allow_tools = ["read_tool"]
            [channels."slack:CNOREAD"]
            deny_tools = ["read_tool"]
            [tools]
            admin_tool = "admin"
        "##;
        toml::from_str(toml).unwrap()
    }

    fn caller(subject: Subject, groups: &[&str], channel: &str) -> Caller {
        let (platform, id) = channel.split_once(':').unwrap();
        let platform = match platform {
            "slack" => Surface::Slack,
            "discord" => Surface::Discord,
            _ => Surface::Console,
        };
        Caller {
            subject,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            channel: ChannelId::new(platform, id).unwrap(),
        }
    }

    const READ: ToolPolicy<'static> = ToolPolicy {
        name: "read_tool",
        required_role: Role::Viewer,
        mutating: false,
    };
    const MUTATE: ToolPolicy<'static> = ToolPolicy {
        name: "mutate_tool",
        required_role: Role::Operator,
        mutating: true,
    };
    const ADMIN: ToolPolicy<'static> = ToolPolicy {
        name: "admin_tool",
        required_role: Role::Viewer, // raised to admin by config
        mutating: false,
    };

    /// Subjects × channels × tools: every expected allow and deny.
    #[test]
    fn decision_table() {
        let rbac = Rbac::new(settings());
        let slack = |u: &str| Subject::slack("T1", u);
        let cases: Vec<(Caller, ToolPolicy, Option<&str>)> = vec![
            // (caller, tool, None = allow | Some(deny code))
            (caller(slack("UNKNOWN"), &[], "slack:COPS"), READ, None),
            (
                caller(slack("UNKNOWN"), &[], "slack:COPS"),
                MUTATE,
                Some("needs_role"),
            ),
            (
                caller(slack("UNKNOWN"), &[], "slack:COPS"),
                ADMIN,
                Some("needs_role"),
            ),
            (caller(slack("UOPS"), &[], "slack:COPS"), MUTATE, None),
            (
                caller(slack("UOPS"), &[], "slack:COPS"),
                ADMIN,
                Some("needs_role"),
            ),
            (caller(slack("UADMIN"), &[], "slack:COPS"), ADMIN, None),
            (caller(slack("UADMIN"), &[], "slack:COPS"), MUTATE, None),
            // group binding lifts an unbound user
            (
                caller(slack("UX"), &["slack-group:S0OPS"], "slack:COPS"),
                MUTATE,
                None,
            ),
            (
                caller(
                    Subject::discord("G", "U"),
                    &["discord-role:42"],
                    "discord:C1",
                ),
                MUTATE,
                None,
            ),
            (
                caller(
                    Subject::discord("G", "U"),
                    &["discord-role:7"],
                    "discord:C1",
                ),
                MUTATE,
                Some("needs_role"),
            ),
            // channel narrows: no mutating in #general, even for admins
            (
                caller(slack("UADMIN"), &[], "slack:CGENERAL"),
                MUTATE,
                Some("channel_forbids_mutating"),
            ),
            (caller(slack("UADMIN"), &[], "slack:CGENERAL"), READ, None),
            // channel caps the role
            (
                caller(slack("UADMIN"), &[], "slack:CREADONLY"),
                MUTATE,
                Some("needs_role"),
            ),
            (caller(slack("UADMIN"), &[], "slack:CREADONLY"), READ, None),
            // allow-list and deny-list
            (caller(slack("UADMIN"), &[], "slack:CCACHE"), READ, None),
            (
                caller(slack("UADMIN"), &[], "slack:CCACHE"),
                ADMIN,
                Some("channel_forbids_tool"),
            ),
            (
                caller(slack("UADMIN"), &[], "slack:CNOREAD"),
                READ,
                Some("channel_forbids_tool"),
            ),
            // console: unbound users get the default role (no console_role here)
            (
                caller(Subject::console("bob").unwrap(), &[], "console:ops"),
                MUTATE,
                Some("needs_role"),
            ),
            (
                caller(Subject::console("root").unwrap(), &[], "console:ops"),
                ADMIN,
                None,
            ),
        ];
        let mut failures = Vec::new();
        for (i, (caller, tool, expected)) in cases.iter().enumerate() {
            let got = match rbac.decide(caller, Some(tool)) {
                Decision::Allow { .. } => None,
                Decision::Deny(reason) => Some(reason.code()),
            };
            if got != *expected {
                failures.push(format!(
                    "case {i}: {} in {} running {}: expected {expected:?}, got {got:?}",
                    caller.subject, caller.channel, tool.name
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn unknown_tools_are_denied_and_console_role_applies_to_console_only() {
        let mut s = settings();
        s.console_role = Some(Role::Operator);
        let rbac = Rbac::new(s);
        let console = caller(Subject::console("newcomer").unwrap(), &[], "console:local");
        assert_eq!(
            rbac.decide(&console, None),
            Decision::Deny(DenyReason::UnknownTool)
        );
        assert!(rbac.decide(&console, Some(&MUTATE)).is_allowed());
        let slack_user = caller(Subject::slack("T1", "UNEW"), &[], "slack:COPS");
        assert!(!rbac.decide(&slack_user, Some(&MUTATE)).is_allowed());
    }

    #[test]
    fn denial_names_role_and_channel() {
        let rbac = Rbac::new(settings());
        let c = caller(Subject::slack("T1", "UNKNOWN"), &[], "slack:COPS");
        assert_eq!(
            rbac.decide(&c, Some(&MUTATE)),
            Decision::Deny(DenyReason::NeedsRole {
                required: Role::Operator,
                have: Role::Viewer,
                channel: "#COPS".into()
            })
        );
    }

    #[test]
    fn denial_explains_role_action_and_channel() {
        let reason = DenyReason::NeedsRole {
            required: Role::Operator,
            have: Role::Viewer,
            channel: "#ops".into(),
        };
        assert_eq!(
            reason.explain(Language::En, "trigger_backtest"),
            "You need the operator role to trigger backtests in #ops (you have viewer)."
        );
        assert!(
            reason
                .explain(Language::Ko, "trigger_backtest")
                .contains("백테스트 실행")
        );
    }
}
