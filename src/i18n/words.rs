//! Words and short phrases inside formatted output (table headers, status
//! words, units, fixed notes), as [`Phrase`]s or small functions, for
//! `crate::presentation`, the tools and the background jobs.

use super::Phrase;
use crate::domain::Language;

pub const UNKNOWN: Phrase = Phrase::new("unknown", "알 수 없음");
pub const NONE: Phrase = Phrase::new("None.", "없음.");
pub const BACKTEST: Phrase = Phrase::new("Backtest", "백테스트");
pub const DURATION: Phrase = Phrase::new("duration", "소요 시간");
pub const ERROR: Phrase = Phrase::new("error", "오류");
pub const COMPLETED_WITHOUT_RESULT: Phrase = Phrase::new(
    "Completed, but the platform has no result for it.",
    "완료되었지만 결과가 없습니다.",
);
pub const SANDBOX_NOTE: Phrase = Phrase::new(
    "(sandbox platform: demo data, not production)",
    "(샌드박스 플랫폼: 데모 데이터이며 운영 데이터가 아닙니다)",
);
/// After a number in an LLM answer that no tool output of the turn grounds
/// (`agent::fact_check`). No digits: marking stays idempotent.
pub const UNVERIFIED: Phrase = Phrase::new("_(unverified)_", "_(미확인)_");
pub const APPROVE_BUTTON: Phrase = Phrase::new("Approve", "승인");
pub const CANCEL_BUTTON: Phrase = Phrase::new("Cancel", "취소");

/// Backtest status words, by the platform's status name.
pub fn backtest_status(lang: Language, status: &'static str) -> &'static str {
    let ko = match status {
        "pending" => "대기 중",
        "running" => "실행 중",
        "completed" => "완료",
        "failed" => "실패",
        "cancelled" => "취소됨",
        _ => status,
    };
    Phrase::new(status, ko).get(lang)
}

/// KPI column headers: total, annual, sharpe, sortino, max DD, vol, win
/// rate, trades.
pub fn kpi_headers(lang: Language) -> [&'static str; 8] {
    match lang {
        Language::En => [
            "total", "annual", "sharpe", "sortino", "max DD", "vol", "win rate", "trades",
        ],
        Language::Ko => [
            "총수익",
            "연환산",
            "샤프",
            "소르티노",
            "최대낙폭",
            "변동성",
            "승률",
            "거래수",
        ],
    }
}

/// "62 min ago" / "62분 전"; `unit` is minutes, hours or days.
pub fn ago(lang: Language, n: i64, unit: TimeUnit) -> String {
    let (en, ko) = match unit {
        TimeUnit::Minutes => ("min", "분"),
        TimeUnit::Hours => ("h", "시간"),
        TimeUnit::Days => ("d", "일"),
    };
    match lang {
        Language::En => format!("{n} {en} ago"),
        Language::Ko => format!("{n}{ko} 전"),
    }
}

/// The unit [`ago`] counts in.
#[derive(Debug, Clone, Copy)]
pub enum TimeUnit {
    Minutes,
    Hours,
    Days,
}

/// `2 h 13 min`, `2 min 5 s`, `45 s` / `2시간 13분`, `2분 5초`, `45초`.
pub fn duration(lang: Language, h: i64, m: i64, s: i64) -> String {
    match (lang, h, m) {
        (Language::En, 0, 0) => format!("{s} s"),
        (Language::En, 0, _) => format!("{m} min {s} s"),
        (Language::En, _, _) => format!("{h} h {m} min"),
        (Language::Ko, 0, 0) => format!("{s}초"),
        (Language::Ko, 0, _) => format!("{m}분 {s}초"),
        (Language::Ko, _, _) => format!("{h}시간 {m}분"),
    }
}

/// How a language is named to the model (system and summary prompts).
pub fn language_name(lang: Language) -> &'static str {
    Phrase::new("English", "Korean (한국어)").get(lang)
}

/// The system prompt's answer-language instruction.
pub fn answer_language(lang: Language) -> &'static str {
    Phrase::new(
        "English",
        "Korean (한국어), the language of the user's message",
    )
    .get(lang)
}
