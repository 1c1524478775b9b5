//! When scheduled reports run and which period each run covers.
//!
//! `daily` runs at every midnight UTC over the day before, `weekly` on Mondays at 00:00
//! UTC over the seven days before, `monthly` on the first of the month over the month
//! before; a cron expression (five fields, or six with seconds first) runs at each of its
//! times over the `period` before it. [`due`] gives the runs a schedule owes since the
//! last one it made, so a run missed while SOTP was down is made when it comes back.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Datelike, Days, Months, NaiveTime, TimeZone, Utc};
use croner::Cron;
use serde::{Deserialize, Serialize};

use crate::{Format, ReportKind};

/// `[[report_schedules]]`: one report made on a schedule and sent by email.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Its name (the email's subject and the state kept for it).
    pub name: String,
    /// availability, performance, alerts or inventory.
    #[serde(rename = "type")]
    pub kind: ReportKind,
    /// `daily`, `weekly`, `monthly`, or a cron expression (`0 6 * * MON`).
    pub every: String,
    /// The period a cron schedule's report covers, before each run (default: 1 day).
    #[serde(default, with = "humantime_serde")]
    pub period: Option<Duration>,
    /// csv, parquet, html or pdf.
    #[serde(default = "pdf")]
    pub format: Format,
    /// The `[[receivers]]` entry of kind `email` that sends it, as an attachment.
    pub receiver: String,
    /// Only these device ids.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Only devices with one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The availability target as a ratio (default 0.999).
    #[serde(default)]
    pub sla: Option<f64>,
}

fn pdf() -> Format {
    Format::Pdf
}

/// How often a schedule runs.
#[derive(Clone, Debug)]
pub enum Every {
    /// Midnight UTC, over the day before.
    Daily,
    /// Monday 00:00 UTC, over the week before.
    Weekly,
    /// The first of the month 00:00 UTC, over the month before.
    Monthly,
    /// At each time of the expression, over `period` before it.
    Cron(Box<Cron>, Duration),
}

impl Every {
    /// Reads `every` (and the cron schedule's `period`), or says what is wrong.
    pub fn parse(every: &str, period: Option<Duration>) -> Result<Self, String> {
        let fixed = match every {
            "daily" => Some(Every::Daily),
            "weekly" => Some(Every::Weekly),
            "monthly" => Some(Every::Monthly),
            _ => None,
        };
        if let Some(f) = fixed {
            if period.is_some() {
                return Err(format!(
                    "`period` is for cron schedules; `{every}` covers its own"
                ));
            }
            return Ok(f);
        }
        let cron = Cron::from_str(every).map_err(|e| {
            format!("`{every}` is not daily, weekly, monthly or a cron expression: {e}")
        })?;
        let period = period.unwrap_or(Duration::from_secs(86_400));
        if period.is_zero() {
            return Err("`period` must be greater than 0".into());
        }
        Ok(Every::Cron(Box::new(cron), period))
    }

    /// The latest run time at or before `t`.
    pub fn latest(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let midnight = Utc.from_utc_datetime(&t.date_naive().and_time(NaiveTime::MIN));
        match self {
            Every::Daily => Some(midnight),
            Every::Weekly => {
                midnight.checked_sub_days(Days::new(u64::from(t.weekday().num_days_from_monday())))
            }
            Every::Monthly => midnight.with_day(1),
            Every::Cron(cron, _) => cron.find_previous_occurrence(&t, true).ok(),
        }
    }

    /// The run time after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let latest = self.latest(t)?;
        match self {
            Every::Daily => latest.checked_add_days(Days::new(1)),
            Every::Weekly => latest.checked_add_days(Days::new(7)),
            Every::Monthly => latest.checked_add_months(Months::new(1)),
            Every::Cron(cron, _) => cron.find_next_occurrence(&t, false).ok(),
        }
    }

    /// The period a run at `at` covers: `[from, at)`.
    pub fn period_before(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let from = match self {
            Every::Daily => at.checked_sub_days(Days::new(1)),
            Every::Weekly => at.checked_sub_days(Days::new(7)),
            Every::Monthly => at.checked_sub_months(Months::new(1)),
            Every::Cron(_, period) => {
                at.checked_sub_signed(chrono::Duration::from_std(*period).ok()?)
            }
        }?;
        Some((from, at))
    }
}

/// The runs owed at `now` by a schedule whose last run was at `last`, oldest first, at
/// most the `max` latest ones. A schedule that never ran owes nothing: it starts with
/// the next run time.
pub fn due(
    every: &Every,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    max: usize,
) -> Vec<DateTime<Utc>> {
    let Some(mut at) = last else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Some(next) = every.next_after(at) {
        if next > now || next <= at {
            break;
        }
        out.push(next);
        at = next;
    }
    let skip = out.len().saturating_sub(max);
    out.split_off(skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn fixed_schedules_cover_the_day_week_and_month_before_their_run() {
        let now = t("2026-12-09T13:20:00Z"); // a Wednesday
        let monthly = Every::parse("monthly", None).unwrap();
        assert_eq!(monthly.latest(now), Some(t("2026-12-01T00:00:00Z")));
        assert_eq!(
            monthly.period_before(t("2026-12-01T00:00:00Z")),
            Some((t("2026-11-01T00:00:00Z"), t("2026-12-01T00:00:00Z")))
        );
        let weekly = Every::parse("weekly", None).unwrap();
        assert_eq!(weekly.latest(now), Some(t("2026-12-07T00:00:00Z")));
        assert_eq!(weekly.next_after(now), Some(t("2026-12-14T00:00:00Z")));
        let daily = Every::parse("daily", None).unwrap();
        assert_eq!(
            daily.period_before(daily.latest(now).unwrap()),
            Some((t("2026-12-08T00:00:00Z"), t("2026-12-09T00:00:00Z")))
        );
    }

    #[test]
    fn runs_missed_while_down_are_owed_oldest_first_and_a_new_schedule_owes_none() {
        let daily = Every::parse("daily", None).unwrap();
        let last = t("2026-12-05T00:00:00Z");
        let now = t("2026-12-08T09:00:00Z");
        assert_eq!(
            due(&daily, Some(last), now, 10),
            vec![
                t("2026-12-06T00:00:00Z"),
                t("2026-12-07T00:00:00Z"),
                t("2026-12-08T00:00:00Z")
            ]
        );
        assert_eq!(
            due(&daily, Some(last), now, 1),
            vec![t("2026-12-08T00:00:00Z")]
        );
        assert!(due(&daily, Some(t("2026-12-08T00:00:00Z")), now, 10).is_empty());
        assert!(due(&daily, None, now, 10).is_empty());
        let monthly = Every::parse("monthly", None).unwrap();
        assert_eq!(
            due(&monthly, Some(t("2026-10-01T00:00:00Z")), now, 10),
            vec![t("2026-11-01T00:00:00Z"), t("2026-12-01T00:00:00Z")]
        );
    }

    #[test]
    fn cron_schedules_run_at_their_times_over_their_period() {
        let every = Every::parse("0 6 * * MON", Some(Duration::from_secs(7 * 86_400))).unwrap();
        let now = t("2026-12-09T13:20:00Z");
        assert_eq!(every.latest(now), Some(t("2026-12-07T06:00:00Z")));
        assert_eq!(every.next_after(now), Some(t("2026-12-14T06:00:00Z")));
        assert_eq!(
            every.period_before(t("2026-12-07T06:00:00Z")),
            Some((t("2026-11-30T06:00:00Z"), t("2026-12-07T06:00:00Z")))
        );
        let seconds = Every::parse("*/5 * * * * *", Some(Duration::from_secs(3600))).unwrap();
        assert_eq!(
            due(
                &seconds,
                Some(t("2026-12-09T13:20:00Z")),
                t("2026-12-09T13:20:12Z"),
                10
            ),
            vec![t("2026-12-09T13:20:05Z"), t("2026-12-09T13:20:10Z")]
        );
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        assert!(
            Every::parse("fortnightly", None)
                .unwrap_err()
                .contains("cron expression")
        );
        assert!(
            Every::parse("daily", Some(Duration::from_secs(60)))
                .unwrap_err()
                .contains("period")
        );
        assert!(
            Every::parse("* * * * *", Some(Duration::ZERO))
                .unwrap_err()
                .contains("greater than 0")
        );
    }
}
