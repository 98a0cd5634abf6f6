//! SQLite keeps `CHECK` constraints, table options, collations, `AUTOINCREMENT` and the
//! deferral of foreign keys only in the `CREATE TABLE` text, as written: reading them back, and
//! comparing SQL text however it was written.

use super::super::{Constraint, ConstraintKind, quoted_len};

/// SQLite's keywords (`sqlite3_keyword_name`), in byte order.
#[rustfmt::skip]
const KEYWORDS: [&str; 147] = [
    "ABORT", "ACTION", "ADD", "AFTER", "ALL", "ALTER", "ALWAYS", "ANALYZE", "AND", "AS", "ASC",
    "ATTACH", "AUTOINCREMENT", "BEFORE", "BEGIN", "BETWEEN", "BY", "CASCADE", "CASE", "CAST",
    "CHECK", "COLLATE", "COLUMN", "COMMIT", "CONFLICT", "CONSTRAINT", "CREATE", "CROSS", "CURRENT",
    "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "DATABASE", "DEFAULT", "DEFERRABLE",
    "DEFERRED", "DELETE", "DESC", "DETACH", "DISTINCT", "DO", "DROP", "EACH", "ELSE", "END",
    "ESCAPE", "EXCEPT", "EXCLUDE", "EXCLUSIVE", "EXISTS", "EXPLAIN", "FAIL", "FILTER", "FIRST",
    "FOLLOWING", "FOR", "FOREIGN", "FROM", "FULL", "GENERATED", "GLOB", "GROUP", "GROUPS",
    "HAVING", "IF", "IGNORE", "IMMEDIATE", "IN", "INDEX", "INDEXED", "INITIALLY", "INNER",
    "INSERT", "INSTEAD", "INTERSECT", "INTO", "IS", "ISNULL", "JOIN", "KEY", "LAST", "LEFT",
    "LIKE", "LIMIT", "MATCH", "MATERIALIZED", "NATURAL", "NO", "NOT", "NOTHING", "NOTNULL", "NULL",
    "NULLS", "OF", "OFFSET", "ON", "OR", "ORDER", "OTHERS", "OUTER", "OVER", "PARTITION", "PLAN",
    "PRAGMA", "PRECEDING", "PRIMARY", "QUERY", "RAISE", "RANGE", "RECURSIVE", "REFERENCES",
    "REGEXP", "REINDEX", "RELEASE", "RENAME", "REPLACE", "RESTRICT", "RETURNING", "RIGHT",
    "ROLLBACK", "ROW", "ROWS", "SAVEPOINT", "SELECT", "SET", "TABLE", "TEMP", "TEMPORARY", "THEN",
    "TIES", "TO", "TRANSACTION", "TRIGGER", "UNBOUNDED", "UNION", "UNIQUE", "UPDATE", "USING",
    "VACUUM", "VALUES", "VIEW", "VIRTUAL", "WHEN", "WHERE", "WINDOW", "WITH", "WITHOUT",
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
/// reads `ON users`). String literals and comments stay as they are.
pub(super) fn squeeze(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut end = 0;
    for (kind, start, token_end) in tokens(text) {
        if start > end && !out.is_empty() {
            out.push(' ');
        }
        let token = &text[start..token_end];
        match kind {
            Token::String | Token::Comment => out.push_str(token),
            _ => out.push_str(&normal(token)),
        }
        end = token_end;
    }
    out
}

/// A token of SQL text: its kind and byte range.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Word,
    Quoted,
    String,
    Comment,
    Open,
    Close,
    Other,
}

/// Splits `sql` into words, quoted identifiers, string literals, comments, parentheses and
/// other characters, skipping whitespace.
fn tokens(sql: &str) -> Vec<(Token, usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(c) = sql[start..].chars().next() {
        let rest = &sql[start..];
        let after = |close: &str| {
            rest[1..]
                .find(close)
                .map_or(rest.len(), |i| i + 1 + close.len())
        };
        let (token, len) = match c {
            '\'' => (Some(Token::String), quoted_len(rest, c, false)),
            '-' if rest.starts_with("--") => {
                (Some(Token::Comment), rest.find('\n').unwrap_or(rest.len()))
            }
            '/' if rest.starts_with("/*") => (Some(Token::Comment), after("*/")),
            '"' | '`' => (Some(Token::Quoted), quoted_len(rest, c, false)),
            '[' => (Some(Token::Quoted), after("]")),
            '(' => (Some(Token::Open), 1),
            ')' => (Some(Token::Close), 1),
            c if c.is_alphanumeric() || c == '_' => {
                let len = rest.find(|n: char| !is_word_char(n)).unwrap_or(rest.len());
                (Some(Token::Word), len)
            }
            c if c.is_whitespace() => (None, c.len_utf8()),
            c => (Some(Token::Other), c.len_utf8()),
        };
        if let Some(token) = token {
            out.push((token, start, start + len));
        }
        start += len;
    }
    out
}

/// The name a word or quoted identifier token stands for: without its quotes, a doubled quote
/// inside read as one.
fn identifier(sql: &str, (kind, start, end): (Token, usize, usize)) -> String {
    let text = &sql[start..end];
    let quote = text.chars().next();
    let inner = text.get(1..).and_then(|t| t.strip_suffix(['"', '`', ']']));
    match (kind, quote, inner) {
        (Token::Quoted, Some('['), Some(inner)) => inner.to_owned(),
        (Token::Quoted, Some(q), Some(inner)) => inner.replace(&format!("{q}{q}"), &q.to_string()),
        _ => text.to_owned(),
    }
}

/// What a `CREATE TABLE` statement declares that SQLite's pragmas do not report.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Declared {
    /// The table options (`STRICT`, `WITHOUT ROWID`), upper case, sorted.
    pub(super) options: Vec<String>,
    /// The columns declared with a `COLLATE` other than `BINARY` (the default), and the
    /// collation in upper case (SQLite's collation names ignore case).
    pub(super) collations: Vec<(String, String)>,
    /// The column declared `AUTOINCREMENT`.
    pub(super) autoincrement: Option<String>,
    /// The foreign keys declared `DEFERRABLE INITIALLY DEFERRED` (every other form is
    /// immediate): their columns and the table they reference.
    pub(super) deferred: Vec<(Vec<String>, String)>,
}

type Tokens<'a> = &'a [(Token, usize, usize)];

/// Reads [`Declared`] from a `CREATE TABLE` statement as SQLite stores it; a virtual table
/// declares none of it.
pub(super) fn declared(sql: &str) -> Declared {
    let tokens = code(sql);
    let mut out = Declared::default();
    if is_word(sql, tokens.get(1), "virtual") {
        return out;
    }
    let Some((definitions, options)) = definitions(sql, &tokens) else {
        return out;
    };
    out.options = options
        .split(|t| &sql[t.1..t.2] == ",")
        .map(|o| {
            let words: Vec<String> = o
                .iter()
                .map(|t| sql[t.1..t.2].to_ascii_uppercase())
                .collect();
            words.join(" ")
        })
        .filter(|o| !o.is_empty())
        .collect();
    out.options.sort();
    for definition in definitions {
        read_definition(sql, definition, &mut out);
    }
    out
}

fn is_word(sql: &str, token: Option<&(Token, usize, usize)>, word: &str) -> bool {
    token.is_some_and(|&(t, s, e)| t == Token::Word && sql[s..e].eq_ignore_ascii_case(word))
}

/// The column and table constraint definitions between the first `(` and the `)` that closes
/// it, split at commas, and the tokens after it (the table options); `None` when unclosed.
fn definitions<'a>(sql: &str, tokens: Tokens<'a>) -> Option<(Vec<Tokens<'a>>, Tokens<'a>)> {
    let open = tokens.iter().position(|t| t.0 == Token::Open)?;
    let (mut depth, mut start, mut definitions) = (0usize, open + 1, Vec::new());
    for (i, &(t, s, e)) in tokens.iter().enumerate().skip(open) {
        match t {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if depth == 0 {
                    definitions.push(&tokens[start..i]);
                    return Some((definitions, &tokens[i + 1..]));
                }
            }
            Token::Other if depth == 1 && &sql[s..e] == "," => {
                definitions.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// The names listed in the first parentheses after `definition[from]`: the first word or
/// quoted identifier of each comma-separated item (`(a, "b" DESC)` lists `a` and `b`).
fn listed(sql: &str, definition: Tokens<'_>, from: usize) -> Vec<String> {
    let inside = definition
        .iter()
        .skip(from)
        .skip_while(|t| t.0 != Token::Open);
    let mut names = Vec::new();
    let mut first = true;
    for &t in inside.skip(1).take_while(|t| t.0 != Token::Close) {
        if first && matches!(t.0, Token::Word | Token::Quoted) {
            names.push(identifier(sql, t));
        }
        first = &sql[t.1..t.2] == ",";
    }
    names
}

/// Adds what one column or table constraint definition declares to `out`.
fn read_definition(sql: &str, definition: Tokens<'_>, out: &mut Declared) {
    // The definition's tokens outside its parentheses.
    let mut depth = 0usize;
    let top: Vec<usize> = (0..definition.len())
        .filter(|&i| {
            match definition[i].0 {
                Token::Open => depth += 1,
                Token::Close => depth = depth.saturating_sub(1),
                _ => return depth == 0,
            }
            false
        })
        .collect();
    let word = |k: usize, w: &str| is_word(sql, top.get(k).map(|&i| &definition[i]), w);
    let name_after = |k: usize| top.get(k + 1).map(|&i| identifier(sql, definition[i]));
    let table_constraint = ["constraint", "primary", "unique", "check", "foreign"];
    let column = match definition.first() {
        Some(&first) if !table_constraint.iter().any(|w| word(0, w)) => {
            Some(identifier(sql, first))
        }
        _ => None,
    };
    for k in 0..top.len() {
        if word(k, "collate") {
            let collation = name_after(k).map(|c| c.to_ascii_uppercase());
            if let (Some(column), Some(collation)) = (&column, collation)
                && collation != "BINARY"
            {
                out.collations.push((column.clone(), collation));
            }
        } else if word(k, "autoincrement") && column.is_some() {
            out.autoincrement.clone_from(&column);
        } else if column.is_none()
            && word(k, "primary")
            && definition
                .iter()
                .any(|&t| is_word(sql, Some(&t), "autoincrement"))
        {
            out.autoincrement = listed(sql, definition, top[k]).into_iter().next();
        } else if word(k, "references") {
            // `DEFERRABLE INITIALLY DEFERRED`, not after `NOT`, before another clause.
            let deferred = (k + 1..top.len())
                .take_while(|&d| !word(d, "references"))
                .any(|d| {
                    word(d, "deferrable")
                        && !word(d - 1, "not")
                        && word(d + 1, "initially")
                        && word(d + 2, "deferred")
                });
            let (true, Some(target)) = (deferred, name_after(k)) else {
                continue;
            };
            let columns = match &column {
                Some(column) => vec![column.clone()],
                None => {
                    let foreign = (0..k).find(|&f| word(f, "foreign")).map_or(0, |f| top[f]);
                    listed(sql, definition, foreign)
                }
            };
            out.deferred.push((columns, target));
        }
    }
}

/// The tokens of `sql` but string literals and comments.
fn code(sql: &str) -> Vec<(Token, usize, usize)> {
    let mut tokens = tokens(sql);
    tokens.retain(|&(t, ..)| !matches!(t, Token::String | Token::Comment));
    tokens
}

/// The `CHECK (...)` constraints of a `CREATE TABLE` statement, table- or column-level, named
/// when a `CONSTRAINT <name>` precedes them.
pub(super) fn checks(sql: &str) -> Vec<Constraint> {
    let tokens = code(sql);
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
        let name = (i >= 3 && is_word(i - 3, "constraint")).then(|| identifier(sql, tokens[i - 2]));
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
    fn declared_reads_options_collations_autoincrement_and_deferral() {
        let sql = "CREATE TABLE \"t\" (\n  id INTEGER PRIMARY KEY AUTOINCREMENT,\n  \
                   [na me] TEXT DEFAULT 'COLLATE x, y' COLLATE \"nocase\" CHECK (x COLLATE rtrim <> ''),\n  \
                   b BLOB collate binary REFERENCES u DEFERRABLE INITIALLY DEFERRED, -- , COLLATE z\n  \
                   c INT REFERENCES \"u\" (id) NOT DEFERRABLE INITIALLY DEFERRED,\n  \
                   d NUMERIC(10, 2) REFERENCES v DEFERRABLE INITIALLY IMMEDIATE,\n  \
                   CONSTRAINT fk FOREIGN KEY (\"c\", d) REFERENCES [w] (x, y) ON DELETE CASCADE \
                   deferrable initially deferred\n) without  rowid, Strict";
        assert_eq!(
            declared(sql),
            Declared {
                options: vec!["STRICT".to_owned(), "WITHOUT ROWID".to_owned()],
                collations: vec![("na me".to_owned(), "NOCASE".to_owned())],
                autoincrement: Some("id".to_owned()),
                deferred: vec![
                    (vec!["b".to_owned()], "u".to_owned()),
                    (vec!["c".to_owned(), "d".to_owned()], "w".to_owned()),
                ],
            }
        );
        let key = declared("CREATE TABLE t (id INTEGER, PRIMARY KEY (id AUTOINCREMENT))");
        assert_eq!(key.autoincrement.as_deref(), Some("id"));
        assert_eq!(
            declared("CREATE VIRTUAL TABLE t USING fts5(a) strict"),
            Declared::default()
        );
        assert_eq!(declared("CREATE TABLE t (a COLLATE"), Declared::default());
        assert_eq!(declared("CREATE TABLE t (a) x, , y").options, ["X", "Y"]);
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
