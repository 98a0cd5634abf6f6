//! Internal procedural macro of [`strata`](https://docs.rs/strata); use `strata::embed_migrations!`.
//!
//! `include_dir!` resolves a relative path against the compiler's working directory, which
//! Cargo sets to the workspace root, not to the crate being built. A `macro_rules!` macro
//! cannot join the crate's `CARGO_MANIFEST_DIR` and the user's path into the single string
//! literal that `include_dir!` wants, so this macro does only that join and nothing else.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// `include_manifest_dir!("migrations")` expands to
/// `include_dir::include_dir!("$CARGO_MANIFEST_DIR/migrations")`.
///
/// The caller must have `include_dir` in scope (strata's macro brings it in).
#[proc_macro]
pub fn include_manifest_dir(input: TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = input.into_iter().collect();
    let (literal, span) = match tokens.as_slice() {
        [TokenTree::Literal(lit)] => (lit.to_string(), lit.span()),
        [TokenTree::Group(group)] if group.delimiter() == Delimiter::None => {
            // A `$path:literal` fragment forwarded by `macro_rules!` arrives wrapped in an
            // invisible group.
            let inner: Vec<TokenTree> = group.stream().into_iter().collect();
            match inner.as_slice() {
                [TokenTree::Literal(lit)] => (lit.to_string(), lit.span()),
                _ => return error("expected a string literal naming the migrations directory"),
            }
        }
        _ => return error("expected a string literal naming the migrations directory"),
    };
    let Some(path) = literal
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return error("expected a plain string literal naming the migrations directory");
    };
    if path.contains('\\') || path.contains('$') {
        return error("the migrations directory must be a plain relative path with `/` separators");
    }
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("$CARGO_MANIFEST_DIR/{path}")
    };
    let mut literal = Literal::string(&joined);
    literal.set_span(span);
    let mut out = vec![
        TokenTree::Ident(Ident::new("include_dir", Span::call_site())),
        TokenTree::Punct(Punct::new(':', Spacing::Joint)),
        TokenTree::Punct(Punct::new(':', Spacing::Alone)),
        TokenTree::Ident(Ident::new("include_dir", Span::call_site())),
        TokenTree::Punct(Punct::new('!', Spacing::Alone)),
    ];
    out.push(TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        TokenStream::from(TokenTree::Literal(literal)),
    )));
    out.into_iter().collect()
}

fn error(message: &str) -> TokenStream {
    format!("::core::compile_error!({message:?})")
        .parse()
        .unwrap_or_default()
}
