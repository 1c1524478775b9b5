//! A report as PDF: A4 pages with a title, every section as a table (its header repeated
//! on each page it spans) and the sections that have one as a line chart.
//!
//! Text is set in the standard PDF fonts (Helvetica for headings, Courier for tables, so
//! columns align by character count), which every PDF reader carries: nothing is embedded,
//! downloaded or read from the system. They cover Latin-1 (WinAnsiEncoding); other
//! characters print as `?`.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use crate::render::{Scale, cells, number, points, time_label};
use crate::{Report, Section};

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 40.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// The widest a table column gets, in characters; longer cells are cut with `~`.
const MAX_COLUMN: usize = 32;
/// Courier's advance is 600/1000 of the size for every character.
const COURIER_ADVANCE: f32 = 0.6;
const CHART_H: f32 = 150.0;

const HELVETICA: Name<'static> = Name(b"F1");
const HELVETICA_BOLD: Name<'static> = Name(b"F2");
const COURIER: Name<'static> = Name(b"F3");

/// Text as WinAnsiEncoding bytes: Latin-1 kept, anything else `?`.
fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match u32::from(c) {
            0x20..=0x7e | 0xa0..=0xff => c as u8,
            _ => b'?',
        })
        .collect()
}

/// The pages being written, top to bottom.
struct Pages {
    done: Vec<Content>,
    page: Content,
    /// The baseline of the next line, from the bottom of the page.
    y: f32,
}

impl Pages {
    fn new() -> Self {
        Self {
            done: Vec::new(),
            page: Content::new(),
            y: PAGE_H - MARGIN,
        }
    }

    /// Room for `height` more points on this page, or a new page.
    fn room(&mut self, height: f32) -> bool {
        if self.y - height < MARGIN {
            self.done
                .push(std::mem::replace(&mut self.page, Content::new()));
            self.y = PAGE_H - MARGIN;
            return false;
        }
        true
    }

    fn text(&mut self, font: Name<'_>, size: f32, x: f32, text: &str) {
        self.page
            .begin_text()
            .set_font(font, size)
            .next_line(x, self.y)
            .show(Str(&latin1(text)))
            .end_text();
    }

    fn line(&mut self, font: Name<'_>, size: f32, text: &str) {
        self.room(size * 1.5);
        self.y -= size * 1.5;
        self.text(font, size, MARGIN, text);
    }

    fn finish(mut self) -> Vec<Content> {
        self.done.push(self.page);
        self.done
    }
}

/// The report's PDF file.
pub(crate) fn pdf(report: &Report) -> Vec<u8> {
    let spec = &report.spec;
    let mut pages = Pages::new();
    let title = format!("{} report", spec.kind.title());
    pages.line(HELVETICA_BOLD, 16.0, &title);
    pages.line(
        HELVETICA,
        9.0,
        &format!(
            "Period {} to {} (UTC). Generated {} by SOTP.",
            spec.from.format("%Y-%m-%d %H:%M:%S"),
            spec.to.format("%Y-%m-%d %H:%M:%S"),
            report.generated_at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
    );
    pages.line(
        HELVETICA,
        9.0,
        &format!(
            "Devices: {}. Poll interval {} s, SLA target {} %.",
            if spec.devices.is_empty() {
                "all".to_string()
            } else {
                spec.devices.join(", ")
            },
            spec.poll_interval.as_secs(),
            number(spec.sla_target * 100.0)
        ),
    );
    for s in &report.sections {
        section(&mut pages, s);
    }
    assemble(&title, pages.finish())
}

fn section(pages: &mut Pages, s: &Section) {
    pages.y -= 8.0;
    pages.line(HELVETICA_BOLD, 12.0, s.title);
    if let Some(chart) = &s.chart {
        draw_chart(pages, &points(s, chart));
        return;
    }
    let header: Vec<String> = s.schema.fields().iter().map(|f| f.name().clone()).collect();
    let rows = cells(s);
    // Column widths in characters, then the largest size (up to 8 pt) that fits the page.
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(&r.cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    for w in &mut widths {
        *w = (*w).min(MAX_COLUMN);
    }
    let chars = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
    let size = (CONTENT_W / (chars.max(1) as f32 * COURIER_ADVANCE)).clamp(4.0, 8.0);
    let format_row = |cells: &[String], numeric: Option<&[bool]>| -> String {
        let mut line = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let mut c: String = c.chars().take(*w).collect();
            if c.chars().count() < cells[i].chars().count() {
                c.pop();
                c.push('~');
            }
            let pad = w - c.chars().count();
            let right = numeric.is_some_and(|n| n.get(i).copied().unwrap_or(false));
            if right {
                line.push_str(&" ".repeat(pad));
                line.push_str(&c);
            } else {
                line.push_str(&c);
                line.push_str(&" ".repeat(pad));
            }
        }
        line.trim_end().to_string()
    };
    let header_line = format_row(&header, None);
    let lead = size * 1.35;
    pages.line(COURIER, size, &header_line);
    if rows.is_empty() {
        pages.line(HELVETICA, 8.0, "No rows in this period.");
    }
    for r in &rows {
        if !pages.room(lead) {
            pages.line(COURIER, size, &header_line);
        }
        pages.y -= lead;
        if r.missed {
            pages.page.set_fill_rgb(0.7, 0.0, 0.0);
        }
        let text = format_row(&r.cells, Some(&r.numeric));
        pages.text(COURIER, size, MARGIN, &text);
        if r.missed {
            pages.page.set_fill_rgb(0.0, 0.0, 0.0);
        }
    }
}

/// A line chart: a framed box, the value range on the left, the period below.
fn draw_chart(pages: &mut Pages, pts: &[(i64, f64)]) {
    let w = f64::from(CONTENT_W - 50.0);
    let Some(scale) = Scale::of(pts, w, f64::from(CHART_H)) else {
        pages.line(HELVETICA, 8.0, "No data to chart in this period.");
        return;
    };
    pages.room(CHART_H + 30.0);
    let left = MARGIN + 50.0;
    let bottom = pages.y - CHART_H - 6.0;
    let c = &mut pages.page;
    c.save_state();
    c.set_stroke_rgb(0.6, 0.6, 0.6).set_line_width(0.5);
    c.rect(left, bottom, w as f32, CHART_H).stroke();
    c.set_stroke_rgb(0.12, 0.37, 0.75).set_line_width(1.2);
    for (i, p) in pts.iter().enumerate() {
        let (x, y) = scale.at(*p);
        let (x, y) = (left + x as f32, bottom + y as f32);
        if i == 0 {
            c.move_to(x, y);
        } else {
            c.line_to(x, y);
        }
    }
    c.stroke();
    c.restore_state();
    let y = pages.y;
    pages.y = bottom + CHART_H - 7.0;
    pages.text(HELVETICA, 7.0, MARGIN, &number(scale.y_max));
    pages.y = bottom;
    pages.text(HELVETICA, 7.0, MARGIN, &number(scale.y_min));
    pages.y = bottom - 10.0;
    pages.text(HELVETICA, 7.0, left, &time_label(scale.x_min));
    let end = time_label(scale.x_max);
    let end_x = left + w as f32 - end.len() as f32 * 3.9;
    pages.text(HELVETICA, 7.0, end_x, &end);
    pages.y = y.min(bottom - 14.0);
}

/// The document: catalog, page tree, the three standard fonts, the pages.
fn assemble(title: &str, contents: Vec<Content>) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let fonts = [
        (HELVETICA, Ref::new(3), "Helvetica"),
        (HELVETICA_BOLD, Ref::new(4), "Helvetica-Bold"),
        (COURIER, Ref::new(5), "Courier"),
    ];
    let info = Ref::new(6);
    let page_refs: Vec<(Ref, Ref)> = (0..contents.len() as i32)
        .map(|i| (Ref::new(7 + 2 * i), Ref::new(8 + 2 * i)))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_refs.iter().map(|(p, _)| *p))
        .count(page_refs.len() as i32);
    pdf.document_info(info)
        .title(TextStr(title))
        .producer(TextStr("SOTP"));
    for (name, id, base) in fonts {
        let _ = name;
        pdf.type1_font(id)
            .base_font(Name(base.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for ((page_id, content_id), content) in page_refs.iter().zip(contents) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(*content_id);
        let mut resources = page.resources();
        let mut f = resources.fonts();
        for (name, id, _) in fonts {
            f.pair(name, id);
        }
        f.finish();
        resources.finish();
        page.finish();
        pdf.stream(*content_id, &content.finish());
    }
    pdf.finish()
}
