//! Recognising a statement that ends (or restarts) the run's transaction before it is sent:
//! `COMMIT`, `END`, `ROLLBACK` (but not `ROLLBACK TO SAVEPOINT`), `ABORT`, `BEGIN`,
//! `START TRANSACTION` and `PREPARE TRANSACTION`. PostgreSQL's client library does not say
//! whether a transaction is open, and a `COMMIT` there would commit half a run: the statement
//! is refused instead, with no round trip. A procedure or `DO` block that commits inside a
//! transaction block is refused by PostgreSQL itself (`invalid transaction termination`).

/// Whether `statement` (as the splitter returns it: comments in front removed) is a
/// transaction-control statement that ends or restarts the run's transaction.
pub(crate) fn ends_transaction(statement: &str) -> bool {
    let mut words = Words { rest: statement };
    let Some(first) = words.next() else {
        return false;
    };
    let first = first.to_ascii_uppercase();
    match first.as_str() {
        "COMMIT" | "END" | "ABORT" | "BEGIN" => true,
        "START" | "PREPARE" => words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("TRANSACTION")),
        "ROLLBACK" => {
            // `ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name` keeps the transaction.
            let mut second = words.next();
            if second.is_some_and(|w| {
                w.eq_ignore_ascii_case("WORK") || w.eq_ignore_ascii_case("TRANSACTION")
            }) {
                second = words.next();
            }
            !second.is_some_and(|w| w.eq_ignore_ascii_case("TO"))
        }
        _ => false,
    }
}

/// What a MySQL `LOCK TABLES` / `UNLOCK TABLES` statement does to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableLock {
    /// `LOCK TABLE[S] ...`: until `UNLOCK TABLES`, the connection can use only the tables it
    /// named, so strata's history table is out of reach.
    Lock,
    /// `UNLOCK TABLE[S]`.
    Unlock,
}

/// Whether `statement` takes or releases MySQL's table locks (mysqldump writes them around
/// its `INSERT`s).
pub(crate) fn table_lock(statement: &str) -> Option<TableLock> {
    let mut words = Words { rest: statement };
    let first = words.next()?;
    let second = words.next()?;
    if !(second.eq_ignore_ascii_case("TABLES") || second.eq_ignore_ascii_case("TABLE")) {
        return None;
    }
    if first.eq_ignore_ascii_case("LOCK") {
        Some(TableLock::Lock)
    } else if first.eq_ignore_ascii_case("UNLOCK") {
        Some(TableLock::Unlock)
    } else {
        None
    }
}

/// Whether `statement`, run in autocommit, may keep some of its effects when it fails with an
/// error: a procedure `CALL` or a `DO` block (PostgreSQL procedures and `DO` may `COMMIT`
/// inside; MySQL runs a procedure's statements one by one), a MariaDB `BEGIN NOT ATOMIC`
/// block, and, on databases without transactional DDL, a `DROP` of several objects (MariaDB
/// drops the ones it finds before it reports the missing one). Such a failure is recorded as
/// in flight, for the operator to settle, never as "did not commit".
pub(crate) fn may_commit_part_way(statement: &str, transactional_ddl: bool) -> bool {
    let mut words = Words { rest: statement };
    let Some(first) = words.next() else {
        return false;
    };
    let is = |k: &str| first.eq_ignore_ascii_case(k);
    if is("CALL") || is("DO") {
        return true;
    }
    !transactional_ddl && (is("BEGIN") || (is("DROP") && statement.contains(',')))
}

/// For each statement, the index of the last statement of its progress group: itself,
/// except from a `LOCK TABLES` through the `UNLOCK TABLES` that releases it, where every
/// statement's group ends at that `UNLOCK TABLES`. `Err(i)`: the `LOCK TABLES` at index `i`
/// is never released.
pub(crate) fn lock_groups(statements: &[&str]) -> Result<Vec<usize>, usize> {
    let mut ends: Vec<usize> = (0..statements.len()).collect();
    let mut open: Option<usize> = None;
    for (i, text) in statements.iter().enumerate() {
        match (table_lock(text), open) {
            (Some(TableLock::Lock), None) => open = Some(i),
            (Some(TableLock::Unlock), Some(start)) => {
                ends[start..=i].fill(i);
                open = None;
            }
            // A second `LOCK TABLES` releases the first and locks again: one group.
            _ => {}
        }
    }
    open.map_or(Ok(ends), Err)
}

/// The leading words of a statement, skipping whitespace and comments between them.
struct Words<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let trimmed = self.rest.trim_start();
            if let Some(comment) = trimmed.strip_prefix("--") {
                self.rest = comment.split_once('\n').map_or("", |(_, after)| after);
            } else if trimmed.starts_with("/*") {
                self.rest = after_block_comment(trimmed);
            } else {
                self.rest = trimmed;
                break;
            }
        }
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(word)
    }
}

/// The text after the (possibly nested) block comment `text` starts with; empty when it is
/// not closed.
fn after_block_comment(text: &str) -> &str {
    let bytes = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0);
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return &text[i..];
                }
            }
            _ => i += 1,
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_control_is_recognised_in_any_spelling() {
        for yes in [
            "COMMIT",
            "commit work",
            "COMMIT AND CHAIN",
            "End",
            "END TRANSACTION",
            "ROLLBACK",
            "rollback and no chain",
            "ROLLBACK WORK",
            "ABORT",
            "BEGIN",
            "begin isolation level serializable",
            "BEGIN IMMEDIATE",
            "START TRANSACTION",
            "start /* c */ transaction read only",
            "PREPARE TRANSACTION 'x'",
            "COMMIT/* trailing */",
            "-- a comment\nCOMMIT",
        ] {
            assert!(ends_transaction(yes), "{yes}");
        }
        for no in [
            "",
            "CREATE TABLE commit_log (id INT)",
            "ROLLBACK TO SAVEPOINT a",
            "rollback to a",
            "ROLLBACK TRANSACTION TO SAVEPOINT a",
            "ROLLBACK WORK TO a",
            "SAVEPOINT a",
            "RELEASE SAVEPOINT a",
            "PREPARE q AS SELECT 1",
            "START REPLICA",
            "DO $$ BEGIN COMMIT; END $$",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END",
            "COMMITTED",
            "BEGINNING",
            "/* unclosed COMMIT",
        ] {
            assert!(!ends_transaction(no), "{no}");
        }
    }
}
