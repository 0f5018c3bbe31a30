//! Operator commands over the bot's own records, for whoever runs the bot
//! (they can read its store anyway): `chatops usage` (LLM tokens and cost),
//! `chatops audit` (query, or export as JSON lines) and `chatops audit
//! verify` (walk the hash chain, name the first broken link, and check that
//! the chain still holds the head recorded outside the store).

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::Language;
use crate::store::audit_head::{AuditHead, HeadFinding, check_head};
use crate::store::backends::Store;
use crate::store::{AuditEvent, AuditQuery, AuditRecord, ChainReport};

/// Records read per page while verifying.
const VERIFY_PAGE: usize = 1000;

/// `chatops usage`: the same report as `/ops usage`.
pub async fn usage(store: &Store, days: u32, json: bool) -> anyhow::Result<String> {
    anyhow::ensure!((1..=31).contains(&days), "--days must be between 1 and 31");
    let to = Utc::now().date_naive();
    let from = to - chrono::Duration::days(i64::from(days) - 1);
    let rows = store.usage.usage(from, to).await?;
    let (display, data) = crate::tools::usage_report::report(&rows, days, Language::En);
    Ok(if json {
        serde_json::to_string_pretty(&data)?
    } else {
        display
    })
}

/// A time on the command line: RFC 3339, a day (`2026-11-23`, UTC midnight),
/// or an age (`90m`, `24h`, `7d`).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    let unit = text.chars().last().unwrap_or(' ');
    let number = text.strip_suffix(unit).unwrap_or(text);
    let n: i64 = number.parse().map_err(|_| {
        format!("{text:?}: expected RFC 3339, YYYY-MM-DD, or an age such as 24h or 7d")
    })?;
    let age = match unit {
        'm' => chrono::Duration::try_minutes(n),
        'h' => chrono::Duration::try_hours(n),
        'd' => chrono::Duration::try_days(n),
        _ => return Err(format!("{text:?}: an age ends in m, h or d")),
    };
    age.and_then(|age| now.checked_sub_signed(age))
        .ok_or_else(|| format!("{text:?}: an age too far from now"))
}

/// Records read per page while exporting.
const EXPORT_PAGE: usize = 1000;

/// `chatops audit` as a table without `--limit`: a screenful.
pub const TABLE_LIMIT: usize = 100;

/// The matching records, read page after page (`after_seq`) up to `cap`
/// (none: every one), and whether more matched past the cap.
async fn read_records(
    store: &Store,
    query: &AuditQuery,
    cap: Option<usize>,
) -> anyhow::Result<(Vec<AuditRecord>, bool)> {
    let mut records: Vec<AuditRecord> = Vec::new();
    let mut page = query.clone();
    loop {
        // One past the cap, to know whether it cut anything.
        let want = cap.map_or(EXPORT_PAGE, |c| {
            (c + 1).saturating_sub(records.len()).clamp(1, EXPORT_PAGE)
        });
        page.limit = want;
        let got = store.audit.query_audit(&page).await?;
        let n = got.len();
        page.after_seq = got.last().map(|r| r.seq).or(page.after_seq);
        records.extend(got);
        if let Some(c) = cap
            && records.len() > c
        {
            records.truncate(c);
            return Ok((records, true));
        }
        if n < want {
            return Ok((records, false));
        }
    }
}

/// `chatops audit`: matching records as a table (the first [`TABLE_LIMIT`]
/// unless `limit` says otherwise), or as JSON lines (every field, hashes
/// included; every matching record unless `limit` says otherwise). The
/// second value, when set, says plainly where the output stopped (for
/// stderr, so a JSON export stays JSON lines).
pub async fn query(
    store: &Store,
    query: &AuditQuery,
    json: bool,
    limit: Option<usize>,
) -> anyhow::Result<(String, Option<String>)> {
    let cap = if json {
        limit
    } else {
        Some(limit.unwrap_or(TABLE_LIMIT))
    };
    let (records, cut) = read_records(store, query, cap).await?;
    let stopped = cut.then(|| {
        let after = records.last().map_or(0, |r| r.seq);
        format!(
            "stopped at {} record(s) (--limit {}); more match after seq {after}: raise --limit{}",
            records.len(),
            records.len(),
            if json {
                ""
            } else {
                ", or --json for every record"
            }
        )
    });
    if json {
        let lines = records
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()?
            .join("\n");
        return Ok((lines, stopped));
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.seq.to_string(),
                r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.kind().to_string(),
                r.subject.clone(),
                r.channel.clone(),
                summary(r),
            ]
        })
        .collect();
    let mut out = crate::presentation::table(
        &["seq", "at (UTC)", "kind", "subject", "channel", "what"],
        &rows,
    );
    out.push_str(&format!("\n{} record(s)", records.len()));
    if let Some(stopped) = &stopped {
        out.push_str(&format!("; {stopped}"));
    }
    Ok((out, None))
}

/// One line about a record, for the table.
fn summary(r: &AuditRecord) -> String {
    match &r.event {
        AuditEvent::MessageIn { text, .. } => text.chars().take(60).collect(),
        AuditEvent::LlmCall {
            model,
            prompt_tokens,
            completion_tokens,
            cost_usd,
            ok,
            ..
        } => format!(
            "{model} {prompt_tokens}+{completion_tokens} tokens ${cost_usd:.4}{}",
            if *ok { "" } else { " failed" }
        ),
        AuditEvent::ToolAttempt { tool, decision, .. } => format!("{tool} {decision}"),
        AuditEvent::ToolOutcome { tool, outcome, .. } => format!("{tool} {outcome}"),
        AuditEvent::ApprovalDecided {
            tool,
            decision,
            approver,
            ..
        } => format!("{tool} {decision} by {approver}"),
        AuditEvent::ReplyOut { status, chars, .. } => format!("{status} ({chars} chars)"),
        AuditEvent::Delivery {
            purpose, outcome, ..
        } => format!("{purpose} {outcome}"),
        AuditEvent::JobDead {
            job_kind, attempts, ..
        } => format!("{job_kind} dead after {attempts} attempts"),
        AuditEvent::Refused { reason, quiet, .. } => {
            format!("{reason}{}", if *quiet { " (quiet)" } else { "" })
        }
        AuditEvent::Ignored { reason, workspace } => format!("{reason} ({workspace})"),
        AuditEvent::BudgetExceeded { scope, used, limit } => format!("{scope} {used}/{limit}"),
        AuditEvent::CapReached {
            cap, used, limit, ..
        } => format!("fleet {cap} {used}/{limit}"),
        AuditEvent::SecretInMessage { kinds } => kinds.join(", "),
        AuditEvent::ModelSelected { model, outcome } => format!("{model} {outcome}"),
    }
}

/// The head `chatops audit verify` checks the chain against.
#[derive(Debug, Clone, PartialEq)]
pub enum HeadFile {
    /// `--head FILE`: it must exist.
    Given(PathBuf),
    /// `store.audit_head` (or its default): used when it exists.
    Configured(PathBuf),
    /// No head file is configured (MongoDB without `store.audit_head`).
    None,
}

/// `chatops audit verify`: walk the chain, then check that it still holds
/// the head recorded outside the store, if there is one. The report and
/// whether the chain is intact; a head file that cannot be read is an
/// error.
pub async fn verify(store: &Store, head_file: &HeadFile) -> anyhow::Result<(String, bool)> {
    let (head, without) = match head_file {
        HeadFile::Given(path) => match AuditHead::read(path).map_err(anyhow::Error::msg)? {
            Some(head) => (Some((path, head)), String::new()),
            None => anyhow::bail!("audit head file {} does not exist", path.display()),
        },
        HeadFile::Configured(path) => match AuditHead::read(path).map_err(anyhow::Error::msg)? {
            Some(head) => (Some((path, head)), String::new()),
            None => (None, format!("no head file at {} yet", path.display())),
        },
        HeadFile::None => (None, "no head file configured (store.audit_head)".into()),
    };
    let report: ChainReport =
        crate::store::verify_audit_chain(store.audit.as_ref(), VERIFY_PAGE).await?;
    if let Some(broken) = &report.first_broken {
        return Ok((
            format!(
                "audit chain BROKEN at seq {} (record {}): {}",
                broken.seq, broken.id, broken.reason
            ),
            false,
        ));
    }
    let Some((path, head)) = head else {
        return Ok((
            format!(
                "audit chain intact: {} record(s) verified (checked without a head: {without}; \
                 a cut of the newest records would not show)",
                report.records
            ),
            true,
        ));
    };
    let finding = check_head(store.audit.as_ref(), &head, report.last_seq).await?;
    Ok(match finding {
        HeadFinding::Holds => (
            format!(
                "audit chain intact: {} record(s) verified, up to seq {}; it holds the head in {} (seq {})",
                report.records,
                report.last_seq,
                path.display(),
                head.seq
            ),
            true,
        ),
        HeadFinding::Truncated {
            head_seq,
            store_end,
        } => (
            format!(
                "audit chain TRUNCATED: the head file {} says seq {head_seq}, but the store ends \
                 at seq {store_end} (the newest {} record(s) are gone)",
                path.display(),
                head_seq.saturating_sub(store_end)
            ),
            false,
        ),
        HeadFinding::Differs {
            head_seq,
            store_end,
        } => (
            format!(
                "audit chain BROKEN at seq {head_seq}: its hash is not the one in the head file {} \
                 (the chain was rewritten up to there; the store ends at seq {store_end})",
                path.display()
            ),
            false,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_days_or_ages() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| parse_time(s, now).map(|t| t.to_rfc3339());
        assert_eq!(
            at("2026-11-20T01:02:03+09:00").unwrap(),
            "2026-11-19T16:02:03+00:00"
        );
        assert_eq!(at("2026-11-20").unwrap(), "2026-11-20T00:00:00+00:00");
        assert_eq!(at("24h").unwrap(), "2026-11-22T12:00:00+00:00");
        assert_eq!(at("7d").unwrap(), "2026-11-16T12:00:00+00:00");
        assert!(at("yesterday").unwrap_err().contains("RFC 3339"));
        assert!(at("5w").is_err());
    }

    /// Issue 17: `chatops audit --since "1한"` panicked (a split inside a
    /// character); ages too far back for a date panicked or wrapped.
    #[test]
    fn any_text_is_a_time_or_says_why_not() {
        let now = Utc::now();
        assert!(
            parse_time("1한", now)
                .unwrap_err()
                .contains("ends in m, h or d")
        );
        assert!(parse_time("한", now).is_err());
        assert!(parse_time("", now).is_err());
        assert!(parse_time("9223372036854775807d", now).is_err());
        assert!(parse_time("-9223372036854775807m", now).is_err());
        assert!(parse_time("106751991167d", now).is_err());
    }

    proptest::proptest! {
        #![proptest_config(crate::text::nasty::config())]

        /// CLI time parsing (`--since`, `--until`) never panics on any text,
        /// and an age it accepts lies before now.
        #[test]
        fn prop_cli_times_parse_or_say_why(
            text in crate::text::nasty::text(),
            n in proptest::num::i64::ANY,
            unit in proptest::sample::select(vec!["m", "h", "d", "s", "한", ""]),
        ) {
            let now = Utc::now();
            let _ = parse_time(&text, now);
            if let Ok(t) = parse_time(&format!("{n}{unit}"), now) {
                proptest::prop_assert!(n < 0 || t <= now);
            }
        }
    }
}
