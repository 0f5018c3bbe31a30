//! When scheduled digests are due: cron expressions (5-field crontab lines or cron's 6-field form
//! with seconds) in a time zone, and the missed-run rule.
//!
//! Accepted expressions:
//! - 5-field crontab lines `min hour day-of-month month day-of-week`. Seconds are taken as 0, and
//!   numeric days of the week use crontab numbering (0 and 7 = Sunday, 1 = Monday … 6 = Saturday);
//!   they are rewritten as day names, so `0 9 * * 1-5` is read as `0 0 9 * * MON-FRI`.
//!   Crontab runs a line whose day-of-month and day-of-week are both restricted when *either*
//!   matches, while the cron crate requires *both*; such lines are rejected rather than silently
//!   changing meaning.
//! - 6-field `sec min hour day-of-month month day-of-week` and 7-field (with a trailing year) lines,
//!   passed to the cron crate as written: its numbering applies (1 = Sunday … 7 = Saturday) and a
//!   day must match both day fields.
//! - `@hourly`, `@daily`, `@midnight`, `@weekly` (Sunday 00:00), `@monthly`, `@yearly`, `@annually`.
//!
//! Times are matched on the wall clock of the schedule's time zone. Local times skipped when DST
//! starts never fire; a local time repeated when DST ends fires once, at its first occurrence.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, SubsecRound, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

const FORMS: &str = "5-field crontab `min hour day-of-month month day-of-week`, \
    6-field `sec min hour day-of-month month day-of-week`, 7-field `sec min hour day-of-month \
    month day-of-week year`, or @hourly, @daily, @weekly, @monthly, @yearly";

/// Counting skipped ticks stops here, so a long outage of a fast schedule stays cheap.
pub const MISSED_COUNT_CAP: u32 = 1000;

/// cron day names by crontab day number (0 = Sunday … 6 = Saturday).
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Why a schedule could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not 5, 6 or 7 fields (and not a macro).
    #[error("`{expression}` has {fields} fields; accepted forms: {}", FORMS)]
    WrongFieldCount { expression: String, fields: usize },
    /// Starts with `@` but is not one of the accepted macros.
    #[error("`{expression}` is not a known macro; accepted forms: {}", FORMS)]
    UnknownMacro { expression: String },
    /// A numeric crontab day-of-week element that is malformed or outside 0-7.
    #[error(
        "`{expression}`: day-of-week `{element}` is not valid (use 0-7 where 0 and 7 are Sunday, \
         ranges like 1-5, lists like 1,3,5, steps like */2, or names like MON-FRI)"
    )]
    InvalidDayOfWeek { expression: String, element: String },
    /// A crontab line restricting both day fields, whose OR meaning cron cannot express.
    #[error(
        "`{expression}` restricts both day-of-month and day-of-week: crontab runs it when either \
         matches, this scheduler would need both; split it into two schedules, or use the \
         6-field form `sec min hour day-of-month month day-of-week` to require both"
    )]
    DayOfMonthAndDayOfWeek { expression: String },
    /// The cron crate rejected the normalized expression; `reason` is its message.
    #[error("`{expression}` (read as `{normalized}`) is not a valid schedule: {reason}")]
    Invalid {
        expression: String,
        normalized: String,
        reason: String,
    },
    /// Not an IANA time zone name known to chrono-tz.
    #[error(
        "unknown time zone `{name}`; use an IANA name such as Asia/Seoul, UTC or America/New_York"
    )]
    UnknownTimezone { name: String },
}

/// A cron schedule evaluated on the wall clock of one time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    normalized: String,
    timezone: Tz,
    cron: cron::Schedule,
}

/// What to do for a schedule now, given the cursor (the tick of the last digest posted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// First time this schedule is seen: remember `tick` (the latest tick at or before now, or
    /// now itself when the schedule has no earlier tick) and post nothing.
    Start { tick: DateTime<Utc> },
    /// Nothing new since the cursor.
    NotYet,
    /// Post one digest for `tick` (the latest due tick), covering events since `since` (the
    /// previous cursor). `late` when now is more than `grace` after `tick` (downtime); `missed` =
    /// how many ticks after the cursor were skipped besides this one (0 normally, at most
    /// [`MISSED_COUNT_CAP`]).
    Post {
        tick: DateTime<Utc>,
        since: DateTime<Utc>,
        late: bool,
        missed: u32,
    },
}

impl Schedule {
    /// Reads `expr` (see the module docs for accepted forms) in the IANA time zone `timezone`.
    pub fn parse(expr: &str, timezone: &str) -> Result<Self, ScheduleError> {
        let timezone =
            timezone
                .trim()
                .parse::<Tz>()
                .map_err(|_| ScheduleError::UnknownTimezone {
                    name: timezone.to_string(),
                })?;
        let normalized = normalize(expr)?;
        let cron =
            normalized
                .parse::<cron::Schedule>()
                .map_err(|error| ScheduleError::Invalid {
                    expression: expr.to_string(),
                    normalized: normalized.clone(),
                    reason: error.to_string(),
                })?;
        Ok(Schedule {
            expression: expr.to_string(),
            normalized,
            timezone,
            cron,
        })
    }
}

impl Schedule {
    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The 6/7-field form the cron crate read (crontab days and macros rewritten).
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The time zone whose wall clock the schedule follows.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The most recent scheduled instant at or before `now`. A wall-clock time that a DST
    /// fall-back repeats counts once, at its first occurrence (as `next_tick_after` sees it).
    pub fn last_tick_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // cron searches backwards strictly before a whole-second start.
        let start = now.trunc_subsecs(0) + Duration::seconds(1);
        let start = start.with_timezone(&self.timezone);
        let earlier = self.cron.after(&start).rev().take(3);
        earlier
            .map(|tick| self.first_occurrence(tick))
            .find(|tick| *tick <= now)
    }

    /// The first scheduled instant strictly after `t`.
    pub fn next_tick_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let later = self.cron.after(&t.with_timezone(&self.timezone)).take(3);
        later
            .filter(|tick| self.first_occurrence(*tick) == *tick)
            .map(|tick| tick.with_timezone(&Utc))
            .find(|tick| *tick > t)
    }

    /// The missed-run rule: at most one digest, for the latest due tick, however long the bot
    /// was down. A cursor later than `now` (clock skew) yields [`Due::NotYet`].
    pub fn due(&self, cursor: Option<DateTime<Utc>>, now: DateTime<Utc>, grace: Duration) -> Due {
        let latest = self.last_tick_at_or_before(now);
        let Some(cursor) = cursor else {
            return Due::Start {
                tick: latest.unwrap_or(now),
            };
        };
        // `tick > cursor` with `tick <= now` also rules out a cursor in the future.
        let Some(tick) = latest.filter(|tick| *tick > cursor) else {
            return Due::NotYet;
        };
        let missed = self
            .cron
            .after(&cursor.with_timezone(&self.timezone))
            .filter(|t| self.first_occurrence(*t) == *t)
            .map(|t| t.with_timezone(&Utc))
            .skip_while(|t| *t <= cursor)
            .take_while(|t| *t < tick)
            .take(MISSED_COUNT_CAP as usize)
            .count() as u32;
        Due::Post {
            tick,
            since: cursor,
            late: now - tick > grace,
            missed,
        }
    }

    /// The first instant showing `tick`'s wall-clock time (earlier than `tick` when the end of
    /// DST repeats that time and `tick` is the repeat).
    fn first_occurrence(&self, tick: DateTime<Tz>) -> DateTime<Utc> {
        let first = self
            .timezone
            .from_local_datetime(&tick.naive_local())
            .earliest();
        first.unwrap_or(tick).with_timezone(&Utc)
    }
}

/// `tick` on the wall clock of `tz`, e.g. "Mon 2026-11-23 09:00 KST" (seconds shown when not 0).
pub fn describe_tick(tick: DateTime<Utc>, tz: Tz) -> String {
    let format = if tick.second() == 0 {
        "%a %Y-%m-%d %H:%M %Z"
    } else {
        "%a %Y-%m-%d %H:%M:%S %Z"
    };
    tick.with_timezone(&tz).format(format).to_string()
}

/// Rewrites macros and 5-field crontab lines into the cron crate's form.
fn normalize(expr: &str) -> Result<String, ScheduleError> {
    let trimmed = expr.trim();
    if trimmed.starts_with('@') {
        let normalized = match trimmed.to_ascii_lowercase().as_str() {
            "@hourly" => "0 0 * * * *",
            "@daily" | "@midnight" => "0 0 0 * * *",
            "@weekly" => "0 0 0 * * SUN",
            "@monthly" => "0 0 0 1 * *",
            "@yearly" | "@annually" => "0 0 0 1 1 *",
            _ => {
                return Err(ScheduleError::UnknownMacro {
                    expression: expr.to_string(),
                });
            }
        };
        return Ok(normalized.to_string());
    }
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    match fields.as_slice() {
        [minute, hour, day_of_month, month, day_of_week] => {
            let unrestricted = |field: &str| field.starts_with('*') || field == "?";
            if !unrestricted(day_of_month) && !unrestricted(day_of_week) {
                return Err(ScheduleError::DayOfMonthAndDayOfWeek {
                    expression: expr.to_string(),
                });
            }
            let day_of_week = translate_day_of_week(expr, day_of_week)?;
            Ok(format!(
                "0 {minute} {hour} {day_of_month} {month} {day_of_week}"
            ))
        }
        [_, _, _, _, _, _] | [_, _, _, _, _, _, _] => Ok(fields.join(" ")),
        _ => Err(ScheduleError::WrongFieldCount {
            expression: expr.to_string(),
            fields: fields.len(),
        }),
    }
}

/// Rewrites a crontab day-of-week field (0 and 7 = Sunday) as day names, which mean the same in
/// cron's numbering (1 = Sunday). Named elements pass through unchanged.
fn translate_day_of_week(expr: &str, field: &str) -> Result<String, ScheduleError> {
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let mut named = Vec::new();
    let mut days = BTreeSet::new();
    for element in field.split(',') {
        if element.chars().any(|c| c.is_ascii_alphabetic()) {
            named.push(element.to_string());
        } else {
            days.extend(
                crontab_days(element).ok_or_else(|| ScheduleError::InvalidDayOfWeek {
                    expression: expr.to_string(),
                    element: element.to_string(),
                })?,
            );
        }
    }
    // Runs of consecutive days in Sunday-first order, so ranges stay ascending for cron
    // (crontab 5-7 = Fri..Sun becomes SUN,FRI-SAT).
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for day in days {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == day => *last = day,
            _ => runs.push((day, day)),
        }
    }
    let mut parts: Vec<String> = runs
        .into_iter()
        .map(|(first, last)| {
            let (first, last) = (DAY_NAMES[first as usize], DAY_NAMES[last as usize]);
            if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            }
        })
        .collect();
    parts.extend(named);
    Ok(parts.join(","))
}

/// Crontab day numbers (0 = Sunday … 6) of one numeric element: `N`, `N-M`, `*`, each with an
/// optional `/step` (`N/step` runs to 7). `None` when malformed or out of 0..=7.
fn crontab_days(element: &str) -> Option<Vec<u32>> {
    let (base, step) = match element.split_once('/') {
        Some((base, step)) => (base, step.parse::<usize>().ok().filter(|step| *step > 0)?),
        None => (element, 1),
    };
    let (first, last) = if base == "*" {
        (0, 7)
    } else if let Some((first, last)) = base.split_once('-') {
        (first.parse::<u32>().ok()?, last.parse::<u32>().ok()?)
    } else {
        let day = base.parse::<u32>().ok()?;
        (day, if element.contains('/') { 7 } else { day })
    };
    if first > last || last > 7 {
        return None;
    }
    Some((first..=last).step_by(step).map(|day| day % 7).collect())
}

/// The check of `[[digests]]` the types cannot express: every schedule
/// parses in its time zone.
pub fn validate_digests(
    digests: &[crate::config::DigestSettings],
) -> Result<(), crate::config::ConfigError> {
    for d in digests {
        Schedule::parse(&d.cron, &d.timezone).map_err(|e| {
            crate::config::invalid(&format!("digests[{}].cron", d.name), e.to_string())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ScheduleError::*;
    use super::*;

    /// A UTC instant from "YYYY-MM-DD HH:MM[:SS[.f]]".
    fn at(text: &str) -> DateTime<Utc> {
        let text = if text.len() == 16 {
            format!("{text}:00")
        } else {
            text.to_string()
        };
        let format = "%Y-%m-%d %H:%M:%S%.f";
        chrono::NaiveDateTime::parse_from_str(&text, format)
            .unwrap()
            .and_utc()
    }
    /// The same form back, seconds omitted when 0.
    fn show(t: Option<DateTime<Utc>>) -> String {
        let text = t.unwrap().format("%Y-%m-%d %H:%M:%S").to_string();
        text.strip_suffix(":00").unwrap_or(&text).to_string()
    }
    fn last(schedule: &Schedule, now: &str) -> String {
        show(schedule.last_tick_at_or_before(at(now)))
    }
    fn next(schedule: &Schedule, t: &str) -> String {
        show(schedule.next_tick_after(at(t)))
    }
    fn read(expr: &str) -> String {
        Schedule::parse(expr, "UTC")
            .unwrap()
            .normalized()
            .to_string()
    }
    fn post(tick: &str, since: &str, late: bool, missed: u32) -> Due {
        let (tick, since) = (at(tick), at(since));
        Due::Post {
            tick,
            since,
            late,
            missed,
        }
    }

    #[test]
    fn weekdays_in_seoul() {
        let schedule =
            Schedule::parse("0 9 * * 1-5", crate::config::DEFAULT_DIGEST_TIMEZONE).unwrap();
        assert_eq!(schedule.expression(), "0 9 * * 1-5");
        assert_eq!(schedule.normalized(), "0 0 9 * * MON-FRI");
        assert_eq!(schedule.timezone(), chrono_tz::Asia::Seoul);
        assert_eq!(last(&schedule, "2026-11-23 00:30"), "2026-11-23 00:00"); // Monday 09:30 KST
        assert_eq!(last(&schedule, "2026-11-23 00:00"), "2026-11-23 00:00");
        assert_eq!(last(&schedule, "2026-11-22 12:00"), "2026-11-20 00:00"); // Sunday -> Friday
        assert_eq!(next(&schedule, "2026-11-20 00:00"), "2026-11-23 00:00"); // Friday -> Monday
        let monday = describe_tick(at("2026-11-23 00:00"), schedule.timezone());
        assert_eq!(monday, "Mon 2026-11-23 09:00 KST");
    }

    #[test]
    fn crontab_day_of_week_translation() {
        assert_eq!(read("0 9 * * 0"), "0 0 9 * * SUN");
        assert_eq!(read("0 9 * * 7"), "0 0 9 * * SUN");
        assert_eq!(read("0 9 * * 1,3,5"), "0 0 9 * * MON,WED,FRI");
        assert_eq!(read("0 9 * * 5-7"), "0 0 9 * * SUN,FRI-SAT");
        assert_eq!(read("0 9 * * */2"), "0 0 9 * * SUN,TUE,THU,SAT");
        assert_eq!(read("0 9 * * 1-5/2"), "0 0 9 * * MON,WED,FRI");
        assert_eq!(read("0 9 * * MON-FRI"), "0 0 9 * * MON-FRI");
        assert_eq!(read("0 9 * * *"), "0 0 9 * * *");
        assert_eq!(read("@weekly"), "0 0 0 * * SUN");
        // 6-field lines keep cron's own numbering: 1 = Sunday (2026-11-22).
        let sunday = Schedule::parse("0 0 9 * * 1", "UTC").unwrap();
        assert_eq!(sunday.normalized(), "0 0 9 * * 1");
        assert_eq!(next(&sunday, "2026-11-20 00:00"), "2026-11-22 09:00");
        // Crontab 5-7 is Fri, Sat, Sun (2026-11-20 .. 22), then the next Friday.
        let weekend = Schedule::parse("0 9 * * 5-7", "UTC").unwrap();
        let mut t = at("2026-11-19 12:00");
        for (name, day) in [("Fri", 20), ("Sat", 21), ("Sun", 22), ("Fri", 27)] {
            t = weekend.next_tick_after(t).unwrap();
            assert_eq!(
                describe_tick(t, Tz::UTC),
                format!("{name} 2026-11-{day} 09:00 UTC")
            );
        }
    }

    #[test]
    fn seconds_form_and_errors() {
        let every_ten = Schedule::parse("*/10 * * * * *", "UTC").unwrap();
        assert_eq!(
            last(&every_ten, "2026-11-23 00:00:25.5"),
            "2026-11-23 00:00:20"
        );
        assert_eq!(
            next(&every_ten, "2026-11-23 00:00:25.5"),
            "2026-11-23 00:00:30"
        );
        let tick = describe_tick(at("2026-11-23 00:00:30"), Tz::UTC);
        assert_eq!(tick, "Mon 2026-11-23 00:00:30 UTC");
        assert!(Schedule::parse("0 0 9 * * * 2027", "UTC").is_ok());
        let error = |expr: &str| Schedule::parse(expr, "UTC").unwrap_err();
        for bad in ["0 9 * *", "0 0 9 * * * 2027 1", "every morning", ""] {
            let message = error(bad).to_string();
            assert!(message.starts_with(&format!("`{bad}` has ")), "{message}");
            assert!(message.contains("5-field crontab"), "{message}");
        }
        assert!(matches!(error("a b * * e"), Invalid { .. }));
        let message = error("x 9 * * *").to_string();
        assert!(message.contains("(read as `0 x 9 * * *`)"), "{message}");
        assert!(matches!(error("0 9 * * 8"), InvalidDayOfWeek { .. }));
        assert!(matches!(error("0 9 1 * 1"), DayOfMonthAndDayOfWeek { .. }));
        assert!(matches!(error("@often"), UnknownMacro { .. }));
        let zone = Schedule::parse("0 9 * * *", "Mars/Olympus")
            .unwrap_err()
            .to_string();
        assert!(
            zone.starts_with("unknown time zone `Mars/Olympus`"),
            "{zone}"
        );
    }

    #[test]
    fn time_zone_and_dst() {
        let daily = |tz: &str| Schedule::parse("0 9 * * *", tz).unwrap();
        let now = "2026-11-23 12:00";
        assert_eq!(last(&daily("UTC"), now), "2026-11-23 09:00");
        assert_eq!(last(&daily("Asia/Seoul"), now), "2026-11-23 00:00");
        assert_eq!(last(&daily("America/New_York"), now), "2026-11-22 14:00");
        // New York springs forward on Sunday 2026-03-08: 09:00 EST = 14:00Z, 09:00 EDT = 13:00Z.
        let new_york = daily("America/New_York");
        assert_eq!(last(&new_york, "2026-03-08 12:00"), "2026-03-07 14:00");
        assert_eq!(next(&new_york, "2026-03-07 14:00"), "2026-03-08 13:00");
        let edt = describe_tick(at("2026-03-08 13:00"), new_york.timezone());
        assert_eq!(edt, "Sun 2026-03-08 09:00 EDT");
        // 02:30 does not exist on 2026-03-08 in New York: that day is skipped.
        let skipped = Schedule::parse("30 2 * * *", "America/New_York").unwrap();
        assert_eq!(next(&skipped, "2026-03-07 07:30"), "2026-03-09 06:30");
        // New York falls back on 2026-11-01: 01:30 happens twice (EDT 05:30Z, EST 06:30Z) and
        // counts once, so a daily digest is not posted twice.
        let repeated = Schedule::parse("30 1 * * *", "America/New_York").unwrap();
        assert_eq!(next(&repeated, "2026-11-01 05:00"), "2026-11-01 05:30");
        assert_eq!(next(&repeated, "2026-11-01 05:30"), "2026-11-02 06:30");
        assert_eq!(next(&repeated, "2026-11-01 06:00"), "2026-11-02 06:30");
        assert_eq!(last(&repeated, "2026-11-01 06:31"), "2026-11-01 05:30");
        let (first, after_repeat) = (at("2026-11-01 05:30"), at("2026-11-01 06:31"));
        let again = repeated.due(Some(first), after_repeat, Duration::zero());
        assert_eq!(again, Due::NotYet);
        let (cursor, now_after) = (at("2026-10-31 05:30"), at("2026-11-02 07:00"));
        let after_outage = repeated.due(Some(cursor), now_after, Duration::zero());
        assert_eq!(
            after_outage,
            post("2026-11-02 06:30", "2026-10-31 05:30", true, 1)
        );
        // Yearly schedules are found directly, not by stepping.
        let yearly = Schedule::parse("@yearly", "Asia/Seoul").unwrap();
        assert_eq!(last(&yearly, now), "2025-12-31 15:00");
    }

    #[test]
    fn missed_run_rule() {
        let hourly = Schedule::parse("@hourly", "UTC").unwrap();
        let grace = Duration::minutes(5);
        let due = |cursor: Option<&str>, now: &str| hourly.due(cursor.map(at), at(now), grace);
        let (tick, next_tick, now) = ("2026-11-20 10:00", "2026-11-20 11:00", "2026-11-20 10:20");
        assert_eq!(due(None, now), Due::Start { tick: at(tick) });
        assert_eq!(due(Some(tick), now), Due::NotYet);
        assert_eq!(
            due(Some(next_tick), now),
            Due::NotYet,
            "cursor in the future"
        );
        let on_time = post(next_tick, tick, false, 0);
        assert_eq!(due(Some(tick), "2026-11-20 11:00:30"), on_time);
        // Grace boundary: exactly `grace` after the tick is on time, a second more is late.
        assert_eq!(due(Some(tick), "2026-11-20 11:05:00"), on_time);
        let late = post(next_tick, tick, true, 0);
        assert_eq!(due(Some(tick), "2026-11-20 11:05:01"), late);
        // Three days down: one Post for the latest tick; the 72 hourly ticks after the cursor
        // (11:00 .. 10:00 three days later) minus the one posted were skipped.
        let (back, latest) = ("2026-11-23 10:30", "2026-11-23 10:00");
        assert_eq!(due(Some(tick), back), post(latest, tick, true, 71));
        assert_eq!(due(Some(latest), back), Due::NotYet);
        // No tick yet: start from now. Counting skipped ticks is capped.
        let far_future = Schedule::parse("0 0 9 1 1 * 2099", "UTC").unwrap();
        let start = far_future.due(None, at(now), grace);
        assert_eq!(start, Due::Start { tick: at(now) });
        let every_second = Schedule::parse("* * * * * *", "UTC").unwrap();
        let capped = every_second.due(Some(at(tick)), at(back), grace);
        assert_eq!(capped, post(back, tick, false, MISSED_COUNT_CAP));
    }
}
