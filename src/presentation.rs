//! Presentation for people, below both the tools and the background jobs:
//! compact tables, number and time formats, status words and backtest
//! details, in the caller's language. Tools put the raw numbers in their JSON
//! output; these only format them. Pure: no IO, no clock.

use chrono::{DateTime, Utc};

use crate::domain::Language;
use crate::i18n::words::{self, TimeUnit};
use crate::platform::{Backtest, BacktestResult, BacktestStatus, PlatformKind};

/// "97.3 %", or the unknown marker.
pub fn pct(value: Option<f64>, lang: Language) -> String {
    match value.map(|v| v * 100.0).filter(|p| p.is_finite()) {
        Some(p) => format!("{p:.1} %"),
        None => unknown(lang).to_string(),
    }
}

/// A signed percentage: "+18.2 %"; a value too large to be one (the
/// platform's data is not trusted) is a dash, never "inf %".
pub fn signed_pct(value: f64) -> String {
    let p = value * 100.0;
    if p.is_finite() {
        format!("{p:+.1} %")
    } else {
        "—".to_string()
    }
}

pub fn unknown(lang: Language) -> &'static str {
    words::UNKNOWN.get(lang)
}

/// Binary units: "700.0 MiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// "62 min ago" / "62분 전", coarsened to minutes, hours or days.
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>, lang: Language) -> String {
    let minutes = (now - at).num_minutes().max(0);
    let (n, unit) = if minutes < 120 {
        (minutes, TimeUnit::Minutes)
    } else if minutes < 48 * 60 {
        (minutes / 60, TimeUnit::Hours)
    } else {
        (minutes / (24 * 60), TimeUnit::Days)
    };
    words::ago(lang, n, unit)
}

/// "2026-11-22 07:00 UTC".
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Display width: East Asian wide characters count 2.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| if matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFF00..=0xFF60) { 2 } else { 1 })
        .sum()
}

/// An aligned plain-text table (adapters may wrap it in a code block).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(width(cell));
            }
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(width(c));
                if i + 1 == cells.len() {
                    c.to_string()
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(headers.to_vec())];
    out.push(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

/// Said under every answer built on sandbox data.
pub fn source_note(kind: PlatformKind, lang: Language) -> Option<&'static str> {
    match kind {
        PlatformKind::Live => None,
        PlatformKind::Sandbox => Some(words::SANDBOX_NOTE.get(lang)),
    }
}

/// `text` followed by the source note, if any.
pub fn with_source(text: String, kind: PlatformKind, lang: Language) -> String {
    match source_note(kind, lang) {
        Some(note) => format!("{text}\n{note}"),
        None => text,
    }
}

/// KPI column headers, matching [`kpi_cells`].
pub fn kpi_headers(lang: Language) -> [&'static str; 8] {
    words::kpi_headers(lang)
}

/// The platform's KPIs as table cells (ratios as percentages).
pub fn kpi_cells(p: &crate::platform::Performance) -> Vec<String> {
    vec![
        signed_pct(p.total_return),
        signed_pct(p.annualized_return),
        format!("{:.2}", p.sharpe_ratio),
        format!("{:.2}", p.sortino_ratio),
        signed_pct(p.max_drawdown),
        format!("{:.1} %", p.volatility * 100.0),
        format!("{:.0} %", p.win_rate * 100.0),
        p.total_trades.to_string(),
    ]
}

/// The status word in the caller's language.
pub fn status_label(status: &BacktestStatus, lang: Language) -> &'static str {
    words::backtest_status(lang, status.as_str())
}

/// A backtest's status line, duration, error and KPIs (or why there are
/// none), in the caller's language.
pub fn backtest_details(
    backtest: &Backtest,
    strategy: &str,
    result: Option<&BacktestResult>,
    lang: Language,
) -> String {
    let c = &backtest.config;
    let mut lines = vec![format!(
        "{} {}: {} · {} · {} · {} → {}",
        words::BACKTEST.get(lang),
        backtest.id,
        status_label(&backtest.status, lang),
        strategy,
        c.symbols.join(", "),
        c.start_date,
        c.end_date
    )];
    if let (Some(started), Some(done)) = (backtest.started_at, backtest.completed_at) {
        lines.push(format!(
            "{}: {} s",
            words::DURATION.get(lang),
            (done - started).num_seconds()
        ));
    }
    if let Some(error) = &backtest.error_message {
        lines.push(format!("{}: {error}", words::ERROR.get(lang)));
    }
    match (&backtest.status, result) {
        (BacktestStatus::Completed, Some(r)) => {
            lines.push(table(&kpi_headers(lang), &[kpi_cells(&r.performance)]));
        }
        (BacktestStatus::Completed, None) => {
            lines.push(words::COMPLETED_WITHOUT_RESULT.get(lang).into());
        }
        _ => {}
    }
    lines.join("\n")
}

/// `2 h 13 min`, `45 s` / `2시간 13분`, `45초`.
pub fn human_duration(d: chrono::Duration, lang: Language) -> String {
    let secs = d.num_seconds().max(0);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    words::duration(lang, h, m, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(pct(Some(0.9731), Language::En), "97.3 %");
        assert_eq!(pct(None, Language::Ko), "알 수 없음");
        assert_eq!(signed_pct(-0.153), "-15.3 %");
        assert_eq!(pct(Some(f64::MAX), Language::En), "unknown");
        assert_eq!(pct(Some(f64::NAN), Language::En), "unknown");
        assert_eq!(signed_pct(f64::MAX), "—");
        assert_eq!(signed_pct(f64::INFINITY), "—");
        assert_eq!(bytes(734_003_200), "700.0 MiB");
        assert_eq!(bytes(512), "512 B");
        let now = Utc::now();
        assert_eq!(
            ago(now - chrono::Duration::minutes(62), now, Language::En),
            "62 min ago"
        );
        assert_eq!(
            ago(now - chrono::Duration::hours(30), now, Language::Ko),
            "30시간 전"
        );
    }

    #[test]
    fn tables_align_wide_characters() {
        let t = table(
            &["cache", "hit rate"],
            &[
                vec!["덕디비".into(), "97.3 %".into()],
                vec!["mongodb".into(), "-".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "cache    hit rate");
        assert_eq!(lines[2], "덕디비   97.3 %");
        assert_eq!(lines[3], "mongodb  -");
    }

    #[test]
    fn durations_read_naturally() {
        let d = |s| chrono::Duration::seconds(s);
        assert_eq!(human_duration(d(45), Language::En), "45 s");
        assert_eq!(human_duration(d(125), Language::En), "2 min 5 s");
        assert_eq!(human_duration(d(7980), Language::En), "2 h 13 min");
        assert_eq!(human_duration(d(7980), Language::Ko), "2시간 13분");
        assert_eq!(human_duration(d(-5), Language::Ko), "0초");
    }
}
