//! DECIMAL arithmetic on Arrow `Decimal128` with Flink's rules: exact results rounded
//! HALF_UP to the result scale, NULL when the result does not fit the result precision.

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBufferBuilder, Decimal128Array, PrimitiveArray,
};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Decimal128Type, i256};

use crate::ColumnarValue;
use crate::error::ExprError;
use crate::types::ArithOp;

/// 10^n as i128 (n ≤ 38).
pub(crate) fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

fn pow10_256(n: u32) -> i256 {
    let mut v = i256::ONE;
    let ten = i256::from_i128(10);
    for _ in 0..n {
        v = v.wrapping_mul(ten);
    }
    v
}

/// Divides rounding HALF_UP (away from zero on ties), as Java's `RoundingMode.HALF_UP`.
fn div_half_up_256(a: i256, b: i256) -> Option<i256> {
    if b == i256::ZERO {
        return None;
    }
    let q = a.checked_div(b)?;
    let r = a.checked_rem(b)?;
    let twice = r.wrapping_abs().wrapping_mul(i256::from_i128(2));
    if twice >= b.wrapping_abs() {
        let neg = (a < i256::ZERO) != (b < i256::ZERO);
        Some(if neg { q - i256::ONE } else { q + i256::ONE })
    } else {
        Some(q)
    }
}

/// Whether `v` has at most `precision` digits.
pub(crate) fn fits(v: i128, precision: u8) -> bool {
    precision >= 39 || v.unsigned_abs() < pow10(precision as u32) as u128
}

/// Changes the scale of an unscaled value, rounding HALF_UP; `None` on overflow.
pub(crate) fn rescale(v: i128, from: i8, to: i8) -> Option<i128> {
    if from == to {
        return Some(v);
    }
    if to > from {
        v.checked_mul(pow10((to - from) as u32))
    } else {
        let d = pow10((from - to) as u32);
        let q = v / d;
        let r = v % d;
        if r.unsigned_abs() * 2 >= d as u128 {
            Some(if v < 0 { q - 1 } else { q + 1 })
        } else {
            Some(q)
        }
    }
}

fn op_one(op: ArithOp, a: i128, s1: i8, b: i128, s2: i8, p: u8, s: i8) -> Result<Option<i128>, ()> {
    let r = match op {
        ArithOp::Add | ArithOp::Sub => {
            let (Some(x), Some(y)) = (rescale(a, s1, s), rescale(b, s2, s)) else {
                return Ok(None);
            };
            if op == ArithOp::Add {
                x.checked_add(y)
            } else {
                x.checked_sub(y)
            }
        }
        ArithOp::Mul => {
            let prod = i256::from_i128(a).wrapping_mul(i256::from_i128(b));
            let from = s1 as i32 + s2 as i32;
            let v = if from > s as i32 {
                div_half_up_256(prod, pow10_256((from - s as i32) as u32))
            } else {
                prod.checked_mul(pow10_256((s as i32 - from) as u32))
            };
            v.and_then(|v| v.to_i128())
        }
        ArithOp::Div => {
            if b == 0 {
                return Err(());
            }
            // a / 10^s1 / (b / 10^s2) at scale s = a * 10^(s - s1 + s2) / b
            let e = s as i32 - s1 as i32 + s2 as i32;
            let (num, den) = if e >= 0 {
                (
                    i256::from_i128(a).checked_mul(pow10_256(e as u32)),
                    i256::from_i128(b),
                )
            } else {
                (
                    Some(i256::from_i128(a)),
                    i256::from_i128(b)
                        .checked_mul(pow10_256((-e) as u32))
                        .unwrap_or(i256::MAX),
                )
            };
            num.and_then(|n| div_half_up_256(n, den))
                .and_then(|v| v.to_i128())
        }
        ArithOp::Mod => {
            if b == 0 {
                return Err(());
            }
            let (Some(x), Some(y)) = (rescale(a, s1, s), rescale(b, s2, s)) else {
                return Ok(None);
            };
            Some(x % y)
        }
    };
    Ok(r.filter(|v| fits(*v, p)))
}

/// One operand of decimal arithmetic: unscaled values (integers widened), with precision,
/// scale and validity.
struct Operand<'a> {
    values: std::borrow::Cow<'a, [i128]>,
    nulls: Option<NullBuffer>,
    precision: u8,
    scale: i8,
    scalar: bool,
}

fn operand(v: &ColumnarValue) -> Result<Operand<'_>, ExprError> {
    use arrow::datatypes::{Int8Type, Int16Type, Int32Type, Int64Type};
    use std::borrow::Cow;
    let a = v.array();
    let widen = |it: &mut dyn Iterator<Item = i128>| it.collect::<Vec<i128>>();
    let (values, p, s): (Cow<'_, [i128]>, u8, i8) = match a.data_type() {
        DataType::Decimal128(p, s) => (
            Cow::Borrowed(a.as_primitive::<Decimal128Type>().values().as_ref()),
            *p,
            *s,
        ),
        DataType::Int8 => (
            Cow::Owned(widen(
                &mut a
                    .as_primitive::<Int8Type>()
                    .values()
                    .iter()
                    .map(|x| *x as i128),
            )),
            3,
            0,
        ),
        DataType::Int16 => (
            Cow::Owned(widen(
                &mut a
                    .as_primitive::<Int16Type>()
                    .values()
                    .iter()
                    .map(|x| *x as i128),
            )),
            5,
            0,
        ),
        DataType::Int32 => (
            Cow::Owned(widen(
                &mut a
                    .as_primitive::<Int32Type>()
                    .values()
                    .iter()
                    .map(|x| *x as i128),
            )),
            10,
            0,
        ),
        DataType::Int64 => (
            Cow::Owned(widen(
                &mut a
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .map(|x| *x as i128),
            )),
            19,
            0,
        ),
        other => {
            return Err(ExprError::Eval(format!("decimal arithmetic on {other}")));
        }
    };
    Ok(Operand {
        values,
        nulls: a.logical_nulls(),
        precision: p,
        scale: s,
        scalar: v.is_scalar(),
    })
}

fn precision_scale(dt: &DataType) -> Option<(i32, i32)> {
    match dt {
        DataType::Decimal128(p, s) => Some((*p as i32, *s as i32)),
        DataType::Int8 => Some((3, 0)),
        DataType::Int16 => Some((5, 0)),
        DataType::Int32 => Some((10, 0)),
        DataType::Int64 => Some((19, 0)),
        _ => None,
    }
}

fn map_native<T>(a: &ArrayRef, f: impl Fn(i128) -> i128) -> Vec<i128>
where
    T: arrow::datatypes::ArrowPrimitiveType,
    T::Native: Into<i128>,
{
    a.as_primitive::<T>()
        .values()
        .iter()
        .map(|v| f((*v).into()))
        .collect()
}

/// `column op literal` (either order) when Flink's result type holds every result exactly:
/// one pass over the column's native values, no overflow checks, no widened copy.
fn exact_with_scalar(
    op: ArithOp,
    l: &ColumnarValue,
    r: &ColumnarValue,
    p: u8,
    s: i8,
) -> Option<Result<ArrayRef, ExprError>> {
    if l.is_scalar() == r.is_scalar() {
        return None;
    }
    let (p1, s1) = precision_scale(l.data_type())?;
    let (p2, s2) = precision_scale(r.data_type())?;
    let (p, s) = (p as i32, s as i32);
    let exact = match op {
        ArithOp::Add | ArithOp::Sub => s == s1.max(s2) && p == (p1 - s1).max(p2 - s2) + s + 1,
        ArithOp::Mul => s == s1 + s2 && p == p1 + p2,
        _ => false,
    };
    if !exact {
        return None;
    }
    let (col, lit, col_left) = if r.is_scalar() {
        (l, r, true)
    } else {
        (r, l, false)
    };
    let lit_op = operand(lit).ok()?;
    if lit_op.nulls.as_ref().is_some_and(|nb| nb.is_null(0)) {
        return None;
    }
    let k = lit_op.values[0];
    let (col_scale, lit_scale) = if col_left { (s1, s2) } else { (s2, s1) };
    let fc = pow10((s - col_scale) as u32);
    let kk = k * pow10((s - lit_scale) as u32);
    let a = col.array();
    fn run<F: Fn(i128) -> i128>(a: &ArrayRef, f: F) -> Option<Vec<i128>> {
        use arrow::datatypes::{Int8Type, Int16Type, Int32Type, Int64Type};
        Some(match a.data_type() {
            DataType::Int8 => map_native::<Int8Type>(a, f),
            DataType::Int16 => map_native::<Int16Type>(a, f),
            DataType::Int32 => map_native::<Int32Type>(a, f),
            DataType::Int64 => map_native::<Int64Type>(a, f),
            DataType::Decimal128(_, _) => map_native::<Decimal128Type>(a, f),
            _ => return None,
        })
    }
    let values = match (op, col_left) {
        (ArithOp::Mul, _) => run(a, move |v| v.wrapping_mul(k)),
        (ArithOp::Add, _) => run(a, move |v| v.wrapping_mul(fc).wrapping_add(kk)),
        (ArithOp::Sub, true) => run(a, move |v| v.wrapping_mul(fc).wrapping_sub(kk)),
        (ArithOp::Sub, false) => run(a, move |v| kk.wrapping_sub(v.wrapping_mul(fc))),
        _ => None,
    }?;
    let arr = PrimitiveArray::<Decimal128Type>::new(ScalarBuffer::from(values), a.logical_nulls())
        .with_precision_and_scale(p as u8, s as i8);
    Some(
        arr.map(|a| std::sync::Arc::new(a) as ArrayRef)
            .map_err(Into::into),
    )
}

/// `l op r` on DECIMAL (or integer) operands, arrays or scalars, giving DECIMAL(p, s).
pub(crate) fn decimal_arith(
    op: ArithOp,
    l: &ColumnarValue,
    r: &ColumnarValue,
    p: u8,
    s: i8,
    text: &str,
) -> Result<ArrayRef, ExprError> {
    if let Some(done) = exact_with_scalar(op, l, r, p, s) {
        return done;
    }
    let lo = operand(l)?;
    let ro = operand(r)?;
    let (ls, rs) = (lo.scalar, ro.scalar);
    let n = if ls && rs {
        1
    } else if ls {
        ro.values.len()
    } else {
        lo.values.len()
    };
    let scalar_null = |o: &Operand| o.scalar && o.nulls.as_ref().is_some_and(|nb| nb.is_null(0));
    if scalar_null(&lo) || scalar_null(&ro) {
        return Ok(arrow::array::new_null_array(&DataType::Decimal128(p, s), n));
    }
    let (s1, s2) = (lo.scale, ro.scale);
    let (p1, p2) = (lo.precision as i32, ro.precision as i32);
    // Validity of the inputs (a scalar operand is known to be valid here).
    let input_nulls = match (ls, rs) {
        (true, true) => None,
        (true, false) => ro.nulls.clone(),
        (false, true) => lo.nulls.clone(),
        (false, false) => NullBuffer::union(lo.nulls.as_ref(), ro.nulls.as_ref()),
    };
    let lvals: &[i128] = &lo.values;
    let rvals: &[i128] = &ro.values;
    let valid = |i: usize| input_nulls.as_ref().is_none_or(|nb| nb.is_valid(i));
    let mut values: Vec<i128> = Vec::with_capacity(n);
    let mut overflow: Option<BooleanBufferBuilder> = None;
    let mark_null = |i: usize, overflow: &mut Option<BooleanBufferBuilder>| {
        let b = overflow.get_or_insert_with(|| {
            let mut b = BooleanBufferBuilder::new(n);
            b.append_n(n, true);
            b
        });
        b.set_bit(i, false);
    };
    let bound = if p > 38 { i128::MAX } else { pow10(p as u32) };
    let scale_up = |from: i8| {
        if s >= from {
            Some(pow10((s - from) as u32))
        } else {
            None
        }
    };
    // Whether Flink's result type holds every possible result exactly (no adjustment to 38
    // digits happened): then no overflow check is needed at all.
    let exact = match op {
        ArithOp::Add | ArithOp::Sub => {
            s == s1.max(s2) && p as i32 == (p1 - s1 as i32).max(p2 - s2 as i32) + s as i32 + 1
        }
        ArithOp::Mul => s as i32 == s1 as i32 + s2 as i32 && p as i32 == p1 + p2,
        _ => false,
    };
    macro_rules! each {
        ($f:expr) => {{
            let f = $f;
            match (ls, rs) {
                (true, false) => {
                    let a = lvals[0];
                    values.extend(rvals.iter().map(|b| f(a, *b)));
                }
                (false, true) => {
                    let b = rvals[0];
                    values.extend(lvals.iter().map(|a| f(*a, b)));
                }
                _ => values.extend(lvals.iter().zip(rvals.iter()).map(|(a, b)| f(*a, *b))),
            }
        }};
    }
    match (op, scale_up(s1), scale_up(s2)) {
        (ArithOp::Add | ArithOp::Sub, Some(fa), Some(fb)) if exact => {
            if op == ArithOp::Add {
                each!(|a: i128, b: i128| a.wrapping_mul(fa).wrapping_add(b.wrapping_mul(fb)))
            } else {
                each!(|a: i128, b: i128| a.wrapping_mul(fa).wrapping_sub(b.wrapping_mul(fb)))
            }
        }
        (ArithOp::Mul, _, _) if exact => each!(|a: i128, b: i128| a.wrapping_mul(b)),
        // Exact i128 arithmetic needing no rounding, checked.
        (ArithOp::Add | ArithOp::Sub, Some(fa), Some(fb)) => {
            let sub = op == ArithOp::Sub;
            for i in 0..n {
                let a = lvals[if ls { 0 } else { i }];
                let b = rvals[if rs { 0 } else { i }];
                let v = a.checked_mul(fa).zip(b.checked_mul(fb)).and_then(|(x, y)| {
                    if sub {
                        x.checked_sub(y)
                    } else {
                        x.checked_add(y)
                    }
                });
                match v {
                    Some(v) if v.unsigned_abs() < bound as u128 => values.push(v),
                    _ => {
                        values.push(0);
                        mark_null(i, &mut overflow);
                    }
                }
            }
        }
        (ArithOp::Mul, _, _) if s1 as i32 + s2 as i32 == s as i32 => {
            for i in 0..n {
                let a = lvals[if ls { 0 } else { i }];
                let b = rvals[if rs { 0 } else { i }];
                match a.checked_mul(b) {
                    Some(v) if v.unsigned_abs() < bound as u128 => values.push(v),
                    _ => {
                        values.push(0);
                        mark_null(i, &mut overflow);
                    }
                }
            }
        }
        _ => {
            for i in 0..n {
                if !valid(i) {
                    values.push(0);
                    continue;
                }
                let a = lvals[if ls { 0 } else { i }];
                let b = rvals[if rs { 0 } else { i }];
                match op_one(op, a, s1, b, s2, p, s) {
                    Ok(Some(v)) => values.push(v),
                    Ok(None) => {
                        values.push(0);
                        mark_null(i, &mut overflow);
                    }
                    Err(()) => return Err(ExprError::DivideByZero(text.to_string())),
                }
            }
        }
    }
    let nulls = match overflow {
        None => input_nulls,
        Some(mut b) => NullBuffer::union(input_nulls.as_ref(), Some(&NullBuffer::new(b.finish()))),
    };
    let arr: Decimal128Array =
        PrimitiveArray::new(ScalarBuffer::from(values), nulls).with_precision_and_scale(p, s)?;
    Ok(std::sync::Arc::new(arr))
}

/// Parses a decimal literal/string into an unscaled value at `scale`, HALF_UP; accepts
/// `1.5`, `-.5`, `1e3`. `None` when it is not a number.
pub(crate) fn parse_decimal(s: &str, scale: i8) -> Option<i128> {
    let s = s.trim();
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (neg, body) = match mantissa.as_bytes().first()? {
        b'-' => (true, &mantissa[1..]),
        b'+' => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // digits as an integer with `frac.len() - exp` fraction digits
    let mut digits: String = String::with_capacity(int.len() + frac.len());
    digits.push_str(int);
    digits.push_str(frac);
    let digits = digits.trim_start_matches('0');
    let from_scale = frac.len() as i32 - exp;
    if digits.len() > 38 {
        // Too many digits for exact i128: keep the leading 38 and adjust the scale.
        let cut = digits.len() - 38;
        let kept: i128 = digits[..38].parse().ok()?;
        let round_up = digits.as_bytes()[38] >= b'5';
        let v = if round_up { kept + 1 } else { kept };
        let fs = from_scale - cut as i32;
        let v = rescale_i32(v, fs, scale as i32)?;
        return Some(if neg { -v } else { v });
    }
    let v: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let v = rescale_i32(v, from_scale, scale as i32)?;
    Some(if neg { -v } else { v })
}

fn rescale_i32(v: i128, from: i32, to: i32) -> Option<i128> {
    if to >= from {
        let e = (to - from) as u32;
        if e > 38 {
            return if v == 0 { Some(0) } else { None };
        }
        v.checked_mul(pow10(e))
    } else {
        let e = (from - to) as u32;
        if e > 38 {
            return Some(0);
        }
        rescale(v, e as i8, 0)
    }
}

/// The number of significant digits and the scale of a decimal literal such as `0.908`
/// (DECIMAL(3, 3)) or `100.50` (DECIMAL(5, 2)), as Flink types exact numeric literals.
pub(crate) fn literal_precision_scale(text: &str) -> (u8, i8) {
    let t = text.trim_start_matches(['-', '+']);
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let int = int.trim_start_matches('0');
    let scale = frac.len();
    let precision = (int.len() + scale).max(1).max(scale);
    (precision.min(38) as u8, scale.min(38) as i8)
}
