//! What calls return: the [`Report`] of a mutating call and the [`Status`] of a database.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::adapter::{Record, RecordState};
use crate::error::{Direction, InFlight};
use crate::migration::Set;
use crate::plan::{self, Applied};

/// What a step of a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The migration ran up.
    Applied,
    /// The migration ran down.
    Reverted,
    /// Recorded as applied without running (stamp).
    Stamped,
    /// Its history row removed without running (stamp down).
    Unstamped,
    /// Its stored checksum replaced by the current one (repair).
    ChecksumAccepted,
    /// Its dirty row settled (repair): removed or applied again when no statement had taken
    /// effect, else made partial, so that the next run resumes after
    /// [`ReportStep::completed`] statements.
    DirtyCleared,
}

impl Action {
    /// How a report line says it: `applied`, `accepted checksum of`...
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Action::Applied => "applied",
            Action::Reverted => "reverted",
            Action::Stamped => "stamped",
            Action::Unstamped => "unstamped",
            Action::ChecksumAccepted => "accepted checksum of",
            Action::DirtyCleared => "cleared dirty",
        }
    }
}

/// One migration of a [`Report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportStep {
    /// `set@version_name`.
    pub migration: String,
    /// What happened to it.
    pub action: Action,
    /// How long it took.
    pub duration: Duration,
    /// Statements known to have taken effect before: a resumed migration (`Applied`,
    /// `Reverted`) skipped them; a settled dirty row (`DirtyCleared`) is partial with them. 0
    /// otherwise.
    pub completed: u32,
}

impl ReportStep {
    /// `, resumed after statement 2` or `, resumes after statement 2`, for report lines.
    pub(crate) fn resumed_note(&self) -> String {
        match (self.completed, self.action) {
            (0, _) => String::new(),
            (n, Action::DirtyCleared) => {
                format!(", partial: the next run resumes after statement {n}")
            }
            (n, _) => format!(", resumed after statement {n}"),
        }
    }
}

/// What a mutating call did, with timings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub(crate) steps: Vec<ReportStep>,
    pub(crate) duration: Duration,
}

impl Report {
    /// The steps, in the order they ran.
    #[must_use]
    pub fn steps(&self) -> &[ReportStep] {
        &self.steps
    }

    /// Whether nothing was done.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The migrations applied, in order.
    #[must_use]
    pub fn applied(&self) -> Vec<&str> {
        self.with(Action::Applied)
    }

    /// The migrations reverted, in order.
    #[must_use]
    pub fn reverted(&self) -> Vec<&str> {
        self.with(Action::Reverted)
    }

    fn with(&self, action: Action) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|s| s.action == action)
            .map(|s| s.migration.as_str())
            .collect()
    }

    /// The time the whole call took, lock and bookkeeping included.
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return writeln!(f, "nothing to do ({:.1?})", self.duration);
        }
        for s in &self.steps {
            writeln!(
                f,
                "{} {} ({:.1?}{})",
                s.action.verb(),
                s.migration,
                s.duration,
                s.resumed_note()
            )?;
        }
        let n = self.steps.len();
        let steps = if n == 1 { "step" } else { "steps" };
        writeln!(f, "{n} {steps} in {:.1?}", self.duration)
    }
}

/// One event of a run, passed to the hook set with
/// [`Migrations::on_progress`](crate::Migrations::on_progress): a migration starts, or it has
/// run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress<'a> {
    /// `set@version_name`.
    pub migration: &'a str,
    /// Applying or reverting.
    pub direction: Direction,
    /// 1-based position of the migration in the run's plan.
    pub step: usize,
    /// Number of migrations the run planned (another process may do some of them first).
    pub steps: usize,
    /// `None` when the migration starts; how long it ran once it has run (its history row
    /// written; committed unless the run is one transaction).
    pub duration: Option<Duration>,
}

/// The progress hook: shared, callable from the migrating thread.
#[derive(Clone)]
pub(crate) struct ProgressHook(pub(crate) Arc<HookFn>);

/// The type of a progress hook.
pub(crate) type HookFn = dyn Fn(&Progress<'_>) + Send + Sync;

impl fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressHook")
    }
}

/// The state of one migration in a [`Status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Applied, checksum matching.
    Applied,
    /// Not applied yet.
    Pending,
    /// Applied, but the migration changed since: checksums differ.
    Diverged {
        /// The stored checksum.
        applied: String,
        /// The current checksum.
        current: String,
    },
    /// Applied, but this binary does not know it.
    UnknownApplied {
        /// The set version that applied it.
        set_version: String,
    },
    /// Started outside a transaction and not completed: blocks every run until repaired.
    Dirty {
        /// Statements that had completed.
        completed: u32,
        /// The statement sent after them, which may or may not have committed, when the row
        /// names one.
        in_flight: Option<InFlight>,
    },
    /// A repaired dirty row: the first `completed` statements took effect, and the next run in
    /// `direction` resumes after them.
    Partial {
        /// Statements that took effect.
        completed: u32,
        /// Applying (`Up`: pending) or reverting (`Down`: still applied).
        direction: Direction,
    },
}

impl State {
    /// How the row's progress reads in status output: `stopped after 1 statement; statement 2
    /// (line 4, `...`) was in flight and may or may not have committed`, `stopped after 2
    /// statements`, `partial: resumes after statement 2`; `None` for other states.
    #[must_use]
    pub fn progress(&self) -> Option<String> {
        let statements = |n: u32| format!("{n} statement{}", if n == 1 { "" } else { "s" });
        match self {
            State::Dirty {
                completed,
                in_flight: Some(sent),
            } => Some(format!(
                "stopped after {}; {sent} was in flight and may or may not have committed",
                statements(*completed)
            )),
            State::Dirty {
                completed,
                in_flight: None,
            } => Some(format!("stopped after {}", statements(*completed))),
            State::Partial {
                completed,
                direction,
            } => Some(format!(
                "partial: the next {} resumes after statement {completed}",
                match direction {
                    Direction::Up => "upgrade",
                    Direction::Down => "downgrade",
                }
            )),
            _ => None,
        }
    }
}

/// One line of a [`Status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    /// The set.
    pub set: String,
    /// The version.
    pub version: u64,
    /// The name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// When it was applied, for applied rows.
    pub applied_at: Option<String>,
}

impl StatusEntry {
    /// `set@version_name`.
    #[must_use]
    pub fn id(&self) -> String {
        crate::migration::id(&self.set, self.version, &self.name)
    }
}

/// Every migration known to the binary or recorded in the database, with its state, set by
/// set in version order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    entries: Vec<StatusEntry>,
}

impl Status {
    #[cfg(all(test, feature = "cli"))]
    pub(crate) fn from_entries(entries: Vec<StatusEntry>) -> Status {
        Status { entries }
    }

    /// All entries.
    #[must_use]
    pub fn entries(&self) -> &[StatusEntry] {
        &self.entries
    }

    /// The entries in a state, such as `|s| matches!(s, State::Pending)`.
    pub fn filter(&self, pred: impl Fn(&State) -> bool) -> impl Iterator<Item = &StatusEntry> {
        self.entries.iter().filter(move |e| pred(&e.state))
    }

    /// Whether every known migration is applied and nothing is off.
    #[must_use]
    pub fn is_up_to_date(&self) -> bool {
        self.entries.iter().all(|e| e.state == State::Applied)
    }

    /// The entries of one set, in its version order (each set keeps its own order).
    pub fn set<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a StatusEntry> + 'a {
        self.entries.iter().filter(move |e| e.set == name)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.entries.iter().map(|e| e.id().len()).max().unwrap_or(0);
        for e in &self.entries {
            let state = match &e.state {
                State::Applied => "applied".to_owned(),
                State::Pending => "pending".to_owned(),
                State::Diverged { .. } => "diverged (checksum changed)".to_owned(),
                State::UnknownApplied { set_version } => {
                    format!("unknown (applied by set version {set_version})")
                }
                State::Dirty { .. } => "dirty".to_owned(),
                State::Partial {
                    direction: Direction::Up,
                    ..
                } => "partial".to_owned(),
                State::Partial {
                    direction: Direction::Down,
                    ..
                } => "partial (reverting)".to_owned(),
            };
            let at = e.applied_at.as_deref().unwrap_or("");
            writeln!(f, "{:width$}  {state:28} {at}", e.id())?;
            if let Some(progress) = e.state.progress() {
                writeln!(f, "{:width$}  {progress}", "")?;
            }
        }
        Ok(())
    }
}

pub(crate) fn status(sets: &[Set], records: &[Record]) -> Status {
    let applied = Applied::new(records);
    let mut entries = Vec::new();
    for set in sets {
        for m in set.migrations() {
            let record = applied.get(set.name(), m.version);
            let state = match record {
                None => State::Pending,
                Some(r) => unfinished(r).unwrap_or_else(|| match plan::checksum_mismatch(m, r) {
                    None => State::Applied,
                    Some((applied, current)) => State::Diverged {
                        applied,
                        current: current.to_string(),
                    },
                }),
            };
            entries.push(StatusEntry {
                set: set.name().to_owned(),
                version: m.version,
                name: m.name.clone(),
                state,
                applied_at: record.map(|r| r.applied_at.clone()),
            });
        }
    }
    for r in plan::unknown_records(sets, records) {
        let state = unfinished(r).unwrap_or_else(|| State::UnknownApplied {
            set_version: r.set_version.clone(),
        });
        entries.push(StatusEntry {
            set: r.set.clone(),
            version: r.version,
            name: r.name.clone(),
            state,
            applied_at: Some(r.applied_at.clone()),
        });
    }
    Status { entries }
}

/// The state of a dirty or partial row; `None` for an applied one.
fn unfinished(r: &Record) -> Option<State> {
    match r.state {
        RecordState::Dirty { completed, .. } => Some(State::Dirty {
            completed,
            in_flight: r.in_flight.clone(),
        }),
        RecordState::Partial {
            completed,
            direction,
        } => Some(State::Partial {
            completed,
            direction,
        }),
        RecordState::Applied => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_and_partial_rows_say_what_is_known() {
        let entry = |version, state| StatusEntry {
            set: "app".to_owned(),
            version,
            name: "m".to_owned(),
            state,
            applied_at: Some("2026-11-22T07:30:55.123Z".to_owned()),
        };
        let status = Status {
            entries: vec![
                entry(
                    1,
                    State::Partial {
                        completed: 2,
                        direction: Direction::Down,
                    },
                ),
                entry(
                    2,
                    State::Dirty {
                        completed: 1,
                        in_flight: Some(InFlight::new(2, 5, "UPDATE t SET a = 1")),
                    },
                ),
            ],
        };
        assert_eq!(
            status.to_string(),
            "app@1_m  partial (reverting)          2026-11-22T07:30:55.123Z\n\
             \x20        partial: the next downgrade resumes after statement 2\n\
             app@2_m  dirty                        2026-11-22T07:30:55.123Z\n\
             \x20        stopped after 1 statement; statement 2 (line 5, `UPDATE t SET a = 1`) was in flight and may or may not have committed\n"
        );
        assert!(!status.is_up_to_date());
        let report = Report {
            steps: vec![ReportStep {
                migration: "app@2_m".to_owned(),
                action: Action::Applied,
                duration: Duration::from_millis(3),
                completed: 1,
            }],
            duration: Duration::from_millis(4),
        };
        assert_eq!(
            report.to_string(),
            "applied app@2_m (3.0ms, resumed after statement 1)\n1 step in 4.0ms\n"
        );
    }
}
