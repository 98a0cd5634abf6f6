//! Client-side statement splitting, so that an error can name the failing statement and its
//! line in the file.

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
    };

    /// MySQL's and MariaDB's lexer.
    pub const MYSQL: Syntax = Syntax {
        dollar_quotes: false,
        nested_comments: false,
        backslash_escapes: true,
        bracket_identifiers: false,
        backtick_identifiers: true,
        hash_comments: true,
        escape_strings: false,
        mysql_comments: true,
    };
}

/// One statement of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement, from its first token to before its `;`, comments in front removed.
    pub text: &'a str,
    /// Byte offset of `text` in the migration.
    pub offset: usize,
    /// 1-based line of `text`'s first character in the migration.
    pub line: usize,
}

/// Splits SQL text into statements at `;`, ignoring `;` inside strings, quoted identifiers,
/// comments, dollar quotes and `BEGIN ... END` bodies of triggers. Statements that hold only
/// comments or whitespace are dropped.
#[must_use]
pub fn split(text: &str, syntax: Syntax) -> Vec<Statement<'_>> {
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

/// What the splitter knows of the statement it is in, for compound bodies.
#[derive(Default)]
struct Block {
    words: usize,
    create: bool,
    paren_seen: bool,
    compound: bool,
    depth: usize,
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

impl<'a> Splitter<'a> {
    fn run(mut self) -> Vec<Statement<'a>> {
        let mut out = Vec::new();
        let mut start: Option<usize> = None;
        let mut end = 0;
        // A UTF-8 byte order mark is not part of the first statement.
        if self.text.starts_with('\u{feff}') {
            self.pos = '\u{feff}'.len_utf8();
        }
        let mut block = Block::default();
        while self.pos < self.bytes.len() {
            let b = self.bytes[self.pos];
            let at = self.pos;
            match b {
                b';' if block.depth == 0 => {
                    if let Some(s) = start.take() {
                        out.push(self.statement(s, end));
                    }
                    block = Block::default();
                    self.pos += 1;
                    continue;
                }
                b'-' if self.peek(1) == Some(b'-')
                    && (!self.syntax.mysql_comments
                        || self.peek(2).is_none_or(|c| c.is_ascii_whitespace())) =>
                {
                    self.skip_line();
                    continue;
                }
                b'#' if self.syntax.hash_comments => {
                    self.skip_line();
                    continue;
                }
                b'/' if self.peek(1) == Some(b'*')
                    && self.syntax.mysql_comments
                    && (self.peek(2) == Some(b'!')
                        || (self.peek(2) == Some(b'M') && self.peek(3) == Some(b'!'))) =>
                {
                    // Executable: part of the statement.
                    self.skip_block_comment();
                }
                b'/' if self.peek(1) == Some(b'*') => {
                    self.skip_block_comment();
                    continue;
                }
                b if b.is_ascii_whitespace() => {
                    self.pos += 1;
                    continue;
                }
                b'\'' => {
                    let escape_string = self.syntax.escape_strings
                        && at > 0
                        && matches!(self.bytes[at - 1], b'E' | b'e')
                        && (at < 2 || !is_word_byte(self.bytes[at - 2]));
                    self.skip_quoted(b'\'', self.syntax.backslash_escapes || escape_string);
                }
                b'"' => self.skip_quoted(b'"', self.syntax.backslash_escapes),
                b'`' if self.syntax.backtick_identifiers => self.skip_quoted(b'`', false),
                b'[' if self.syntax.bracket_identifiers => self.skip_quoted(b']', false),
                b'$' if self.syntax.dollar_quotes && self.dollar_tag().is_some() => {
                    self.skip_dollar_quote();
                }
                b'(' => {
                    block.paren_seen = true;
                    self.pos += 1;
                }
                b if b.is_ascii_alphabetic() || b == b'_' => {
                    let word_end = self.word_end();
                    let after_dot = at > 0 && self.bytes[at - 1] == b'.';
                    if !after_dot {
                        self.pos = word_end;
                        self.keyword(&mut block, &self.text[at..word_end]);
                    }
                    self.pos = self.pos.max(word_end);
                }
                _ => self.pos += 1,
            }
            if start.is_none() {
                start = Some(at);
            }
            end = self.pos;
        }
        if let Some(s) = start {
            out.push(self.statement(s, end));
        }
        out
    }

    /// Tracks `BEGIN ... END` bodies of `CREATE TRIGGER`, `PROCEDURE`, `FUNCTION` and `EVENT`,
    /// where `;` does not end the statement. `pos` is just after `word`.
    fn keyword(&mut self, block: &mut Block, word: &str) {
        let is = |k: &str| word.eq_ignore_ascii_case(k);
        block.words += 1;
        if block.words == 1 {
            block.create = is("create");
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
        if self.next_byte() == Some(b'=') {
            // `SET end = 1`: a column, not a keyword.
            return;
        }
        if is("begin") || is("case") {
            block.depth += 1;
        } else if is("end") {
            let next = self.next_word();
            let next_is = |k: &str| next.is_some_and(|(w, _)| w.eq_ignore_ascii_case(k));
            if next_is("if") || next_is("loop") || next_is("while") || next_is("repeat") {
                // MySQL's `END IF` and the like close blocks that did not open a level.
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
            }
        }
    }

    /// The next non-whitespace byte after `pos`.
    fn next_byte(&self) -> Option<u8> {
        self.bytes[self.pos..]
            .iter()
            .copied()
            .find(|b| !b.is_ascii_whitespace())
    }

    /// The word after `pos` (skipping whitespace) and the offset just after it.
    fn next_word(&self) -> Option<(&'a str, usize)> {
        let mut i = self.pos;
        while i < self.bytes.len() && self.bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
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
        while i < self.bytes.len()
            && (self.bytes[i].is_ascii_alphanumeric()
                || self.bytes[i] == b'_'
                || self.bytes[i] >= 0x80)
        {
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

    fn skip_block_comment(&mut self) {
        self.pos += 2;
        let mut depth = 1;
        while self.pos < self.bytes.len() {
            if self.bytes[self.pos] == b'*' && self.peek(1) == Some(b'/') {
                self.pos += 2;
                depth -= 1;
                if depth == 0 || !self.syntax.nested_comments {
                    return;
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
    }

    /// Skips a quoted string or identifier; a doubled closing quote is an escaped quote.
    fn skip_quoted(&mut self, close: u8, backslash: bool) {
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
                    return;
                }
            } else {
                self.pos += 1;
            }
        }
        self.pos = self.pos.min(self.bytes.len());
    }

    /// The `$tag$` opening at `pos`, if there is one (not a `$1` parameter).
    fn dollar_tag(&self) -> Option<&'a str> {
        if self.pos > 0 {
            let prev = self.bytes[self.pos - 1];
            if prev.is_ascii_alphanumeric() || prev == b'_' || prev >= 0x80 {
                return None;
            }
        }
        // Tags are identifier characters, non-ASCII letters included, and do not start with
        // a digit (`$1` is a parameter).
        let mut i = self.pos + 1;
        while i < self.bytes.len()
            && (self.bytes[i].is_ascii_alphanumeric()
                || self.bytes[i] == b'_'
                || self.bytes[i] >= 0x80)
        {
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

    fn skip_dollar_quote(&mut self) {
        let Some(tag) = self.dollar_tag() else {
            self.pos += 1;
            return;
        };
        self.pos += tag.len();
        match self.text[self.pos..].find(tag) {
            Some(i) => self.pos += i + tag.len(),
            None => self.pos = self.bytes.len(),
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
        split(sql, syntax).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn splits_at_semicolons_with_lines() {
        let sql = "-- header\nCREATE TABLE a (x INT);\n\n  INSERT INTO a VALUES (1);\r\nSELECT 1";
        let stmts = split(sql, Syntax::SQLITE);
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
        let stmts = split("\u{feff}SELECT 1;\nSELECT 2;", Syntax::SQLITE);
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
    fn unterminated_quotes_end_the_statement() {
        assert_eq!(texts("SELECT 'abc", Syntax::SQLITE), ["SELECT 'abc"]);
        assert_eq!(texts("SELECT $$abc", Syntax::POSTGRES), ["SELECT $$abc"]);
        assert_eq!(texts("SELECT 1 /* open", Syntax::SQLITE), ["SELECT 1"]);
    }

    #[test]
    fn line_at_counts_all_line_endings() {
        assert_eq!(line_at("a\nb\r\nc\rd", 0), 1);
        assert_eq!(line_at("a\nb\r\nc\rd", 2), 2);
        assert_eq!(line_at("a\nb\r\nc\rd", 5), 3);
        assert_eq!(line_at("a\nb\r\nc\rd", 7), 4);
    }
}
