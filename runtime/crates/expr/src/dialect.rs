use sqlparser::ast::{
    ArrayElemTypeDef, CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, MapBracketKind, ObjectName, StructBracketKind,
    StructField, TrimWhereField,
};
use sqlparser::dialect::Dialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// Flink's SQL dialect for sqlparser: backtick-quoted identifiers, FILTER (WHERE ..) on
/// aggregates, `INTERVAL '1' DAY` qualifiers, `MAP<K, V>` / `ROW<..>` / `ARRAY<..>` and
/// `TIMESTAMP(3) WITH LOCAL TIME ZONE` in CAST targets, `=>` named arguments,
/// `FOR SYSTEM_TIME AS OF`, `MAP[k, v, ..]` (a call of `MAP`), `TRIM(LEADING FROM s)` and
/// `TABLE t` in window TVF arguments (a call `TABLE(t)`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlinkDialect;

impl Dialect for FlinkDialect {
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`'
    }

    fn identifier_quote_style(&self, _identifier: &str) -> Option<char> {
        Some('`')
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '$'
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    /// `SELECT /*+ STATE_TTL('t' = '1d') */ ...`: Flink's query hints.
    fn supports_comment_optimizer_hint(&self) -> bool {
        true
    }

    fn supports_group_by_expr(&self) -> bool {
        true
    }

    fn supports_match_recognize(&self) -> bool {
        true
    }

    fn require_interval_qualifier(&self) -> bool {
        true
    }

    fn supports_map_literal_with_angle_brackets(&self) -> bool {
        true
    }

    fn supports_named_fn_args_with_rarrow_operator(&self) -> bool {
        true
    }

    fn supports_window_function_null_treatment_arg(&self) -> bool {
        true
    }

    fn supports_window_clause_named_window_reference(&self) -> bool {
        true
    }

    fn supports_create_view_comment_syntax(&self) -> bool {
        true
    }

    fn supports_table_versioning(&self) -> bool {
        true
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let keyword = match &parser.peek_token_ref().token {
            Token::Word(w) if w.quote_style.is_none() => w.keyword,
            _ => return None,
        };
        let next = &parser.peek_nth_token_ref(1).token;
        match keyword {
            Keyword::CAST if *next == Token::LParen => Some(parse_cast(parser, CastKind::Cast)),
            Keyword::TRY_CAST if *next == Token::LParen => {
                Some(parse_cast(parser, CastKind::TryCast))
            }
            Keyword::MAP if *next == Token::LBracket => Some(parse_map_literal(parser)),
            Keyword::TRIM if *next == Token::LParen => parse_trim(parser),
            Keyword::TABLE if matches!(next, Token::Word(_)) => Some(parse_table_arg(parser)),
            _ => None,
        }
    }
}

/// `TABLE name` as an argument of a window table function (`TUMBLE(TABLE Bid, ...)`), as a
/// call of the function `TABLE` with the (possibly qualified) name as its only argument.
fn parse_table_arg(parser: &mut Parser) -> Result<Expr, ParserError> {
    let kw = parser.next_token();
    let name = parser.parse_object_name(false)?;
    let parts: Vec<Ident> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().cloned())
        .collect();
    let arg = if parts.len() == 1 {
        Expr::Identifier(parts[0].clone())
    } else {
        Expr::CompoundIdentifier(parts)
    };
    Ok(Expr::Function(simple_call(
        Ident::with_span(kw.span, "TABLE"),
        vec![arg],
    )))
}

fn simple_call(name: Ident, args: Vec<Expr>) -> Function {
    Function {
        name: ObjectName::from(vec![name]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    }
}

/// `MAP[k1, v1, k2, v2]`, Flink's map constructor, as a call of the function `MAP`.
fn parse_map_literal(parser: &mut Parser) -> Result<Expr, ParserError> {
    let name = parser.next_token();
    parser.expect_token(&Token::LBracket)?;
    let items = if parser.consume_token(&Token::RBracket) {
        Vec::new()
    } else {
        let items = parser.parse_comma_separated(Parser::parse_expr)?;
        parser.expect_token(&Token::RBracket)?;
        items
    };
    let call = Expr::Function(simple_call(Ident::with_span(name.span, "MAP"), items));
    let mut chain = Vec::new();
    parser.parse_multi_dim_subscript(&mut chain)?;
    Ok(if chain.is_empty() {
        call
    } else {
        Expr::CompoundFieldAccess {
            root: Box::new(call),
            access_chain: chain,
        }
    })
}

/// `TRIM([BOTH | LEADING | TRAILING] [chars] FROM s)` including the form without `chars`
/// (`TRIM(LEADING FROM s)`), which sqlparser rejects; other forms are left to sqlparser.
fn parse_trim(parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
    let where_kw = match &parser.peek_nth_token_ref(2).token {
        Token::Word(w) => w.keyword,
        _ => return None,
    };
    let trim_where = match where_kw {
        Keyword::BOTH => TrimWhereField::Both,
        Keyword::LEADING => TrimWhereField::Leading,
        Keyword::TRAILING => TrimWhereField::Trailing,
        _ => return None,
    };
    match &parser.peek_nth_token_ref(3).token {
        Token::Word(w) if w.keyword == Keyword::FROM => {}
        _ => return None,
    }
    Some((|| {
        parser.next_token();
        parser.expect_token(&Token::LParen)?;
        parser.next_token();
        parser.expect_keyword_is(Keyword::FROM)?;
        let expr = parser.parse_expr()?;
        parser.expect_token(&Token::RParen)?;
        Ok(Expr::Trim {
            expr: Box::new(expr),
            trim_where: Some(trim_where),
            trim_what: None,
            trim_characters: None,
        })
    })())
}

fn parse_cast(parser: &mut Parser, kind: CastKind) -> Result<Expr, ParserError> {
    parser.next_token();
    parser.expect_token(&Token::LParen)?;
    let expr = parser.parse_expr()?;
    parser.expect_keyword_is(Keyword::AS)?;
    let data_type = parse_flink_data_type(parser)?;
    parser.expect_token(&Token::RParen)?;
    Ok(Expr::Cast {
        kind,
        expr: Box::new(expr),
        data_type,
        format: None,
    })
}

/// Parses a Flink type at the parser's position, including the forms sqlparser lacks:
/// `ROW<name TYPE, ..>`, `ROW(name TYPE, ..)`, nested `ARRAY<..>` / `MAP<.., ..>`,
/// `TIMESTAMP(p) WITH LOCAL TIME ZONE` (returned as the custom type `TIMESTAMP_LTZ(p)`) and a
/// trailing `NOT NULL` (accepted and ignored). DDL parsers can call it for column types.
pub fn parse_flink_data_type(parser: &mut Parser) -> Result<DataType, ParserError> {
    let mut pending_gt = 0usize;
    let dt = parse_type(parser, &mut pending_gt)?;
    if pending_gt > 0 {
        return parser.expected("a data type", parser.peek_token());
    }
    Ok(dt)
}

fn expect_gt(parser: &mut Parser, pending_gt: &mut usize) -> Result<(), ParserError> {
    if *pending_gt > 0 {
        *pending_gt -= 1;
        return Ok(());
    }
    let tok = parser.next_token();
    match tok.token {
        Token::Gt => Ok(()),
        Token::ShiftRight => {
            *pending_gt += 1;
            Ok(())
        }
        _ => parser.expected("'>'", tok),
    }
}

fn parse_type(parser: &mut Parser, pending_gt: &mut usize) -> Result<DataType, ParserError> {
    let keyword = match &parser.peek_token_ref().token {
        Token::Word(w) => Some((w.keyword, w.value.to_ascii_uppercase())),
        _ => None,
    };
    let next = parser.peek_nth_token_ref(1).token.clone();
    let dt = match keyword {
        Some((Keyword::ROW, _)) if next == Token::Lt || next == Token::LParen => {
            parser.next_token();
            let angle = parser.next_token().token == Token::Lt;
            let mut fields = Vec::new();
            let empty = if angle {
                parser.consume_token(&Token::Gt)
            } else {
                parser.consume_token(&Token::RParen)
            };
            if !empty {
                loop {
                    let name = parser.parse_identifier()?;
                    let field_type = parse_type(parser, pending_gt)?;
                    if *pending_gt == 0 && parser.parse_keyword(Keyword::COMMENT) {
                        parser.parse_literal_string()?;
                    }
                    fields.push(StructField {
                        field_name: Some(name),
                        field_type,
                        options: None,
                    });
                    if *pending_gt == 0 && parser.consume_token(&Token::Comma) {
                        continue;
                    }
                    break;
                }
                if angle {
                    expect_gt(parser, pending_gt)?;
                } else {
                    parser.expect_token(&Token::RParen)?;
                }
            }
            DataType::Struct(
                fields,
                if angle {
                    StructBracketKind::AngleBrackets
                } else {
                    StructBracketKind::Parentheses
                },
            )
        }
        Some((_, ref w)) if w == "ARRAY" && next == Token::Lt => {
            parser.next_token();
            parser.next_token();
            let inner = parse_type(parser, pending_gt)?;
            expect_gt(parser, pending_gt)?;
            DataType::Array(ArrayElemTypeDef::AngleBracket(Box::new(inner)))
        }
        Some((_, ref w)) if w == "MULTISET" && next == Token::Lt => {
            parser.next_token();
            parser.next_token();
            let inner = parse_type(parser, pending_gt)?;
            expect_gt(parser, pending_gt)?;
            DataType::Custom(
                ObjectName::from(vec![Ident::new("MULTISET")]),
                vec![inner.to_string()],
            )
        }
        Some((Keyword::MAP, _)) if next == Token::Lt => {
            parser.next_token();
            parser.next_token();
            let key = parse_type(parser, pending_gt)?;
            parser.expect_token(&Token::Comma)?;
            let value = parse_type(parser, pending_gt)?;
            expect_gt(parser, pending_gt)?;
            DataType::Map(
                Box::new(key),
                Box::new(value),
                MapBracketKind::AngleBrackets,
            )
        }
        Some((Keyword::TIMESTAMP, _)) => {
            parser.next_token();
            let precision = if parser.consume_token(&Token::LParen) {
                let p = parser.parse_literal_uint()?;
                parser.expect_token(&Token::RParen)?;
                Some(p)
            } else {
                None
            };
            if parser.parse_keywords(&[Keyword::WITH, Keyword::LOCAL, Keyword::TIME, Keyword::ZONE])
            {
                DataType::Custom(
                    ObjectName::from(vec![Ident::new("TIMESTAMP_LTZ")]),
                    precision.map(|p| vec![p.to_string()]).unwrap_or_default(),
                )
            } else if parser.parse_keywords(&[Keyword::WITH, Keyword::TIME, Keyword::ZONE]) {
                DataType::Timestamp(precision, sqlparser::ast::TimezoneInfo::WithTimeZone)
            } else {
                let _ = parser.parse_keywords(&[Keyword::WITHOUT, Keyword::TIME, Keyword::ZONE]);
                DataType::Timestamp(precision, sqlparser::ast::TimezoneInfo::None)
            }
        }
        _ => parser.parse_data_type()?,
    };
    if *pending_gt == 0 {
        let _ = parser.parse_keywords(&[Keyword::NOT, Keyword::NULL])
            || parser.parse_keyword(Keyword::NULL);
    }
    Ok(dt)
}
