//! Splits a Flink SQL script into statements. Flink's DDL (`WATERMARK FOR`, `WITH ('k' = 'v')`,
//! `ROW<..>` types, `EXECUTE STATEMENT SET`) is parsed here on sqlparser's token stream, so
//! every error keeps sqlparser's line and column; queries go to sqlparser itself.

use std::collections::BTreeMap;

use sqlparser::ast::{Expr, Ident, Query};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use runnel_expr::{FlinkDialect, parse_flink_data_type, sql_data_type};

use super::catalog::{ColumnDef, ColumnKind, TableDef};
use crate::connectors::TableOptions;
use crate::error::{Result, RunnelError};

/// One statement of a script.
#[derive(Clone, Debug)]
pub enum FlinkStatement {
    /// `SET 'key' = 'value'`.
    Set { key: String, value: String },
    /// `RESET ['key']`.
    Reset(Option<String>),
    /// `CREATE [TEMPORARY] TABLE`.
    CreateTable {
        table: Box<TableDef>,
        if_not_exists: bool,
    },
    /// `CREATE [TEMPORARY] VIEW name [(cols)] AS query`.
    CreateView {
        name: String,
        columns: Vec<String>,
        query: Box<Query>,
        if_not_exists: bool,
    },
    /// `INSERT INTO table [(cols)] query`.
    Insert(Insert),
    /// `EXECUTE STATEMENT SET BEGIN insert; ... END`: one job for all inserts.
    StatementSet(Vec<Insert>),
    /// A bare query, printed as a table.
    Query(Box<Query>),
}

/// An `INSERT INTO`.
#[derive(Clone, Debug)]
pub struct Insert {
    /// Target table.
    pub table: String,
    /// Target columns, if listed.
    pub columns: Vec<String>,
    /// The rows to insert.
    pub query: Box<Query>,
}

fn parse_err(e: ParserError) -> RunnelError {
    let msg = match e {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m,
        ParserError::RecursionLimitExceeded => "statement nested too deeply".to_string(),
    };
    RunnelError::Parse(msg)
}

fn word_is(p: &Parser, n: usize, w: &str) -> bool {
    matches!(&p.peek_nth_token_ref(n).token, Token::Word(x) if x.value.eq_ignore_ascii_case(w))
}

fn expect_word(p: &mut Parser, w: &str) -> Result<(), ParserError> {
    if word_is(p, 0, w) {
        p.next_token();
        Ok(())
    } else {
        p.expected(w, p.peek_token())
    }
}

/// Parses a whole script.
pub fn parse_script(sql: &str) -> Result<Vec<FlinkStatement>> {
    let dialect = FlinkDialect;
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| RunnelError::Parse(e.to_string()))?;
    let tokens = strip_table_arguments(tokens);
    let mut p = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let mut out = Vec::new();
    loop {
        while p.consume_token(&Token::SemiColon) {}
        if p.peek_token_ref().token == Token::EOF {
            break;
        }
        out.push(parse_statement(&mut p).map_err(parse_err)?);
        match &p.peek_token_ref().token {
            Token::SemiColon | Token::EOF => {}
            _ => {
                return Err(parse_err(
                    p.expected::<()>("';' or end of script", p.peek_token())
                        .unwrap_err(),
                ));
            }
        }
    }
    Ok(out)
}

fn parse_statement(p: &mut Parser) -> Result<FlinkStatement, ParserError> {
    if word_is(p, 0, "SET") {
        p.next_token();
        let key = p.parse_literal_string()?;
        p.expect_token(&Token::Eq)?;
        let value = p.parse_literal_string()?;
        return Ok(FlinkStatement::Set { key, value });
    }
    if word_is(p, 0, "RESET") {
        p.next_token();
        let key = match &p.peek_token_ref().token {
            Token::SingleQuotedString(_) => Some(p.parse_literal_string()?),
            _ => None,
        };
        return Ok(FlinkStatement::Reset(key));
    }
    if word_is(p, 0, "CREATE") {
        p.next_token();
        let _ = p.parse_keyword(Keyword::TEMPORARY);
        if p.parse_keyword(Keyword::TABLE) {
            return parse_create_table(p);
        }
        if p.parse_keyword(Keyword::VIEW) {
            let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
            let name = last_ident(p)?;
            let columns = if p.peek_token_ref().token == Token::LParen {
                p.expect_token(&Token::LParen)?;
                let cols = p.parse_comma_separated(|p| p.parse_identifier())?;
                p.expect_token(&Token::RParen)?;
                cols.into_iter().map(|i| i.value).collect()
            } else {
                Vec::new()
            };
            p.expect_keyword(Keyword::AS)?;
            let query = p.parse_query()?;
            return Ok(FlinkStatement::CreateView {
                name,
                columns,
                query,
                if_not_exists,
            });
        }
        return p.expected("TABLE or VIEW after CREATE", p.peek_token());
    }
    if word_is(p, 0, "INSERT") {
        return Ok(FlinkStatement::Insert(parse_insert(p)?));
    }
    if word_is(p, 0, "EXECUTE") || (word_is(p, 0, "BEGIN") && word_is(p, 1, "STATEMENT")) {
        let execute = word_is(p, 0, "EXECUTE");
        p.next_token();
        expect_word(p, "STATEMENT")?;
        expect_word(p, "SET")?;
        if execute {
            expect_word(p, "BEGIN")?;
        } else {
            let _ = p.consume_token(&Token::SemiColon);
        }
        let mut inserts = Vec::new();
        loop {
            while p.consume_token(&Token::SemiColon) {}
            if word_is(p, 0, "END") {
                p.next_token();
                break;
            }
            if !word_is(p, 0, "INSERT") {
                return p.expected("INSERT INTO or END in a statement set", p.peek_token());
            }
            inserts.push(parse_insert(p)?);
        }
        return Ok(FlinkStatement::StatementSet(inserts));
    }
    if word_is(p, 0, "SELECT") || word_is(p, 0, "WITH") || p.peek_token_ref().token == Token::LParen
    {
        return Ok(FlinkStatement::Query(p.parse_query()?));
    }
    p.expected(
        "a statement (CREATE TABLE, CREATE VIEW, SET, INSERT INTO, EXECUTE STATEMENT SET, SELECT)",
        p.peek_token(),
    )
}

/// A possibly qualified name (`cat.db.t`); the last part names the object.
fn last_ident(p: &mut Parser) -> Result<String, ParserError> {
    let name = p.parse_object_name(false)?;
    Ok(name
        .0
        .last()
        .and_then(|part| part.as_ident())
        .map(|i: &Ident| i.value.clone())
        .unwrap_or_default())
}

fn parse_insert(p: &mut Parser) -> Result<Insert, ParserError> {
    expect_word(p, "INSERT")?;
    if !(p.parse_keyword(Keyword::INTO) || p.parse_keyword(Keyword::OVERWRITE)) {
        return p.expected("INTO", p.peek_token());
    }
    let _ = p.parse_keyword(Keyword::TABLE);
    let table = last_ident(p)?;
    let mut columns = Vec::new();
    if p.peek_token_ref().token == Token::LParen && !is_query_start(p, 1) {
        p.expect_token(&Token::LParen)?;
        columns = p
            .parse_comma_separated(|p| p.parse_identifier())?
            .into_iter()
            .map(|i| i.value)
            .collect();
        p.expect_token(&Token::RParen)?;
    }
    let query = p.parse_query()?;
    Ok(Insert {
        table,
        columns,
        query,
    })
}

fn is_query_start(p: &Parser, n: usize) -> bool {
    word_is(p, n, "SELECT") || word_is(p, n, "WITH") || word_is(p, n, "VALUES")
}

fn parse_create_table(p: &mut Parser) -> Result<FlinkStatement, ParserError> {
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = last_ident(p)?;
    p.expect_token(&Token::LParen)?;
    let mut columns = Vec::new();
    let mut watermark = None;
    let mut primary_key = Vec::new();
    loop {
        if word_is(p, 0, "WATERMARK") {
            p.next_token();
            p.expect_keyword(Keyword::FOR)?;
            let col = p.parse_identifier()?.value;
            p.expect_keyword(Keyword::AS)?;
            let expr = p.parse_expr()?;
            watermark = Some((col, expr));
        } else if word_is(p, 0, "PRIMARY") || word_is(p, 0, "CONSTRAINT") {
            if p.parse_keyword(Keyword::CONSTRAINT) {
                p.parse_identifier()?;
            }
            p.expect_keywords(&[Keyword::PRIMARY, Keyword::KEY])?;
            p.expect_token(&Token::LParen)?;
            primary_key = p
                .parse_comma_separated(|p| p.parse_identifier())?
                .into_iter()
                .map(|i| i.value)
                .collect();
            p.expect_token(&Token::RParen)?;
            if !p.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]) {
                return p.expected(
                    "NOT ENFORCED (Flink does not enforce primary keys; say so explicitly)",
                    p.peek_token(),
                );
            }
        } else {
            columns.push(parse_column(p)?);
        }
        if p.consume_token(&Token::Comma) {
            continue;
        }
        p.expect_token(&Token::RParen)?;
        break;
    }
    if p.parse_keyword(Keyword::COMMENT) {
        p.parse_literal_string()?;
    }
    let mut partition_keys = Vec::new();
    if p.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY]) {
        p.expect_token(&Token::LParen)?;
        partition_keys = p
            .parse_comma_separated(|p| p.parse_identifier())?
            .into_iter()
            .map(|i| i.value)
            .collect();
        p.expect_token(&Token::RParen)?;
    }
    let mut options = BTreeMap::new();
    if p.parse_keyword(Keyword::WITH) {
        p.expect_token(&Token::LParen)?;
        if p.peek_token_ref().token != Token::RParen {
            loop {
                let key = p.parse_literal_string()?;
                p.expect_token(&Token::Eq)?;
                let value = p.parse_literal_string()?;
                options.insert(key, value);
                if !p.consume_token(&Token::Comma) {
                    break;
                }
            }
        }
        p.expect_token(&Token::RParen)?;
    }
    Ok(FlinkStatement::CreateTable {
        table: Box::new(TableDef {
            name,
            columns,
            watermark,
            primary_key,
            partition_keys,
            options: TableOptions::new(options),
        }),
        if_not_exists,
    })
}

fn parse_column(p: &mut Parser) -> Result<ColumnDef, ParserError> {
    let name = p.parse_identifier()?.value;
    if p.parse_keyword(Keyword::AS) {
        let expr: Expr = p.parse_expr()?;
        if p.parse_keyword(Keyword::COMMENT) {
            p.parse_literal_string()?;
        }
        return Ok(ColumnDef {
            name,
            data_type: arrow::datatypes::DataType::Null,
            nullable: true,
            kind: ColumnKind::Computed(Box::new(expr)),
        });
    }
    let at = p.peek_token();
    let sql_type = parse_flink_data_type(p)?;
    let data_type = sql_data_type(&sql_type).map_err(|e| {
        ParserError::ParserError(format!("column `{name}`: {e} at {}", at.span.start))
    })?;
    let mut nullable = true;
    if p.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
        nullable = false;
    } else {
        let _ = p.parse_keyword(Keyword::NULL);
    }
    let mut kind = ColumnKind::Physical;
    if word_is(p, 0, "METADATA") {
        p.next_token();
        let key = if p.parse_keyword(Keyword::FROM) {
            p.parse_literal_string()?
        } else {
            name.clone()
        };
        let is_virtual = word_is(p, 0, "VIRTUAL");
        if is_virtual {
            p.next_token();
        }
        kind = ColumnKind::Metadata { key, is_virtual };
    }
    if p.parse_keyword(Keyword::COMMENT) {
        p.parse_literal_string()?;
    }
    Ok(ColumnDef {
        name,
        data_type,
        nullable,
        kind,
    })
}

/// Flink passes tables to table functions as `TUMBLE(TABLE t, ...)`; sqlparser has no such
/// argument form, so the `TABLE` keyword of an argument (after `(`, `,` or `=>`, before a
/// name) is dropped and the argument reads as the table's name.
fn strip_table_arguments(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant = |t: &TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        let is_table = matches!(&t.token, Token::Word(w) if w.keyword == Keyword::TABLE);
        if is_table {
            let prev = out.iter().rev().find(|t| significant(t)).map(|t| &t.token);
            let next = tokens[i + 1..]
                .iter()
                .find(|t| significant(t))
                .map(|t| &t.token);
            let in_args = matches!(prev, Some(Token::LParen | Token::Comma | Token::RArrow));
            let names_table = matches!(next, Some(Token::Word(_)));
            if in_args && names_table {
                continue;
            }
        }
        out.push(t.clone());
    }
    rewrite_partition_by(out)
}

/// `SESSION(TABLE t PARTITION BY k, ...)`: after a table argument, `PARTITION BY k` or
/// `PARTITION BY (k1, k2)` becomes a further argument `PARTITION_BY(k1, k2)`.
fn rewrite_partition_by(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant = |t: &TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let is_word =
        |t: &Token, w: &str| matches!(t, Token::Word(x) if x.value.eq_ignore_ascii_case(w));
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let prev_is_name = matches!(out.iter().rev().find(|t| significant(t)).map(|t| &t.token), Some(Token::Word(w)) if w.keyword == Keyword::NoKeyword || w.quote_style.is_some());
        if is_word(&t.token, "PARTITION") && prev_is_name {
            let rest: Vec<usize> = (i + 1..tokens.len())
                .filter(|j| significant(&tokens[*j]))
                .take(2)
                .collect();
            if rest.len() == 2 && is_word(&tokens[rest[0]].token, "BY") {
                let span = t.span;
                let mk = |token: Token| TokenWithSpan { token, span };
                out.push(mk(Token::Comma));
                out.push(mk(Token::make_word("PARTITION_BY", None)));
                let j = rest[1];
                if tokens[j].token == Token::LParen {
                    i = j;
                } else {
                    out.push(mk(Token::LParen));
                    out.push(tokens[j].clone());
                    out.push(mk(Token::RParen));
                    i = j + 1;
                }
                continue;
            }
        }
        out.push(t.clone());
        i += 1;
    }
    out
}
