//! Client-side statement splitting, so that an error can name the failing statement and its
//! line in the file.
//!
//! [`split`] is the one splitter strata has: the runner, validation ([`Embedded::to_set`],
//! [`Set::from_dir`]), offline scripts and [`Transaction::execute`] all call it. It refuses what
//! it cannot prove: text that ends inside a comment, a string, a quoted identifier, a dollar
//! quote, a parenthesis or a `BEGIN ... END` body, and a NUL byte anywhere, are a
//! [`SplitError`] naming the line where the construct opened.
//!
//! [`Embedded::to_set`]: crate::Embedded::to_set
//! [`Set::from_dir`]: crate::Set::from_dir
//! [`Transaction::execute`]: crate::Transaction::execute

use std::fmt;

pub use crate::error::Unsplittable;

/// What the statement splitter must know about a database's SQL: which quotes and comments it
/// has. Adapters pick one of the constants, or build their own from one with struct update
/// syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // independent switches of one lexer
pub struct Syntax {
    /// `$$ ... $$` and `$tag$ ... $tag$` quoted strings (PostgreSQL).
    pub dollar_quotes: bool,
    /// `/* /* */ */` block comments nest (PostgreSQL).
    pub nested_comments: bool,
    /// A backslash escapes the next character inside `'...'` and `"..."` (MySQL).
    pub backslash_escapes: bool,
    /// `[identifier]` quoting (SQLite, SQL Server).
    pub bracket_identifiers: bool,
    /// `` `identifier` `` quoting (SQLite, MySQL).
    pub backtick_identifiers: bool,
    /// `#` starts a line comment (MySQL).
    pub hash_comments: bool,
    /// `E'...'` strings, where a backslash escapes the next character (PostgreSQL).
    pub escape_strings: bool,
    /// `/*! ... */` and `/*M! ... */` are executable code, and `--` starts a comment only when
    /// followed by whitespace or the end of the text (MySQL, MariaDB).
    pub mysql_comments: bool,
    /// `DELIMITER xx` lines switch the statement terminator, as the `mysql` and `mariadb`
    /// clients do (MySQL, MariaDB).
    pub delimiter_command: bool,
    /// `BEGIN NOT ATOMIC ... END` is one anonymous compound statement (MariaDB).
    pub not_atomic_blocks: bool,
}

impl Syntax {
    /// SQLite's lexer.
    pub const SQLITE: Syntax = Syntax {
        dollar_quotes: false,
        nested_comments: false,
        backslash_escapes: false,
        bracket_identifiers: true,
        backtick_identifiers: true,
        hash_comments: false,
        escape_strings: false,
        mysql_comments: false,
        delimiter_command: false,
        not_atomic_blocks: false,
    };

    /// PostgreSQL's lexer.
    pub const POSTGRES: Syntax = Syntax {
        dollar_quotes: true,
        nested_comments: true,
        backslash_escapes: false,
        bracket_identifiers: false,
        backtick_identifiers: false,
        hash_comments: false,
        escape_strings: true,
        mysql_comments: false,
        delimiter_command: false,
        not_atomic_blocks: false,
    };

    /// MySQL's and MariaDB's lexer, with the `mysql` client's `DELIMITER` command.
    pub const MYSQL: Syntax = Syntax {
        dollar_quotes: false,
        nested_comments: false,
        backslash_escapes: true,
        bracket_identifiers: false,
        backtick_identifiers: true,
        hash_comments: true,
        escape_strings: false,
        mysql_comments: true,
        delimiter_command: true,
        not_atomic_blocks: true,
    };
}

/// A database whose SQL strata can split: what validation checks a set against.
///
/// [`Dialect::compiled`] (the default of [`Embedded::to_set`](crate::Embedded::to_set) and
/// [`Set::from_dir`](crate::Set::from_dir)) is the dialects whose adapter features are enabled,
/// or all of them when none is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: &'static [Dialect] = &[Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql];

    /// The dialects of the adapter features this build of strata has (`rusqlite`, `postgres`,
    /// `mysql`), or [`Dialect::ALL`] when it has none.
    ///
    /// ```
    /// assert!(!strata::sql::Dialect::compiled().is_empty());
    /// ```
    #[must_use]
    pub const fn compiled() -> &'static [Dialect] {
        const ENABLED: &[Dialect] = &[
            #[cfg(feature = "rusqlite")]
            Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Dialect::Postgres,
            #[cfg(feature = "mysql")]
            Dialect::Mysql,
        ];
        if ENABLED.is_empty() {
            Dialect::ALL
        } else {
            ENABLED
        }
    }

    /// The splitter's rules for this dialect.
    #[must_use]
    pub fn syntax(self) -> Syntax {
        match self {
            Dialect::Sqlite => Syntax::SQLITE,
            Dialect::Postgres => Syntax::POSTGRES,
            Dialect::Mysql => Syntax::MYSQL,
        }
    }

    /// The backend's name, as adapters report it: `sqlite`, `postgres`, `mysql`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One statement of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement, from its first token to before its `;` (or its `DELIMITER`), comments
    /// in front removed.
    pub text: &'a str,
    /// Byte offset of `text` in the migration.
    pub offset: usize,
    /// 1-based line of `text`'s first character in the migration.
    pub line: usize,
}

/// Text that [`split`] refuses: what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    problem: Unsplittable,
    line: usize,
    statement: usize,
}

impl SplitError {
    /// What is wrong.
    #[must_use]
    pub fn problem(&self) -> &Unsplittable {
        &self.problem
    }

    /// 1-based line where the construct opened (where the NUL byte is).
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based number of the statement it is in (the statements before it count).
    #[must_use]
    pub fn statement(&self) -> usize {
        self.statement
    }
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid SQL at line {} (statement {}): {}",
            self.line, self.statement, self.problem
        )
    }
}

impl std::error::Error for SplitError {}

impl SplitError {
    /// The error of a migration `file` (or migration id) split by `dialect`'s rules.
    pub(crate) fn into_error(self, file: String, dialect: &'static str) -> crate::Error {
        crate::Error::new(crate::ErrorKind::InvalidSql {
            file,
            line: self.line,
            statement: self.statement,
            dialect,
            problem: self.problem,
        })
    }
}

/// Splits SQL text into statements at `;`, ignoring `;` inside strings, quoted identifiers,
/// comments, dollar quotes, parentheses and `BEGIN ... END` bodies of triggers, procedures,
/// functions, events and (MariaDB) `BEGIN NOT ATOMIC` blocks. With
/// [`Syntax::delimiter_command`], `DELIMITER xx` lines switch the terminator to `xx` as the
/// `mysql` client does, and are not statements. Statements that hold only comments or
/// whitespace (any Unicode whitespace, vertical tab included) are dropped.
///
/// ```
/// use strata::sql::{split, Syntax};
///
/// let sql = "CREATE TABLE a (x INT);\nDELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END$$\n";
/// let statements = split(sql, Syntax::MYSQL)?;
/// assert_eq!(statements[1].text, "CREATE PROCEDURE p() BEGIN SELECT 1; END");
/// assert_eq!(statements[1].line, 3);
///
/// let err = split("SELECT 1;\n/* oops\nDROP TABLE a;", Syntax::SQLITE).unwrap_err();
/// assert_eq!(err.to_string(), "invalid SQL at line 2 (statement 2): `/*` comment is never closed");
/// # Ok::<(), strata::sql::SplitError>(())
/// ```
///
/// # Errors
///
/// A [`SplitError`] when the text ends inside a block comment, a string, a quoted identifier,
/// a dollar quote, a parenthesis or a compound body, has a NUL byte, or has a malformed
/// `DELIMITER` line.
pub fn split(text: &str, syntax: Syntax) -> Result<Vec<Statement<'_>>, SplitError> {
    Splitter {
        bytes: text.as_bytes(),
        text,
        syntax,
        pos: 0,
        line: 1,
        line_pos: 0,
    }
    .run()
}

/// The 1-based line of byte `offset` in `text` (`\n`, `\r\n` and a lone `\r` each end a line).
#[must_use]
pub fn line_at(text: &str, offset: usize) -> usize {
    let bytes = &text.as_bytes()[..offset.min(text.len())];
    let mut line = 1;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            line += 1;
        }
    }
    line
}

/// What the splitter knows of the statement it is in, for compound bodies and parentheses.
#[derive(Default)]
struct Block {
    words: usize,
    create: bool,
    paren_seen: bool,
    compound: bool,
    /// `BEGIN`/`CASE` levels open in a compound body, and where the outermost opened.
    depth: usize,
    depth_open: usize,
    /// For each open level, whether a `CASE` opened it (innermost last).
    cases: Vec<bool>,
    /// Parentheses open, and where the outermost opened.
    parens: usize,
    paren_open: usize,
}

struct Splitter<'a> {
    bytes: &'a [u8],
    text: &'a str,
    syntax: Syntax,
    pos: usize,
    /// Line counting is incremental: `line` is the line of byte `line_pos`.
    line: usize,
    line_pos: usize,
}

/// A construct that does not end, and the byte offset where it opened.
type Open = (Unsplittable, usize);

impl<'a> Splitter<'a> {
    #[allow(clippy::too_many_lines)] // one arm per token kind reads best as one loop
    fn run(mut self) -> Result<Vec<Statement<'a>>, SplitError> {
        let mut out = Vec::new();
        let mut start: Option<usize> = None;
        let mut end = 0;
        // `None`: statements end at `;`; `Some(d)`: at `d`, after a `DELIMITER d` line.
        let mut delimiter: Option<&'a str> = None;
        // A UTF-8 byte order mark is not part of the first statement.
        if self.text.starts_with('\u{feff}') {
            self.pos = '\u{feff}'.len_utf8();
        }
        let mut block = Block::default();
        while self.pos < self.bytes.len() {
            let b = self.bytes[self.pos];
            let at = self.pos;
            let ends_here = match delimiter {
                Some(d) => self.bytes[at..].starts_with(d.as_bytes()),
                None => b == b';' && block.depth == 0 && block.parens == 0,
            };
            if ends_here {
                if let Some(s) = start.take() {
                    out.push(self.statement(s, end));
                }
                block = Block::default();
                self.pos += delimiter.map_or(1, str::len);
                continue;
            }
            let skipped = match b {
                b'-' if self.peek(1) == Some(b'-')
                    && (!self.syntax.mysql_comments
                        || self
                            .peek(2)
                            .is_none_or(|c| c.is_ascii_whitespace() || c.is_ascii_control())) =>
                {
                    self.skip_line();
                    true
                }
                b'#' if self.syntax.hash_comments => {
                    self.skip_line();
                    true
                }
                b'/' if self.peek(1) == Some(b'*') => {
                    // `/*! ... */` is executable in MySQL: part of the statement.
                    let executable = self.syntax.mysql_comments
                        && (self.peek(2) == Some(b'!')
                            || (self.peek(2) == Some(b'M') && self.peek(3) == Some(b'!')));
                    if !self.skip_block_comment() {
                        return Err(self.error((Unsplittable::BlockComment, at), out.len() + 1));
                    }
                    !executable
                }
                b'\'' => {
                    let escape_string = self.syntax.escape_strings
                        && at > 0
                        && matches!(self.bytes[at - 1], b'E' | b'e')
                        && (at < 2 || !is_word_byte(self.bytes[at - 2]));
                    if !self.skip_quoted(b'\'', self.syntax.backslash_escapes || escape_string) {
                        return Err(
                            self.error((Unsplittable::String { quote: '\'' }, at), out.len() + 1)
                        );
                    }
                    false
                }
                b'"' => {
                    if !self.skip_quoted(b'"', self.syntax.backslash_escapes) {
                        // MySQL's `"` quotes a string (unless `ANSI_QUOTES`).
                        let problem = if self.syntax.backslash_escapes {
                            Unsplittable::String { quote: '"' }
                        } else {
                            Unsplittable::QuotedIdentifier { quote: '"' }
                        };
                        return Err(self.error((problem, at), out.len() + 1));
                    }
                    false
                }
                b'`' if self.syntax.backtick_identifiers => {
                    if !self.skip_quoted(b'`', false) {
                        let problem = Unsplittable::QuotedIdentifier { quote: '`' };
                        return Err(self.error((problem, at), out.len() + 1));
                    }
                    false
                }
                b'[' if self.syntax.bracket_identifiers => {
                    if !self.skip_quoted(b']', false) {
                        let problem = Unsplittable::QuotedIdentifier { quote: '[' };
                        return Err(self.error((problem, at), out.len() + 1));
                    }
                    false
                }
                b'$' if self.syntax.dollar_quotes && self.dollar_tag().is_some() => {
                    if let Some(tag) = self.skip_dollar_quote() {
                        let problem = Unsplittable::DollarQuote {
                            tag: tag.to_owned(),
                        };
                        return Err(self.error((problem, at), out.len() + 1));
                    }
                    false
                }
                b'(' => {
                    if block.parens == 0 {
                        block.paren_open = at;
                    }
                    block.parens += 1;
                    block.paren_seen = true;
                    self.pos += 1;
                    false
                }
                b')' => {
                    // A stray `)` is the database's to report.
                    block.parens = block.parens.saturating_sub(1);
                    self.pos += 1;
                    false
                }
                0 => return Err(self.error((Unsplittable::Nul, at), out.len() + 1)),
                b if b.is_ascii_alphabetic() || b == b'_' => {
                    let word_end = self.word_end();
                    let word = &self.text[at..word_end];
                    if start.is_none()
                        && self.syntax.delimiter_command
                        && word.eq_ignore_ascii_case("delimiter")
                        && self
                            .bytes
                            .get(word_end)
                            .is_none_or(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
                    {
                        let new = self
                            .delimiter_line(word_end)
                            .map_err(|e| self.error(e, out.len() + 1))?;
                        delimiter = (new != ";").then_some(new);
                        continue;
                    }
                    let after_dot = at > 0 && self.bytes[at - 1] == b'.';
                    self.pos = word_end;
                    if !after_dot {
                        self.keyword(&mut block, word, at);
                    }
                    self.pos = self.pos.max(word_end);
                    false
                }
                _ => match self.whitespace_len() {
                    Some(len) => {
                        self.pos += len;
                        true
                    }
                    None => {
                        self.pos += self
                            .text
                            .get(at..)
                            .and_then(|t| t.chars().next())
                            .map_or(1, char::len_utf8);
                        false
                    }
                },
            };
            if let Some(nul) = self.bytes[at..self.pos].iter().position(|&c| c == 0) {
                return Err(self.error((Unsplittable::Nul, at + nul), out.len() + 1));
            }
            if skipped {
                continue;
            }
            if start.is_none() {
                start = Some(at);
            }
            end = self.pos;
        }
        if let Some(s) = start {
            let mut open = Vec::new();
            if block.depth > 0 {
                open.push((Unsplittable::Block, block.depth_open));
            }
            if block.parens > 0 {
                open.push((Unsplittable::Parenthesis, block.paren_open));
            }
            if let Some(first) = open.into_iter().min_by_key(|(_, at)| *at) {
                return Err(self.error(first, out.len() + 1));
            }
            out.push(self.statement(s, end));
        }
        Ok(out)
    }

    fn error(&self, (problem, at): Open, statement: usize) -> SplitError {
        SplitError {
            problem,
            line: line_at(self.text, at),
            statement,
        }
    }

    /// A `DELIMITER xx` line whose keyword ends at `word_end`: the new delimiter (the next
    /// whitespace-delimited word; the rest of the line is ignored, as the `mysql` client does).
    /// `pos` moves to the end of the line.
    fn delimiter_line(&mut self, word_end: usize) -> Result<&'a str, Open> {
        let at = self.pos;
        let line_start = self.bytes[..at]
            .iter()
            .rposition(|&c| c == b'\n' || c == b'\r')
            .map_or(0, |i| i + 1);
        if !self.bytes[line_start..at]
            .iter()
            .all(|c| matches!(c, b' ' | b'\t'))
        {
            // The client reads `DELIMITER` only at the start of a line.
            return Err((Unsplittable::MisplacedDelimiter, at));
        }
        self.pos = word_end;
        self.skip_line();
        let rest = &self.text[word_end..self.pos];
        let trimmed = rest.trim_start();
        // A quoted delimiter is taken without its quotes, as the `mysql` client does.
        let quoted = trimmed
            .chars()
            .next()
            .filter(|q| matches!(q, '\'' | '"' | '`'))
            .and_then(|q| trimmed[1..].split_once(q).map(|(inner, _)| inner));
        let Some(new) = quoted
            .filter(|d| !d.is_empty())
            .or_else(|| rest.split_whitespace().next())
        else {
            return Err((Unsplittable::MissingDelimiter, at));
        };
        if new.contains('\\') {
            return Err((
                Unsplittable::BackslashDelimiter {
                    delimiter: new.to_owned(),
                },
                at,
            ));
        }
        if let Some(nul) = rest.find('\0') {
            return Err((Unsplittable::Nul, word_end + nul));
        }
        Ok(new)
    }

    /// Tracks `BEGIN ... END` bodies of `CREATE TRIGGER`, `PROCEDURE`, `FUNCTION` and `EVENT`
    /// (and MariaDB's `BEGIN NOT ATOMIC`), where `;` does not end the statement. `pos` is just
    /// after `word`, which starts at `at`.
    fn keyword(&mut self, block: &mut Block, word: &str, at: usize) {
        let is = |k: &str| word.eq_ignore_ascii_case(k);
        block.words += 1;
        if block.words == 1 {
            block.create = is("create");
            if self.syntax.not_atomic_blocks && is("begin") {
                let not = self.word_after(self.pos);
                let atomic = not.and_then(|(_, after)| self.word_after(after));
                if let (Some((not, _)), Some((atomic, after))) = (not, atomic)
                    && not.eq_ignore_ascii_case("not")
                    && atomic.eq_ignore_ascii_case("atomic")
                {
                    block.compound = true;
                    block.depth = 1;
                    block.depth_open = at;
                    self.pos = after;
                }
            }
            return;
        }
        if !block.compound {
            // `TRIGGER` and the like name the statement before any `(`: in
            // `CREATE TABLE jobs (trigger TEXT)` it is a column.
            block.compound = block.create
                && !block.paren_seen
                && (is("trigger") || is("procedure") || is("function") || is("event"));
            return;
        }
        if block.parens > 0 {
            // Inside parentheses `begin` and `end` are names (`f(begin int)`,
            // `INSERT INTO t (id, end)`), as psql counts blocks only outside them; a `CASE`
            // there is closed there too.
            return;
        }
        let assigned = self.next_byte() == Some(b'=');
        if is("begin") || is("case") {
            if assigned {
                // `SET begin = 1`: a column, not a keyword.
                return;
            }
            if block.depth == 0 {
                block.depth_open = at;
            }
            block.depth += 1;
            block.cases.push(is("case"));
        } else if is("end") {
            if assigned && block.cases.last() != Some(&true) {
                // `SET end = 1`: a column; `CASE ... END = 1` closes its `CASE`.
                return;
            }
            let next = self.word_after(self.pos);
            let next_is = |k: &str| next.is_some_and(|(w, _)| w.eq_ignore_ascii_case(k));
            if next_is("if")
                || next_is("loop")
                || next_is("while")
                || next_is("repeat")
                || next_is("for")
            {
                // MySQL's `END IF` and the like (MariaDB's `END FOR`) close blocks that did
                // not open a level.
                if let Some((_, after)) = next {
                    self.pos = after;
                }
            } else {
                if next_is("case")
                    && let Some((_, after)) = next
                {
                    self.pos = after;
                }
                block.depth = block.depth.saturating_sub(1);
                block.cases.pop();
            }
        }
    }

    /// The length of the whitespace character at `pos` (any Unicode whitespace, vertical tab
    /// included), if there is one.
    fn whitespace_len(&self) -> Option<usize> {
        let c = self.text.get(self.pos..)?.chars().next()?;
        c.is_whitespace().then(|| c.len_utf8())
    }

    /// The next non-whitespace byte after `pos`.
    fn next_byte(&self) -> Option<u8> {
        self.text
            .get(self.pos..)?
            .trim_start()
            .as_bytes()
            .first()
            .copied()
    }

    /// The word after `from` (skipping whitespace) and the offset just after it.
    fn word_after(&self, from: usize) -> Option<(&'a str, usize)> {
        let rest = self.text.get(from..).unwrap_or("");
        let start = from + (rest.len() - rest.trim_start().len());
        let mut i = start;
        while i < self.bytes.len()
            && (self.bytes[i].is_ascii_alphanumeric() || self.bytes[i] == b'_')
        {
            i += 1;
        }
        (i > start).then(|| (&self.text[start..i], i))
    }

    fn statement(&mut self, start: usize, end: usize) -> Statement<'a> {
        let text = self.text[start..end].trim_end();
        let line = self.line + line_at(&self.text[self.line_pos..], start - self.line_pos) - 1;
        self.line = line;
        self.line_pos = start;
        Statement {
            text,
            offset: start,
            line,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn word_end(&self) -> usize {
        let mut i = self.pos;
        while i < self.bytes.len() && is_word_byte(self.bytes[i]) {
            i += 1;
        }
        i
    }

    fn skip_line(&mut self) {
        while self.pos < self.bytes.len()
            && self.bytes[self.pos] != b'\n'
            && self.bytes[self.pos] != b'\r'
        {
            self.pos += 1;
        }
    }

    /// Skips a block comment; `false` when the text ends before it closes.
    fn skip_block_comment(&mut self) -> bool {
        self.pos += 2;
        let mut depth = 1;
        while self.pos < self.bytes.len() {
            if self.bytes[self.pos] == b'*' && self.peek(1) == Some(b'/') {
                self.pos += 2;
                depth -= 1;
                if depth == 0 || !self.syntax.nested_comments {
                    return true;
                }
            } else if self.syntax.nested_comments
                && self.bytes[self.pos] == b'/'
                && self.peek(1) == Some(b'*')
            {
                self.pos += 2;
                depth += 1;
            } else {
                self.pos += 1;
            }
        }
        false
    }

    /// Skips a quoted string or identifier; a doubled closing quote is an escaped quote.
    /// `false` when the text ends before it closes.
    fn skip_quoted(&mut self, close: u8, backslash: bool) -> bool {
        self.pos += 1;
        while self.pos < self.bytes.len() {
            let b = self.bytes[self.pos];
            if backslash && b == b'\\' {
                self.pos += 2;
            } else if b == close {
                self.pos += 1;
                if self.bytes.get(self.pos) == Some(&close) && close != b']' {
                    self.pos += 1;
                } else {
                    return true;
                }
            } else {
                self.pos += 1;
            }
        }
        self.pos = self.bytes.len();
        false
    }

    /// The `$tag$` opening at `pos`, if there is one (not a `$1` parameter).
    fn dollar_tag(&self) -> Option<&'a str> {
        if self.pos > 0 && is_word_byte(self.bytes[self.pos - 1]) {
            return None;
        }
        // Tags are identifier characters, non-ASCII letters included, and do not start with
        // a digit (`$1` is a parameter).
        let mut i = self.pos + 1;
        while i < self.bytes.len() && is_word_byte(self.bytes[i]) {
            i += 1;
        }
        let first = self.bytes.get(self.pos + 1).copied();
        if self.bytes.get(i) == Some(&b'$') && !matches!(first, Some(b'0'..=b'9')) {
            // `i` is at an ASCII `$`, so both ends are character boundaries.
            Some(&self.text[self.pos..=i])
        } else {
            None
        }
    }

    /// Skips a dollar quote; its tag when the text ends before it closes.
    fn skip_dollar_quote(&mut self) -> Option<&'a str> {
        let tag = self.dollar_tag()?;
        self.pos += tag.len();
        if let Some(i) = self.text[self.pos..].find(tag) {
            self.pos += i + tag.len();
            None
        } else {
            self.pos = self.bytes.len();
            Some(tag)
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_executable_comments_and_double_dash() {
        let sql = "/*!40014 SET FOREIGN_KEY_CHECKS=0 */;\n/* plain */ SELECT 1--1;\nSELECT 2 -- note; here\n;";
        assert_eq!(
            texts(sql, Syntax::MYSQL),
            [
                "/*!40014 SET FOREIGN_KEY_CHECKS=0 */",
                "SELECT 1--1",
                "SELECT 2"
            ]
        );
    }

    #[test]
    fn postgres_escape_strings_take_backslash_escapes() {
        let sql = "INSERT INTO t VALUES (E'it\\'s; fine', e'\\\\');\nSELECT 'a\\'; SELECT 2;\nSELECT node';x'";
        assert_eq!(
            texts(sql, Syntax::POSTGRES),
            [
                "INSERT INTO t VALUES (E'it\\'s; fine', e'\\\\')",
                "SELECT 'a\\'",
                "SELECT 2",
                "SELECT node';x'"
            ]
        );
    }

    fn texts(sql: &str, syntax: Syntax) -> Vec<&str> {
        match split(sql, syntax) {
            Ok(statements) => statements.into_iter().map(|s| s.text).collect(),
            Err(e) => panic!("{sql:?} does not split: {e}"),
        }
    }

    fn refused(sql: &str, syntax: Syntax) -> String {
        match split(sql, syntax) {
            Ok(statements) => panic!("{sql:?} splits: {statements:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn splits_at_semicolons_with_lines() {
        let sql = "-- header\nCREATE TABLE a (x INT);\n\n  INSERT INTO a VALUES (1);\r\nSELECT 1";
        let stmts = split(sql, Syntax::SQLITE).unwrap();
        assert_eq!(stmts.len(), 3);
        assert_eq!(stmts[0].text, "CREATE TABLE a (x INT)");
        assert_eq!(stmts[0].line, 2);
        assert_eq!(stmts[1].text, "INSERT INTO a VALUES (1)");
        assert_eq!(stmts[1].line, 4);
        assert_eq!(stmts[2].text, "SELECT 1");
        assert_eq!(stmts[2].line, 5);
        assert_eq!(&sql[stmts[1].offset..stmts[1].offset + 6], "INSERT");
    }

    #[test]
    fn ignores_semicolons_in_strings_identifiers_and_comments() {
        let sql =
            "INSERT INTO \"a;b\" VALUES ('x;''y', `c;d`, [e;f]); -- ; here\n/* ; */ SELECT 2;";
        assert_eq!(
            texts(sql, Syntax::SQLITE),
            [
                "INSERT INTO \"a;b\" VALUES ('x;''y', `c;d`, [e;f])",
                "SELECT 2"
            ]
        );
    }

    #[test]
    fn drops_empty_and_comment_only_statements() {
        assert!(texts(";; -- nothing\n/* at all */ ;\n", Syntax::SQLITE).is_empty());
        assert!(texts("", Syntax::SQLITE).is_empty());
    }

    #[test]
    fn keeps_trigger_bodies_whole() {
        let sql = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = CASE WHEN x > 0 THEN 1 ELSE 0 END;\n  DELETE FROM b;\nEND;\nSELECT 1;";
        let stmts = texts(sql, Syntax::SQLITE);
        assert_eq!(stmts.len(), 2);
        assert!(stmts[0].ends_with("END"), "{stmts:?}");
        assert_eq!(stmts[1], "SELECT 1");
    }

    #[test]
    fn keywords_used_as_identifiers_do_not_open_or_close_bodies() {
        let sql = "CREATE TABLE shifts (id INTEGER, start TEXT, end TEXT, trigger TEXT, begin INT);\nCREATE TRIGGER t BEFORE INSERT ON shifts BEGIN\n  SELECT RAISE(ABORT, 'bad') WHERE NEW.end < NEW.start;\n  UPDATE shifts SET end = NEW.begin;\nEND;\nSELECT 1;";
        let stmts = texts(sql, Syntax::SQLITE);
        assert_eq!(stmts.len(), 3, "{stmts:?}");
        assert!(stmts[1].starts_with("CREATE TRIGGER") && stmts[1].ends_with("END"));
    }

    #[test]
    fn names_in_parentheses_end_for_and_case_end_comparisons_keep_bodies_whole() {
        let pg = "CREATE FUNCTION span(begin int, stop int) RETURNS int AS $$ SELECT stop - begin $$ LANGUAGE sql;\nSELECT 1;";
        assert_eq!(texts(pg, Syntax::POSTGRES).len(), 2);
        let sqlite = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  INSERT INTO shifts (id, end) VALUES (9, 9);\n  DELETE FROM b WHERE CASE WHEN new.x > 0 THEN 1 ELSE 0 END = 1;\n  UPDATE shifts SET end = 2;\nEND;\nSELECT 1;";
        let stmts = texts(sqlite, Syntax::SQLITE);
        assert_eq!(stmts.len(), 2, "{stmts:?}");
        assert!(stmts[0].ends_with("END"));
        let mariadb = "CREATE TABLE t (v INT);\nBEGIN NOT ATOMIC\n  FOR i IN 1..3 DO\n    INSERT INTO t VALUES (i);\n  END FOR;\nEND;\nSELECT 1;";
        assert_eq!(texts(mariadb, Syntax::MYSQL).len(), 3);
    }

    #[test]
    fn mysql_compound_statements() {
        let sql = "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW\nBEGIN\n  IF NEW.x < 0 THEN\n    SET NEW.x = 0;\n  END IF;\n  CASE NEW.y WHEN 1 THEN SET NEW.z = 1; ELSE SET NEW.z = 2; END CASE;\n  WHILE NEW.x > 10 DO SET NEW.x = NEW.x - 1; END WHILE;\nEND;\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END;\nSELECT 1;";
        let stmts = texts(sql, Syntax::MYSQL);
        assert_eq!(stmts.len(), 3, "{stmts:?}");
        assert_eq!(
            stmts[1],
            "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END"
        );
    }

    #[test]
    fn postgres_begin_atomic_and_non_ascii_dollar_tags() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\nCREATE FUNCTION g() RETURNS int AS $função$ SELECT 1; $função$ LANGUAGE sql;\nSELECT 3;";
        let stmts = texts(sql, Syntax::POSTGRES);
        assert_eq!(stmts.len(), 3, "{stmts:?}");
    }

    #[test]
    fn a_leading_bom_is_not_part_of_the_first_statement() {
        let stmts = split("\u{feff}SELECT 1;\nSELECT 2;", Syntax::SQLITE).unwrap();
        assert_eq!(stmts[0].text, "SELECT 1");
        assert_eq!(stmts[1].line, 2);
    }

    #[test]
    fn begin_outside_triggers_is_a_statement() {
        assert_eq!(
            texts("BEGIN; SELECT 1; END;", Syntax::SQLITE),
            ["BEGIN", "SELECT 1", "END"]
        );
    }

    #[test]
    fn postgres_dollar_quotes_and_nested_comments() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql;\n/* a /* b; */ c; */ SELECT $1, $$;$$;";
        assert_eq!(
            texts(sql, Syntax::POSTGRES),
            [
                "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql",
                "SELECT $1, $$;$$"
            ]
        );
    }

    #[test]
    fn mysql_backslashes_and_hash_comments() {
        let sql = "INSERT INTO a VALUES ('it\\'s; ok'); # comment; here\nSELECT 1;";
        assert_eq!(
            texts(sql, Syntax::MYSQL),
            ["INSERT INTO a VALUES ('it\\'s; ok')", "SELECT 1"]
        );
    }

    #[test]
    fn unterminated_constructs_are_errors_at_the_line_they_open() {
        let cases: &[(&str, Syntax, &str)] = &[
            (
                "CREATE TABLE z (id INT);\n/* oops\nDROP TABLE z;\nCREATE TABLE y (id INT);",
                Syntax::SQLITE,
                "invalid SQL at line 2 (statement 2): `/*` comment is never closed",
            ),
            (
                "SELECT 1;\nSELECT 2;\n/* a /* b */ oops;\nSELECT 3;",
                Syntax::POSTGRES,
                "invalid SQL at line 3 (statement 3): `/*` comment is never closed",
            ),
            (
                "SELECT 1;\nSELECT 'abc;\nSELECT 2;",
                Syntax::SQLITE,
                "invalid SQL at line 2 (statement 2): string opened with `'` is never closed",
            ),
            (
                "SELECT \"abc;",
                Syntax::POSTGRES,
                "invalid SQL at line 1 (statement 1): quoted identifier opened with `\"` is never closed",
            ),
            (
                "SELECT \"abc;",
                Syntax::MYSQL,
                "invalid SQL at line 1 (statement 1): string opened with `\"` is never closed",
            ),
            (
                "SELECT `abc;",
                Syntax::MYSQL,
                "invalid SQL at line 1 (statement 1): quoted identifier opened with `` ` `` is never closed",
            ),
            (
                "SELECT [abc;",
                Syntax::SQLITE,
                "invalid SQL at line 1 (statement 1): quoted identifier opened with `[` is never closed",
            ),
            (
                "SELECT 1;\nCREATE FUNCTION f() RETURNS int AS $body$\nBEGIN RETURN 1; END;\n",
                Syntax::POSTGRES,
                "invalid SQL at line 2 (statement 2): dollar quote `$body$` is never closed",
            ),
            (
                "CREATE TRIGGER t AFTER INSERT ON a\nBEGIN\n  DELETE FROM b;\n",
                Syntax::SQLITE,
                "invalid SQL at line 2 (statement 1): `BEGIN` has no matching `END`",
            ),
            (
                "SELECT 1;\nBEGIN NOT ATOMIC\n  SELECT 2;\n",
                Syntax::MYSQL,
                "invalid SQL at line 2 (statement 2): `BEGIN` has no matching `END`",
            ),
            (
                "SELECT 1;\nINSERT INTO t VALUES (1;\nSELECT 2;",
                Syntax::SQLITE,
                "invalid SQL at line 2 (statement 2): `(` is never closed",
            ),
            (
                "CREATE TABLE z (id INT);\0DROP TABLE z;",
                Syntax::SQLITE,
                "invalid SQL at line 1 (statement 2): NUL byte (0x00) in the text",
            ),
            (
                "SELECT 1;\nSELECT 'a\0b';",
                Syntax::POSTGRES,
                "invalid SQL at line 2 (statement 2): NUL byte (0x00) in the text",
            ),
            (
                "SELECT 1; -- a\0 comment\nSELECT 2;",
                Syntax::MYSQL,
                "invalid SQL at line 1 (statement 2): NUL byte (0x00) in the text",
            ),
            (
                "SELECT 1;\nDELIMITER\nSELECT 2;",
                Syntax::MYSQL,
                "invalid SQL at line 2 (statement 2): `DELIMITER` must be followed by a delimiter",
            ),
            (
                "DELIMITER \\\\\nSELECT 2;",
                Syntax::MYSQL,
                "invalid SQL at line 1 (statement 1): delimiter `\\\\` contains a backslash",
            ),
            (
                "SELECT 1; DELIMITER $$\nSELECT 2$$",
                Syntax::MYSQL,
                "invalid SQL at line 1 (statement 2): `DELIMITER` must be the first word on its line",
            ),
        ];
        for (sql, syntax, expected) in cases {
            assert_eq!(refused(sql, *syntax), *expected, "{sql:?}");
        }
        let err = split("SELECT 1;\n\n/* open", Syntax::SQLITE).unwrap_err();
        assert_eq!((err.line(), err.statement()), (3, 2));
        assert_eq!(err.problem(), &Unsplittable::BlockComment);
    }

    #[test]
    fn parentheses_keep_semicolons_and_stray_closers_break_nothing() {
        let sql = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO log VALUES (NEW.a); INSERT INTO log VALUES (NEW.a + 1));\nSELECT 1);\nSELECT 2;";
        assert_eq!(
            texts(sql, Syntax::POSTGRES),
            [
                "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO log VALUES (NEW.a); INSERT INTO log VALUES (NEW.a + 1))",
                "SELECT 1)",
                "SELECT 2"
            ]
        );
    }

    #[test]
    fn mariadb_not_atomic_blocks_are_one_statement() {
        let sql = "BEGIN NOT ATOMIC\n  IF NOT EXISTS (SELECT 1 FROM t WHERE a = 1) THEN\n    ALTER TABLE t ADD c INT;\n  END IF;\n  l: LOOP\n    LEAVE l;\n  END LOOP;\n  BEGIN\n    SELECT 1;\n  END;\nEND;\nSELECT 2;\nbegin not atomic SELECT 3; end;\nBEGIN;\nSELECT 4;";
        let stmts = texts(sql, Syntax::MYSQL);
        assert_eq!(stmts.len(), 5, "{stmts:?}");
        assert!(stmts[0].starts_with("BEGIN NOT ATOMIC") && stmts[0].ends_with("END"));
        assert_eq!(
            &stmts[1..],
            [
                "SELECT 2",
                "begin not atomic SELECT 3; end",
                "BEGIN",
                "SELECT 4"
            ]
        );
        // Only MySQL's syntax knows them: elsewhere `BEGIN` is a statement.
        assert_eq!(
            texts("BEGIN NOT ATOMIC SELECT 1; END;", Syntax::SQLITE),
            ["BEGIN NOT ATOMIC SELECT 1", "END"]
        );
    }

    #[test]
    fn mysql_definer_and_or_replace_compound_statements() {
        let sql = "CREATE DEFINER=`root`@`localhost` PROCEDURE p() BEGIN SELECT 1; SELECT 2; END;\nCREATE OR REPLACE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.x = 1; END;\nCREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM a; DELETE FROM b; END;\nSELECT 3;";
        let stmts = texts(sql, Syntax::MYSQL);
        assert_eq!(stmts.len(), 4, "{stmts:?}");
        assert!(stmts[0].ends_with("SELECT 2; END"));
    }

    #[test]
    fn quoted_delimiters_lose_their_quotes() {
        let sql = "DELIMITER \"//\"\nSELECT 2//\nDELIMITER ;\nSELECT 3;";
        assert_eq!(texts(sql, Syntax::MYSQL), ["SELECT 2", "SELECT 3"]);
    }

    #[test]
    fn delimiter_lines_switch_the_terminator() {
        let sql = "CREATE TABLE a (x INT);\nDELIMITER $$\nCREATE PROCEDURE p()\nBEGIN\n  SELECT '$$'; -- $$ in a comment\n  SELECT 1;\nEND$$\nSELECT 1; SELECT 2$$ SELECT 3$$\ndelimiter ;  rest is ignored\nSELECT 4;\nDELIMITER //\nCREATE PROCEDURE q() BEGIN SELECT 5; END;//\nDELIMITER ;;\n/*!50003 CREATE*/ /*!50003 PROCEDURE r() BEGIN SELECT 6; END */;;\nDELIMITER ;\nSELECT 7";
        let stmts = split(sql, Syntax::MYSQL).unwrap();
        let texts: Vec<&str> = stmts.iter().map(|s| s.text).collect();
        assert_eq!(
            texts,
            [
                "CREATE TABLE a (x INT)",
                "CREATE PROCEDURE p()\nBEGIN\n  SELECT '$$'; -- $$ in a comment\n  SELECT 1;\nEND",
                "SELECT 1; SELECT 2",
                "SELECT 3",
                "SELECT 4",
                "CREATE PROCEDURE q() BEGIN SELECT 5; END;",
                "/*!50003 CREATE*/ /*!50003 PROCEDURE r() BEGIN SELECT 6; END */",
                "SELECT 7",
            ]
        );
        let lines: Vec<usize> = stmts.iter().map(|s| s.line).collect();
        assert_eq!(lines, [1, 3, 8, 8, 10, 12, 14, 16]);
        // A file of DELIMITER lines only has no statement; elsewhere it is SQL.
        assert!(texts_of("DELIMITER $$\nDELIMITER ;\n", Syntax::MYSQL).is_empty());
        assert_eq!(
            refused("DELIMITER $$\n", Syntax::POSTGRES),
            "invalid SQL at line 1 (statement 1): dollar quote `$$` is never closed"
        );
        // Text after the last delimiter still runs, as with the client.
        assert_eq!(
            texts_of("DELIMITER $$\nSELECT 1", Syntax::MYSQL),
            ["SELECT 1"]
        );
    }

    fn texts_of(sql: &str, syntax: Syntax) -> Vec<&str> {
        texts(sql, syntax)
    }

    #[test]
    fn whitespace_of_any_kind_is_never_a_statement() {
        for sql in [
            "SELECT 1;\u{b}",
            "SELECT 1;\u{c}\u{a0}\u{2028}\u{3000}",
            "\u{b}\u{b}SELECT 1;\u{b};\u{b}",
        ] {
            assert_eq!(texts(sql, Syntax::MYSQL), ["SELECT 1"], "{sql:?}");
            assert_eq!(texts(sql, Syntax::SQLITE), ["SELECT 1"], "{sql:?}");
        }
        assert!(texts("\u{b} \t\u{85}\n", Syntax::POSTGRES).is_empty());
        assert_eq!(texts("SELECT 1 --\u{b}x\n;", Syntax::MYSQL), ["SELECT 1"]);
    }

    #[test]
    fn line_at_counts_all_line_endings() {
        assert_eq!(line_at("a\nb\r\nc\rd", 0), 1);
        assert_eq!(line_at("a\nb\r\nc\rd", 2), 2);
        assert_eq!(line_at("a\nb\r\nc\rd", 5), 3);
        assert_eq!(line_at("a\nb\r\nc\rd", 7), 4);
    }

    mod generated {
        use super::super::*;
        use proptest::prelude::*;

        /// A piece of a statement: a word, a string holding `;`, a quoted identifier, a dollar
        /// quote (PostgreSQL) or a parenthesis holding `;`.
        fn atom(dialect: usize) -> impl Strategy<Value = String> {
            let word = "x[a-z0-9]{0,5}".prop_map(|w| w);
            let string = "[a-z ;]{0,6}".prop_map(|t| format!("'{t}'"));
            let ident = "[a-z;]{1,4}".prop_map(|t| format!("\"{t}\""));
            let paren = "[a-z ;]{0,6}".prop_map(|t| format!("('{t}'; x)"));
            let dollar = "[a-z ;']{0,6}".prop_map(move |t| {
                if dialect == 1 {
                    format!("$q${t}$q$")
                } else {
                    format!("'{}'", t.replace('\'', "''"))
                }
            });
            prop_oneof![word, string, ident, paren, dollar]
        }

        /// Whitespace and complete comments between statements. (Not U+00A0: databases read it
        /// as part of an identifier, so it is whitespace only at the end of a statement.)
        fn gap() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    Just(" ".to_owned()),
                    Just("\n".to_owned()),
                    Just("\t".to_owned()),
                    Just("\u{b}".to_owned()),
                    Just("\u{c}".to_owned()),
                    Just("-- a; comment\n".to_owned()),
                    Just("/* b; */".to_owned()),
                    Just(";".to_owned()),
                ],
                0..4,
            )
            .prop_map(|v| v.concat())
        }

        fn syntax(dialect: usize) -> Syntax {
            [Syntax::SQLITE, Syntax::POSTGRES, Syntax::MYSQL][dialect]
        }

        /// Statements (each atoms and its delimiter, `;`, `$$` or `//`; only MySQL changes it)
        /// and the gaps before them.
        /// Atoms, delimiter index and the gap before it.
        type Generated = (Vec<String>, usize, String);

        fn file() -> impl Strategy<Value = (usize, Vec<Generated>, String)> {
            (0..3usize).prop_flat_map(|dialect| {
                let statement = (
                    proptest::collection::vec(atom(dialect), 1..5),
                    if dialect == 2 { 0..3usize } else { 0..1usize },
                    gap(),
                );
                (
                    Just(dialect),
                    proptest::collection::vec(statement, 0..6),
                    gap(),
                )
            })
        }

        /// The text, and the statements it must split into.
        fn render(
            statements: &[(Vec<String>, usize, String)],
            tail: &str,
        ) -> (String, Vec<String>) {
            let delimiters = [";", "$$", "//"];
            let (mut text, mut expected, mut current) = (String::new(), Vec::new(), 0);
            for (atoms, delimiter, gap) in statements {
                // A bare `;` is a separator only while `;` is the delimiter.
                if current == 0 {
                    text.push_str(gap);
                } else {
                    text.push_str(&gap.replace(';', ""));
                }
                if *delimiter != current {
                    text.push_str("\nDELIMITER ");
                    text.push_str(delimiters[*delimiter]);
                    text.push('\n');
                    current = *delimiter;
                }
                let body = atoms.join(" ");
                text.push_str(&body);
                text.push_str(delimiters[current]);
                expected.push(body);
            }
            text.push_str(&if current == 0 {
                tail.to_owned()
            } else {
                tail.replace(';', "")
            });
            (text, expected)
        }

        proptest! {
            #[test]
            fn splitting_loses_nothing_but_separators((dialect, statements, tail) in file()) {
                let (text, expected) = render(&statements, &tail);
                let split = split(&text, syntax(dialect));
                let texts: Vec<String> = match split {
                    Ok(s) => s.into_iter().map(|s| s.text.to_owned()).collect(),
                    Err(e) => return Err(TestCaseError::fail(format!("{text:?}: {e}"))),
                };
                prop_assert_eq!(texts, expected, "{:?}", text);
            }

            #[test]
            fn every_unterminated_construct_is_an_error(
                (dialect, statements, tail) in file(),
                open in 0..6usize,
            ) {
                let (mut text, expected) = render(&statements, &tail);
                let opener = ["/* never closed", "'never closed", "\"never closed", "(never closed", "\0", "$q$ never closed"][open];
                if opener.starts_with('$') && dialect != 1 {
                    return Ok(());
                }
                text.push_str("\nSELECT ");
                text.push_str(opener);
                let refused = split(&text, syntax(dialect));
                prop_assert!(refused.is_err(), "{:?} split", text);
                if let Err(e) = refused {
                    prop_assert_eq!(e.statement(), expected.len() + 1, "{:?}", text);
                }
            }
        }
    }
}
