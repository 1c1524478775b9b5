//! A report's presentation: CSV and Parquet hold its first section (one row per device
//! for availability); HTML shows every section with the report's period and settings.

use std::fmt::Write as _;
use std::str::FromStr;

use arrow::array::Array;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sotp_query::{ExportEncoder, ExportFormat};

use crate::{Report, ReportError, Section};

/// The formats a report can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The first section, CSV with a header row.
    Csv,
    /// The first section, Apache Parquet.
    Parquet,
    /// Every section, one self-contained HTML page.
    Html,
    /// Every section, tables and line charts, A4 pages.
    Pdf,
}

impl Format {
    /// The name used on the command line and in requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Html => "html",
            Format::Pdf => "pdf",
        }
    }
}

impl FromStr for Format {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Self, ReportError> {
        [Format::Csv, Format::Parquet, Format::Html, Format::Pdf]
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                ReportError::Invalid(format!(
                    "unknown report format `{s}` (csv, parquet, html, pdf)"
                ))
            })
    }
}

/// The report's bytes in `format`.
pub fn render(report: &Report, format: Format) -> Result<Vec<u8>, ReportError> {
    match format {
        Format::Csv => table(report, ExportFormat::Csv),
        Format::Parquet => table(report, ExportFormat::Parquet),
        Format::Html => Ok(html(report).into_bytes()),
        Format::Pdf => Ok(crate::pdf::pdf(report)),
    }
}

fn table(report: &Report, format: ExportFormat) -> Result<Vec<u8>, ReportError> {
    let encode = |e: sotp_query::QueryError| ReportError::Encode(e.to_string());
    let first = report
        .sections
        .first()
        .ok_or_else(|| ReportError::Encode("the report has no section".into()))?;
    let mut encoder = ExportEncoder::new(format, &first.schema).map_err(encode)?;
    let mut out = Vec::new();
    for b in &first.batches {
        out.extend(encoder.write(b).map_err(encode)?);
    }
    out.extend(encoder.finish().map_err(encode)?);
    Ok(out)
}

/// Text made safe inside HTML elements and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin-bottom:2em}\
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
th{background:#f2f2f2}tr.bad td{background:#fde8e8}\
p.meta{color:#555}";

fn html(report: &Report) -> String {
    let spec = &report.spec;
    let mut page = String::new();
    let title = format!(
        "{} report, {} to {}",
        spec.kind.title(),
        spec.from.to_rfc3339(),
        spec.to.to_rfc3339()
    );
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n\
         <p class=\"meta\">Generated {generated} by SOTP. Devices: {devices}. \
         Poll interval {interval} s, SLA target {sla} %.</p>\n",
        t = escape(&title),
        generated = report.generated_at.to_rfc3339(),
        devices = if spec.devices.is_empty() {
            "all".to_string()
        } else {
            escape(&spec.devices.join(", "))
        },
        interval = spec.poll_interval.as_secs(),
        sla = spec.sla_target * 100.0,
    );
    for s in &report.sections {
        section(&mut page, s);
    }
    page.push_str("</body></html>\n");
    page
}

fn section(page: &mut String, s: &Section) {
    let _ = writeln!(page, "<h2>{}</h2>", escape(s.title));
    if let Some(chart) = &s.chart {
        // The chart is the section; its rows are in the CSV and Parquet forms.
        svg(page, &points(s, chart));
        return;
    }
    let _ = write!(page, "<table id=\"{}\">\n<thead><tr>", s.name);
    for f in s.schema.fields() {
        let _ = write!(page, "<th>{}</th>", escape(f.name()));
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    if s.rows() == 0 {
        let _ = writeln!(
            page,
            "<tr><td colspan=\"{}\">no rows in this period</td></tr>",
            s.schema.fields().len().max(1)
        );
    }
    for row in cells(s) {
        page.push_str(if row.missed {
            "<tr class=\"bad\">"
        } else {
            "<tr>"
        });
        for (text, numeric) in row.cells.iter().zip(&row.numeric) {
            let _ = write!(
                page,
                "<td{}>{}</td>",
                if *numeric { " class=\"num\"" } else { "" },
                escape(text)
            );
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody></table>\n");
}

/// A line chart as inline SVG: the values' range on the left, the period below.
fn svg(page: &mut String, points: &[(i64, f64)]) {
    let (w, h) = (720.0, 180.0);
    let Some(scale) = Scale::of(points, w, h) else {
        return;
    };
    let line: Vec<String> = points
        .iter()
        .map(|p| {
            let (x, y) = scale.at(*p);
            format!("{x:.1},{:.1}", h - y)
        })
        .collect();
    let _ = writeln!(
        page,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" role=\"img\">\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"#999\"/>\
         <polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1.5\" points=\"{}\"/>\
         <text x=\"4\" y=\"12\" font-size=\"11\">{}</text><text x=\"4\" y=\"{}\" font-size=\"11\">{}</text>\
         <text x=\"0\" y=\"{}\" font-size=\"11\">{}</text><text x=\"{w}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text></svg>",
        h + 16.0,
        line.join(" "),
        number(scale.y_max),
        h - 4.0,
        number(scale.y_min),
        h + 14.0,
        time_label(scale.x_min),
        h + 14.0,
        time_label(scale.x_max),
    );
}

/// Maps a chart's points into a box of `w` by `h` (y upwards from 0).
pub(crate) struct Scale {
    pub(crate) x_min: i64,
    pub(crate) x_max: i64,
    pub(crate) y_min: f64,
    pub(crate) y_max: f64,
    w: f64,
    h: f64,
}

impl Scale {
    /// None when there is nothing to draw.
    pub(crate) fn of(points: &[(i64, f64)], w: f64, h: f64) -> Option<Self> {
        let first = points.first()?;
        let mut s = Scale {
            x_min: first.0,
            x_max: first.0,
            y_min: first.1,
            y_max: first.1,
            w,
            h,
        };
        for &(x, y) in points {
            s.x_min = s.x_min.min(x);
            s.x_max = s.x_max.max(x);
            s.y_min = s.y_min.min(y);
            s.y_max = s.y_max.max(y);
        }
        if (s.y_max - s.y_min).abs() < f64::EPSILON {
            s.y_min -= 1.0;
            s.y_max += 1.0;
        }
        Some(s)
    }

    /// A point's position in the box.
    pub(crate) fn at(&self, (x, y): (i64, f64)) -> (f64, f64) {
        let span = (self.x_max - self.x_min).max(1) as f64;
        (
            (x - self.x_min) as f64 / span * self.w,
            (y - self.y_min) / (self.y_max - self.y_min) * self.h,
        )
    }
}

/// A number to six decimal places at most.
pub(crate) fn number(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A time label in UTC, to the minute.
pub(crate) fn time_label(ns: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M UTC")
        .to_string()
}

/// One row of a section as text.
pub(crate) struct Row {
    /// Each cell as shown.
    pub cells: Vec<String>,
    /// Whether each cell is a number (aligned right).
    pub numeric: Vec<bool>,
    /// A device whose SLA was missed (not an unknown one): it stands out.
    pub missed: bool,
}

/// The rows of `s` as text, in order.
pub(crate) fn cells(s: &Section) -> Vec<Row> {
    let options = FormatOptions::default().with_null("");
    let sla_met = s.schema.index_of("sla_met").ok();
    let mut rows = Vec::with_capacity(s.rows());
    for batch in &s.batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect();
        let numeric: Vec<bool> = batch
            .columns()
            .iter()
            .map(|c| c.data_type().is_numeric())
            .collect();
        for row in 0..batch.num_rows() {
            let missed = sla_met.is_some_and(|i| {
                let c = batch.column(i);
                c.is_valid(row)
                    && c.as_any()
                        .downcast_ref::<arrow::array::BooleanArray>()
                        .is_some_and(|b| !b.value(row))
            });
            let cells = formatters
                .iter()
                .enumerate()
                .map(|(col, f)| match f {
                    Ok(f) => cell(batch.column(col).as_ref(), row, &f.value(row).to_string()),
                    Err(_) => String::new(),
                })
                .collect();
            rows.push(Row {
                cells,
                numeric: numeric.clone(),
                missed,
            });
        }
    }
    rows
}

/// The points of a section's chart: (nanoseconds since 1970, value), nulls left out.
pub(crate) fn points(s: &Section, chart: &crate::Chart) -> Vec<(i64, f64)> {
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, Int64Type};
    let (Ok(x), Ok(y)) = (s.schema.index_of(chart.x), s.schema.index_of(chart.y)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for b in &s.batches {
        let xs = arrow::compute::cast(b.column(x), &DataType::Int64);
        let ys = arrow::compute::cast(b.column(y), &DataType::Float64);
        let (Ok(xs), Ok(ys)) = (xs, ys) else { continue };
        let (xs, ys) = (
            xs.as_primitive::<Int64Type>(),
            ys.as_primitive::<Float64Type>(),
        );
        for i in 0..b.num_rows() {
            if xs.is_valid(i) && ys.is_valid(i) && ys.value(i).is_finite() {
                out.push((xs.value(i), ys.value(i)));
            }
        }
    }
    out
}

/// Floats to six decimal places at most; everything else as Arrow shows it.
fn cell(column: &dyn Array, row: usize, shown: &str) -> String {
    match column.data_type() {
        DataType::Float64 | DataType::Float32 if column.is_valid(row) => shown
            .parse::<f64>()
            .map(number)
            .unwrap_or_else(|_| shown.to_string()),
        _ => shown.to_string(),
    }
}
