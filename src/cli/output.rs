//! What the subcommands print: aligned tables, summaries, progress lines, colours.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use clap::ColorChoice;

use crate::adapter::{Record, RecordState};
use crate::error::{Database, Direction};
use crate::plan::PlannedStep;
use crate::report::{Report, State, Status};

/// Whether to colour, and the styles.
#[derive(Debug, Clone, Copy)]
pub(super) struct Paint {
    on: bool,
}

impl Paint {
    /// Colours for `choice` on a stream that is (or is not) a terminal: `auto` colours a
    /// terminal unless `NO_COLOR` is set to a non-empty value.
    pub(super) fn new(choice: ColorChoice, is_terminal: bool) -> Paint {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Paint::with(match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && !no_color,
        })
    }

    pub(super) fn with(on: bool) -> Paint {
        Paint { on }
    }

    pub(super) fn is_on(self) -> bool {
        self.on
    }

    fn style(self, text: &str, style: Style) -> String {
        if self.on {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    }

    pub(super) fn error(self, text: &str) -> String {
        self.style(
            text,
            Style::new().bold().fg_color(Some(AnsiColor::Red.into())),
        )
    }

    pub(super) fn good(self, text: &str) -> String {
        self.style(text, Style::new().fg_color(Some(AnsiColor::Green.into())))
    }

    fn warn(self, text: &str) -> String {
        self.style(text, Style::new().fg_color(Some(AnsiColor::Yellow.into())))
    }

    pub(super) fn bold(self, text: &str) -> String {
        self.style(text, Style::new().bold())
    }

    pub(super) fn dim(self, text: &str) -> String {
        self.style(text, Style::new().dimmed())
    }
}

/// A cell: its text and how to colour it once padded.
type Cell = (String, fn(Paint, &str) -> String);

fn plain(_: Paint, text: &str) -> String {
    text.to_owned()
}

/// Writes an aligned table: a bold header, then the rows; columns two spaces apart, no
/// trailing spaces.
fn table(out: &mut String, header: &[&str], rows: &[Vec<Cell>], paint: Paint) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, (text, _)) in widths.iter_mut().zip(row) {
            *w = (*w).max(text.chars().count());
        }
    }
    let header: Vec<Cell> = header
        .iter()
        .map(|h| ((*h).to_owned(), Paint::bold as fn(Paint, &str) -> String))
        .collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, ((text, style), width)) in row.iter().zip(&widths).enumerate() {
            let padded = if i == last {
                text.clone()
            } else {
                format!("{text:width$}  ")
            };
            // Colour the text, not the padding.
            let (cell, pad) = padded.split_at(text.len());
            line.push_str(&style(paint, cell));
            line.push_str(pad);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// `2026-11-22T07:30:55.123Z` as `2026-11-22 07:30:55`; anything else as it is.
fn timestamp(at: &str) -> String {
    match (at.get(..10), at.get(10..11), at.get(11..19)) {
        (Some(day), Some("T"), Some(time)) => format!("{day} {time}"),
        _ => at.to_owned(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The status table with a header naming the database and a summary line.
pub(super) fn status(out: &mut String, database: &Database, status: &Status, paint: Paint) {
    let _ = writeln!(out, "{database}\n");
    let mut counts: Vec<(&str, usize)> = Vec::new();
    let rows: Vec<Vec<Cell>> = status
        .entries()
        .iter()
        .map(|e| {
            let (state, style): (String, fn(Paint, &str) -> String) = match &e.state {
                State::Applied => ("applied".into(), Paint::good),
                State::Pending => ("pending".into(), Paint::warn),
                State::Dirty { completed } => (format!("dirty ({completed})"), Paint::error),
                State::UnknownApplied { .. } => ("unknown".into(), Paint::error),
                State::Diverged { .. } => ("diverged".into(), Paint::error),
            };
            let kind = state.split(' ').next().unwrap_or_default();
            let kind: &str = match kind {
                "applied" => "applied",
                "pending" => "pending",
                "dirty" => "dirty",
                "unknown" => "unknown",
                _ => "diverged",
            };
            match counts.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => counts.push((kind, 1)),
            }
            vec![
                (e.set.clone(), plain as fn(Paint, &str) -> String),
                (e.version.to_string(), plain),
                (e.name.clone(), plain),
                (state, style),
                (
                    e.applied_at.as_deref().map(timestamp).unwrap_or_default(),
                    Paint::dim,
                ),
            ]
        })
        .collect();
    if rows.is_empty() {
        let _ = writeln!(out, "no migrations");
        return;
    }
    table(
        out,
        &["SET", "VERSION", "NAME", "STATE", "APPLIED AT (UTC)"],
        &rows,
        paint,
    );
    let detail: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let verdict = if status.is_up_to_date() {
        paint.good("up to date")
    } else if status
        .filter(|s| *s != State::Applied && *s != State::Pending)
        .next()
        .is_some()
    {
        paint.error("needs attention (see `repair`)")
    } else {
        paint.warn("not up to date")
    };
    let _ = writeln!(
        out,
        "\n{}: {}; {verdict}",
        plural(rows.len(), "migration", "migrations"),
        detail.join(", ")
    );
}

/// The latest migration in the database of each set, or `base`.
pub(super) fn current(out: &mut String, status: &Status) {
    let mut sets: Vec<(String, String)> = Vec::new();
    for e in status.entries() {
        let at = match sets.iter_mut().find(|(s, _)| *s == e.set) {
            Some((_, at)) => at,
            None => {
                sets.push((e.set.clone(), "base".to_owned()));
                let last = sets.len() - 1;
                &mut sets[last].1
            }
        };
        match &e.state {
            State::Pending => {}
            State::Dirty { .. } => *at = format!("{}_{} (dirty)", e.version, e.name),
            _ => *at = format!("{}_{}", e.version, e.name),
        }
    }
    let width = sets.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
    for (set, at) in sets {
        let _ = writeln!(out, "{set:width$}  {at}");
    }
}

/// The history rows in the order they were written.
pub(super) fn history(out: &mut String, records: &[Record], paint: Paint) {
    if records.is_empty() {
        let _ = writeln!(out, "no migration applied");
        return;
    }
    let rows: Vec<Vec<Cell>> = records
        .iter()
        .map(|r| {
            let (state, style): (String, fn(Paint, &str) -> String) = match r.state {
                RecordState::Applied => ("applied".into(), Paint::good),
                RecordState::Dirty { completed, .. } => {
                    (format!("dirty ({completed})"), Paint::error)
                }
            };
            vec![
                (r.id(), plain as fn(Paint, &str) -> String),
                (timestamp(&r.applied_at), plain),
                (format!("{} ms", r.duration_ms), plain),
                (state, style),
            ]
        })
        .collect();
    table(
        out,
        &["MIGRATION", "APPLIED AT (UTC)", "DURATION", "STATE"],
        &rows,
        paint,
    );
}

/// A dry run's plan.
pub(super) fn plan(out: &mut String, steps: &[PlannedStep]) {
    if steps.is_empty() {
        let _ = writeln!(out, "nothing to do");
        return;
    }
    for s in steps {
        let verb = match s.direction {
            Direction::Up => "would apply",
            Direction::Down => "would revert",
        };
        let _ = writeln!(out, "{verb} {}", s.migration);
    }
    let _ = writeln!(
        out,
        "{} (dry run: nothing changed)",
        plural(steps.len(), "step", "steps")
    );
}

/// One line for an `up` or `down` run (each migration had its progress line).
pub(super) fn summary(out: &mut String, report: &Report, paint: Paint) {
    let (applied, reverted) = (report.applied().len(), report.reverted().len());
    let line = match (applied, reverted) {
        (0, 0) => "nothing to do".to_owned(),
        (n, 0) => format!("applied {}", plural(n, "migration", "migrations")),
        (0, n) => format!("reverted {}", plural(n, "migration", "migrations")),
        (a, r) => format!("applied {a} and reverted {r} migrations"),
    };
    let _ = writeln!(out, "{} in {:.1?}", paint.good(&line), report.duration());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        set: &str,
        version: u64,
        state: State,
        at: Option<&str>,
    ) -> crate::report::StatusEntry {
        crate::report::StatusEntry {
            set: set.to_owned(),
            version,
            name: format!("m{version}"),
            state,
            applied_at: at.map(str::to_owned),
        }
    }

    #[test]
    fn the_status_table_is_aligned_and_plain_without_colour() {
        let status = Status::from_entries(vec![
            entry("app", 1, State::Applied, Some("2026-11-22T07:30:55.123Z")),
            entry("app", 20_261_122_080_000, State::Pending, None),
            entry(
                "billing",
                3,
                State::Dirty { completed: 2 },
                Some("2026-11-22T07:31:00.000Z"),
            ),
        ]);
        let database = Database {
            backend: "sqlite",
            name: "app.db".to_owned(),
        };
        let mut out = String::new();
        super::status(&mut out, &database, &status, Paint::with(false));
        assert_eq!(
            out,
            "sqlite database `app.db`\n\n\
             SET      VERSION         NAME             STATE      APPLIED AT (UTC)\n\
             app      1               m1               applied    2026-11-22 07:30:55\n\
             app      20261122080000  m20261122080000  pending\n\
             billing  3               m3               dirty (2)  2026-11-22 07:31:00\n\
             \n3 migrations: 1 applied, 1 pending, 1 dirty; needs attention (see `repair`)\n"
        );
        let mut coloured = String::new();
        super::status(&mut coloured, &database, &status, Paint::with(true));
        assert!(coloured.contains("\u{1b}["));

        let mut out = String::new();
        current(&mut out, &status);
        assert_eq!(out, "app      1_m1\nbilling  3_m3 (dirty)\n");
    }

    #[test]
    fn never_and_no_color_turn_colours_off() {
        assert!(Paint::new(ColorChoice::Always, false).is_on());
        assert!(!Paint::new(ColorChoice::Never, true).is_on());
        assert!(!Paint::new(ColorChoice::Auto, false).is_on());
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        assert_eq!(Paint::new(ColorChoice::Auto, true).is_on(), !no_color);
    }
}
