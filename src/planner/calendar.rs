//! Calendar periods written in a message, each as the span of days it
//! covers: days ("2024-03-01", "March 1 2024", "2024년 3월 1일"), months
//! ("Mar 2024", "2024년 4월"), quarters ("Q3 2023", "2023년 3분기") and
//! halves ("H1 2024", "2024년 상반기", "first half of 2024"). Pure: no clock.

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;

use super::keywords::re;

/// How much of the calendar a piece names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Day,
    Longer,
}

/// One period piece: where it is written and the days it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub start: usize,
    pub end: usize,
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub grain: Grain,
}

const MONTHS: &str = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";

/// Dates: 2024-01-31, 2024/1/31, 2024.01.31, 2024년 1월 31일.
static NUMERIC_DAY_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"([0-9]{4})\s*(?:[-/.]|년)\s*([0-9]{1,2})\s*(?:[-/.]|월)\s*([0-9]{1,2})(?:\s*일)?")
});
/// "March 1 2024", "Mar 1st, 2024".
static NAMED_DAY_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)(?-u:\b){MONTHS}\.?\s+([0-9]{{1,2}})(?:st|nd|rd|th)?,?\s+([0-9]{{4}})(?-u:\b)"
    ))
});
/// "Mar 2024", "January 2024".
static NAMED_MONTH_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)(?-u:\b){MONTHS}\.?,?\s+([0-9]{{4}})(?-u:\b)"
    ))
});
/// "2024년 4월", "2024-04" is not read (too close to a range of years).
static KOREAN_MONTH_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"([0-9]{4})\s*년\s*([0-9]{1,2})\s*월"));
/// "Q3 2023", "2023 Q3", "Q3'23" is not read; "2023년 3분기".
static QUARTER_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)q([1-4])\s*,?\s*([0-9]{4})(?-u:\b)|(?-u:\b)([0-9]{4})\s*q([1-4])(?-u:\b)|([0-9]{4})\s*년\s*([1-4])\s*분기",
    )
});
/// "H1 2024", "2024 H2", "first half of 2024", "2024년 상반기".
static HALF_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)h([12])\s*,?\s*([0-9]{4})(?-u:\b)|(?-u:\b)([0-9]{4})\s*h([12])(?-u:\b)|(?-u:\b)(first|second)\s+half\s+(?:of\s+)?([0-9]{4})(?-u:\b)|([0-9]{4})\s*년\s*(상|하)\s*반기",
    )
});

fn month_number(name: &str) -> Option<u32> {
    let key: String = name.to_ascii_lowercase().chars().take(3).collect();
    let months = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    months.iter().position(|m| *m == key).map(|i| i as u32 + 1)
}

/// The first and last day of month `month` of `year`.
fn month_span(year: i32, month: u32) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some((first, next.pred_opt()?))
}

/// Months `from..=to` of `year` as one span.
fn months_span(year: i32, from: u32, to: u32) -> Option<(NaiveDate, NaiveDate)> {
    Some((month_span(year, from)?.0, month_span(year, to)?.1))
}

fn overlaps(pieces: &[Piece], start: usize, end: usize) -> bool {
    pieces.iter().any(|p| p.start < end && start < p.end)
}

/// Every period piece of `m`, in order; a piece inside a longer one is not
/// read again ("2024년 3월 1일" is a day, not also a month).
pub fn pieces(m: &str) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    let push = |out: &mut Vec<Piece>, start, end, span: Option<(NaiveDate, NaiveDate)>, grain| {
        if let Some((first, last)) = span
            && !overlaps(out, start, end)
        {
            out.push(Piece {
                start,
                end,
                first,
                last,
                grain,
            });
        }
    };
    let num =
        |c: &regex::Captures<'_>, i: usize| c.get(i).and_then(|x| x.as_str().parse::<u32>().ok());
    let year =
        |c: &regex::Captures<'_>, i: usize| c.get(i).and_then(|x| x.as_str().parse::<i32>().ok());
    for c in NUMERIC_DAY_RE.captures_iter(m) {
        let whole = c.get(0).expect("whole match");
        let day = (|| NaiveDate::from_ymd_opt(year(&c, 1)?, num(&c, 2)?, num(&c, 3)?))();
        push(
            &mut out,
            whole.start(),
            whole.end(),
            day.map(|d| (d, d)),
            Grain::Day,
        );
    }
    for c in NAMED_DAY_RE.captures_iter(m) {
        let whole = c.get(0).expect("whole match");
        let day = (|| NaiveDate::from_ymd_opt(year(&c, 3)?, month_number(&c[1])?, num(&c, 2)?))();
        push(
            &mut out,
            whole.start(),
            whole.end(),
            day.map(|d| (d, d)),
            Grain::Day,
        );
    }
    for c in QUARTER_RE.captures_iter(m) {
        let whole = c.get(0).expect("whole match");
        let (q, y) = match (num(&c, 1), num(&c, 4), num(&c, 6)) {
            (Some(q), _, _) => (q, year(&c, 2)),
            (_, Some(q), _) => (q, year(&c, 3)),
            (_, _, Some(q)) => (q, year(&c, 5)),
            _ => continue,
        };
        let span = y.and_then(|y| months_span(y, q * 3 - 2, q * 3));
        push(&mut out, whole.start(), whole.end(), span, Grain::Longer);
    }
    for c in HALF_RE.captures_iter(m) {
        let whole = c.get(0).expect("whole match");
        let (half, y) = if let Some(h) = num(&c, 1) {
            (h, year(&c, 2))
        } else if let Some(h) = num(&c, 4) {
            (h, year(&c, 3))
        } else if let Some(which) = c.get(5) {
            let h = if which.as_str().eq_ignore_ascii_case("first") {
                1
            } else {
                2
            };
            (h, year(&c, 6))
        } else if let Some(which) = c.get(8) {
            (if which.as_str() == "상" { 1 } else { 2 }, year(&c, 7))
        } else {
            continue;
        };
        let span = y.and_then(|y| months_span(y, half * 6 - 5, half * 6));
        push(&mut out, whole.start(), whole.end(), span, Grain::Longer);
    }
    for c in KOREAN_MONTH_RE.captures_iter(m) {
        let whole = c.get(0).expect("whole match");
        let span = (|| month_span(year(&c, 1)?, num(&c, 2)?))();
        push(&mut out, whole.start(), whole.end(), span, Grain::Longer);
    }
    for c in NAMED_MONTH_RE.captures_iter(m) {
        let whole = c.get(0).expect("whole match");
        let span = (|| month_span(year(&c, 2)?, month_number(&c[1])?))();
        push(&mut out, whole.start(), whole.end(), span, Grain::Longer);
    }
    out.sort_by_key(|p| p.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::nasty;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn spans(m: &str) -> Vec<(NaiveDate, NaiveDate)> {
        pieces(m).iter().map(|p| (p.first, p.last)).collect()
    }

    #[test]
    fn quarters_halves_and_months() {
        assert_eq!(
            spans("for Q3 2023"),
            vec![(d("2023-07-01"), d("2023-09-30"))]
        );
        assert_eq!(
            spans("2023년 3분기"),
            vec![(d("2023-07-01"), d("2023-09-30"))]
        );
        assert_eq!(spans("H1 2024"), vec![(d("2024-01-01"), d("2024-06-30"))]);
        assert_eq!(
            spans("2022년 하반기"),
            vec![(d("2022-07-01"), d("2022-12-31"))]
        );
        assert_eq!(
            spans("second half of 2023"),
            vec![(d("2023-07-01"), d("2023-12-31"))]
        );
        assert_eq!(
            spans("2023년 3월부터 2024년 2월까지"),
            vec![
                (d("2023-03-01"), d("2023-03-31")),
                (d("2024-02-01"), d("2024-02-29"))
            ]
        );
        assert_eq!(
            spans("Jan 2024 through Mar 2024"),
            vec![
                (d("2024-01-01"), d("2024-01-31")),
                (d("2024-03-01"), d("2024-03-31"))
            ]
        );
        assert_eq!(
            spans("from March 1 2024 to May 31 2024"),
            vec![
                (d("2024-03-01"), d("2024-03-01")),
                (d("2024-05-31"), d("2024-05-31"))
            ]
        );
        assert_eq!(
            spans("2024년 3월 1일"),
            vec![(d("2024-03-01"), d("2024-03-01"))]
        );
        assert!(spans("Q5 2023, 2024년 13월, Feb 30 2024").is_empty());
    }

    proptest! {
        #![proptest_config(nasty::config())]

        /// Any text: no panic; pieces in order, on char boundaries, first ≤ last.
        #[test]
        fn prop_pieces_of_any_text(m in nasty::text()) {
            let found = pieces(&m);
            for p in &found {
                prop_assert!(p.first <= p.last);
                prop_assert!(m.is_char_boundary(p.start) && m.is_char_boundary(p.end));
            }
            prop_assert!(found.windows(2).all(|w| w[0].start <= w[1].start));
        }
    }
}
