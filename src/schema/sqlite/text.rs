//! SQLite keeps `CHECK` constraints only in the `CREATE TABLE` text, as written: reading them
//! back, and comparing SQL text however it was indented.

use super::super::{Constraint, ConstraintKind};

/// `text` with every run of whitespace outside quotes turned into one space, trimmed: SQL as
/// SQLite stores it (as written) compares equal however it was indented.
pub(super) fn squeeze(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quote = None;
    let mut space = false;
    for c in text.trim().chars() {
        match quote {
            Some(q) => quote = (c != q).then_some(q),
            None if c.is_whitespace() => {
                space = true;
                continue;
            }
            None => {
                quote = match c {
                    '\'' | '"' | '`' => Some(c),
                    '[' => Some(']'),
                    _ => None,
                }
            }
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
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
}
