//! A text rendering of everything stored, for privacy tests: a test sends a marker string
//! through the system and then proves it appears in no row of any table.
//!
//! It reads every row of every table, so it is meant for tests and small diagnostics, never for
//! a request path.

use crate::{Db, Store, StoreError};
use sqlx::Row;
use std::fmt::Write;

impl Store {
    /// Every row of every table in this database (SQLite) or in the current schema
    /// (PostgreSQL), one line per row as `table: value | value | NULL`. Each value is the
    /// database's own text cast of it; binary values appear as `\x` + lowercase hex on both
    /// backends, as PostgreSQL prints `bytea`.
    pub async fn dump_text(&self) -> Result<String, StoreError> {
        // Listing tables and columns is the one thing with no common SQL: each backend has its
        // own catalogue.
        let tables: Vec<String> = match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT name FROM sqlite_master \
                     WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                )
                .fetch_all(pool)
                .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                     ORDER BY table_name",
                )
                .fetch_all(pool)
                .await?
            }
        };

        let mut out = String::new();
        for table in &tables {
            let columns: Vec<String> = match &self.db {
                Db::Sqlite(pool) => {
                    sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                        .bind(table.as_str())
                        .fetch_all(pool)
                        .await?
                }
                Db::Postgres(pool) => {
                    sqlx::query_scalar(
                        "SELECT column_name::text FROM information_schema.columns \
                         WHERE table_schema = current_schema() AND table_name = $1 \
                         ORDER BY ordinal_position",
                    )
                    .bind(table.as_str())
                    .fetch_all(pool)
                    .await?
                }
            };
            if columns.is_empty() {
                continue;
            }
            let sql = self.select_as_text(table, &columns);
            let rows: Vec<Vec<Option<String>>> = on_pool!(&self.db, pool => {
                let rows = sqlx::query(&sql).persistent(false).fetch_all(pool).await?;
                rows.iter()
                    .map(|row| {
                        (0..columns.len())
                            .map(|i| row.try_get::<Option<String>, _>(i))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()?
            });
            for row in rows {
                let values: Vec<&str> =
                    row.iter().map(|v| v.as_deref().unwrap_or("NULL")).collect();
                // Writing to a String cannot fail.
                let _ = writeln!(out, "{table}: {}", values.join(" | "));
            }
        }
        Ok(out)
    }

    /// `SELECT` of every column of `table` cast to text, in this backend's dialect.
    fn select_as_text(&self, table: &str, columns: &[String]) -> String {
        let exprs: Vec<String> = columns
            .iter()
            .map(|column| {
                let column = quote_ident(column);
                match self.db {
                    // SQLite would cast a BLOB to its raw bytes, which need not be UTF-8.
                    Db::Sqlite(_) => format!(
                        "CASE WHEN typeof({column}) = 'blob' THEN '\\x' || lower(hex({column})) \
                         ELSE CAST({column} AS TEXT) END"
                    ),
                    Db::Postgres(_) => format!("CAST({column} AS TEXT)"),
                }
            })
            .collect();
        format!("SELECT {} FROM {}", exprs.join(", "), quote_ident(table))
    }
}

/// Quotes an identifier read from the catalogue, so any table or column name is safe in SQL.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
