//! "Export my data": everything Switchyard keeps about one account, as one ZIP archive written
//! as a stream, for `GET /api/me/export` and `switchyard export --user`.
//!
//! **Shape.** The archive is a list of [`Section`]s ([`SECTIONS`]). Each names its files (one
//! per [`Format`]), documents every field, and says how its rows are read: whole (a profile, a
//! list of keys) or in keyset pages (the usage log, the ledger, the audit log). `README.md` and
//! `schema.json`, the first two entries, are generated from the same list, so the schema
//! cannot forget a file. A new kind of data (consents, say) is one more entry in [`SECTIONS`].
//!
//! **Flat memory.** A ZIP entry normally carries its size and CRC in its header, which a
//! writer that does not know them yet would have to go back and patch. `zip`'s
//! `ZipWriter::new_stream` instead writes each entry with a data descriptor (sizes and CRC
//! after the bytes), so it never seeks. It writes into a small in-memory spill buffer; after
//! each row that pushes the buffer past [`CHUNK_BYTES`], and at the end of every section, the
//! buffer is cut into chunks of at most [`CHUNK_BYTES`] and sent through a channel of
//! [`CHANNEL_CHUNKS`] slots. A reader slower than the database makes `send` wait, which stops
//! the reads; a reader that goes away ends the export. What is held at any time: one page of
//! rows, the compressor's window, the spill buffer and the channel.
//!
//! **Only this user.** Every read is filtered by the user's id in SQL. Where a record names
//! another account (who referred this user, the admin who acted, the other side of a
//! transfer), the export says what kind of party it was and not which one.
//!
//! A table written in two formats (the usage log as CSV and JSON Lines, the ledger as JSON and
//! CSV) is read twice, because a streamed ZIP holds one entry open at a time. Both passes stop
//! at the same bound, fixed when the export starts (requests that arrived before it; transfers
//! up to the newest one then), so the two files hold the same rows.

mod fields;
mod sections;

pub use sections::SECTIONS;

use crate::api::{csv_field, rfc3339};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use switchyard_core::catalog::User;
use switchyard_core::ledger::AccountId;
use switchyard_core::{Nanos, UserId};
use switchyard_store::{Store, StoreError, UsageCursor};
use tokio::sync::mpsc;
use zip::ZipWriter;
use zip::write::{SimpleFileOptions, StreamWriter};

/// The largest chunk the archive is sent in, in bytes.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks waiting in the channel at most: with [`CHUNK_BYTES`], half a MiB in flight.
pub const CHANNEL_CHUNKS: usize = 8;
/// Rows per keyset page of the paged sections.
pub const PAGE_ROWS: u32 = 2_000;
/// The version of the archive's layout, in `schema.json`; raised when a field changes meaning.
pub const LAYOUT_VERSION: u32 = 1;

/// What stops an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("there is no user with id {0}")]
    UnknownUser(UserId),
    #[error("reading the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("writing the archive failed: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("writing the archive failed: {0}")]
    Io(#[from] io::Error),
    /// The receiver went away (the client disconnected): nothing is wrong, nobody is reading.
    #[error("the reader of the archive went away")]
    Closed,
}

/// One file format of a section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON document: the object, or an array of the rows.
    Json,
    /// One JSON object per line (for the usage log, which can be large).
    JsonLines,
    /// RFC 4180 CSV with a header row and CRLF line ends; one column per field, nested values
    /// as JSON text, `null` as an empty cell.
    Csv,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::JsonLines => "jsonl",
            Format::Csv => "csv",
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::JsonLines => "application/jsonl",
            Format::Csv => "text/csv",
        }
    }
}

/// One documented field of a section's rows.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    /// A JSON type (`string`, `integer`, `boolean`, `object`, `array`), `|null` when it may be
    /// absent.
    pub kind: &'static str,
    /// The unit or format: `nano-USD`, `USD decimal string`, `unix ms`, `RFC 3339 UTC`, ….
    pub unit: &'static str,
    pub meaning: &'static str,
}

pub(crate) const fn field(
    name: &'static str,
    kind: &'static str,
    unit: &'static str,
    meaning: &'static str,
) -> Field {
    Field {
        name,
        kind,
        unit,
        meaning,
    }
}

/// What a section's JSON file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One object (or `null` when there is none, e.g. no billing profile yet).
    Object,
    /// A list of rows, each an object with the fields.
    Rows,
}

/// Where reading a paged section resumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    Usage(UsageCursor),
    Seq(i64),
    Audit(i64, String),
}

/// One page of a paged section; `next` is `None` after the last page.
#[derive(Debug, Default)]
pub struct Page {
    pub rows: Vec<Value>,
    pub next: Option<Cursor>,
}

/// Reads a whole document of a section.
pub type WholeLoader = for<'a> fn(&'a Source) -> BoxFuture<'a, Result<Value, ExportError>>;
/// Reads one page of a section, after a cursor.
pub type PageLoader =
    for<'a> fn(&'a Source, Option<Cursor>) -> BoxFuture<'a, Result<Page, ExportError>>;
/// The receiving end of an archive: its chunks in order, an error item if it was cut short.
pub type Chunks = mpsc::Receiver<Result<Bytes, io::Error>>;
/// The task writing an archive, and what it wrote.
pub type Writer = tokio::task::JoinHandle<Result<Summary, ExportError>>;

/// How a section's data is read.
#[derive(Clone, Copy)]
pub enum Load {
    /// At once: a document small by nature (one profile, a user's keys or payments).
    Whole(WholeLoader),
    /// Page by page from a cursor, for tables that grow with use.
    Pages(PageLoader),
}

impl std::fmt::Debug for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Load::Whole(_) => "Load::Whole",
            Load::Pages(_) => "Load::Pages",
        })
    }
}

/// One kind of data in the archive: its files, its documented fields, and how it is read.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    /// The file name without extension.
    pub name: &'static str,
    pub meaning: &'static str,
    pub formats: &'static [Format],
    pub shape: Shape,
    pub fields: &'static [Field],
    pub load: Load,
}

impl Section {
    pub fn file_names(&self) -> impl Iterator<Item = String> + '_ {
        self.formats
            .iter()
            .map(|f| format!("{}.{}", self.name, f.extension()))
    }
}

/// What every section reads from: the store, the user, and the bounds fixed at the start so
/// that a table's two files hold the same rows.
#[derive(Debug)]
pub struct Source {
    pub store: Store,
    pub user: User,
    /// When the export started (unix ms).
    pub started_at: i64,
    /// Usage rows of requests that arrived before this (unix ms, exclusive) are exported.
    usage_to: i64,
    /// Ledger transfers with a `seq` below this are exported.
    ledger_before: i64,
}

/// Puts a time as two fields: `name` (RFC 3339 UTC) and `name_ms` (unix ms).
pub(crate) fn put_time(row: &mut Map<String, Value>, name: &str, ms: Option<i64>) {
    row.insert(name.to_owned(), ms.map(rfc3339).into());
    row.insert(format!("{name}_ms"), ms.into());
}

/// Puts money as two fields: `name_nanos` (integer nano-USD) and `name_usd` (exact decimal).
pub(crate) fn put_money(row: &mut Map<String, Value>, name: &str, amount: Option<Nanos>) {
    row.insert(format!("{name}_nanos"), amount.map(|a| a.0).into());
    row.insert(format!("{name}_usd"), amount.map(|a| a.to_string()).into());
}

// ----- the schema document -----

/// `schema.json`: every file of the archive and every field of its rows.
pub fn schema(user: &User, started_at: i64) -> Value {
    let files: Vec<Value> = SECTIONS
        .iter()
        .flat_map(|section| {
            section.formats.iter().map(move |format| {
                json!({
                    "name": format!("{}.{}", section.name, format.extension()),
                    "section": section.name,
                    "format": format.extension(),
                    "media_type": format.media_type(),
                    "shape": match (section.shape, format) {
                        (_, Format::Csv) => "one row per line after a header row",
                        (_, Format::JsonLines) => "one object per line",
                        (Shape::Object, Format::Json) => "one object (null when there is none)",
                        (Shape::Rows, Format::Json) => "an array of objects",
                    },
                    "meaning": section.meaning,
                    "fields": section.fields.iter().map(|f| json!({
                        "name": f.name,
                        "type": f.kind,
                        "unit": f.unit,
                        "meaning": f.meaning,
                    })).collect::<Vec<_>>(),
                })
            })
        })
        .collect();
    json!({
        "layout_version": LAYOUT_VERSION,
        "generated_at": rfc3339(started_at),
        "generated_at_ms": started_at,
        "user_id": user.id.to_string(),
        "conventions": {
            "money": "Two fields per amount: `<name>_nanos`, an integer of nano-USD \
                      (1 USD = 1,000,000,000), and `<name>_usd`, the same amount as an exact \
                      decimal string. No floating point is used for money.",
            "time": "Two fields per time: `<name>`, RFC 3339 in UTC with milliseconds, and \
                     `<name>_ms`, milliseconds since 1970-01-01T00:00:00Z. Both null when \
                     there is no such time.",
            "csv": "RFC 4180: comma-separated, CRLF line ends, a header row of the field names, \
                    quotes around a cell that holds a comma, quote or line break. An empty cell \
                    is null; lists and objects are JSON text.",
            "order": "Lists are newest first unless a file says otherwise.",
        },
        "files": files,
    })
}

/// `README.md`: the same as `schema.json`, for people.
pub fn readme(user: &User, started_at: i64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = write!(
        out,
        "# Your Switchyard data\n\nEverything Switchyard keeps about the account {} ({}), \
         exported at {}. `schema.json` describes the same files for programs.\n\n\
         ## Conventions\n\n\
         - Money: `<name>_nanos` is an integer of nano-USD (1 USD = 1,000,000,000); \
         `<name>_usd` is the same amount as an exact decimal string.\n\
         - Times: `<name>` is RFC 3339 in UTC; `<name>_ms` is milliseconds since the Unix epoch.\n\
         - CSV: RFC 4180, a header row, CRLF line ends; an empty cell is null; lists and \
         objects are JSON text.\n\
         - Lists are newest first.\n\
         - Prompts and answers are not stored by Switchyard, so no file holds them.\n\n\
         ## Files\n",
        user.email,
        user.id,
        rfc3339(started_at)
    );
    for section in SECTIONS {
        let names: Vec<String> = section.file_names().map(|n| format!("`{n}`")).collect();
        let _ = write!(
            out,
            "\n### {}\n\n{}\n\n| field | type | unit | meaning |\n| --- | --- | --- | --- |\n",
            names.join(", "),
            section.meaning
        );
        for f in section.fields {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                f.name,
                f.kind,
                f.unit,
                f.meaning.replace('|', "\\|")
            );
        }
    }
    out
}

// ----- writing the archive -----

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rows per file with rows (`usage.csv` → 100000).
    pub rows: Vec<(String, u64)>,
    /// Bytes of the whole archive.
    pub bytes: u64,
    /// The largest chunk sent (never above [`CHUNK_BYTES`]).
    pub largest_chunk: usize,
}

/// The buffer the ZIP writer writes into; drained into the channel by [`Archive::flush`].
/// Shared through a std `Mutex` because the writer owns one handle and the draining side the
/// other; the lock is never held across an await.
#[derive(Clone, Default)]
struct Spill(Arc<Mutex<Vec<u8>>>);

impl Spill {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Write for Spill {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The ZIP stream being written and the channel it drains into.
struct Archive<'a> {
    zip: ZipWriter<StreamWriter<Spill>>,
    spill: Spill,
    out: &'a mpsc::Sender<Result<Bytes, io::Error>>,
    options: SimpleFileOptions,
    summary: Summary,
}

impl Archive<'_> {
    /// Opens the next entry. `large` entries (the paged tables, of no known bound) carry ZIP64
    /// sizes, so one past 4 GiB is still valid.
    fn start(&mut self, name: &str, large: bool) -> Result<(), ExportError> {
        self.zip.start_file(name, self.options.large_file(large))?;
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        self.zip.write_all(bytes)?;
        Ok(())
    }

    /// Sends what the writer produced so far (see [`drain`]).
    async fn flush(&mut self) -> Result<(), ExportError> {
        drain(&self.spill, self.out, &mut self.summary).await
    }

    /// Flushes only once a chunk's worth is waiting, so rows are sent in full chunks.
    async fn flush_full(&mut self) -> Result<(), ExportError> {
        if self.spill.len() >= CHUNK_BYTES {
            self.flush().await?;
        }
        Ok(())
    }
}

/// Sends what the writer produced, cut into chunks of at most [`CHUNK_BYTES`]. Waits when the
/// channel is full: that is what keeps memory flat under a slow reader.
async fn drain(
    spill: &Spill,
    out: &mpsc::Sender<Result<Bytes, io::Error>>,
    summary: &mut Summary,
) -> Result<(), ExportError> {
    let mut pending = Bytes::from(spill.take());
    while !pending.is_empty() {
        let chunk = pending.split_to(pending.len().min(CHUNK_BYTES));
        summary.bytes += chunk.len() as u64;
        summary.largest_chunk = summary.largest_chunk.max(chunk.len());
        out.send(Ok(chunk)).await.map_err(|_| ExportError::Closed)?;
    }
    Ok(())
}

/// One CSV record of `row`, in the order of `fields`.
fn csv_record(out: &mut String, fields: &[Field], row: &Value) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match row.get(f.name).unwrap_or(&Value::Null) {
            Value::Null => {}
            Value::String(text) => csv_field(out, text),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            nested => csv_field(out, &nested.to_string()),
        }
    }
    out.push_str("\r\n");
}

fn csv_header(fields: &[Field]) -> String {
    let mut out = fields.iter().map(|f| f.name).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

/// Writes one row of a paged file in `format`; `first` says whether it opens the file.
fn row_bytes(format: Format, fields: &[Field], row: &Value, first: bool) -> String {
    match format {
        Format::Csv => {
            let mut out = String::new();
            csv_record(&mut out, fields, row);
            out
        }
        Format::JsonLines => format!("{row}\n"),
        Format::Json if first => format!("\n{row}"),
        Format::Json => format!(",\n{row}"),
    }
}

/// Writes the whole archive of `source`'s user into `out`.
async fn write_archive(
    source: &Source,
    out: &mpsc::Sender<Result<Bytes, io::Error>>,
) -> Result<Summary, ExportError> {
    let spill = Spill::default();
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip_time(source.started_at));
    let mut archive = Archive {
        zip: ZipWriter::new_stream(spill.clone()),
        spill,
        out,
        options,
        summary: Summary::default(),
    };
    archive.start("README.md", false)?;
    archive.write(readme(&source.user, source.started_at).as_bytes())?;
    archive.start("schema.json", false)?;
    let schema = schema(&source.user, source.started_at);
    archive.write(&serde_json::to_vec_pretty(&schema).map_err(io::Error::from)?)?;
    for section in SECTIONS {
        match section.load {
            Load::Whole(load) => {
                let value = load(source).await?;
                for format in section.formats {
                    let name = format!("{}.{}", section.name, format.extension());
                    archive.start(&name, false)?;
                    match format {
                        Format::Json => {
                            let mut text =
                                serde_json::to_vec_pretty(&value).map_err(io::Error::from)?;
                            text.push(b'\n');
                            archive.write(&text)?;
                        }
                        Format::Csv | Format::JsonLines => {
                            let rows = value.as_array().map(Vec::as_slice).unwrap_or_default();
                            if *format == Format::Csv {
                                archive.write(csv_header(section.fields).as_bytes())?;
                            }
                            for (i, row) in rows.iter().enumerate() {
                                archive.write(
                                    row_bytes(*format, section.fields, row, i == 0).as_bytes(),
                                )?;
                            }
                        }
                    }
                    if let Some(rows) = value.as_array() {
                        archive.summary.rows.push((name, rows.len() as u64));
                    }
                }
            }
            Load::Pages(load) => {
                // One pass per format: a streamed ZIP has one entry open at a time.
                for format in section.formats {
                    let name = format!("{}.{}", section.name, format.extension());
                    archive.start(&name, true)?;
                    match format {
                        Format::Csv => archive.write(csv_header(section.fields).as_bytes())?,
                        Format::Json => archive.write(b"[")?,
                        Format::JsonLines => {}
                    }
                    let mut count = 0u64;
                    let mut cursor = None;
                    loop {
                        let page = load(source, cursor).await?;
                        for row in &page.rows {
                            archive.write(
                                row_bytes(*format, section.fields, row, count == 0).as_bytes(),
                            )?;
                            count += 1;
                            archive.flush_full().await?;
                        }
                        cursor = page.next;
                        if cursor.is_none() {
                            break;
                        }
                    }
                    if *format == Format::Json {
                        archive.write(b"\n]\n")?;
                    }
                    archive.summary.rows.push((name, count));
                }
            }
        }
        archive.flush().await?;
    }
    let Archive {
        zip,
        spill,
        mut summary,
        ..
    } = archive;
    // The central directory: the last bytes of the archive.
    zip.finish()?;
    drain(&spill, out, &mut summary).await?;
    Ok(summary)
}

/// The ZIP entries' modification time (DOS time, local time by convention; UTC is written,
/// which is what the RFC 3339 times inside say too).
fn zip_time(ms: i64) -> zip::DateTime {
    // `rfc3339` writes `YYYY-MM-DDTHH:MM:SS.mmmZ`; its fixed positions are read back.
    let text = rfc3339(ms);
    let part = |from: usize, to: usize| text.get(from..to).and_then(|p| p.parse::<u16>().ok());
    let parts = (
        part(0, 4),
        part(5, 7),
        part(8, 10),
        part(11, 13),
        part(14, 16),
        part(17, 19),
    );
    if let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = parts {
        let narrow = |v: u16| u8::try_from(v).unwrap_or(0);
        if let Ok(time) = zip::DateTime::from_date_and_time(
            y,
            narrow(mo),
            narrow(d),
            narrow(h),
            narrow(mi),
            narrow(s),
        ) {
            return time;
        }
    }
    zip::DateTime::default()
}

/// Starts exporting `user`'s data: returns the receiving end of the archive's chunks and the
/// task writing them. A failure after the first chunk is sent down the channel as an error
/// (an HTTP body is then cut short) and returned by the task; a failure before it only by the
/// task. `hold` is dropped when the task ends (the per-user slot of the HTTP route).
pub fn spawn<H: Send + 'static>(store: Store, user: UserId, now: i64, hold: H) -> (Chunks, Writer) {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let task = tokio::spawn(async move {
        let _hold = hold;
        let result = run(store, user, now, &tx).await;
        if let Err(e) = &result
            && !matches!(e, ExportError::Closed)
        {
            // The reader may already hold part of the archive: an error item makes the HTTP
            // body end abnormally rather than look complete.
            let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
        }
        result
    });
    (rx, task)
}

async fn run(
    store: Store,
    user: UserId,
    now: i64,
    out: &mpsc::Sender<Result<Bytes, io::Error>>,
) -> Result<Summary, ExportError> {
    let user = store
        .user_by_id(user)
        .await?
        .ok_or(ExportError::UnknownUser(user))?;
    let ledger_before = store
        .transfers_of(&AccountId::user(user.id), None, 1)
        .await?
        .first()
        .map_or(0, |newest| newest.seq.saturating_add(1));
    let source = Source {
        store,
        user,
        started_at: now,
        usage_to: now.saturating_add(1),
        ledger_before,
    };
    write_archive(&source, out).await
}

/// The users whose export is running on this node: one at a time per user, since an export
/// reads the user's whole history.
#[derive(Debug, Default)]
pub struct Running(Mutex<HashSet<UserId>>);

/// A user's slot in [`Running`], released when dropped.
#[derive(Debug)]
pub struct Slot {
    running: Arc<Running>,
    user: UserId,
}

impl Running {
    /// Takes `user`'s slot, or `None` while another export of theirs runs.
    pub fn claim(self: &Arc<Self>, user: UserId) -> Option<Slot> {
        let fresh = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user);
        fresh.then(|| Slot {
            running: Arc::clone(self),
            user,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.running
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.user);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    #[test]
    fn every_section_has_fields_and_unique_file_names() {
        let mut names = HashSet::new();
        for section in SECTIONS {
            assert!(!section.fields.is_empty(), "{} has no fields", section.name);
            for name in section.file_names() {
                assert!(names.insert(name.clone()), "{name} twice");
            }
            let mut fields = HashSet::new();
            for f in section.fields {
                assert!(fields.insert(f.name), "{}.{} twice", section.name, f.name);
            }
        }
        assert!(!names.contains("README.md") && !names.contains("schema.json"));
    }

    #[test]
    fn csv_cells_quote_what_needs_it_and_nest_json() {
        const FIELDS: &[Field] = &[
            field("a", "string", "", ""),
            field("b", "integer|null", "", ""),
            field("c", "array", "", ""),
            field("d", "boolean", "", ""),
        ];
        let mut out = String::new();
        csv_record(
            &mut out,
            FIELDS,
            &json!({"a": "x,\"y\"", "b": null, "c": [1, "z"], "d": true}),
        );
        assert_eq!(out, "\"x,\"\"y\"\"\",,\"[1,\"\"z\"\"]\",true\r\n");
    }

    #[test]
    fn zip_times_are_the_export_time() {
        let time = zip_time(1_764_436_943_123); // 2025-11-29T17:22:23.123Z
        assert_eq!(
            (
                time.year(),
                time.month(),
                time.day(),
                time.hour(),
                time.minute()
            ),
            (2025, 11, 29, 17, 22)
        );
    }

    #[test]
    fn a_users_second_export_waits_for_the_first() {
        let running = Arc::new(Running::default());
        let user = UserId::new();
        let first = running.claim(user).unwrap();
        assert!(running.claim(user).is_none());
        assert!(running.claim(UserId::new()).is_some());
        drop(first);
        assert!(running.claim(user).is_some());
    }
}
