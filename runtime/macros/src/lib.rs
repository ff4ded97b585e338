//! `#[kq::main]` and `#[kq::test]`: run an `async fn` on a kq runtime, like tokio's macros.
//!
//! Arguments: `flavor = "current_thread" | "multi_thread"` (default: `multi_thread` for main,
//! `current_thread` for tests), `worker_threads = N` (multi-thread only), and `crate = "path"`
//! (default `::kq`) for code that depends on `kq-runtime` under another name.
//!
//! Written on `proc_macro` alone (no syn/quote): the function keeps its tokens and spans; only
//! `async` is removed and the body wrapped.

use proc_macro::{Delimiter, Group, Literal, Span, TokenStream, TokenTree};

/// Runs `async fn main` on a kq runtime (multi-thread by default).
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, false)
}

/// Runs an `async fn` test on a kq runtime (current-thread by default).
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, true)
}

struct Config {
    multi_thread: bool,
    worker_threads: Option<String>,
    krate: String,
}

fn compile_error(msg: &str, span: Span) -> TokenStream {
    let mut lit = Literal::string(msg);
    lit.set_span(span);
    let mut out: TokenStream = "::core::compile_error!".parse().unwrap_or_default();
    out.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        TokenTree::Literal(lit).into(),
    ))]);
    out.extend(";".parse::<TokenStream>().unwrap_or_default());
    out
}

fn unquote(lit: &Literal) -> String {
    lit.to_string().trim_matches('"').to_string()
}

fn parse_args(args: TokenStream, is_test: bool) -> Result<Config, (String, Span)> {
    let mut cfg = Config { multi_thread: !is_test, worker_threads: None, krate: "::kq".into() };
    let tokens: Vec<TokenTree> = args.into_iter().collect();
    for arg in tokens.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ',')) {
        match arg {
            [] => {}
            [TokenTree::Ident(name), TokenTree::Punct(eq), TokenTree::Literal(value)]
                if eq.as_char() == '=' =>
            {
                match name.to_string().as_str() {
                    "flavor" => match unquote(value).as_str() {
                        "current_thread" => cfg.multi_thread = false,
                        "multi_thread" => cfg.multi_thread = true,
                        other => {
                            let msg = format!("unknown flavor {other:?}: expected \"current_thread\" or \"multi_thread\"");
                            return Err((msg, value.span()));
                        }
                    },
                    "worker_threads" => {
                        let n = value.to_string();
                        if n.parse::<usize>().map_or(true, |n| n == 0) {
                            return Err((
                                "worker_threads must be a positive integer".into(),
                                value.span(),
                            ));
                        }
                        cfg.worker_threads = Some(n);
                    }
                    "crate" => cfg.krate = unquote(value),
                    other => return Err((format!("unknown argument `{other}`"), name.span())),
                }
            }
            [first, ..] => {
                return Err(("expected `name = value` arguments".into(), first.span()));
            }
        }
    }
    if cfg.worker_threads.is_some() && !cfg.multi_thread {
        return Err(("worker_threads needs flavor = \"multi_thread\"".into(), Span::call_site()));
    }
    Ok(cfg)
}

fn expand(args: TokenStream, item: TokenStream, is_test: bool) -> TokenStream {
    let cfg = match parse_args(args, is_test) {
        Ok(c) => c,
        Err((msg, span)) => return compile_error(&msg, span),
    };
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let body = match tokens.pop() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
        _ => return compile_error("expected an `async fn`", Span::call_site()),
    };
    let Some(pos) =
        tokens.iter().position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async"))
    else {
        return compile_error("the function must be `async`", Span::call_site());
    };
    tokens.remove(pos);
    let krate = &cfg.krate;
    let builder = if cfg.multi_thread {
        let workers = cfg
            .worker_threads
            .as_deref()
            .map(|n| format!(".worker_threads({n})"))
            .unwrap_or_default();
        format!("{krate}::runtime::Builder::new_multi_thread(){workers}")
    } else {
        format!("{krate}::runtime::Builder::new_current_thread()")
    };
    let mut inner: TokenStream = "let body = async move".parse().unwrap_or_default();
    inner.extend([TokenTree::Group(body)]);
    let run = format!(
        "; {builder}.enable_all().build().expect(\"failed to build the kq runtime\").block_on(body)"
    );
    inner.extend(run.parse::<TokenStream>().unwrap_or_default());
    let mut out = TokenStream::new();
    if is_test {
        out.extend("#[::core::prelude::v1::test]".parse::<TokenStream>().unwrap_or_default());
    }
    out.extend(tokens);
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, inner))]);
    out
}
