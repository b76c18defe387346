//! Regular-expression functions: REGEXP, REGEXP_EXTRACT, REGEXP_REPLACE, SIMILAR TO.

use std::sync::{Arc, Mutex};

use arrow::datatypes::DataType;
use regex::Regex;
use sqlparser::ast::Expr;

use crate::ExprRef;
use crate::compile::Compiler;
use crate::error::PlanError;
use crate::physical::Not;
use crate::types::at;

use super::args::*;

/// Translates the Java regex features the `regex` crate spells differently; lookaround and
/// backreferences are rejected.
pub(crate) fn java_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|err| format!("unsupported regular expression '{pattern}': {err}"))
}

/// A regex for a pattern argument: compiled once when literal, else cached per distinct
/// pattern seen last.
type RegexArg = PatternArg<Regex>;

impl RegexArg {
    fn new(x: &ExprRef, e: &Expr) -> Result<RegexArg, PlanError> {
        Ok(match literal_str(x) {
            Some(Some(p)) => RegexArg::Fixed(Some(
                java_regex(&p).map_err(|m| PlanError::Invalid(format!("{m} in `{e}`{}", at(e))))?,
            )),
            Some(None) => RegexArg::Fixed(None),
            None => RegexArg::Dynamic(Mutex::new(None)),
        })
    }

    fn with<R>(&self, pattern: Option<&str>, f: impl FnOnce(Option<&Regex>) -> R) -> R {
        self.with_compiled(pattern, |p| java_regex(p).ok(), f)
    }
}

/// Compiles a call of a regular-expression function; `None` when `name` is none of them.
pub(super) fn call(c: &Compiler, name: &str, args: &[ExprRef], e: &Expr) -> CallResult {
    match name {
        "REGEXP_EXTRACT" => {
            arity(name, args, 2, 3, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let p = c.to_string_arg(args[1].clone(), name, e)?;
            let re = RegexArg::new(&p, e)?;
            let mut fargs = vec![s, p];
            if args.len() == 3 {
                fargs.push(c.to_int_arg(args[2].clone(), name, e)?);
            }
            Ok(new_fn(name, fargs, DataType::Utf8, true, move |vals, n| {
                let s = StrArg::new(&vals[0]);
                let p = StrArg::new(&vals[1]);
                let idx = vals.get(2).map(IntArg::new);
                // A literal pattern reuses one set of capture slots for the whole batch.
                let mut fixed = match &re {
                    RegexArg::Fixed(Some(r)) => Some((r, r.capture_locations())),
                    _ => None,
                };
                out_array(build_slices(n, |i| {
                    let v = s.get(i)?;
                    let g = match &idx {
                        Some(x) => x.get(i)?,
                        None => 0,
                    };
                    if g < 0 {
                        return None;
                    }
                    if let Some((r, locs)) = fixed.as_mut() {
                        // The (fast) matcher finds the match; captures only run from there.
                        let m = r.find(v)?;
                        if g == 0 {
                            return Some(m.as_str());
                        }
                        r.captures_read_at(locs, v, m.start())?;
                        return locs.get(g as usize).map(|(a, b)| &v[a..b]);
                    }
                    re.with(p.get(i), |r| {
                        let caps = r?.captures(v)?;
                        caps.get(g as usize).map(|m| m.as_str())
                    })
                }))
            }))
        }
        "REGEXP_REPLACE" => {
            arity(name, args, 3, 3, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let p = c.to_string_arg(args[1].clone(), name, e)?;
            let r = c.to_string_arg(args[2].clone(), name, e)?;
            let re = RegexArg::new(&p, e)?;
            Ok(new_fn(
                name,
                vec![s, p, r],
                DataType::Utf8,
                true,
                move |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let p = StrArg::new(&vals[1]);
                    let rep = StrArg::new(&vals[2]);
                    out_array(build_strings(n, |i, buf| {
                        let (Some(v), Some(r)) = (s.get(i), rep.get(i)) else {
                            return false;
                        };
                        re.with(p.get(i), |re| match re {
                            Some(re) => {
                                buf.push_str(&re.replace_all(v, regex::NoExpand(r)));
                                true
                            }
                            None => false,
                        })
                    }))
                },
            ))
        }
        "REGEXP" => {
            arity(name, args, 2, 2, e)?;
            regexp_compiled(c, args[0].clone(), args[1].clone(), e)
        }
        _ => return Ok(None),
    }
    .map(Some)
}

fn regexp_compiled(c: &Compiler, s: ExprRef, p: ExprRef, e: &Expr) -> Result<ExprRef, PlanError> {
    let s = c.to_string_arg(s, "REGEXP", e)?;
    let p = c.to_string_arg(p, "REGEXP", e)?;
    let empty = matches!(literal_str(&p), Some(Some(ref x)) if x.is_empty());
    let re = if empty {
        RegexArg::Fixed(None)
    } else {
        RegexArg::new(&p, e)?
    };
    let nullable = s.nullable() || p.nullable();
    Ok(new_fn(
        "REGEXP",
        vec![s, p],
        DataType::Boolean,
        nullable,
        move |vals, n| {
            let s = StrArg::new(&vals[0]);
            let p = StrArg::new(&vals[1]);
            out_array(build_bool(n, |i| {
                let v = s.get(i)?;
                let pat = p.get(i)?;
                if pat.is_empty() {
                    return Some(false);
                }
                Some(re.with(Some(pat), |r| r.is_some_and(|r| r.is_match(v))))
            }))
        },
    ))
}

/// `s REGEXP p` / `REGEXP(s, p)`: whether any substring matches (Java `find`).
pub(crate) fn regexp_match(
    c: &Compiler,
    s: &Expr,
    p: &Expr,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    let s = c.compile(s)?;
    let p = c.compile(p)?;
    regexp_compiled(c, s, p, e)
}

/// `s [NOT] SIMILAR TO pattern`: SQL regular expressions (`%`, `_`, `|`, `*`, `+`, `?`,
/// `{m,n}`, `[...]`, `(...)`) matching the whole string.
pub(crate) fn similar_to(
    c: &Compiler,
    s: &Expr,
    p: &Expr,
    escape: Option<&Expr>,
    negated: bool,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    if escape.is_some() {
        return Err(PlanError::Unsupported(format!(
            "SIMILAR TO ... ESCAPE is not supported: `{e}`{}",
            at(e)
        )));
    }
    let sx = c.to_string_arg(c.compile(s)?, "SIMILAR TO", e)?;
    let px = c.compile(p)?;
    let Some(Some(pat)) = literal_str(&px) else {
        return Err(PlanError::Unsupported(format!(
            "SIMILAR TO needs a literal pattern: `{e}`{}",
            at(e)
        )));
    };
    let mut re = String::from("^(?s:");
    for ch in pat.chars() {
        match ch {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            '.' | '^' | '$' | '\\' => {
                re.push('\\');
                re.push(ch);
            }
            other => re.push(other),
        }
    }
    re.push_str(")$");
    let regex =
        java_regex(&re).map_err(|m| PlanError::Invalid(format!("{m} in `{e}`{}", at(e))))?;
    let nullable = sx.nullable();
    let m = new_fn(
        "SIMILAR TO",
        vec![sx],
        DataType::Boolean,
        nullable,
        move |vals, n| {
            let s = StrArg::new(&vals[0]);
            out_array(build_bool(n, |i| Some(regex.is_match(s.get(i)?))))
        },
    );
    Ok(if negated {
        Arc::new(Not { input: m })
    } else {
        m
    })
}
