//! `raft-cli top`: a live view of the whole cluster. Every refresh asks one
//! reachable endpoint for the membership and each member for its `INFO` (as
//! `status` does), then shows per member its role, term, commit and applied
//! index, lag behind the leader, proposals per second and WAL fsync p99 over
//! the last interval, and leader changes. On a terminal it is a full-screen
//! ratatui view (`q` quits); otherwise, or with `--plain`, it prints one line
//! per refresh.

mod sample;
mod screen;

use crate::client_cmds::Target;
use crate::error::CliError;
use crate::status_cmd::gather;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use sample::{MemberLine, Tracker};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Flags of `raft-cli top`.
#[derive(clap::Args, Debug)]
pub struct TopArgs {
    /// Seconds between refreshes (0.1 to 3600).
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    interval: f64,
    /// Stop after N refreshes (default: until `q`, Ctrl-C or SIGINT). With
    /// N, the exit code is 1 if the last refresh reached no endpoint.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// One line per refresh even on a terminal (the default when stdout is
    /// not a terminal): `t=SECS` and the cluster summary, then `| ID ROLE
    /// applied=N lag=N p/s=RATE fsync_p99=MS chg=N HEALTH` per member.
    #[arg(long)]
    plain: bool,
}

/// One refresh of the whole cluster.
#[derive(Debug)]
pub(crate) struct Refresh {
    /// Seconds since `top` started.
    at_secs: f64,
    /// The endpoint that told the membership.
    asked: Option<String>,
    members: Vec<MemberLine>,
    /// Why no endpoint could be asked.
    error: Option<CliError>,
}

impl Refresh {
    /// The cluster in one line: the leader's view, how many members answer,
    /// proposals per second through all of them, the leader's fsync p99.
    fn summary(&self) -> String {
        if let Some(e) = &self.error {
            return format!("error: {e}");
        }
        let leader = self.members.iter().find(|m| m.role == "leader");
        let healthy = self.members.iter().filter(|m| m.health == "ok").count();
        let rates: Vec<f64> = self
            .members
            .iter()
            .filter_map(|m| m.proposals_per_sec)
            .collect();
        let total = (!rates.is_empty()).then(|| rates.iter().sum::<f64>());
        let changes = self.members.iter().filter_map(|m| m.leader_changes).max();
        format!(
            "leader={} term={} commit={} members={} healthy={} proposals/s={} fsync_p99={} leader_changes={}",
            leader.map_or_else(|| "none".to_string(), |l| l.id.to_string()),
            opt(leader.and_then(|l| l.term)),
            opt(leader.and_then(|l| l.commit)),
            self.members.len(),
            healthy,
            screen::rate(total),
            screen::millis(leader.and_then(|l| l.fsync_p99)),
            opt(changes),
        )
    }

    /// The refresh as one line (the non-TTY view).
    fn plain_line(&self) -> String {
        let mut line = format!("t={:.1}s {}", self.at_secs, self.summary());
        for m in &self.members {
            line.push_str(&format!(
                " | {} {} applied={} lag={} p/s={} fsync_p99={} chg={} {}",
                m.id,
                m.role,
                opt(m.applied),
                opt(m.lag),
                screen::rate(m.proposals_per_sec),
                screen::millis(m.fsync_p99),
                opt(m.leader_changes),
                m.health
            ));
        }
        line
    }
}

fn opt(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

/// Reads the cluster once.
fn refresh(t: &Target, tracker: &mut Tracker, started: Instant) -> Refresh {
    let at_secs = started.elapsed().as_secs_f64();
    match gather(t) {
        Ok(view) => Refresh {
            at_secs,
            members: tracker.lines(&view, Instant::now()),
            asked: Some(view.asked),
            error: None,
        },
        Err(e) => Refresh {
            at_secs,
            asked: None,
            members: Vec::new(),
            error: Some(e),
        },
    }
}

/// Runs `raft-cli top`.
pub fn run(t: &Target, args: &TopArgs) -> Result<(), CliError> {
    if !(0.1..=3600.0).contains(&args.interval) {
        return Err(CliError::OutOfRange(format!(
            "--interval {} is out of range: give 0.1 to 3600 seconds",
            args.interval
        )));
    }
    let interval = Duration::from_secs_f64(args.interval);
    let last = if args.plain || !std::io::stdout().is_terminal() {
        plain(t, args, interval)
    } else {
        full_screen(t, args, interval)?
    };
    match (args.count, last.and_then(|r| r.error)) {
        (Some(_), Some(e)) => Err(e),
        _ => Ok(()),
    }
}

/// One line per refresh; returns the last refresh.
fn plain(t: &Target, args: &TopArgs, interval: Duration) -> Option<Refresh> {
    let (started, mut tracker) = (Instant::now(), Tracker::default());
    let mut done = 0;
    loop {
        let tick = Instant::now();
        let r = refresh(t, &mut tracker, started);
        say!("{}", r.plain_line());
        done += 1;
        if args.count.is_some_and(|n| done >= n) {
            return Some(r);
        }
        std::thread::sleep(interval.saturating_sub(tick.elapsed()));
    }
}

/// The ratatui view until `q`, Esc, Ctrl-C or `--count`; the terminal is
/// restored whatever happens.
fn full_screen(
    t: &Target,
    args: &TopArgs,
    interval: Duration,
) -> Result<Option<Refresh>, CliError> {
    let mut terminal = ratatui::try_init().map_err(CliError::io("open the terminal"))?;
    let outcome = screen_loop(&mut terminal, t, args, interval);
    let restored = ratatui::try_restore();
    let last = outcome.map_err(CliError::io("draw on the terminal"))?;
    restored.map_err(CliError::io("restore the terminal"))?;
    Ok(last)
}

fn screen_loop(
    terminal: &mut DefaultTerminal,
    t: &Target,
    args: &TopArgs,
    interval: Duration,
) -> std::io::Result<Option<Refresh>> {
    let (started, mut tracker) = (Instant::now(), Tracker::default());
    let mut done = 0;
    loop {
        let tick = Instant::now();
        let r = refresh(t, &mut tracker, started);
        terminal.draw(|f| screen::draw(f, &r, args.interval))?;
        done += 1;
        if args.count.is_some_and(|n| done >= n) {
            return Ok(Some(r));
        }
        while let Some(left) = interval.checked_sub(tick.elapsed()) {
            if event::poll(left)? && quits(&event::read()?) {
                return Ok(Some(r));
            }
        }
    }
}

/// `q`, Esc or Ctrl-C (raw mode turns Ctrl-C into a key).
fn quits(ev: &Event) -> bool {
    let Event::Key(k) = ev else { return false };
    let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
    k.kind == KeyEventKind::Press && (ctrl_c || matches!(k.code, KeyCode::Char('q') | KeyCode::Esc))
}
