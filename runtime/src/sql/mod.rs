//! Flink SQL: scripts split into statements, DDL kept in a catalog, queries planned into a
//! job graph.

mod catalog;
mod parser;
mod placeholders;
mod planner;
mod session;

pub use catalog::{Catalog, ColumnDef, ColumnKind, TableDef};
pub use parser::{FlinkStatement, parse_script};
pub(crate) use placeholders::resolve as resolve_placeholders;
pub use session::{Session, SessionJob};
