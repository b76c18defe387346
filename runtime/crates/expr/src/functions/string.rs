//! String functions: concatenation, case, length, substrings, padding, trimming,
//! searching and replacing (the regular-expression ones are in `regexp`).

use arrow::datatypes::DataType;
use runnel_types::is_integer;
use sqlparser::ast::{Expr, TrimWhereField};

use crate::compile::{Compiler, is_string};
use crate::error::PlanError;
use crate::physical::{literal, literal_array};
use crate::{ColumnarValue, ExprRef};

use super::args::*;

/// Compiles a call of a string function; `None` when `name` is none of them.
pub(super) fn call(c: &Compiler, name: &str, args: &[ExprRef], e: &Expr) -> CallResult {
    let nullable = any_nullable(args);
    match name {
        "CONCAT" => {
            arity(name, args, 1, usize::MAX, e)?;
            let args = args
                .iter()
                .cloned()
                .map(|a| {
                    if is_string(a.data_type()) {
                        Ok(a)
                    } else if matches!(a.data_type(), DataType::Null) {
                        Ok(c.coerce(a, &DataType::Utf8))
                    } else {
                        c.cast(a, &DataType::Utf8, false, e)
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(new_fn(name, args, DataType::Utf8, nullable, |vals, n| {
                let strs: Vec<StrArg> = vals.iter().map(StrArg::new).collect();
                out_array(build_strings(n, |i, buf| {
                    for s in &strs {
                        match s.get(i) {
                            Some(v) => buf.push_str(v),
                            None => return false,
                        }
                    }
                    true
                }))
            }))
        }
        "CONCAT_WS" => {
            arity(name, args, 1, usize::MAX, e)?;
            let args = args
                .iter()
                .cloned()
                .map(|a| c.to_string_arg(a, name, e))
                .collect::<Result<Vec<_>, _>>()?;
            let sep_nullable = args[0].nullable();
            Ok(new_fn(
                name,
                args,
                DataType::Utf8,
                sep_nullable,
                |vals, n| {
                    let strs: Vec<StrArg> = vals.iter().map(StrArg::new).collect();
                    out_array(build_strings(n, |i, buf| {
                        let Some(sep) = strs[0].get(i) else {
                            return false;
                        };
                        let mut first = true;
                        for s in &strs[1..] {
                            if let Some(v) = s.get(i) {
                                if !first {
                                    buf.push_str(sep);
                                }
                                buf.push_str(v);
                                first = false;
                            }
                        }
                        true
                    }))
                },
            ))
        }
        "UPPER" | "LOWER" | "UCASE" | "LCASE" => {
            let upper = name == "UPPER" || name == "UCASE";
            unary_str_to_str(c, name, args, e, move |v, buf| {
                if v.is_ascii() {
                    buf.push_str(v);
                    if upper {
                        buf.make_ascii_uppercase()
                    } else {
                        buf.make_ascii_lowercase()
                    }
                } else if upper {
                    buf.extend(v.chars().flat_map(char::to_uppercase));
                } else {
                    buf.extend(v.chars().flat_map(char::to_lowercase));
                }
            })
        }
        "INITCAP" => unary_str_to_str(c, name, args, e, |v, buf| {
            let mut start = true;
            for ch in v.chars() {
                if ch.is_alphanumeric() {
                    if start {
                        buf.extend(ch.to_uppercase());
                    } else {
                        buf.extend(ch.to_lowercase());
                    }
                    start = false;
                } else {
                    buf.push(ch);
                    start = true;
                }
            }
        }),
        "CHAR_LENGTH" | "CHARACTER_LENGTH" | "LENGTH" => {
            unary_str_to_i32(c, name, args, e, |v| v.chars().count() as i32)
        }
        "REVERSE" => unary_str_to_str(c, name, args, e, |v, buf| buf.extend(v.chars().rev())),
        "SUBSTRING" | "SUBSTR" => {
            arity(name, args, 2, 3, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let mut fargs = vec![s, c.to_int_arg(args[1].clone(), name, e)?];
            if args.len() == 3 {
                fargs.push(c.to_int_arg(args[2].clone(), name, e)?);
            }
            Ok(new_fn(name, fargs, DataType::Utf8, true, |vals, n| {
                let s = StrArg::new(&vals[0]);
                let pos = IntArg::new(&vals[1]);
                let len = vals.get(2).map(IntArg::new);
                out_array(build_slices(n, |i| {
                    let v = s.get(i)?;
                    let p = pos.get(i)?;
                    let l = match &len {
                        Some(l) => l.get(i)?,
                        None => i32::MAX as i64,
                    };
                    flink_substring(v, p, l)
                }))
            }))
        }
        "LEFT" | "RIGHT" => {
            arity(name, args, 2, 2, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let k = c.to_int_arg(args[1].clone(), name, e)?;
            let left = name == "LEFT";
            Ok(new_fn(
                name,
                vec![s, k],
                DataType::Utf8,
                nullable,
                move |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let k = IntArg::new(&vals[1]);
                    out_array(build_slices(n, |i| {
                        let v = s.get(i)?;
                        let k = k.get(i)?.max(0) as usize;
                        let count = v.chars().count();
                        if k >= count {
                            return Some(v);
                        }
                        Some(if left {
                            char_slice(v, 0, k)
                        } else {
                            char_slice(v, count - k, count)
                        })
                    }))
                },
            ))
        }
        "SPLIT_INDEX" => {
            arity(name, args, 3, 3, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let sep = if is_integer(args[1].data_type()) {
                // SPLIT_INDEX(str, charCode, idx)
                let code = c.to_int_arg(args[1].clone(), name, e)?;
                new_fn("CHR", vec![code], DataType::Utf8, true, |vals, n| {
                    let k = IntArg::new(&vals[0]);
                    out_array(build_strings(n, |i, buf| match k.get(i) {
                        Some(code) if (1..=255).contains(&code) => {
                            buf.push(code as u8 as char);
                            true
                        }
                        _ => false,
                    }))
                })
            } else {
                c.to_string_arg(args[1].clone(), name, e)?
            };
            let idx = c.to_int_arg(args[2].clone(), name, e)?;
            Ok(new_fn(
                name,
                vec![s, sep, idx],
                DataType::Utf8,
                true,
                |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let sep = StrArg::new(&vals[1]);
                    let idx = IntArg::new(&vals[2]);
                    out_array(build_slices(n, |i| {
                        let v = s.get(i)?;
                        let sep = sep.get(i)?;
                        let k = idx.get(i)?;
                        if k < 0 || v.is_empty() {
                            return None;
                        }
                        let k = k as usize;
                        if sep.is_empty() {
                            v.split(char::is_whitespace).nth(k)
                        } else if sep.len() == 1 {
                            // single-byte separator: memchr-based splitting
                            v.split(sep.as_bytes()[0] as char).nth(k)
                        } else {
                            v.split(sep).nth(k)
                        }
                    }))
                },
            ))
        }
        "REPLACE" => {
            arity(name, args, 3, 3, e)?;
            let a = args
                .iter()
                .cloned()
                .map(|a| c.to_string_arg(a, name, e))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(new_fn(name, a, DataType::Utf8, nullable, |vals, n| {
                let s = StrArg::new(&vals[0]);
                let from = StrArg::new(&vals[1]);
                let to = StrArg::new(&vals[2]);
                out_array(build_strings(n, |i, buf| {
                    let (Some(v), Some(f), Some(t)) = (s.get(i), from.get(i), to.get(i)) else {
                        return false;
                    };
                    if f.is_empty() {
                        buf.push_str(t);
                        for ch in v.chars() {
                            buf.push(ch);
                            buf.push_str(t);
                        }
                        return true;
                    }
                    let mut last = 0;
                    for (pos, _) in v.match_indices(f) {
                        buf.push_str(&v[last..pos]);
                        buf.push_str(t);
                        last = pos + f.len();
                    }
                    buf.push_str(&v[last..]);
                    true
                }))
            }))
        }
        "POSITION" | "LOCATE" | "INSTR" => {
            arity(name, args, 2, 3, e)?;
            // POSITION(needle IN hay) and LOCATE(needle, hay[, from]); INSTR(hay, needle)
            let (needle, hay) = if name == "INSTR" {
                (args[1].clone(), args[0].clone())
            } else {
                (args[0].clone(), args[1].clone())
            };
            let mut fargs = vec![
                c.to_string_arg(needle, name, e)?,
                c.to_string_arg(hay, name, e)?,
            ];
            if args.len() == 3 {
                fargs.push(c.to_int_arg(args[2].clone(), name, e)?);
            }
            Ok(new_fn(name, fargs, DataType::Int32, nullable, |vals, n| {
                let needle = StrArg::new(&vals[0]);
                let hay = StrArg::new(&vals[1]);
                let from = vals.get(2).map(IntArg::new);
                out_array(build_i32(n, |i| {
                    let nd = needle.get(i)?;
                    let h = hay.get(i)?;
                    let start = match &from {
                        Some(f) => f.get(i)?,
                        None => 1,
                    };
                    if start < 1 {
                        return Some(0);
                    }
                    let skip_bytes = match h.char_indices().nth(start as usize - 1) {
                        Some((b, _)) => b,
                        None if start as usize - 1 == h.chars().count() => h.len(),
                        None => return Some(0),
                    };
                    match h[skip_bytes..].find(nd) {
                        Some(b) => Some(h[..skip_bytes + b].chars().count() as i32 + 1),
                        None => Some(0),
                    }
                }))
            }))
        }
        "LPAD" | "RPAD" => {
            arity(name, args, 3, 3, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let len = c.to_int_arg(args[1].clone(), name, e)?;
            let pad = c.to_string_arg(args[2].clone(), name, e)?;
            let left = name == "LPAD";
            Ok(new_fn(
                name,
                vec![s, len, pad],
                DataType::Utf8,
                true,
                move |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let len = IntArg::new(&vals[1]);
                    let pad = StrArg::new(&vals[2]);
                    out_array(build_strings(n, |i, buf| {
                        let (Some(v), Some(l), Some(p)) = (s.get(i), len.get(i), pad.get(i)) else {
                            return false;
                        };
                        if l < 0 || p.is_empty() {
                            return false;
                        }
                        let l = l as usize;
                        let count = v.chars().count();
                        let fill = l.saturating_sub(count);
                        if left {
                            buf.extend(p.chars().cycle().take(fill));
                            buf.extend(v.chars().take(l - fill));
                        } else {
                            buf.extend(v.chars().take(l));
                            buf.extend(p.chars().cycle().take(fill));
                        }
                        true
                    }))
                },
            ))
        }
        "REPEAT" => {
            arity(name, args, 2, 2, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let k = c.to_int_arg(args[1].clone(), name, e)?;
            Ok(new_fn(
                name,
                vec![s, k],
                DataType::Utf8,
                nullable,
                |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let k = IntArg::new(&vals[1]);
                    out_array(build_strings(n, |i, buf| {
                        let (Some(v), Some(k)) = (s.get(i), k.get(i)) else {
                            return false;
                        };
                        for _ in 0..k.max(0) {
                            buf.push_str(v);
                        }
                        true
                    }))
                },
            ))
        }
        "LTRIM" | "RTRIM" | "BTRIM" => {
            arity(name, args, 1, 2, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let chars = args.get(1).cloned();
            let w = match name {
                "LTRIM" => TrimWhereField::Leading,
                "RTRIM" => TrimWhereField::Trailing,
                _ => TrimWhereField::Both,
            };
            trim(c, s, chars, Some(&w), e)
        }
        "HASH_CODE" => unary_str_to_i32(c, name, args, e, |v| {
            let mut h: i32 = 0;
            for u in v.encode_utf16() {
                h = h.wrapping_mul(31).wrapping_add(u as i32);
            }
            h.wrapping_abs()
        }),
        "ASCII" => unary_str_to_i32(c, name, args, e, |v| {
            v.bytes().next().map(|b| b as i32).unwrap_or(0)
        }),
        "CHR" => {
            arity(name, args, 1, 1, e)?;
            let k = c.to_int_arg(args[0].clone(), name, e)?;
            Ok(new_fn(
                name,
                vec![k],
                DataType::Utf8,
                nullable,
                |vals, n| {
                    let k = IntArg::new(&vals[0]);
                    out_array(build_strings(n, |i, buf| {
                        let Some(k) = k.get(i) else { return false };
                        if k >= 0 {
                            buf.push((k & 0xFF) as u8 as char);
                        }
                        true
                    }))
                },
            ))
        }
        "OVERLAY" => {
            arity(name, args, 3, 4, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let r = c.to_string_arg(args[1].clone(), name, e)?;
            let mut fargs = vec![s, r, c.to_int_arg(args[2].clone(), name, e)?];
            if args.len() == 4 {
                fargs.push(c.to_int_arg(args[3].clone(), name, e)?);
            }
            Ok(new_fn(name, fargs, DataType::Utf8, nullable, |vals, n| {
                let s = StrArg::new(&vals[0]);
                let r = StrArg::new(&vals[1]);
                let start = IntArg::new(&vals[2]);
                let len = vals.get(3).map(IntArg::new);
                out_array(build_strings(n, |i, buf| {
                    let (Some(v), Some(r), Some(st)) = (s.get(i), r.get(i), start.get(i)) else {
                        return false;
                    };
                    let rl = r.chars().count() as i64;
                    let l = match &len {
                        Some(x) => match x.get(i) {
                            Some(l) => l,
                            None => return false,
                        },
                        None => rl,
                    };
                    let count = v.chars().count() as i64;
                    if st <= 0 || st > count {
                        buf.push_str(v);
                        return true;
                    }
                    buf.push_str(char_slice(v, 0, (st - 1) as usize));
                    buf.push_str(r);
                    if st + l <= count && l > 0 {
                        buf.push_str(char_slice(v, (st - 1 + l) as usize, count as usize));
                    }
                    true
                }))
            }))
        }
        _ => return Ok(None),
    }
    .map(Some)
}

/// CAST to CHAR(n) / VARCHAR(n): longer strings are cut to `n` characters; for CHAR,
/// shorter ones are padded with spaces.
pub(crate) fn fit_length(
    c: &Compiler,
    x: ExprRef,
    n: usize,
    pad: bool,
) -> Result<ExprRef, PlanError> {
    let _ = c;
    let nullable = x.nullable();
    let f = move |vals: &[ColumnarValue], rows: usize| {
        let s = StrArg::new(&vals[0]);
        out_array(build_strings(rows, |i, buf| {
            let Some(v) = s.get(i) else { return false };
            let count = v.chars().count();
            buf.push_str(char_slice(v, 0, n));
            if pad {
                for _ in count..n {
                    buf.push(' ');
                }
            }
            true
        }))
    };
    if let Some(v) = x.literal_value() {
        let out = f(&[ColumnarValue::Scalar(v.clone())], 1)
            .map_err(|e| PlanError::Invalid(e.to_string()))?;
        return Ok(literal_array(out.array().clone()));
    }
    Ok(new_fn("CAST", vec![x], DataType::Utf8, nullable, f))
}

fn char_slice(s: &str, start: usize, end: usize) -> &str {
    if s.is_ascii() {
        let end = end.min(s.len());
        let start = start.min(end);
        return &s[start..end];
    }
    let mut it = s
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(s.len()));
    let b0 = it.by_ref().nth(start).unwrap_or(s.len());
    let b1 = if end > start {
        it.nth(end - start - 1).unwrap_or(s.len())
    } else {
        b0
    };
    &s[b0..b1]
}

/// Flink's `SUBSTRING(s, pos, len)`: 1-based; `pos` 0 means 1; a negative `pos` counts from
/// the end (empty when it reaches before the start); a negative `len` gives NULL.
pub(crate) fn flink_substring(s: &str, pos: i64, len: i64) -> Option<&str> {
    if len < 0 {
        return None;
    }
    if s.is_empty() {
        return Some("");
    }
    let count = if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    } as i64;
    let start = if pos > 0 {
        let st = pos - 1;
        if st >= count {
            return Some("");
        }
        st
    } else if pos < 0 {
        let st = count + pos;
        if st < 0 {
            return Some("");
        }
        st
    } else {
        0
    };
    let end = if count - start < len {
        count
    } else {
        start + len
    };
    Some(char_slice(s, start as usize, end as usize))
}

/// TRIM([BOTH|LEADING|TRAILING] [chars] FROM s): removes any of `chars` (default a space).
pub(crate) fn trim(
    c: &Compiler,
    s: ExprRef,
    chars: Option<ExprRef>,
    w: Option<&TrimWhereField>,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    let s = c.to_string_arg(s, "TRIM", e)?;
    let chars = match chars {
        Some(ch) => c.to_string_arg(ch, "TRIM", e)?,
        None => literal(" "),
    };
    let (lead, trail) = match w {
        Some(TrimWhereField::Leading) => (true, false),
        Some(TrimWhereField::Trailing) => (false, true),
        _ => (true, true),
    };
    let nullable = s.nullable() || chars.nullable();
    Ok(new_fn(
        "TRIM",
        vec![s, chars],
        DataType::Utf8,
        nullable,
        move |vals, n| {
            let s = StrArg::new(&vals[0]);
            let ch = StrArg::new(&vals[1]);
            out_array(build_slices(n, |i| {
                let v = s.get(i)?;
                let set = ch.get(i)?;
                let single = if set.len() == 1 {
                    Some(set.as_bytes()[0] as char)
                } else {
                    None
                };
                let pred = |x: char| match single {
                    Some(c) => x == c,
                    None => set.contains(x),
                };
                let mut r = v;
                if lead {
                    r = r.trim_start_matches(pred);
                }
                if trail {
                    r = r.trim_end_matches(pred);
                }
                Some(r)
            }))
        },
    ))
}
