//! The terminal view of `top` on ratatui: a summary line, one table row per
//! member, and a footer with the keys. Drawing is a pure function of the
//! lines, so it is tested on ratatui's in-memory backend.

use super::Refresh;
use super::sample::MemberLine;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table};

/// The table's columns: header and width.
const COLUMNS: [(&str, u16); 11] = [
    ("ID", 4),
    ("ADDRESS", 21),
    ("ROLE", 12),
    ("TERM", 6),
    ("COMMIT", 10),
    ("APPLIED", 10),
    ("LAG", 6),
    ("PROP/S", 9),
    ("FSYNC P99", 10),
    ("LDR CHG", 7),
    ("HEALTH", 30),
];

/// `-` for what a member did not tell.
fn show(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

/// A latency in seconds as milliseconds.
pub(super) fn millis(secs: Option<f64>) -> String {
    secs.map_or_else(|| "-".to_string(), |s| format!("{:.2}ms", s * 1e3))
}

/// A rate with one decimal.
pub(super) fn rate(per_sec: Option<f64>) -> String {
    per_sec.map_or_else(|| "-".to_string(), |r| format!("{r:.1}"))
}

fn row(m: &MemberLine) -> Row<'static> {
    let style = match m.role.as_str() {
        "leader" => Style::default().add_modifier(Modifier::BOLD),
        _ => Style::default(),
    };
    Row::new(vec![
        m.id.to_string(),
        m.address.clone(),
        m.role.clone(),
        show(m.term),
        show(m.commit),
        show(m.applied),
        show(m.lag),
        rate(m.proposals_per_sec),
        millis(m.fsync_p99),
        show(m.leader_changes),
        m.health.clone(),
    ])
    .style(style)
}

/// Draws one refresh.
pub(super) fn draw(frame: &mut Frame, refresh: &Refresh, interval_secs: f64) {
    let [summary, table, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(Line::from(refresh.summary())), summary);
    let header = Row::new(COLUMNS.map(|(name, _)| name))
        .style(Style::default().add_modifier(Modifier::REVERSED));
    let widths = COLUMNS.map(|(_, w)| Constraint::Length(w));
    let rows: Vec<Row> = refresh.members.iter().map(row).collect();
    let title = match &refresh.asked {
        Some(asked) => format!(" raft-cli top: membership from {asked} "),
        None => " raft-cli top ".to_string(),
    };
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(title)),
        table,
    );
    let keys = format!("q quits   refresh every {interval_secs}s");
    frame.render_widget(Paragraph::new(keys), footer);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn member(id: u64, role: &str) -> MemberLine {
        MemberLine {
            id,
            address: format!("127.0.0.1:600{id}"),
            role: role.to_string(),
            term: Some(3),
            commit: Some(120),
            applied: Some(118),
            lag: Some(2),
            proposals_per_sec: Some(42.0),
            fsync_p99: Some(0.00125),
            leader_changes: Some(1),
            health: "ok".to_string(),
        }
    }

    #[test]
    fn the_view_shows_a_row_per_member_with_every_column() {
        let refresh = Refresh {
            at_secs: 2.0,
            asked: Some("127.0.0.1:6001".into()),
            members: vec![member(1, "leader"), member(2, "follower")],
            error: None,
        };
        let mut terminal = Terminal::new(TestBackend::new(140, 8)).expect("in-memory terminal");
        terminal
            .draw(|f| draw(f, &refresh, 1.0))
            .expect("draws in memory");
        let screen: Vec<String> = terminal
            .backend()
            .buffer()
            .content()
            .chunks(140)
            .map(|line| line.iter().map(|c| c.symbol()).collect())
            .collect();
        let text = screen.join("\n");
        for (name, _) in COLUMNS {
            assert!(text.contains(name), "no column {name} in\n{text}");
        }
        assert!(screen[0].contains("leader=1 term=3"), "{}", screen[0]);
        let leader_row = screen.iter().find(|l| l.contains("127.0.0.1:6001  "));
        let leader_row = leader_row.expect("a row for node 1");
        for cell in ["leader", "120", "118", "42.0", "1.25ms", "ok"] {
            assert!(leader_row.contains(cell), "{cell} not in {leader_row}");
        }
        assert!(text.contains("127.0.0.1:6002"), "{text}");
        assert!(screen[7].contains("q quits"), "{}", screen[7]);
    }
}
