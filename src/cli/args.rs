//! The clap types: `Migrate` (a subcommand and the output options), the subcommands, `sql`'s.

use clap::{ColorChoice, Subcommand};

use super::output::Paint;

/// The `migrate` command: a subcommand and the output options.
#[derive(Debug, Clone, clap::Args)]
pub struct Migrate {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// How to print.
    #[command(flatten)]
    pub options: Options,
}

/// Output options of every subcommand.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// When to use colours: `auto` (when the stream is a terminal and `NO_COLOR` is not set),
    /// `always`, `never`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// No progress lines on standard error.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

impl Options {
    /// Whether to colour a stream that is (or is not) a terminal: `--color always`, or `auto`
    /// on a terminal with `NO_COLOR` unset or empty.
    #[must_use]
    pub fn colors(&self, is_terminal: bool) -> bool {
        Paint::new(self.color, is_terminal).is_on()
    }
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Every migration with its state, set by set, and a summary line.
    Status,
    /// Applies pending migrations up to a target (default: `heads`, everything).
    Up {
        /// `heads`, `<set>@head`, a version, `<set>@<version>`, `+N`.
        target: Option<String>,
        /// Prints the plan and changes nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Reverts applied migrations down to a target (required: `-1`, `base`, a version...).
    Down {
        /// `-N`, `base`, `<set>@base`, a version, `<set>@<version>`.
        #[arg(allow_hyphen_values = true)]
        target: String,
        /// Prints the plan and changes nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The latest applied migration of each set.
    Current,
    /// The history table's rows in the order they were written.
    History,
    /// Records the database as being at a target without running anything.
    Stamp {
        /// Any target.
        #[arg(allow_hyphen_values = true)]
        target: String,
    },
    /// Accepts changed checksums and settles dirty rows: the next `up` (or `down`) resumes
    /// after the statements that took effect.
    Repair {
        /// Repairs this set only.
        #[arg(long)]
        set: Option<String>,
        /// Whether the statement a dirty row names as in flight committed (`committed`: resume
        /// after it) or not (`not-committed`: resume at it). Required when a dirty row names
        /// one: check the database first.
        #[arg(long, value_enum, value_name = "OUTCOME", conflicts_with = "completed")]
        in_flight: Option<InFlightArg>,
        /// How many statements of the migration took effect in all, counted from its first:
        /// for a table-locked group or a procedure that committed part of its work, where
        /// neither `--in-flight` answer is true.
        #[arg(long, value_name = "N")]
        completed: Option<u32>,
    },
    /// Prints the SQL script of an upgrade or downgrade, to review and run by hand.
    #[command(subcommand)]
    Sql(Sql),
}

/// The values of `repair --in-flight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InFlightArg {
    /// The statement committed: the next run resumes after it.
    Committed,
    /// The statement did not commit: the next run runs it.
    NotCommitted,
}

impl From<InFlightArg> for crate::InFlightOutcome {
    fn from(arg: InFlightArg) -> crate::InFlightOutcome {
        match arg {
            InFlightArg::Committed => crate::InFlightOutcome::Committed,
            InFlightArg::NotCommitted => crate::InFlightOutcome::NotCommitted,
        }
    }
}

/// The scripts of `sql`.
#[derive(Debug, Clone, Subcommand)]
pub enum Sql {
    /// The script of an upgrade (default target: `heads`).
    Up {
        /// The target.
        target: Option<String>,
        /// The target the database is at (default: read its history).
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
    },
    /// The script of a downgrade.
    Down {
        /// The target.
        #[arg(allow_hyphen_values = true)]
        target: String,
        /// The target the database is at (default: read its history).
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct App {
        #[command(subcommand)]
        command: AppCommand,
    }

    #[derive(clap::Subcommand)]
    enum AppCommand {
        Serve,
        Migrate(Migrate),
    }

    fn parse(args: &[&str]) -> std::result::Result<Migrate, clap::Error> {
        let app = App::try_parse_from(std::iter::once("app").chain(args.iter().copied()))?;
        match app.command {
            AppCommand::Migrate(m) => Ok(m),
            AppCommand::Serve => {
                Err(App::command().error(clap::error::ErrorKind::InvalidValue, "serve"))
            }
        }
    }

    #[test]
    fn subcommands_parse_inside_an_application_parser() -> std::result::Result<(), clap::Error> {
        App::command().debug_assert();
        let m = parse(&["migrate", "down", "-1", "--dry-run"])?;
        assert!(matches!(m.command, Command::Down { ref target, dry_run: true } if target == "-1"));
        let m = parse(&["migrate", "--color", "never", "up"])?;
        assert!(matches!(
            m.command,
            Command::Up {
                target: None,
                dry_run: false
            }
        ));
        assert_eq!(m.options.color, ColorChoice::Never);
        let m = parse(&["migrate", "sql", "down", "base", "--from", "heads", "-q"])?;
        assert!(m.options.quiet);
        assert!(matches!(
            m.command,
            Command::Sql(Sql::Down { ref target, from: Some(ref from) }) if target == "base" && from == "heads"
        ));
        let m = parse(&["migrate", "repair", "--set", "billing"])?;
        assert!(
            matches!(m.command, Command::Repair { set: Some(ref s), in_flight: None, completed: None } if s == "billing")
        );
        let m = parse(&["migrate", "repair", "--in-flight", "not-committed"])?;
        assert!(matches!(
            m.command,
            Command::Repair {
                set: None,
                in_flight: Some(InFlightArg::NotCommitted),
                completed: None
            }
        ));
        let m = parse(&["migrate", "repair", "--completed", "3"])?;
        assert!(matches!(
            m.command,
            Command::Repair {
                completed: Some(3),
                ..
            }
        ));
        assert!(
            parse(&[
                "migrate",
                "repair",
                "--completed",
                "3",
                "--in-flight",
                "committed"
            ])
            .is_err()
        );
        assert!(parse(&["migrate", "repair", "--in-flight", "maybe"]).is_err());
        assert!(parse(&["migrate", "down"]).is_err(), "down needs a target");
        assert!(parse(&["serve"]).is_err(), "not a migrate command");
        Ok(())
    }
}
