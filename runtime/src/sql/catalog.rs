use std::collections::BTreeMap;

use arrow::datatypes::DataType;
use sqlparser::ast::{Expr, Query};

use crate::connectors::TableOptions;
use crate::error::{Result, RunnelError};

/// How a column gets its value.
#[derive(Clone, Debug)]
pub enum ColumnKind {
    /// Read from the connector.
    Physical,
    /// `name AS expr`, computed from the physical columns after reading.
    Computed(Box<Expr>),
    /// `name TYPE METADATA [FROM 'key'] [VIRTUAL]`: a value the connector knows about each
    /// record (a Kafka record's timestamp, partition, offset); a virtual one is only read.
    Metadata { key: String, is_virtual: bool },
}

impl ColumnKind {
    /// Whether the connector's reader produces this column.
    pub fn is_read(&self) -> bool {
        !matches!(self, ColumnKind::Computed(_))
    }

    /// Whether INSERT INTO the table provides this column.
    pub fn is_written(&self) -> bool {
        matches!(
            self,
            ColumnKind::Physical
                | ColumnKind::Metadata {
                    is_virtual: false,
                    ..
                }
        )
    }
}

impl TableDef {
    /// The metadata columns the connector serves (`read`) or receives (`!read`).
    pub fn metadata(&self, read: bool) -> Vec<crate::connectors::MetadataColumn> {
        self.columns
            .iter()
            .filter_map(|c| match &c.kind {
                ColumnKind::Metadata { key, is_virtual } if read || !is_virtual => {
                    Some(crate::connectors::MetadataColumn {
                        column: c.name.clone(),
                        key: key.clone(),
                    })
                }
                _ => None,
            })
            .collect()
    }
}

/// One column of a table.
#[derive(Clone, Debug)]
pub struct ColumnDef {
    /// Column name, case-sensitive.
    pub name: String,
    /// Arrow type (for computed columns: known once planned; `Null` until then).
    pub data_type: DataType,
    /// Whether nulls are allowed.
    pub nullable: bool,
    /// Physical or computed.
    pub kind: ColumnKind,
}

/// A `CREATE TABLE`.
#[derive(Clone, Debug)]
pub struct TableDef {
    /// Table name.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<ColumnDef>,
    /// `WATERMARK FOR column AS expr`.
    pub watermark: Option<(String, Expr)>,
    /// `PRIMARY KEY (..) NOT ENFORCED` columns.
    pub primary_key: Vec<String>,
    /// `PARTITIONED BY (..)` columns.
    pub partition_keys: Vec<String>,
    /// `WITH (..)`.
    pub options: TableOptions,
}

/// Tables and views of a session, by name.
#[derive(Default)]
pub struct Catalog {
    tables: BTreeMap<String, TableDef>,
    views: BTreeMap<String, (Vec<String>, Query)>,
}

impl Catalog {
    /// Registers a table; an existing name is an error unless `if_not_exists`.
    pub fn add_table(&mut self, table: TableDef, if_not_exists: bool) -> Result<()> {
        if self.tables.contains_key(&table.name) || self.views.contains_key(&table.name) {
            if if_not_exists {
                return Ok(());
            }
            return Err(RunnelError::Plan(format!(
                "table or view `{}` already exists",
                table.name
            )));
        }
        self.tables.insert(table.name.clone(), table);
        Ok(())
    }

    /// Registers a view, optionally renaming its columns.
    pub fn add_view(
        &mut self,
        name: String,
        columns: Vec<String>,
        query: Query,
        if_not_exists: bool,
    ) -> Result<()> {
        if self.tables.contains_key(&name) || self.views.contains_key(&name) {
            if if_not_exists {
                return Ok(());
            }
            return Err(RunnelError::Plan(format!(
                "table or view `{name}` already exists"
            )));
        }
        self.views.insert(name, (columns, query));
        Ok(())
    }

    /// A table by name.
    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.get(name)
    }

    /// A view by name: its column names (if renamed) and query.
    pub fn view(&self, name: &str) -> Option<&(Vec<String>, Query)> {
        self.views.get(name)
    }

    /// Every table and view name, for error messages.
    pub fn names(&self) -> Vec<String> {
        self.tables
            .keys()
            .chain(self.views.keys())
            .cloned()
            .collect()
    }
}
