//! Argument plumbing shared by the built-in functions: typed access to argument values,
//! result builders, arity checks and argument coercions.

use std::sync::Arc;

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
    pub(super) fn to_string_arg(
        &self,
        x: ExprRef,
        name: &str,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        match x.data_type() {
            DataType::Utf8 => Ok(x),
            DataType::Null | DataType::LargeUtf8 | DataType::Utf8View => {
                Ok(self.coerce(x, &DataType::Utf8))
            }
            other => Err(PlanError::Type(format!(
                "function `{name}` expects a STRING argument, got {} in `{e}`{}",
                tn(other),
                at(e)
            ))),
        }
    }

    pub(super) fn to_int_arg(
        &self,
        x: ExprRef,
        name: &str,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        match x.data_type() {
            DataType::Int64 => Ok(x),
            t if is_integer(t) || matches!(t, DataType::Null) => {
                Ok(self.coerce(x, &DataType::Int64))
            }
            other => Err(PlanError::Type(format!(
                "function `{name}` expects an integer argument, got {} in `{e}`{}",
                tn(other),
                at(e)
            ))),
        }
    }

    pub(super) fn to_double_arg(
        &self,
        x: ExprRef,
        name: &str,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        match x.data_type() {
            DataType::Float64 => Ok(x),
            t if is_numeric(t) || matches!(t, DataType::Null) => {
                Ok(self.coerce(x, &DataType::Float64))
            }
            other => Err(PlanError::Type(format!(
                "function `{name}` expects a numeric argument, got {} in `{e}`{}",
                tn(other),
                at(e)
            ))),
        }
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
            other => Err(PlanError::Type(format!(
                "function `{name}` expects a TIMESTAMP or DATE argument, got {} in `{e}`{}",
                tn(other),
                at(e)
            ))),
        }
    }
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
