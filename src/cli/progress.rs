//! Progress lines on standard error while `up` and `down` run.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use super::Options;
use super::output::Paint;
use crate::error::Direction;
use crate::migrator::Migrations;
use crate::report::Progress;

/// Prints one progress line per migration to standard error:
/// `[ 3/12] applying app@3_add_users ... 1.2ms`, the start written when the migration starts
/// and the duration appended when it has run.
pub(super) struct Printer {
    paint: Paint,
    quiet: bool,
    /// Whether a line is started and not finished (the migration is running, or failed).
    open: Arc<Mutex<bool>>,
}

impl Printer {
    pub(super) fn stderr(options: &Options) -> Printer {
        Printer {
            paint: Paint::new(options.color, io::stderr().is_terminal()),
            quiet: options.quiet,
            open: Arc::new(Mutex::new(false)),
        }
    }

    /// `migrations` with a progress hook that prints, then calls the hook it had.
    pub(super) fn hook(&self, migrations: &Migrations) -> Migrations {
        if self.quiet {
            return migrations.clone();
        }
        let previous = migrations.progress_hook();
        let (paint, open) = (self.paint, Arc::clone(&self.open));
        migrations.clone().on_progress(move |p| {
            let line = progress_line(p, paint);
            let mut stderr = io::stderr().lock();
            let _ = stderr
                .write_all(line.as_bytes())
                .and_then(|()| stderr.flush());
            if let Ok(mut open) = open.lock() {
                *open = p.duration.is_none();
            }
            if let Some(previous) = &previous {
                previous(p);
            }
        })
    }

    /// Ends a line left open by a migration that failed.
    pub(super) fn end_line(&self) {
        if self.open.lock().is_ok_and(|open| *open) {
            let _ = writeln!(io::stderr(), " {}", self.paint.error("failed"));
        }
    }
}

/// The text a progress event adds to standard error.
fn progress_line(p: &Progress<'_>, paint: Paint) -> String {
    match p.duration {
        None => {
            let width = p.steps.to_string().len();
            let verb = match p.direction {
                Direction::Up => "applying",
                Direction::Down => "reverting",
            };
            let step = paint.dim(&format!("[{:>width$}/{}]", p.step, p.steps));
            format!("{step} {verb} {} ...", paint.bold(p.migration))
        }
        Some(d) => format!(" {}\n", paint.good(&super::output::duration(d))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn progress_lines_read_as_one_line_per_migration() {
        let start = Progress {
            migration: "app@3_add_users",
            direction: Direction::Up,
            step: 3,
            steps: 120,
            duration: None,
        };
        let done = Progress {
            duration: Some(Duration::from_millis(1234)),
            ..start
        };
        let text =
            progress_line(&start, Paint::with(false)) + &progress_line(&done, Paint::with(false));
        assert_eq!(text, "[  3/120] applying app@3_add_users ... 1.2s\n");
        assert!(!text.contains('\u{1b}'));
    }
}
