//! From `sqlparser` ASTs to physical expressions: name resolution, Flink's type derivation
//! and implicit casts.

use std::cell::RefCell;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, new_null_array};
use arrow::datatypes::{DataType, TimeUnit};
use runnel_types::{is_integer, is_numeric};
use sqlparser::ast::{
    self, AccessExpr, BinaryOperator, CastKind, Expr, Ident, UnaryOperator, Value,
};

use crate::cast::{CastOptions, can_cast, cast_array_with};
use crate::decimal::{literal_precision_scale, parse_decimal};
use crate::error::PlanError;
use crate::functions;
use crate::physical::{
    Arith, Case, Cast, CmpOp, Coalesce, Column, Compare, FieldAccess, InList, IsTest, Like, Logic,
    Negate, Not, NullTest, ScalarValue, Shared, TemporalArith, literal_array, literal_timestamp,
    translate_like,
};
use crate::timezone::SessionTimeZone;
use crate::types::{
    ArithOp, IntervalValue, arithmetic_type, at, common_type, integer_decimal, parse_interval,
    sql_data_type, strip_nested, tn,
};
use crate::{CompileContext, ExprRef, Scope};

/// Compiles a scalar expression against the columns of `scope`, with Flink's typing rules.
pub fn compile(expr: &Expr, scope: &Scope, ctx: &CompileContext) -> Result<ExprRef, PlanError> {
    Compiler {
        scope,
        ctx,
        time_zone: SessionTimeZone::parse(&ctx.session_time_zone),
        root_text: expr.to_string(),
        memo: RefCell::new(Vec::new()),
    }
    .compile(expr)
}

pub(crate) struct Compiler<'a> {
    pub scope: &'a Scope,
    pub ctx: &'a CompileContext,
    /// The session time zone; `None` when `ctx.session_time_zone` names no known zone.
    time_zone: Option<SessionTimeZone>,
    /// The whole expression's text, to spot sub-expressions that occur more than once.
    root_text: String,
    /// Repeated sub-expressions compiled so far, shared so they evaluate once per batch.
    memo: RefCell<Vec<(Expr, ExprRef)>>,
}

/// Structural equality ignoring spans (sqlparser ignores them) and identifier quoting.
fn same_expr(a: &Expr, b: &Expr) -> bool {
    let a = strip_nested(a);
    let b = strip_nested(b);
    a == b || a.to_string().replace('`', "") == b.to_string().replace('`', "")
}

pub(crate) fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

pub(crate) fn is_temporal(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Date32 | DataType::Timestamp(_, _) | DataType::Time32(_)
    )
}

/// The fraction digits a timestamp of `unit` holds.
pub(crate) fn unit_digits(unit: &TimeUnit) -> u8 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

/// For a cast of a timestamp to STRING, the input's declared precision when its unit holds
/// more digits (so TIMESTAMP(0) prints without a fraction).
fn string_precision(input: &ExprRef, to: &DataType) -> Option<u8> {
    match (input.data_type(), to) {
        (DataType::Timestamp(unit, _), DataType::Utf8) => input
            .timestamp_precision()
            .filter(|p| *p < unit_digits(unit)),
        _ => None,
    }
}

impl Compiler<'_> {
    /// The session time zone, needed by `e` to convert between TIMESTAMP_LTZ and local time;
    /// an unknown zone name is an error naming it.
    pub(crate) fn time_zone(&self, e: &Expr) -> Result<SessionTimeZone, PlanError> {
        self.time_zone.ok_or_else(|| {
            PlanError::Invalid(format!(
                "unknown time zone '{}' in 'table.local-time-zone' (expected a region such as \
                 'Asia/Tokyo' or 'America/New_York', 'UTC', or an offset such as '+08:00' or \
                 'GMT-03:00'), needed by `{e}`{}",
                self.ctx.session_time_zone,
                at(e)
            ))
        })
    }

    /// The session time zone, or UTC where the expression does not involve TIMESTAMP_LTZ.
    pub(crate) fn time_zone_or_utc(&self) -> SessionTimeZone {
        self.time_zone.unwrap_or(SessionTimeZone::UTC)
    }

    pub(crate) fn compile(&self, e: &Expr) -> Result<ExprRef, PlanError> {
        for (bound, index) in &self.scope.bindings {
            if same_expr(bound, e) {
                let col = self.scope.columns.get(*index).ok_or_else(|| {
                    PlanError::Invalid(format!(
                        "binding for `{e}` refers to column {index}, but the scope has {} columns",
                        self.scope.columns.len()
                    ))
                })?;
                return Ok(Arc::new(Column {
                    index: *index,
                    data_type: col.data_type.clone(),
                    nullable: col.nullable,
                }));
            }
        }
        // Common sub-expressions: a costly call written twice (CASE WHEN HOUR(ts) >= 8 AND
        // HOUR(ts) <= 18 ...) is evaluated once per batch.
        let costly = matches!(
            e,
            Expr::Function(_)
                | Expr::Extract { .. }
                | Expr::Cast { .. }
                | Expr::Substring { .. }
                | Expr::Trim { .. }
                | Expr::Ceil { .. }
                | Expr::Floor { .. }
                | Expr::Position { .. }
                | Expr::Case { .. }
        );
        if costly {
            let text = e.to_string();
            if self.root_text.matches(text.as_str()).nth(1).is_some() {
                if let Some((_, hit)) = self.memo.borrow().iter().find(|(x, _)| same_expr(x, e)) {
                    return Ok(hit.clone());
                }
                let compiled = self.compile_uncached(e)?;
                let shared: ExprRef = if compiled.literal_value().is_some() {
                    compiled
                } else {
                    Arc::new(Shared::new(compiled))
                };
                self.memo.borrow_mut().push((e.clone(), shared.clone()));
                return Ok(shared);
            }
        }
        self.compile_uncached(e)
    }

    fn compile_uncached(&self, e: &Expr) -> Result<ExprRef, PlanError> {
        match e {
            Expr::Identifier(id) => self.resolve(std::slice::from_ref(id), e),
            Expr::CompoundIdentifier(ids) => self.resolve(ids, e),
            Expr::CompoundFieldAccess { root, access_chain } => {
                let mut cur = self.compile(root)?;
                for access in access_chain {
                    cur = match access {
                        AccessExpr::Dot(Expr::Identifier(id)) => self.field(cur, id, e)?,
                        AccessExpr::Dot(other) => {
                            return Err(PlanError::Unsupported(format!(
                                "unsupported field access `{other}`{}",
                                at(e)
                            )));
                        }
                        AccessExpr::Subscript(ast::Subscript::Index { index }) => {
                            let idx = self.compile(index)?;
                            functions::subscript(self, cur, idx, e)?
                        }
                        AccessExpr::Subscript(_) => {
                            return Err(PlanError::Unsupported(format!(
                                "array slices are not supported: `{e}`{}",
                                at(e)
                            )));
                        }
                    };
                }
                Ok(cur)
            }
            Expr::Value(v) => self.value(&v.value, e),
            Expr::TypedString(ts) => {
                let text = match &ts.value.value {
                    Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                };
                let mut to = sql_data_type(&ts.data_type)?;
                let mut precision = None;
                if let (ast::DataType::Timestamp(None, _), DataType::Timestamp(_, tz)) =
                    (&ts.data_type, &to)
                {
                    // TIMESTAMP '...' literals take the precision of their fraction digits.
                    let frac = text
                        .rsplit_once('.')
                        .map(|(_, f)| f.trim().len().min(9))
                        .unwrap_or(0);
                    let unit = crate::types::timestamp_unit(frac as u64);
                    precision = Some(frac as u8).filter(|p| *p < unit_digits(&unit));
                    to = DataType::Timestamp(unit, tz.clone());
                }
                let s: ArrayRef = Arc::new(arrow::array::StringArray::from(vec![text.as_str()]));
                let v = cast_array_with(&s, &to, &CastOptions::default()).map_err(|err| {
                    PlanError::Invalid(format!("invalid literal `{e}`{}: {err}", at(e)))
                })?;
                Ok(if precision.is_some() {
                    literal_timestamp(v, precision)
                } else {
                    literal_array(v)
                })
            }
            Expr::Interval(_) => {
                let v = parse_interval(e)?;
                Ok(literal_array(match v {
                    IntervalValue::Millis(ms) => ScalarValue::DurationMillis(ms).to_array(),
                    IntervalValue::Months(m) => ScalarValue::IntervalMonths(m).to_array(),
                }))
            }
            Expr::Nested(inner) => self.compile(inner),
            Expr::UnaryOp { op, expr } => self.unary(*op, expr, e),
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right, e),
            Expr::IsNull(x) => self.is_test(NullTest::IsNull, x, false),
            Expr::IsNotNull(x) => self.is_test(NullTest::IsNotNull, x, false),
            Expr::IsTrue(x) => self.is_test(NullTest::IsTrue, x, true),
            Expr::IsNotTrue(x) => self.is_test(NullTest::IsNotTrue, x, true),
            Expr::IsFalse(x) => self.is_test(NullTest::IsFalse, x, true),
            Expr::IsNotFalse(x) => self.is_test(NullTest::IsNotFalse, x, true),
            Expr::IsUnknown(x) => self.is_test(NullTest::IsNull, x, true),
            Expr::IsNotUnknown(x) => self.is_test(NullTest::IsNotNull, x, true),
            Expr::IsDistinctFrom(l, r) => self.compare(CmpOp::Distinct, l, r, e),
            Expr::IsNotDistinctFrom(l, r) => self.compare(CmpOp::NotDistinct, l, r, e),
            Expr::InList {
                expr,
                list,
                negated,
            } => self.in_list(expr, list, *negated, e),
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => self.between(expr, low, high, *negated, e),
            Expr::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char,
            } => self.like(expr, pattern, escape_char.as_deref(), *negated, false, e),
            Expr::ILike {
                negated,
                any: false,
                expr,
                pattern,
                escape_char,
            } => self.like(expr, pattern, escape_char.as_deref(), *negated, true, e),
            Expr::SimilarTo {
                negated,
                expr,
                pattern,
                escape_char,
            } => functions::similar_to(self, expr, pattern, escape_char.as_deref(), *negated, e),
            Expr::RLike {
                negated,
                expr,
                pattern,
                ..
            } => {
                let m = functions::regexp_match(self, expr, pattern, e)?;
                Ok(if *negated {
                    Arc::new(Not { input: m })
                } else {
                    m
                })
            }
            Expr::Cast {
                kind,
                expr,
                data_type,
                ..
            } => {
                let input = self.compile(expr)?;
                let to = sql_data_type(data_type).map_err(|err| match err {
                    PlanError::Unsupported(m) => PlanError::Unsupported(format!("{m}{}", at(e))),
                    other => other,
                })?;
                let try_cast = matches!(kind, CastKind::TryCast | CastKind::SafeCast);
                let precision = crate::types::timestamp_precision(data_type);
                let out = self.cast_to_precision(input, &to, precision, try_cast, e)?;
                // CHAR(n) pads/truncates and VARCHAR(n) truncates, as Flink 2.x casts do.
                let len = |l: &Option<ast::CharacterLength>| match l {
                    Some(ast::CharacterLength::IntegerLength { length, .. }) => Some(*length),
                    _ => None,
                };
                match data_type {
                    ast::DataType::Char(l) | ast::DataType::Character(l) => {
                        functions::fit_length(self, out, len(l).unwrap_or(1) as usize, true)
                    }
                    ast::DataType::Varchar(l)
                    | ast::DataType::CharVarying(l)
                    | ast::DataType::CharacterVarying(l)
                    | ast::DataType::Nvarchar(l) => match len(l) {
                        Some(n) => functions::fit_length(self, out, n as usize, false),
                        None => Ok(out),
                    },
                    _ => Ok(out),
                }
            }
            Expr::Extract { field, expr, .. } => functions::extract(self, field, expr, e),
            Expr::Ceil { expr, field } => functions::ceil_floor(self, expr, field, true, e),
            Expr::Floor { expr, field } => functions::ceil_floor(self, expr, field, false, e),
            Expr::Position { expr, r#in } => {
                let needle = self.compile(expr)?;
                let hay = self.compile(r#in)?;
                functions::call(self, "POSITION", vec![needle, hay], e)
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.compile(expr)?];
                match substring_from {
                    Some(f) => args.push(self.compile(f)?),
                    None => args.push(crate::physical::literal(1)),
                }
                if let Some(f) = substring_for {
                    args.push(self.compile(f)?);
                }
                functions::call(self, "SUBSTRING", args, e)
            }
            Expr::Trim {
                trim_where,
                trim_what,
                expr,
                trim_characters,
            } => {
                let s = self.compile(expr)?;
                let chars = match (trim_what, trim_characters) {
                    (Some(w), _) => Some(self.compile(w)?),
                    (None, Some(list)) if list.len() == 1 => Some(self.compile(&list[0])?),
                    _ => None,
                };
                functions::trim(self, s, chars, trim_where.as_ref(), e)
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                let mut args = vec![
                    self.compile(expr)?,
                    self.compile(overlay_what)?,
                    self.compile(overlay_from)?,
                ];
                if let Some(f) = overlay_for {
                    args.push(self.compile(f)?);
                }
                functions::call(self, "OVERLAY", args, e)
            }
            Expr::Function(f) => functions::compile_function(self, f, e),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(operand.as_deref(), conditions, else_result.as_deref(), e),
            Expr::Array(arr) => {
                let args = arr
                    .elem
                    .iter()
                    .map(|x| self.compile(x))
                    .collect::<Result<Vec<_>, _>>()?;
                functions::call(self, "ARRAY", args, e)
            }
            Expr::Map(m) => {
                let mut args = Vec::new();
                for entry in &m.entries {
                    args.push(self.compile(&entry.key)?);
                    args.push(self.compile(&entry.value)?);
                }
                functions::call(self, "MAP", args, e)
            }
            Expr::Tuple(items) => {
                let args = items
                    .iter()
                    .map(|x| self.compile(x))
                    .collect::<Result<Vec<_>, _>>()?;
                functions::call(self, "ROW", args, e)
            }
            other => Err(PlanError::Unsupported(format!(
                "unsupported expression `{other}`{}",
                at(other)
            ))),
        }
    }

    fn available(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        for c in &self.scope.columns {
            if !names.contains(&c.name) {
                names.push(c.name.clone());
            }
        }
        names.join(", ")
    }

    fn unknown_column(&self, name: &str, e: &Expr) -> PlanError {
        let mut available = self.available();
        if let Some(c) = self
            .scope
            .columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name) && c.name != name)
        {
            available = format!(
                "{available}; names are case-sensitive: did you mean `{}`?",
                c.name
            );
        }
        PlanError::UnknownColumn {
            name: name.to_string(),
            at: at(e),
            available,
        }
    }

    fn column_ref(&self, index: usize) -> ExprRef {
        let c = &self.scope.columns[index];
        Arc::new(Column {
            index,
            data_type: c.data_type.clone(),
            nullable: c.nullable,
        })
    }

    /// `a`, `t.a`, `a.field`, `t.a.field.sub`.
    fn resolve(&self, ids: &[Ident], e: &Expr) -> Result<ExprRef, PlanError> {
        let cols = &self.scope.columns;
        if ids.len() >= 2 {
            let q = &ids[0].value;
            let n = &ids[1].value;
            if let Some(i) = cols
                .iter()
                .position(|c| c.qualifier.as_deref() == Some(q.as_str()) && &c.name == n)
            {
                let mut cur = self.column_ref(i);
                for id in &ids[2..] {
                    cur = self.field(cur, id, e)?;
                }
                return Ok(cur);
            }
        }
        let name = &ids[0].value;
        let matches: Vec<usize> = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| &c.name == name)
            .map(|(i, _)| i)
            .collect();
        match matches.as_slice() {
            [] => {
                if ids.len() >= 2 && cols.iter().any(|c| c.qualifier.as_deref() == Some(name)) {
                    return Err(self.unknown_column(&format!("{}.{}", name, ids[1].value), e));
                }
                Err(self.unknown_column(name, e))
            }
            [i] => {
                let mut cur = self.column_ref(*i);
                for id in &ids[1..] {
                    cur = self.field(cur, id, e)?;
                }
                Ok(cur)
            }
            many => Err(PlanError::Invalid(format!(
                "column `{name}`{} is ambiguous: it exists in {}",
                at(e),
                many.iter()
                    .map(|i| cols[*i].qualifier.clone().unwrap_or_else(|| "?".into()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    fn field(&self, input: ExprRef, id: &Ident, e: &Expr) -> Result<ExprRef, PlanError> {
        let DataType::Struct(fields) = input.data_type() else {
            return Err(PlanError::Type(format!(
                "cannot access field `{}` of a {} value in `{e}`{}",
                id.value,
                tn(input.data_type()),
                at(e)
            )));
        };
        let Some(index) = fields.iter().position(|f| f.name() == &id.value) else {
            return Err(PlanError::UnknownColumn {
                name: id.value.clone(),
                at: at(e),
                available: fields
                    .iter()
                    .map(|f| f.name().clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let data_type = fields[index].data_type().clone();
        Ok(Arc::new(FieldAccess {
            input,
            index,
            data_type,
        }))
    }

    fn value(&self, v: &Value, e: &Expr) -> Result<ExprRef, PlanError> {
        Ok(literal_array(match v {
            Value::Number(text, _) => number_literal(text, false)
                .ok_or_else(|| PlanError::Invalid(format!("invalid number `{text}`{}", at(e))))?,
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::UnicodeStringLiteral(s)
            | Value::NationalStringLiteral(s)
            | Value::TripleSingleQuotedString(s)
            | Value::TripleDoubleQuotedString(s) => ScalarValue::Utf8(s.clone()).to_array(),
            Value::HexStringLiteral(h) => {
                let bytes = hex_bytes(h).ok_or_else(|| {
                    PlanError::Invalid(format!("invalid binary literal `{e}`{}", at(e)))
                })?;
                ScalarValue::Binary(bytes).to_array()
            }
            Value::Boolean(b) => ScalarValue::Boolean(*b).to_array(),
            Value::Null => new_null_array(&DataType::Null, 1),
            other => {
                return Err(PlanError::Unsupported(format!(
                    "unsupported literal `{other}`{}",
                    at(e)
                )));
            }
        }))
    }

    /// Wraps `input` in a cast to `to` when its type differs (NULL literals become typed).
    pub(crate) fn coerce(&self, input: ExprRef, to: &DataType) -> ExprRef {
        if input.data_type() == to {
            return input;
        }
        let options = CastOptions {
            try_cast: false,
            time_zone: self.time_zone_or_utc(),
            timestamp_precision: string_precision(&input, to),
        };
        if let Some(v) = input.literal_value()
            && let Ok(c) = cast_array_with(v, to, &options)
        {
            return literal_array(c);
        }
        let nullable = input.nullable();
        Arc::new(Cast {
            input,
            to: to.clone(),
            options,
            nullable,
        })
    }

    pub(crate) fn cast(
        &self,
        input: ExprRef,
        to: &DataType,
        try_cast: bool,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        self.cast_to_precision(input, to, None, try_cast, e)
    }

    /// CAST to `to`, whose declared precision is `precision` when `to` is TIMESTAMP(p) or
    /// TIMESTAMP_LTZ(p): values are truncated to p fraction digits where the Arrow unit holds
    /// more (TIMESTAMP(0) to TIMESTAMP(2) are carried in milliseconds).
    pub(crate) fn cast_to_precision(
        &self,
        input: ExprRef,
        to: &DataType,
        precision: Option<u8>,
        try_cast: bool,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        let from = input.data_type().clone();
        if !can_cast(&from, to) {
            return Err(PlanError::Type(format!(
                "cannot cast {} to {} in `{e}`{}",
                tn(&from),
                tn(to),
                at(e)
            )));
        }
        let involves_ltz = matches!(&from, DataType::Timestamp(_, Some(_)))
            || matches!(to, DataType::Timestamp(_, Some(_)));
        let time_zone = if involves_ltz {
            self.time_zone(e)?
        } else {
            SessionTimeZone::UTC
        };
        let timestamp_precision = match to {
            DataType::Timestamp(unit, _) => precision.filter(|p| *p < unit_digits(unit)),
            _ => string_precision(&input, to),
        };
        let options = CastOptions {
            try_cast,
            time_zone,
            timestamp_precision,
        };
        if let Some(v) = input.literal_value() {
            // Constant-fold; a failing literal cast is an error at planning time.
            return match cast_array_with(v, to, &options) {
                Ok(c) if matches!(to, DataType::Timestamp(_, _)) => {
                    Ok(literal_timestamp(c, timestamp_precision))
                }
                Ok(c) => Ok(literal_array(c)),
                Err(err) => Err(PlanError::Invalid(format!("`{e}`{}: {err}", at(e)))),
            };
        }
        let nullable = input.nullable() || try_cast || is_string(&from);
        Ok(Arc::new(Cast {
            input,
            to: to.clone(),
            options,
            nullable,
        }))
    }

    fn unary(&self, op: UnaryOperator, x: &Expr, e: &Expr) -> Result<ExprRef, PlanError> {
        match op {
            UnaryOperator::Minus => {
                if let Expr::Value(v) = strip_nested(x)
                    && let Value::Number(text, _) = &v.value
                {
                    return Ok(literal_array(number_literal(text, true).ok_or_else(
                        || PlanError::Invalid(format!("invalid number `{text}`{}", at(e))),
                    )?));
                }
                if let Expr::Interval(_) = strip_nested(x) {
                    return Ok(literal_array(match parse_interval(strip_nested(x))? {
                        IntervalValue::Millis(ms) => ScalarValue::DurationMillis(-ms).to_array(),
                        IntervalValue::Months(m) => ScalarValue::IntervalMonths(-m).to_array(),
                    }));
                }
                let input = self.compile(x)?;
                if !is_numeric(input.data_type()) {
                    return Err(PlanError::Type(format!(
                        "cannot apply unary `-` to {} in `{e}`{}",
                        tn(input.data_type()),
                        at(e)
                    )));
                }
                Ok(Arc::new(Negate { input }))
            }
            UnaryOperator::Plus => self.compile(x),
            UnaryOperator::Not | UnaryOperator::BangNot => {
                let input = self.boolean_operand(x, "NOT", e)?;
                Ok(Arc::new(Not { input }))
            }
            other => Err(PlanError::Unsupported(format!(
                "unsupported operator `{other}` in `{e}`{}",
                at(e)
            ))),
        }
    }

    fn boolean_operand(&self, x: &Expr, op: &str, e: &Expr) -> Result<ExprRef, PlanError> {
        let input = self.compile(x)?;
        match input.data_type() {
            DataType::Boolean => Ok(input),
            DataType::Null => Ok(self.coerce(input, &DataType::Boolean)),
            other => Err(PlanError::Type(format!(
                "`{op}` needs BOOLEAN operands, got {} (`{x}`) in `{e}`{}",
                tn(other),
                at(e)
            ))),
        }
    }

    fn is_test(&self, test: NullTest, x: &Expr, boolean: bool) -> Result<ExprRef, PlanError> {
        let input = if boolean {
            self.boolean_operand(x, "IS TRUE/FALSE", x)?
        } else {
            self.compile(x)?
        };
        Ok(Arc::new(IsTest { test, input }))
    }

    fn binary(
        &self,
        left: &Expr,
        op: &BinaryOperator,
        right: &Expr,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        let arith = match op {
            BinaryOperator::Plus => Some(ArithOp::Add),
            BinaryOperator::Minus => Some(ArithOp::Sub),
            BinaryOperator::Multiply => Some(ArithOp::Mul),
            BinaryOperator::Divide => Some(ArithOp::Div),
            BinaryOperator::Modulo => Some(ArithOp::Mod),
            _ => None,
        };
        if let Some(aop) = arith {
            let l = self.compile(left)?;
            let r = self.compile(right)?;
            return self.arith(aop, l, r, e);
        }
        let cmp = match op {
            BinaryOperator::Eq => Some(CmpOp::Eq),
            BinaryOperator::NotEq => Some(CmpOp::NotEq),
            BinaryOperator::Lt => Some(CmpOp::Lt),
            BinaryOperator::LtEq => Some(CmpOp::LtEq),
            BinaryOperator::Gt => Some(CmpOp::Gt),
            BinaryOperator::GtEq => Some(CmpOp::GtEq),
            _ => None,
        };
        if let Some(c) = cmp {
            return self.compare(c, left, right, e);
        }
        match op {
            BinaryOperator::And | BinaryOperator::Or => {
                let name = if matches!(op, BinaryOperator::And) {
                    "AND"
                } else {
                    "OR"
                };
                let l = self.boolean_operand(left, name, e)?;
                let r = self.boolean_operand(right, name, e)?;
                Ok(Arc::new(Logic {
                    and: matches!(op, BinaryOperator::And),
                    left: l,
                    right: r,
                }))
            }
            BinaryOperator::StringConcat => {
                let l = self.compile(left)?;
                let r = self.compile(right)?;
                functions::call(self, "CONCAT", vec![l, r], e)
            }
            BinaryOperator::Regexp => functions::regexp_match(self, left, right, e),
            other => Err(PlanError::Unsupported(format!(
                "unsupported operator `{other}` in `{e}`{}",
                at(e)
            ))),
        }
    }

    pub(crate) fn arith(
        &self,
        op: ArithOp,
        l: ExprRef,
        r: ExprRef,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        let lt = l.data_type().clone();
        let rt = r.data_type().clone();
        let is_interval = |d: &DataType| matches!(d, DataType::Duration(_) | DataType::Interval(_));
        let nullable = l.nullable() || r.nullable();
        // Temporal arithmetic.
        if matches!(op, ArithOp::Add | ArithOp::Sub)
            && (is_temporal(&lt) && is_interval(&rt)
                || (op == ArithOp::Add && is_interval(&lt) && is_temporal(&rt)))
        {
            let (base, interval) = if is_temporal(&lt) { (l, r) } else { (r, l) };
            if matches!(base.data_type(), DataType::Time32(_)) {
                return Err(PlanError::Unsupported(format!(
                    "TIME arithmetic is not supported: `{e}`{}",
                    at(e)
                )));
            }
            return Ok(Arc::new(TemporalArith {
                input: base,
                interval,
                negate: op == ArithOp::Sub,
                nullable,
            }));
        }
        if is_interval(&lt)
            && is_interval(&rt)
            && lt == rt
            && matches!(op, ArithOp::Add | ArithOp::Sub)
            && let (Some(a), Some(b)) = (l.literal_value(), r.literal_value())
        {
            let res = match op {
                ArithOp::Add => arrow::compute::kernels::numeric::add(a, b),
                _ => arrow::compute::kernels::numeric::sub(a, b),
            };
            if let Ok(v) = res {
                return Ok(literal_array(v));
            }
        }
        // NULL literals take the other operand's type.
        let (l, r) = match (&lt, &rt) {
            (DataType::Null, DataType::Null) => {
                let t = DataType::Int32;
                (self.coerce(l, &t), self.coerce(r, &t))
            }
            (DataType::Null, t) if is_numeric(t) => (self.coerce(l, t), r),
            (t, DataType::Null) if is_numeric(t) => {
                let t = t.clone();
                (l, self.coerce(r, &t))
            }
            _ => (l, r),
        };
        let lt = l.data_type().clone();
        let rt = r.data_type().clone();
        let Some(result) = (if is_numeric(&lt) && is_numeric(&rt) {
            arithmetic_type(op, &lt, &rt)
        } else {
            None
        }) else {
            return Err(PlanError::Type(format!(
                "cannot apply `{}` to {} and {} in `{e}`{}",
                op.symbol(),
                tn(&lt),
                tn(&rt),
                at(e)
            )));
        };
        let (l, r) = match &result {
            DataType::Decimal128(_, _) => {
                // Integer columns stay as they are (the decimal kernel widens them on the
                // fly); integer literals fold to DECIMAL(p, 0) here.
                let to_dec = |x: ExprRef| {
                    let t = x.data_type().clone();
                    match integer_decimal(&t) {
                        Some((p, s)) if is_integer(&t) && x.literal_value().is_some() => {
                            self.coerce(x, &DataType::Decimal128(p, s))
                        }
                        _ => x,
                    }
                };
                (to_dec(l), to_dec(r))
            }
            DataType::Float32 | DataType::Float64 => {
                (self.coerce(l, &result), self.coerce(r, &result))
            }
            _ => {
                // Integers: compute in the wider type (for `%` the result is the right type).
                let wide = common_type(&lt, &rt).unwrap_or(result.clone());
                (self.coerce(l, &wide), self.coerce(r, &wide))
            }
        };
        let nullable = nullable || matches!(result, DataType::Decimal128(..));
        Ok(Arc::new(Arith {
            op,
            left: l,
            right: r,
            data_type: result,
            nullable,
            text: e.to_string(),
        }))
    }

    /// Brings two operands to a type they can be compared in.
    pub(crate) fn comparison_operands(
        &self,
        l: ExprRef,
        r: ExprRef,
        what: &str,
        e: &Expr,
    ) -> Result<(ExprRef, ExprRef), PlanError> {
        let lt = l.data_type().clone();
        let rt = r.data_type().clone();
        if lt == rt {
            return Ok((l, r));
        }
        if let Some(t) = common_type(&lt, &rt) {
            return Ok((self.coerce(l, &t), self.coerce(r, &t)));
        }
        // A string literal meets a typed value: read the literal as that type.
        let literal_string = |x: &ExprRef| is_string(x.data_type()) && x.literal_value().is_some();
        if literal_string(&l) && can_cast(&lt, &rt) {
            let t = rt.clone();
            return Ok((self.cast(l, &t, false, e)?, r));
        }
        if literal_string(&r) && can_cast(&rt, &lt) {
            let t = lt.clone();
            return Ok((l, self.cast(r, &t, false, e)?));
        }
        Err(PlanError::Type(format!(
            "cannot {what} {} with {} in `{e}`{}",
            tn(&lt),
            tn(&rt),
            at(e)
        )))
    }

    fn compare(
        &self,
        op: CmpOp,
        left: &Expr,
        right: &Expr,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        let l = self.compile(left)?;
        let r = self.compile(right)?;
        let (l, r) = self.comparison_operands(l, r, "compare", e)?;
        if matches!(l.data_type(), DataType::Null) {
            let t = DataType::Boolean;
            return Ok(Arc::new(Compare {
                op,
                left: self.coerce(l, &t),
                right: self.coerce(r, &t),
            }));
        }
        Ok(Arc::new(Compare {
            op,
            left: l,
            right: r,
        }))
    }

    fn between(
        &self,
        x: &Expr,
        low: &Expr,
        high: &Expr,
        negated: bool,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        let v = self.compile(x)?;
        let lo = self.compile(low)?;
        let hi = self.compile(high)?;
        let t = common_type(v.data_type(), lo.data_type())
            .and_then(|t| common_type(&t, hi.data_type()));
        let (v, lo, hi) = match t {
            Some(t) => (self.coerce(v, &t), self.coerce(lo, &t), self.coerce(hi, &t)),
            None => {
                let (v1, lo) = self.comparison_operands(v.clone(), lo, "compare", e)?;
                let (v2, hi) = self.comparison_operands(v, hi, "compare", e)?;
                let _ = v2;
                (v1, lo, hi)
            }
        };
        let (op_lo, op_hi) = if negated {
            (CmpOp::Lt, CmpOp::Gt)
        } else {
            (CmpOp::GtEq, CmpOp::LtEq)
        };
        Ok(Arc::new(Logic {
            and: !negated,
            left: Arc::new(Compare {
                op: op_lo,
                left: v.clone(),
                right: lo,
            }),
            right: Arc::new(Compare {
                op: op_hi,
                left: v,
                right: hi,
            }),
        }))
    }

    fn in_list(
        &self,
        x: &Expr,
        list: &[Expr],
        negated: bool,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        let input = self.compile(x)?;
        let items = list
            .iter()
            .map(|i| self.compile(i))
            .collect::<Result<Vec<_>, _>>()?;
        let mut t = input.data_type().clone();
        for i in &items {
            t = match common_type(&t, i.data_type()) {
                Some(t) => t,
                None if is_string(i.data_type()) && i.literal_value().is_some() => t,
                None => {
                    return Err(PlanError::Type(format!(
                        "IN list element `{}` of type {} does not match {} in `{e}`{}",
                        i.literal_value()
                            .map(|_| "literal".to_string())
                            .unwrap_or_default(),
                        tn(i.data_type()),
                        tn(&t),
                        at(e)
                    )));
                }
            };
        }
        if matches!(t, DataType::Null) {
            t = DataType::Boolean;
        }
        let input = self.coerce(input, &t);
        if items.iter().all(|i| i.literal_value().is_some()) {
            let mut casted = Vec::with_capacity(items.len());
            for i in &items {
                let c = self.cast(i.clone(), &t, false, e)?;
                casted.push(c.literal_value().cloned().expect("literal folds"));
            }
            let refs: Vec<&dyn Array> = casted.iter().map(|a| a.as_ref()).collect();
            let values = arrow::compute::concat(&refs)
                .map_err(|err| PlanError::Invalid(format!("IN list `{e}`: {err}")))?;
            if let Some(set) = InList::build_set(&values) {
                return Ok(Arc::new(InList {
                    input,
                    set,
                    list_has_null: values.null_count() > 0,
                    negated,
                }));
            }
        }
        // General form: a chain of OR'ed equalities.
        let mut acc: Option<ExprRef> = None;
        for i in items {
            let cmp: ExprRef = Arc::new(Compare {
                op: CmpOp::Eq,
                left: input.clone(),
                right: self.coerce(i, &t),
            });
            acc = Some(match acc {
                None => cmp,
                Some(prev) => Arc::new(Logic {
                    and: false,
                    left: prev,
                    right: cmp,
                }),
            });
        }
        let acc = acc.ok_or_else(|| PlanError::Invalid(format!("empty IN list{}", at(e))))?;
        Ok(if negated {
            Arc::new(Not { input: acc })
        } else {
            acc
        })
    }

    fn like(
        &self,
        x: &Expr,
        pattern: &Expr,
        escape: Option<&Expr>,
        negated: bool,
        case_insensitive: bool,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        let input = self.string_operand(self.compile(x)?, "LIKE", e)?;
        let pat = self.string_operand(self.compile(pattern)?, "LIKE", e)?;
        let escape_char = match escape {
            None => None,
            Some(esc) => {
                let v = self.compile(esc)?;
                let s = v
                    .literal_value()
                    .filter(|a| is_string(a.data_type()) && a.is_valid(0))
                    .map(|a| a.as_string::<i32>().value(0).to_string());
                match s {
                    Some(s) if s.chars().count() == 1 => s.chars().next(),
                    _ => {
                        return Err(PlanError::Invalid(format!(
                            "ESCAPE must be a single-character string literal in `{e}`{}",
                            at(e)
                        )));
                    }
                }
            }
        };
        if case_insensitive {
            let lower = |x: ExprRef| functions::call(self, "LOWER", vec![x], e);
            let input = lower(input)?;
            let pat = lower(pat)?;
            return self.like_compiled(input, pat, escape_char, negated, e);
        }
        self.like_compiled(input, pat, escape_char, negated, e)
    }

    fn like_compiled(
        &self,
        input: ExprRef,
        pat: ExprRef,
        escape_char: Option<char>,
        negated: bool,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        if let Some(p) = pat.literal_value() {
            if crate::scalar_is_null(p) {
                return Ok(crate::physical::literal(ScalarValue::Null(
                    DataType::Boolean,
                )));
            }
            let text = p.as_string::<i32>().value(0);
            let translated = translate_like(text, escape_char)
                .map_err(|m| PlanError::Invalid(format!("{m} in `{e}`{}", at(e))))?;
            return Ok(Arc::new(Like {
                input,
                pattern: crate::physical::literal(translated.as_str()),
                escape: None,
                negated,
            }));
        }
        Ok(Arc::new(Like {
            input,
            pattern: pat,
            escape: Some(escape_char),
            negated,
        }))
    }

    /// Requires a string operand (NULL literals become STRING).
    pub(crate) fn string_operand(
        &self,
        x: ExprRef,
        what: &str,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        match x.data_type() {
            DataType::Utf8 => Ok(x),
            DataType::Null | DataType::LargeUtf8 | DataType::Utf8View => {
                Ok(self.coerce(x, &DataType::Utf8))
            }
            other => Err(PlanError::Type(format!(
                "{what} needs STRING operands, got {} in `{e}`{}",
                tn(other),
                at(e)
            ))),
        }
    }

    fn case(
        &self,
        operand: Option<&Expr>,
        conditions: &[ast::CaseWhen],
        else_result: Option<&Expr>,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        let operand = operand.map(|o| self.compile(o)).transpose()?;
        let mut whens = Vec::with_capacity(conditions.len());
        let mut results = Vec::with_capacity(conditions.len());
        for cw in conditions {
            let cond = match &operand {
                Some(op) => {
                    let v = self.compile(&cw.condition)?;
                    let (l, r) = self.comparison_operands(op.clone(), v, "compare", e)?;
                    Arc::new(Compare {
                        op: CmpOp::Eq,
                        left: l,
                        right: r,
                    }) as ExprRef
                }
                None => self.boolean_operand(&cw.condition, "CASE WHEN", e)?,
            };
            whens.push(cond);
            results.push(self.compile(&cw.result)?);
        }
        let otherwise = else_result.map(|x| self.compile(x)).transpose()?;
        let mut all: Vec<ExprRef> = results.clone();
        if let Some(o) = &otherwise {
            all.push(o.clone());
        }
        let t = self.common_of(&all, "CASE", e)?;
        let whens = whens
            .into_iter()
            .zip(results)
            .map(|(c, r)| (c, self.coerce(r, &t)))
            .collect();
        Ok(Arc::new(Case {
            whens,
            otherwise: otherwise.map(|o| self.coerce(o, &t)),
            data_type: t,
        }))
    }

    /// The common type of several expressions, or a type error naming `what`.
    pub(crate) fn common_of(
        &self,
        items: &[ExprRef],
        what: &str,
        e: &Expr,
    ) -> Result<DataType, PlanError> {
        let mut t = DataType::Null;
        for i in items {
            t = common_type(&t, i.data_type()).ok_or_else(|| {
                PlanError::Type(format!(
                    "{what} arguments have no common type: {} and {} in `{e}`{}",
                    tn(&t),
                    tn(i.data_type()),
                    at(e)
                ))
            })?;
        }
        Ok(t)
    }

    pub(crate) fn coalesce(&self, args: Vec<ExprRef>, e: &Expr) -> Result<ExprRef, PlanError> {
        let t = self.common_of(&args, "COALESCE", e)?;
        let args = args.into_iter().map(|a| self.coerce(a, &t)).collect();
        Ok(Arc::new(Coalesce { args, data_type: t }))
    }

    pub(crate) fn if_then_else(
        &self,
        cond: ExprRef,
        then: ExprRef,
        otherwise: ExprRef,
        e: &Expr,
    ) -> Result<ExprRef, PlanError> {
        let t = self.common_of(&[then.clone(), otherwise.clone()], "IF", e)?;
        let cond = match cond.data_type() {
            DataType::Boolean => cond,
            DataType::Null => self.coerce(cond, &DataType::Boolean),
            other => {
                return Err(PlanError::Type(format!(
                    "IF condition must be BOOLEAN, got {} in `{e}`{}",
                    tn(other),
                    at(e)
                )));
            }
        };
        Ok(Arc::new(Case {
            whens: vec![(cond, self.coerce(then, &t))],
            otherwise: Some(self.coerce(otherwise, &t)),
            data_type: t,
        }))
    }
}

/// A numeric literal typed as Flink types it: INT, else BIGINT, else DECIMAL; `1.5` is
/// DECIMAL(2, 1); `1.5E3` is DOUBLE.
pub(crate) fn number_literal(text: &str, negative: bool) -> Option<ArrayRef> {
    let signed = if negative {
        format!("-{text}")
    } else {
        text.to_string()
    };
    if text.contains(['e', 'E']) {
        return Some(ScalarValue::Float64(signed.parse().ok()?).to_array());
    }
    if !text.contains('.')
        && let Ok(v) = signed.parse::<i64>()
    {
        return Some(match i32::try_from(v) {
            Ok(i) => ScalarValue::Int32(i).to_array(),
            Err(_) => ScalarValue::Int64(v).to_array(),
        });
    }
    let (p, s) = literal_precision_scale(text);
    let v = parse_decimal(&signed, s)?;
    Some(ScalarValue::Decimal128(v, p, s).to_array())
}

fn hex_bytes(h: &str) -> Option<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok())
        .collect()
}

impl std::fmt::Debug for Compiler<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler").finish()
    }
}
