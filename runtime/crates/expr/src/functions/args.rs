//! Argument plumbing shared by the built-in functions: typed access to argument values,
//! result builders, arity checks and argument coercions.

use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int32Array, Int64Array, Int64Builder, StringArray,
    StringBuilder,
};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use runnel_types::{is_integer, is_numeric};
use sqlparser::ast::Expr;

use crate::cast::{CastOptions, cast_array_with};
use crate::compile::{Compiler, is_string};
use crate::error::{ExprError, PlanError};
use crate::physical::{FnImpl, ScalarFn};
use crate::types::{at, tn};
use crate::{ColumnarValue, ExprRef};

/// What compiling a call gives: the compiled call, or `None` when the name is not one of
/// the functions the compiling module knows.
pub(super) type CallResult = Result<Option<ExprRef>, PlanError>;

pub(super) fn new_fn(
    name: &str,
    args: Vec<ExprRef>,
    data_type: DataType,
    nullable: bool,
    f: impl Fn(&[ColumnarValue], usize) -> Result<ColumnarValue, ExprError> + Send + Sync + 'static,
) -> ExprRef {
    let f: FnImpl = Arc::new(f);
    Arc::new(ScalarFn {
        name: name.to_string(),
        args,
        data_type,
        nullable,
        f,
    })
}

pub(super) fn any_nullable(args: &[ExprRef]) -> bool {
    args.iter().any(|a| a.nullable())
}

/// Typed access to an argument that is an array or a scalar, without expanding scalars.
pub(super) struct StrArg<'a> {
    a: &'a StringArray,
    scalar: bool,
}

impl<'a> StrArg<'a> {
    pub(super) fn new(v: &'a ColumnarValue) -> Self {
        StrArg {
            a: v.array().as_string::<i32>(),
            scalar: v.is_scalar(),
        }
    }
    #[inline]
    pub(super) fn get(&self, i: usize) -> Option<&'a str> {
        let i = if self.scalar { 0 } else { i };
        if self.a.is_null(i) {
            None
        } else {
            Some(self.a.value(i))
        }
    }
}

pub(super) struct IntArg<'a> {
    a: &'a Int64Array,
    scalar: bool,
}

impl<'a> IntArg<'a> {
    pub(super) fn new(v: &'a ColumnarValue) -> Self {
        IntArg {
            a: v.array().as_primitive::<Int64Type>(),
            scalar: v.is_scalar(),
        }
    }
    #[inline]
    pub(super) fn get(&self, i: usize) -> Option<i64> {
        let i = if self.scalar { 0 } else { i };
        if self.a.is_null(i) {
            None
        } else {
            Some(self.a.value(i))
        }
    }
}

pub(super) fn out_array(a: ArrayRef) -> Result<ColumnarValue, ExprError> {
    Ok(ColumnarValue::Array(a))
}

/// Builds a string column row by row; `f` writes into the buffer and returns false for NULL.
pub(super) fn build_strings(n: usize, mut f: impl FnMut(usize, &mut String) -> bool) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * 8);
    let mut buf = String::new();
    for i in 0..n {
        buf.clear();
        if f(i, &mut buf) {
            b.append_value(&buf);
        } else {
            b.append_null();
        }
    }
    Arc::new(b.finish())
}

/// Builds a string column from slices borrowed from the inputs (no copies per row).
pub(super) fn build_slices<'a>(n: usize, mut f: impl FnMut(usize) -> Option<&'a str>) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * 8);
    for i in 0..n {
        match f(i) {
            Some(s) => b.append_value(s),
            None => b.append_null(),
        }
    }
    Arc::new(b.finish())
}

pub(super) fn build_i64(n: usize, mut f: impl FnMut(usize) -> Option<i64>) -> ArrayRef {
    let mut b = Int64Builder::with_capacity(n);
    for i in 0..n {
        b.append_option(f(i));
    }
    Arc::new(b.finish())
}

pub(super) fn build_i32(n: usize, mut f: impl FnMut(usize) -> Option<i32>) -> ArrayRef {
    Arc::new((0..n).map(&mut f).collect::<Int32Array>())
}

pub(super) fn build_bool(n: usize, mut f: impl FnMut(usize) -> Option<bool>) -> ArrayRef {
    let mut b = BooleanBuilder::with_capacity(n);
    for i in 0..n {
        b.append_option(f(i));
    }
    Arc::new(b.finish())
}

pub(super) fn arity(
    name: &str,
    args: &[ExprRef],
    min: usize,
    max: usize,
    e: &Expr,
) -> Result<(), PlanError> {
    if args.len() < min || args.len() > max {
        let expected = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(PlanError::Type(format!(
            "function `{name}` takes {expected} argument(s), got {} in `{e}`{}",
            args.len(),
            at(e)
        )));
    }
    Ok(())
}

impl Compiler<'_> {
    /// `x` as is when of type `target`, coerced to it when `accepts` its type, else the
    /// error that `name` expects `what`.
    fn coerce_arg(
        &self,
        x: ExprRef,
        target: DataType,
        what: &str,
        name: &str,
        e: &Expr,
        accepts: impl Fn(&DataType) -> bool,
    ) -> Result<ExprRef, PlanError> {
        if *x.data_type() == target {
            Ok(x)
        } else if accepts(x.data_type()) {
            Ok(self.coerce(x, &target))
        } else {
            Err(expects(name, what, x.data_type(), e))
        }
    }

    pub(super) fn to_string_arg(
        &self,
        x: ExprRef,
        name: &str,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        self.coerce_arg(x, DataType::Utf8, "a STRING argument", name, e, |t| {
            matches!(t, DataType::Null | DataType::LargeUtf8 | DataType::Utf8View)
        })
    }

    /// An optional STRING argument (such as a format), coerced like `to_string_arg`.
    pub(super) fn to_opt_string_arg(
        &self,
        x: Option<&ExprRef>,
        name: &str,
        e: &Expr,
    ) -> Result<Option<ExprRef>, PlanError> {
        x.map(|x| self.to_string_arg(x.clone(), name, e))
            .transpose()
    }

    pub(super) fn to_int_arg(
        &self,
        x: ExprRef,
        name: &str,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        self.coerce_arg(x, DataType::Int64, "an integer argument", name, e, |t| {
            is_integer(t) || matches!(t, DataType::Null)
        })
    }

    pub(super) fn to_double_arg(
        &self,
        x: ExprRef,
        name: &str,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        self.coerce_arg(x, DataType::Float64, "a numeric argument", name, e, |t| {
            is_numeric(t) || matches!(t, DataType::Null)
        })
    }

    /// A timestamp-like argument as local wall-clock TIMESTAMP(3) (LTZ shifted to the session
    /// zone, DATE at midnight, STRING parsed).
    pub(super) fn to_local_ts_arg(
        &self,
        x: ExprRef,
        name: &str,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        match x.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, None) => Ok(x),
            DataType::Timestamp(_, Some(_)) => self.cast(x, &ts, false, e),
            DataType::Timestamp(_, None) | DataType::Date32 | DataType::Null => {
                Ok(self.coerce(x, &ts))
            }
            DataType::Utf8 => self.cast(x, &ts, true, e),
            other => Err(expects(name, "a TIMESTAMP or DATE argument", other, e)),
        }
    }
}

/// A pattern argument compiled to a `T`: once at planning when literal, else cached per
/// distinct pattern seen last (a pattern that fails to compile at run time gives `None`).
pub(super) enum PatternArg<T> {
    Fixed(Option<T>),
    Dynamic(Mutex<Option<(String, Option<T>)>>),
}

impl<T> PatternArg<T> {
    /// Calls `f` with the compiled pattern for `pattern` (`None` for a NULL pattern or one
    /// that does not compile), compiling dynamic patterns with `compile`.
    pub(super) fn with_compiled<R>(
        &self,
        pattern: Option<&str>,
        compile: impl FnOnce(&str) -> Option<T>,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> R {
        match self {
            PatternArg::Fixed(r) => f(r.as_ref()),
            PatternArg::Dynamic(cache) => {
                let Some(p) = pattern else { return f(None) };
                let mut guard = cache.lock().unwrap_or_else(|p| p.into_inner());
                let stale = guard.as_ref().is_none_or(|(cached, _)| cached != p);
                if stale {
                    *guard = Some((p.to_string(), compile(p)));
                }
                f(guard.as_ref().and_then(|(_, r)| r.as_ref()))
            }
        }
    }
}

/// The error for an argument of type `other` where `name` wants `what`.
fn expects(name: &str, what: &str, other: &DataType, e: &Expr) -> PlanError {
    PlanError::Type(format!(
        "function `{name}` expects {what}, got {} in `{e}`{}",
        tn(other),
        at(e)
    ))
}

/// A one-argument STRING function returning STRING: `f` writes the result for each
/// non-null row into the buffer (a NULL input gives NULL).
pub(super) fn unary_str_to_str(
    c: &Compiler,
    name: &str,
    args: &[ExprRef],
    e: &Expr,
    f: impl Fn(&str, &mut String) + Send + Sync + 'static,
) -> Result<ExprRef, PlanError> {
    arity(name, args, 1, 1, e)?;
    let nullable = any_nullable(args);
    let s = c.to_string_arg(args[0].clone(), name, e)?;
    Ok(new_fn(
        name,
        vec![s],
        DataType::Utf8,
        nullable,
        move |vals, n| {
            let s = StrArg::new(&vals[0]);
            out_array(build_strings(n, |i, buf| {
                let Some(v) = s.get(i) else { return false };
                f(v, buf);
                true
            }))
        },
    ))
}

/// A one-argument STRING function returning INT: `f` maps each non-null row (a NULL
/// input gives NULL).
pub(super) fn unary_str_to_i32(
    c: &Compiler,
    name: &str,
    args: &[ExprRef],
    e: &Expr,
    f: impl Fn(&str) -> i32 + Send + Sync + 'static,
) -> Result<ExprRef, PlanError> {
    arity(name, args, 1, 1, e)?;
    let nullable = any_nullable(args);
    let s = c.to_string_arg(args[0].clone(), name, e)?;
    Ok(new_fn(
        name,
        vec![s],
        DataType::Int32,
        nullable,
        move |vals, n| {
            let s = StrArg::new(&vals[0]);
            out_array(build_i32(n, |i| s.get(i).map(&f)))
        },
    ))
}

pub(super) fn literal_str(x: &ExprRef) -> Option<Option<String>> {
    let v = x.literal_value()?;
    if crate::scalar_is_null(v) {
        return Some(None);
    }
    if is_string(v.data_type()) {
        Some(Some(v.as_string::<i32>().value(0).to_string()))
    } else {
        None
    }
}

pub(super) fn literal_i64(x: &ExprRef) -> Option<Option<i64>> {
    let v = x.literal_value()?;
    if crate::scalar_is_null(v) {
        return Some(None);
    }
    let c = cast_array_with(v, &DataType::Int64, &CastOptions::default()).ok()?;
    Some(Some(c.as_primitive::<Int64Type>().value(0)))
}
