//! What the subcommands print: aligned tables, summaries, progress lines, colours.

use std::fmt::Write as _;
use std::time::Duration;

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
        let no_color = std::env::var_os("NO_COLOR");
        Paint::with(colors(choice, is_terminal, no_color.as_deref()))
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

/// Whether to colour: `always`, never `never`, and `auto` on a terminal unless `NO_COLOR`
/// (its value `no_color`) is set to something (<https://no-color.org>).
fn colors(choice: ColorChoice, is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty),
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

/// A duration as every output writes it: `176.9µs`, `12.4ms`, `3.1s`.
pub(super) fn duration(d: Duration) -> String {
    format!("{d:.1?}")
}

/// What to do about the rows in a state that needs attention.
const HINTS: [(&str, &str); 3] = [
    (
        "dirty",
        "a migration stopped part-way; check what took effect, then run `repair` (with `--in-flight committed` or `--in-flight not-committed` when a statement was in flight)",
    ),
    (
        "diverged",
        "changed after it was applied; restore the file, or accept the change with `repair`",
    ),
    (
        "unknown",
        "applied by a newer binary or by another set; `up` refuses them unless allowed (`--allow-unknown`)",
    ),
];

/// The status table with a header naming the database, a summary line, and a line per state
/// that needs attention. Unknown rows need none when `allow_unknown`.
pub(super) fn status(
    out: &mut String,
    database: &Database,
    status: &Status,
    allow_unknown: bool,
    paint: Paint,
) {
    let _ = writeln!(out, "{database}\n");
    let mut counts: Vec<(&str, usize)> = Vec::new();
    let rows: Vec<Vec<Cell>> = status
        .entries()
        .iter()
        .map(|e| {
            let (state, style): (String, fn(Paint, &str) -> String) = match &e.state {
                State::Applied => ("applied".into(), Paint::good),
                State::Pending => ("pending".into(), Paint::warn),
                State::Dirty {
                    completed,
                    in_flight: None,
                } => (format!("dirty ({completed})"), Paint::error),
                State::Dirty {
                    completed,
                    in_flight: Some(sent),
                } => (
                    format!(
                        "dirty ({completed}, statement {} in flight)",
                        sent.statement
                    ),
                    Paint::error,
                ),
                State::Partial {
                    completed,
                    direction: Direction::Up,
                } => (format!("partial ({completed})"), Paint::warn),
                State::Partial {
                    completed,
                    direction: Direction::Down,
                } => (format!("partial down ({completed})"), Paint::warn),
                State::UnknownApplied { .. } => ("unknown".into(), Paint::error),
                State::Diverged { .. } => ("diverged".into(), Paint::error),
            };
            let kind = state.split(' ').next().unwrap_or_default();
            let kind: &str = match kind {
                "applied" => "applied",
                "pending" => "pending",
                "dirty" => "dirty",
                "partial" => "partial",
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
    let hints: Vec<_> = HINTS
        .iter()
        .filter(|(k, _)| counts.iter().any(|(c, _)| c == k))
        .filter(|(k, _)| !(allow_unknown && *k == "unknown"))
        .collect();
    let verdict = if !hints.is_empty() {
        paint.error("needs attention")
    } else if counts
        .iter()
        .any(|(k, _)| *k == "pending" || *k == "partial")
    {
        paint.warn("not up to date")
    } else {
        paint.good("up to date")
    };
    let _ = writeln!(
        out,
        "\n{}: {}; {verdict}",
        plural(rows.len(), "migration", "migrations"),
        detail.join(", ")
    );
    for (kind, hint) in hints {
        let _ = writeln!(out, "  {}: {hint}", paint.error(kind));
    }
    for e in status.entries() {
        if let Some(progress) = e.state.progress() {
            let _ = writeln!(out, "  {}: {progress}", e.id());
        }
    }
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
            State::Partial { .. } => *at = format!("{}_{} (partial)", e.version, e.name),
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
                RecordState::Dirty { completed, .. } => match &r.in_flight {
                    None => (format!("dirty ({completed})"), Paint::error),
                    Some(sent) => (
                        format!("dirty ({completed}); {sent} in flight"),
                        Paint::error,
                    ),
                },
                RecordState::Partial { completed, .. } => {
                    (format!("{} ({completed})", r.state.as_str()), Paint::warn)
                }
            };
            vec![
                (r.id(), plain as fn(Paint, &str) -> String),
                (timestamp(&r.applied_at), plain),
                // The history keeps whole milliseconds.
                (
                    match r.duration_ms {
                        0 => "<1.0ms".to_owned(),
                        ms => duration(Duration::from_millis(ms)),
                    },
                    plain,
                ),
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
    let _ = writeln!(
        out,
        "{} in {}",
        paint.good(&line),
        duration(report.duration())
    );
    for s in report.steps().iter().filter(|s| s.completed > 0) {
        let _ = writeln!(
            out,
            "  {} resumed after statement {}: a partial history row said the statements before took effect",
            s.migration, s.completed
        );
    }
}

/// A stamp's or repair's report: a line per row it wrote or removed, then the time it took
/// (nothing ran, so the rows have no duration of their own).
pub(super) fn report(out: &mut String, report: &Report, paint: Paint) {
    for s in report.steps() {
        let _ = writeln!(
            out,
            "{} {}{}",
            s.action.verb(),
            s.migration,
            s.resumed_note()
        );
    }
    let line = match report.steps().len() {
        0 => "nothing to do".to_owned(),
        n => plural(n, "step", "steps"),
    };
    let _ = writeln!(
        out,
        "{} in {}",
        paint.good(&line),
        duration(report.duration())
    );
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
                State::Dirty {
                    completed: 2,
                    in_flight: None,
                },
                Some("2026-11-22T07:31:00.000Z"),
            ),
        ]);
        let database = Database {
            backend: "sqlite",
            name: "app.db".to_owned(),
        };
        let mut out = String::new();
        super::status(&mut out, &database, &status, false, Paint::with(false));
        assert_eq!(
            out,
            "sqlite database `app.db`\n\n\
             SET      VERSION         NAME             STATE      APPLIED AT (UTC)\n\
             app      1               m1               applied    2026-11-22 07:30:55\n\
             app      20261122080000  m20261122080000  pending\n\
             billing  3               m3               dirty (2)  2026-11-22 07:31:00\n\
             \n3 migrations: 1 applied, 1 pending, 1 dirty; needs attention\n\
             \x20 dirty: a migration stopped part-way; check what took effect, then run `repair` (with `--in-flight committed` or `--in-flight not-committed` when a statement was in flight)\n\
             \x20 billing@3_m3: stopped after 2 statements\n"
        );
        let mut coloured = String::new();
        super::status(&mut coloured, &database, &status, false, Paint::with(true));
        assert!(coloured.contains("\u{1b}["));

        let mut out = String::new();
        current(&mut out, &status);
        assert_eq!(out, "app      1_m1\nbilling  3_m3 (dirty)\n");
    }

    #[test]
    fn an_in_flight_statement_and_a_partial_row_are_spelled_out() {
        let status = Status::from_entries(vec![
            entry(
                "app",
                1,
                State::Partial {
                    completed: 1,
                    direction: Direction::Up,
                },
                Some("2026-11-22T07:30:55.123Z"),
            ),
            entry(
                "app",
                2,
                State::Dirty {
                    completed: 0,
                    in_flight: Some(crate::InFlight::new(
                        1,
                        3,
                        "INSERT INTO ledger SELECT SLEEP(1.5)",
                    )),
                },
                Some("2026-11-22T07:31:00.000Z"),
            ),
        ]);
        let database = Database {
            backend: "mysql",
            name: "app".to_owned(),
        };
        let mut out = String::new();
        super::status(&mut out, &database, &status, false, Paint::with(false));
        assert_eq!(
            out,
            "mysql database `app`\n\n\
             SET  VERSION  NAME  STATE                             APPLIED AT (UTC)\n\
             app  1        m1    partial (1)                       2026-11-22 07:30:55\n\
             app  2        m2    dirty (0, statement 1 in flight)  2026-11-22 07:31:00\n\
             \n2 migrations: 1 partial, 1 dirty; needs attention\n\
             \x20 dirty: a migration stopped part-way; check what took effect, then run `repair` (with `--in-flight committed` or `--in-flight not-committed` when a statement was in flight)\n\
             \x20 app@1_m1: partial: the next upgrade resumes after statement 1\n\
             \x20 app@2_m2: stopped after 0 statements; statement 1 (line 3, `INSERT INTO ledger SELECT SLEEP(1.5)`) was in flight and may or may not have committed\n"
        );
        let mut out = String::new();
        current(&mut out, &status);
        assert_eq!(out, "app  2_m2 (dirty)\n");
    }

    #[test]
    fn each_state_that_needs_attention_says_what_to_do() {
        let status = Status::from_entries(vec![
            entry("app", 1, State::Applied, Some("2026-11-22T07:30:55.123Z")),
            entry(
                "app",
                2,
                State::Diverged {
                    applied: "a".into(),
                    current: "b".into(),
                },
                Some("2026-11-22T07:30:55.123Z"),
            ),
            entry(
                "core",
                7,
                State::UnknownApplied {
                    set_version: "2.0.0".into(),
                },
                Some("2026-11-22T07:30:55.123Z"),
            ),
        ]);
        let database = Database {
            backend: "sqlite",
            name: "app.db".to_owned(),
        };
        let summary = |allow_unknown| {
            let mut out = String::new();
            super::status(
                &mut out,
                &database,
                &status,
                allow_unknown,
                Paint::with(false),
            );
            out.split_once("\n\n3 migrations: ")
                .map(|(_, s)| s.to_owned())
                .unwrap_or_default()
        };
        assert_eq!(
            summary(false),
            "1 applied, 1 diverged, 1 unknown; needs attention\n\
             \x20 diverged: changed after it was applied; restore the file, or accept the change with `repair`\n\
             \x20 unknown: applied by a newer binary or by another set; `up` refuses them unless allowed (`--allow-unknown`)\n"
        );
        assert_eq!(
            summary(true),
            "1 applied, 1 diverged, 1 unknown; needs attention\n\
             \x20 diverged: changed after it was applied; restore the file, or accept the change with `repair`\n"
        );
    }

    #[test]
    fn durations_read_alike_everywhere() {
        assert_eq!(duration(Duration::from_nanos(176_900)), "176.9µs");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5s");
        let mut out = String::new();
        let report = Report {
            steps: vec![crate::report::ReportStep {
                migration: "app@1_a".to_owned(),
                action: crate::report::Action::Stamped,
                duration: Duration::ZERO,
                completed: 0,
            }],
            duration: Duration::from_micros(2500),
        };
        super::report(&mut out, &report, Paint::with(false));
        assert_eq!(out, "stamped app@1_a\n1 step in 2.5ms\n");
    }

    #[test]
    fn the_colour_decision_follows_the_choice_the_terminal_and_no_color() {
        use std::ffi::OsStr;
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        for (choice, terminal, no_color, on) in [
            (ColorChoice::Auto, true, None, true),
            (ColorChoice::Auto, true, set, false),
            (ColorChoice::Auto, true, empty, true),
            (ColorChoice::Auto, false, None, false),
            (ColorChoice::Always, false, set, true),
            (ColorChoice::Never, true, None, false),
        ] {
            assert_eq!(
                colors(choice, terminal, no_color),
                on,
                "{choice:?} {terminal} {no_color:?}"
            );
        }
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
