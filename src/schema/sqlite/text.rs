//! SQLite keeps `CHECK` constraints only in the `CREATE TABLE` text, as written: reading them
//! back, and comparing SQL text however it was indented.

use super::super::{Constraint, ConstraintKind, quoted_len};

/// SQLite's keywords (`sqlite3_keyword_name`), in byte order.
const KEYWORDS: [&str; 147] = [
    "ABORT",
    "ACTION",
    "ADD",
    "AFTER",
    "ALL",
    "ALTER",
    "ALWAYS",
    "ANALYZE",
    "AND",
    "AS",
    "ASC",
    "ATTACH",
    "AUTOINCREMENT",
    "BEFORE",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CASCADE",
    "CASE",
    "CAST",
    "CHECK",
    "COLLATE",
    "COLUMN",
    "COMMIT",
    "CONFLICT",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CURRENT",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "DATABASE",
    "DEFAULT",
    "DEFERRABLE",
    "DEFERRED",
    "DELETE",
    "DESC",
    "DETACH",
    "DISTINCT",
    "DO",
    "DROP",
    "EACH",
    "ELSE",
    "END",
    "ESCAPE",
    "EXCEPT",
    "EXCLUDE",
    "EXCLUSIVE",
    "EXISTS",
    "EXPLAIN",
    "FAIL",
    "FILTER",
    "FIRST",
    "FOLLOWING",
    "FOR",
    "FOREIGN",
    "FROM",
    "FULL",
    "GENERATED",
    "GLOB",
    "GROUP",
    "GROUPS",
    "HAVING",
    "IF",
    "IGNORE",
    "IMMEDIATE",
    "IN",
    "INDEX",
    "INDEXED",
    "INITIALLY",
    "INNER",
    "INSERT",
    "INSTEAD",
    "INTERSECT",
    "INTO",
    "IS",
    "ISNULL",
    "JOIN",
    "KEY",
    "LAST",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MATCH",
    "MATERIALIZED",
    "NATURAL",
    "NO",
    "NOT",
    "NOTHING",
    "NOTNULL",
    "NULL",
    "NULLS",
    "OF",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OTHERS",
    "OUTER",
    "OVER",
    "PARTITION",
    "PLAN",
    "PRAGMA",
    "PRECEDING",
    "PRIMARY",
    "QUERY",
    "RAISE",
    "RANGE",
    "RECURSIVE",
    "REFERENCES",
    "REGEXP",
    "REINDEX",
    "RELEASE",
    "RENAME",
    "REPLACE",
    "RESTRICT",
    "RETURNING",
    "RIGHT",
    "ROLLBACK",
    "ROW",
    "ROWS",
    "SAVEPOINT",
    "SELECT",
    "SET",
    "TABLE",
    "TEMP",
    "TEMPORARY",
    "THEN",
    "TIES",
    "TO",
    "TRANSACTION",
    "TRIGGER",
    "UNBOUNDED",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USING",
    "VACUUM",
    "VALUES",
    "VIEW",
    "VIRTUAL",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "WITHOUT",
];

/// Whether `word` is one of SQLite's [`KEYWORDS`], in any case.
fn is_keyword(word: &str) -> bool {
    KEYWORDS
        .binary_search_by(|k| k.bytes().cmp(word.bytes().map(|b| b.to_ascii_uppercase())))
        .is_ok()
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// One token of SQL text as [`squeeze`] writes it: a keyword in upper case, a quoted
/// identifier without its quotes when it is a plain one (ASCII letters, digits and `_`, not a
/// keyword), anything else as it is.
fn normal(token: &str) -> std::borrow::Cow<'_, str> {
    let inner = match token.chars().next() {
        Some('"' | '`') if token.len() >= 2 => token[1..token.len() - 1].to_owned(),
        Some('[') if token.ends_with(']') => token[1..token.len() - 1].to_owned(),
        Some(c) if is_word_char(c) && is_keyword(token) => {
            return token.to_ascii_uppercase().into();
        }
        _ => return token.into(),
    };
    let plain = inner.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain && !is_keyword(&inner) {
        inner.into()
    } else {
        token.into()
    }
}

/// `text` as SQLite stores it (as written, or as `ALTER TABLE ... RENAME` rewrote it), in a form
/// that compares equal however it was written: every run of whitespace outside strings,
/// quoted identifiers and comments turned into one space, trimmed; keywords in upper case; the
/// quotes `"..."`, `` `...` `` and `[...]` around a plain identifier removed (`ON "users"`
/// reads `ON users`). String literals stay as they are.
pub(super) fn squeeze(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text.trim();
    let mut space = false;
    while let Some(c) = rest.chars().next() {
        let len = match c {
            c if c.is_whitespace() => {
                space = true;
                rest = &rest[c.len_utf8()..];
                continue;
            }
            '\'' | '"' | '`' => quoted_len(rest, c, false),
            '[' => rest.find(']').map_or(rest.len(), |i| i + 1),
            '-' if rest.starts_with("--") => rest.find('\n').unwrap_or(rest.len()),
            '/' if rest.starts_with("/*") => rest.find("*/").map_or(rest.len(), |i| i + 2),
            c if is_word_char(c) => rest.find(|n| !is_word_char(n)).unwrap_or(rest.len()),
            c => c.len_utf8(),
        };
        let (token, after) = rest.split_at(len);
        if space {
            out.push(' ');
            space = false;
        }
        if c == '\'' {
            out.push_str(token);
        } else {
            out.push_str(&normal(token));
        }
        rest = after;
    }
    out
}

/// A token of SQL text: its kind and byte range.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Word,
    Quoted,
    Open,
    Close,
    Other,
}

/// Splits `sql` into words, quoted identifiers, parentheses and other characters, skipping
/// whitespace, comments and string literals.
fn tokens(sql: &str) -> Vec<(Token, usize, usize)> {
    let mut out = Vec::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let mut end_after = |close: &str| {
            let end = sql[start + 1..]
                .find(close)
                .map_or(sql.len(), |i| start + 1 + i + close.len());
            while chars.peek().is_some_and(|&(i, _)| i < end) {
                chars.next();
            }
            end
        };
        let token = match c {
            '\'' => {
                end_after("'");
                continue;
            }
            '-' if sql[start..].starts_with("--") => {
                end_after("\n");
                continue;
            }
            '/' if sql[start..].starts_with("/*") => {
                end_after("*/");
                continue;
            }
            '"' => (Token::Quoted, start, end_after("\"")),
            '`' => (Token::Quoted, start, end_after("`")),
            '[' => (Token::Quoted, start, end_after("]")),
            '(' => (Token::Open, start, start + 1),
            ')' => (Token::Close, start, start + 1),
            c if c.is_alphanumeric() || c == '_' => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, n)) = chars.peek() {
                    if !(n.is_alphanumeric() || n == '_' || n == '$') {
                        break;
                    }
                    end = i + n.len_utf8();
                    chars.next();
                }
                (Token::Word, start, end)
            }
            c if c.is_whitespace() => continue,
            c => (Token::Other, start, start + c.len_utf8()),
        };
        out.push(token);
    }
    out
}

/// The `CHECK (...)` constraints of a `CREATE TABLE` statement, table- or column-level, named
/// when a `CONSTRAINT <name>` precedes them.
pub(super) fn checks(sql: &str) -> Vec<Constraint> {
    let tokens = tokens(sql);
    let is_word = |i: usize, word: &str| {
        tokens
            .get(i)
            .is_some_and(|&(t, s, e)| t == Token::Word && sql[s..e].eq_ignore_ascii_case(word))
    };
    let mut out = Vec::new();
    for (i, &(_, _, open_end)) in tokens.iter().enumerate().skip(1) {
        if !is_word(i - 1, "check") || tokens[i].0 != Token::Open {
            continue;
        }
        let mut depth = 0usize;
        let close = tokens[i..].iter().find(|&&(t, ..)| {
            match t {
                Token::Open => depth += 1,
                Token::Close => depth -= 1,
                _ => {}
            }
            depth == 0
        });
        let Some(&(_, close_start, _)) = close else {
            break;
        };
        let name = (i >= 3 && is_word(i - 3, "constraint")).then(|| {
            let (t, s, e) = tokens[i - 2];
            let name = &sql[s..e];
            let unquoted = name.get(1..).and_then(|n| n.strip_suffix(['"', '`', ']']));
            match (t, unquoted) {
                (Token::Quoted, Some(unquoted)) => unquoted.to_owned(),
                _ => name.to_owned(),
            }
        });
        out.push(Constraint {
            name,
            kind: ConstraintKind::Check,
            columns: Vec::new(),
            definition: format!("CHECK ({})", squeeze(&sql[open_end..close_start])),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_read_from_the_create_table_text() {
        let sql = "CREATE TABLE t (\n  a INTEGER CHECK (a > 0), -- CHECK (not this)\n  b TEXT \
                   DEFAULT 'CHECK (nor this)',\n  CONSTRAINT \"b_short\" CHECK (length(b)   <\n 9)\n)";
        let found: Vec<(Option<String>, String)> = checks(sql)
            .into_iter()
            .map(|c| (c.name, c.definition))
            .collect();
        let expected = [
            (None, "CHECK (a > 0)".to_owned()),
            (
                Some("b_short".to_owned()),
                "CHECK (length(b) < 9)".to_owned(),
            ),
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn odd_text_gives_what_it_can_without_panicking() {
        assert!(checks("CREATE TABLE t (a CHECK (a > 0").is_empty());
        assert!(checks("CREATE TABLE t (CONSTRAINT \"é CHECK (1))").is_empty());
        let named = checks("CREATE TABLE t (a, CONSTRAINT [é] CHECK (a<>'(') /* ) */)");
        let found: Vec<_> = named.iter().map(|c| (c.name(), c.definition())).collect();
        assert_eq!(found, [(Some("é"), "CHECK (a<>'(')")]);
        assert_eq!(
            squeeze(" a  \n b 'x   y' \"c  d\" "),
            "a b 'x   y' \"c  d\""
        );
    }

    #[test]
    fn squeezed_text_has_upper_case_keywords_and_plain_identifiers_unquoted() {
        assert!(KEYWORDS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            squeeze("create index \"i\" on [users] (`name` collate nocase) where \"order\" > 0"),
            "CREATE INDEX i ON users (name COLLATE nocase) WHERE \"order\" > 0"
        );
        // Strings, identifiers that need their quotes, and comments stay as written.
        assert_eq!(
            squeeze("select 'on \"users\"', \"a b\", \"it\"\"s\", [é], \"1x\" -- \"c\"\n/* [d] */"),
            "SELECT 'on \"users\"', \"a b\", \"it\"\"s\", [é], \"1x\" -- \"c\" /* [d] */"
        );
        assert_eq!(squeeze("'it''s' \"x"), "'it''s' \"x");
        assert_eq!(squeeze("a\"\"b"), "a\"\"b");
    }
}
