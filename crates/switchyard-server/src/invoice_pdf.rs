//! Renders an issued invoice as a one-page A4 PDF.
//!
//! Written with `pdf-writer` (pure Rust, no C, no font files): the text is set in the standard
//! Helvetica faces every PDF reader carries, in WinAnsi encoding, so nothing is embedded and
//! the file stays a few kilobytes. The cost is the character set: Latin-1 (plus the euro sign
//! and typographic quotes and dashes) prints as written; anything else prints as `?`.
//!
//! Rendering is a pure function of the stored invoice and the operator's settings, so the same
//! invoice downloads the same document every time.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use switchyard_core::Nanos;
use switchyard_store::Invoice;

/// The operator's invoice settings (`[invoices]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Who issues the invoice: the operator's legal name.
    pub seller_name: String,
    /// The operator's postal address; lines separated by `\n`.
    pub seller_address: String,
    /// The operator's VAT/GST number, if registered.
    pub seller_vat_id: String,
    /// Put before the zero-padded number: `SY-000001`.
    pub number_prefix: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seller_name: String::new(),
            seller_address: String::new(),
            seller_vat_id: String::new(),
            number_prefix: "SY-".into(),
        }
    }
}

impl Settings {
    /// The invoice number as printed and in file names: prefix, then at least six digits.
    pub fn invoice_name(&self, number: i64) -> String {
        format!("{}{number:06}", self.number_prefix)
    }
}

/// An amount in USD with two decimals, exactly. A top-up is whole cents, so this never rounds;
/// should an amount carry a fraction of a cent it is printed with all its digits instead.
pub fn usd(amount: Nanos) -> String {
    const NANOS_PER_CENT: i64 = 10_000_000;
    if amount.0 % NANOS_PER_CENT != 0 {
        return amount.to_string();
    }
    let cents = amount.0 / NANOS_PER_CENT;
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

/// The UTC calendar date of `millis` since the Unix epoch, as `YYYY-MM-DD`.
pub fn utc_date(millis: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let z = millis.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const LEFT: f32 = 56.0;
const RIGHT: f32 = PAGE_WIDTH - 56.0;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");
/// Characters per printed line before a long field wraps.
const WRAP: usize = 80;

/// The invoice as a PDF document.
pub fn render(settings: &Settings, invoice: &Invoice) -> Vec<u8> {
    let name = settings.invoice_name(invoice.number);
    let mut page = Page {
        content: Content::new(),
    };

    page.text(BOLD, 22.0, LEFT, 780.0, "INVOICE");
    page.text_right(
        REGULAR,
        10.0,
        RIGHT,
        786.0,
        &format!("Invoice number: {name}"),
    );
    page.text_right(
        REGULAR,
        10.0,
        RIGHT,
        772.0,
        &format!("Issue date: {}", utc_date(invoice.issued_at)),
    );
    page.text_right(
        REGULAR,
        10.0,
        RIGHT,
        758.0,
        &format!("Payment: {}", invoice.payment_id),
    );

    let mut y = 720.0;
    page.text(BOLD, 10.0, LEFT, y, "From");
    y -= 14.0;
    let mut seller = Vec::new();
    push(&mut seller, "", &settings.seller_name);
    push(&mut seller, "", &settings.seller_address);
    push(&mut seller, "VAT/GST ID: ", &settings.seller_vat_id);
    for line in &seller {
        page.text(REGULAR, 10.0, LEFT, y, line);
        y -= 13.0;
    }

    y -= 14.0;
    page.text(BOLD, 10.0, LEFT, y, "Bill to");
    y -= 14.0;
    let buyer = &invoice.buyer;
    let mut lines = Vec::new();
    push(&mut lines, "", &buyer.company);
    push(&mut lines, "", &buyer.name);
    push(&mut lines, "", &buyer.address);
    push(&mut lines, "", &buyer.country);
    push(&mut lines, "VAT/GST ID: ", &buyer.vat_id);
    push(&mut lines, "Account: ", &invoice.user_id.to_string());
    for line in &lines {
        page.text(REGULAR, 10.0, LEFT, y, line);
        y -= 13.0;
    }

    // The lines table.
    y -= 20.0;
    let currency = invoice.currency.to_uppercase();
    page.rule(y + 14.0);
    page.text(BOLD, 10.0, LEFT, y, "Description");
    page.text_right(BOLD, 10.0, RIGHT - 110.0, y, "Qty");
    page.text_right(BOLD, 10.0, RIGHT, y, &format!("Amount ({currency})"));
    page.rule(y - 6.0);
    y -= 22.0;
    for line in &invoice.lines {
        page.text(REGULAR, 10.0, LEFT, y, &line.description);
        page.text_right(REGULAR, 10.0, RIGHT - 110.0, y, &line.quantity.to_string());
        page.text_right(REGULAR, 10.0, RIGHT, y, &usd(line.amount));
        y -= 16.0;
    }
    page.rule(y + 6.0);
    y -= 12.0;
    page.text_right(BOLD, 11.0, RIGHT - 110.0, y, &format!("Total ({currency})"));
    page.text_right(BOLD, 11.0, RIGHT, y, &usd(invoice.amount));
    y -= 30.0;
    page.text(
        REGULAR,
        9.0,
        LEFT,
        y,
        "Paid in advance by card through Stripe. Prepaid credit for API usage.",
    );

    page.finish(&name)
}

/// Appends `value` (split into lines and wrapped) with `label` on its first line; nothing when
/// the value is empty.
fn push(out: &mut Vec<String>, label: &str, value: &str) {
    let mut first = true;
    for raw in value.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let chars: Vec<char> = raw.chars().collect();
        for chunk in chars.chunks(WRAP) {
            let text: String = chunk.iter().collect();
            out.push(if first {
                format!("{label}{text}")
            } else {
                text
            });
            first = false;
        }
    }
}

/// One page's content stream, built up line by line.
struct Page {
    content: Content,
}

impl Page {
    fn text(&mut self, font: Name<'_>, size: f32, x: f32, y: f32, text: &str) {
        self.content
            .begin_text()
            .set_font(font, size)
            .next_line(x, y)
            .show(Str(&win_ansi(text)))
            .end_text();
    }

    /// Text whose right edge is at `right`.
    fn text_right(&mut self, font: Name<'_>, size: f32, right: f32, y: f32, text: &str) {
        let width = width_of(font, text) * size;
        self.text(font, size, right - width, y, text);
    }

    /// A thin horizontal line across the text column.
    fn rule(&mut self, y: f32) {
        self.content
            .set_line_width(0.5)
            .move_to(LEFT, y)
            .line_to(RIGHT, y)
            .stroke();
    }

    fn finish(self, title: &str) -> Vec<u8> {
        let catalog = Ref::new(1);
        let tree = Ref::new(2);
        let page_id = Ref::new(3);
        let regular = Ref::new(4);
        let bold = Ref::new(5);
        let contents = Ref::new(6);
        let info = Ref::new(7);
        let mut pdf = Pdf::new();
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree).kids([page_id]).count(1);
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT));
        page.parent(tree);
        page.contents(contents);
        page.resources()
            .fonts()
            .pair(REGULAR, regular)
            .pair(BOLD, bold);
        page.finish();
        for (id, face) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
            pdf.type1_font(id)
                .base_font(Name(face.as_bytes()))
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        pdf.stream(contents, &self.content.finish());
        pdf.document_info(info)
            .title(pdf_writer::TextStr(&format!("Invoice {title}")))
            .producer(pdf_writer::TextStr("Switchyard"));
        pdf.finish()
    }
}

/// `text` in WinAnsi (Windows-1252) bytes: Latin-1 maps to itself, a few typographic marks
/// to their 0x80–0x9F codes, and everything else to `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => u32::from(c) as u8,
            '€' => 0x80,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '–' => 0x96,
            '—' => 0x97,
            _ => b'?',
        })
        .collect()
}

/// The width of `text` at size 1, for right-aligned columns: the standard Helvetica and
/// Helvetica-Bold metrics (Adobe's AFM files) for printable ASCII; anything else counts as the
/// width of a digit.
fn width_of(font: Name<'_>, text: &str) -> f32 {
    let table = if font == BOLD {
        &HELVETICA_BOLD
    } else {
        &HELVETICA
    };
    let units: u32 = text
        .chars()
        .map(|c| match c {
            ' '..='~' => u32::from(table[c as usize - 32]),
            _ => 556,
        })
        .sum();
    units as f32 / 1000.0
}

/// Advance widths of ` ` to `~` in Helvetica, in 1/1000 em.
#[rustfmt::skip]
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// Advance widths of ` ` to `~` in Helvetica-Bold, in 1/1000 em.
#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_prints_exact_cents() {
        assert_eq!(usd(Nanos::from_usd(10)), "10.00");
        assert_eq!(usd(Nanos(12_340_000_000)), "12.34");
        assert_eq!(usd(Nanos(50_000_000)), "0.05");
        assert_eq!(usd(Nanos(-1_230_000_000)), "-1.23");
        // A fraction of a cent is never rounded away.
        assert_eq!(usd(Nanos(1_001)), "0.000001001");
    }

    #[test]
    fn utc_dates_are_iso() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(utc_date(1_798_761_599_999), "2026-12-31");
        assert_eq!(utc_date(1_798_761_600_000), "2027-01-01");
        assert_eq!(utc_date(-1), "1969-12-31");
    }

    #[test]
    fn numbers_are_prefixed_and_padded() {
        let settings = Settings::default();
        assert_eq!(settings.invoice_name(1), "SY-000001");
        assert_eq!(settings.invoice_name(1_234_567), "SY-1234567");
    }

    #[test]
    fn text_is_win_ansi() {
        assert_eq!(win_ansi("Müller €5 — ok 中"), b"M\xfcller \x805 \x97 ok ?");
    }
}
