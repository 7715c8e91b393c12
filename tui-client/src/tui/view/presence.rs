//! Who is online, as the chat screen says it: a dot before a direct conversation's peer in the
//! list (`●` online, `○` offline: the shapes differ, not only the colours), and in the open
//! conversation's title "online", "last seen 5 min ago" or, in a group, "2 online". Relative
//! times are read against `App::wall`, so each tick redraws them without asking the server.

use chat_shared::Timestamp;
use chrono::FixedOffset;
use ratatui::style::{Color, Style};
use ratatui::text::Span;

use crate::tui::app::{App, ConvItem, ConvKind, local_time};

/// The dot before a conversation in the list: only for a direct one whose peer shows their
/// presence.
pub(super) fn dot(app: &App, item: &ConvItem) -> Option<Span<'static>> {
    let presence = app.presence_of(item.peer()?.id)?;
    Some(if presence.online {
        Span::styled("● ", Style::default().fg(Color::Green))
    } else {
        Span::styled("○ ", Style::default().fg(Color::DarkGray))
    })
}

/// What the open conversation's title says of presence: "online", "last seen …" ("seen …"
/// when `short`; "offline" when never seen) for the peer; "N online" among a group's other
/// members.
pub(super) fn about(app: &App, item: &ConvItem, short: bool) -> Option<String> {
    match &item.kind {
        ConvKind::Direct { peer } => {
            let presence = app.presence_of(peer.id)?;
            Some(match (presence.online, presence.last_seen, app.wall) {
                (true, _, _) => "online".to_owned(),
                (false, Some(then), Some(now)) => {
                    let seen = if short { "seen" } else { "last seen" };
                    format!("{seen} {}", ago(then, now, app.utc_offset))
                }
                (false, _, _) => "offline".to_owned(),
            })
        }
        ConvKind::Group { .. } => app.online_in(item).map(|n| format!("{n} online")),
    }
}

/// How long ago `then` was at `now`, in words: "just now" under a minute, "N min ago" under an
/// hour, "N h ago" the same day, "yesterday HH:MM", else the date; in `offset`, else local time.
fn ago(then: Timestamp, now: Timestamp, offset: Option<FixedOffset>) -> String {
    let minutes = (now.0 - then.0).max(0) / 60_000;
    if minutes < 1 {
        return "just now".to_owned();
    }
    if minutes < 60 {
        return format!("{minutes} min ago");
    }
    let (then, today) = (local_time(then, offset), local_time(now, offset).date());
    if then.date() == today {
        format!("{} h ago", minutes / 60)
    } else if today.pred_opt() == Some(then.date()) {
        format!("yesterday {}", then.format("%H:%M"))
    } else {
        then.format("%Y-%m-%d").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// 2025-07-07T12:00:00Z.
    const NOON: Timestamp = Timestamp(1_751_889_600_000);

    fn utc() -> Option<FixedOffset> {
        FixedOffset::east_opt(0)
    }

    fn before(ms: i64) -> Timestamp {
        Timestamp(NOON.0 - ms)
    }

    #[test]
    fn recent_times_read_as_minutes_then_hours() {
        let said = |ms| ago(before(ms), NOON, utc());
        assert_eq!(said(0), "just now");
        assert_eq!(said(59_999), "just now");
        assert_eq!(said(MIN), "1 min ago");
        assert_eq!(said(5 * MIN + 30_000), "5 min ago");
        assert_eq!(said(59 * MIN), "59 min ago");
        assert_eq!(said(60 * MIN), "1 h ago");
        assert_eq!(said(12 * 60 * MIN), "12 h ago", "midnight, the same day");
        // A clock a little behind the server's: not "in the future".
        assert_eq!(ago(Timestamp(NOON.0 + 5_000), NOON, utc()), "just now");
    }

    #[test]
    fn older_times_read_as_yesterday_then_the_date() {
        let said = |ms| ago(before(ms), NOON, utc());
        assert_eq!(said(12 * 60 * MIN + 1), "yesterday 23:59");
        assert_eq!(said(36 * 60 * MIN), "yesterday 00:00");
        assert_eq!(said(36 * 60 * MIN + 1), "2025-07-05");
        assert_eq!(said(400 * 24 * 60 * MIN), "2024-06-02");
    }

    #[test]
    fn days_are_those_of_the_time_zone_shown() {
        // 00:30 in UTC+2 is 22:30 UTC the day before: an hour earlier is yesterday there,
        // but the same day in UTC.
        let now = Timestamp(NOON.0 - 13 * 60 * MIN - 30 * MIN);
        let then = Timestamp(now.0 - 60 * MIN);
        assert_eq!(ago(then, now, utc()), "1 h ago");
        assert_eq!(
            ago(then, now, FixedOffset::east_opt(2 * 3600)),
            "yesterday 23:30"
        );
    }
}
