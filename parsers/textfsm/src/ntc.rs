//! ntc-templates' `parse_output`: find the template(s) for a platform and
//! command in the index, run them as textfsm's `CliTable.ParseCmd` does
//! (several templates `a:b` are merged column-wise, rows paired by the Key
//! values of the first template that has any, or by position), turn every value
//! into a string or a list of strings as `TextTable` does, and lower-case the
//! column names.

use crate::error::NtcError;
use crate::fs::NtcTemplates;
use crate::pystr;
use crate::row::Value;
use crate::template::{Template, ValueOption};

/// One cell of an ntc-templates result: a string, or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// A plain value.
    Str(String),
    /// A `List` value; each item as Python's `str()` of it.
    List(Vec<String>),
}

impl Cell {
    fn from_value(value: Value) -> Self {
        match value {
            Value::Str(s) => Cell::Str(s),
            Value::List(items) => Cell::List(items.iter().map(|i| i.to_python_str()).collect()),
        }
    }

    /// Python's `str()` of the cell, as textfsm prints a table.
    fn python_str(&self) -> String {
        match self {
            Cell::Str(s) => s.clone(),
            Cell::List(items) => {
                let inner: Vec<String> = items.iter().map(|s| pystr::repr_str(s)).collect();
                format!("[{}]", inner.join(", "))
            }
        }
    }

    /// The cell as JSON (a string or an array of strings).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Cell::Str(s) => serde_json::Value::String(s.clone()),
            Cell::List(items) => items
                .iter()
                .cloned()
                .map(serde_json::Value::String)
                .collect(),
        }
    }
}

/// The table `CliTable.ParseCmd` builds: column names (as in the templates) and
/// rows, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtcTable {
    /// Column names, as the templates spell them.
    pub header: Vec<String>,
    /// Rows, one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl NtcTable {
    fn from_template(t: &Template, data: &str) -> Result<Self, crate::error::ParseError> {
        let rows = t.parse_text(data)?;
        Ok(NtcTable {
            header: t.header().to_vec(),
            rows: rows
                .into_iter()
                .map(|r| r.into_values().into_iter().map(Cell::from_value).collect())
                .collect(),
        })
    }

    /// textfsm prints a table as `', '.join(str(v) for v in row) + '\n'` per row,
    /// header first; `AddColumn` refuses a column found anywhere in that text.
    fn printed(&self) -> String {
        let mut out = self.header.join(", ");
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(Cell::python_str).collect();
            out.push_str(&cells.join(", "));
            out.push('\n');
        }
        out
    }

    /// `TextTable.extend(other, keys)`.
    fn extend(
        &mut self,
        other: &NtcTable,
        keys: &[String],
        template: &str,
    ) -> Result<(), NtcError> {
        for key in keys {
            if !self.header.contains(key) {
                return Err(NtcError::UnknownKey {
                    template: template.to_owned(),
                    key: key.clone(),
                });
            }
        }
        let new: Vec<&String> = other
            .header
            .iter()
            .filter(|c| !self.header.contains(c))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        for column in &new {
            if self.printed().contains(column.as_str()) {
                return Err(NtcError::ColumnClash {
                    template: template.to_owned(),
                    column: (*column).clone(),
                });
            }
            self.header.push((*column).clone());
            for row in &mut self.rows {
                row.push(Cell::Str(String::new()));
            }
        }
        let pos = |table: &NtcTable, c: &str| table.header.iter().position(|h| h == c);
        let copy = |row1: &mut Vec<Cell>, row2: &[Cell], this: &NtcTable| {
            for column in &new {
                if let (Some(i), Some(j)) = (pos(this, column), pos(other, column)) {
                    row1[i] = row2[j].clone();
                }
            }
        };
        let this_header = NtcTable {
            header: self.header.clone(),
            rows: Vec::new(),
        };
        if keys.is_empty() {
            for (row1, row2) in self.rows.iter_mut().zip(&other.rows) {
                copy(row1, row2, &this_header);
            }
            return Ok(());
        }
        for row1 in &mut self.rows {
            let found = other.rows.iter().find(|row2| {
                keys.iter()
                    .all(|k| match (pos(&this_header, k), pos(other, k)) {
                        (Some(i), Some(j)) => row1[i] == row2[j],
                        _ => false,
                    })
            });
            if let Some(row2) = found {
                copy(row1, row2, &this_header);
            }
        }
        Ok(())
    }

    /// The rows as ntc-templates returns them: one JSON object per row with
    /// lower-cased keys (a later column wins when two lower-case alike).
    pub fn to_json_rows(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.rows
            .iter()
            .map(|row| {
                self.header
                    .iter()
                    .zip(row)
                    .map(|(h, c)| (h.to_lowercase(), c.to_json()))
                    .collect()
            })
            .collect()
    }

    /// The rows as [`NtcTable::to_json_rows`] gives them, but serialised with each
    /// object's keys in the templates' column order, as Python's dicts keep them
    /// (`json.dumps(parse_output(...))`): a lower-cased name that appears twice keeps
    /// its first place and its last value.
    pub fn ordered_json(&self) -> OrderedJson<'_> {
        let mut columns: Vec<(String, usize)> = Vec::with_capacity(self.header.len());
        for (i, h) in self.header.iter().enumerate() {
            let key = h.to_lowercase();
            match columns.iter_mut().find(|(k, _)| *k == key) {
                Some(c) => c.1 = i,
                None => columns.push((key, i)),
            }
        }
        OrderedJson {
            table: self,
            columns,
        }
    }
}

/// [`NtcTable::ordered_json`]: serialises as a JSON array of objects in column order.
#[derive(Debug)]
pub struct OrderedJson<'a> {
    table: &'a NtcTable,
    /// Output key and the column whose value it takes.
    columns: Vec<(String, usize)>,
}

/// One row of [`OrderedJson`].
struct OrderedRow<'a> {
    row: &'a [Cell],
    columns: &'a [(String, usize)],
}

impl serde::Serialize for OrderedJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.table.rows.len()))?;
        for row in &self.table.rows {
            seq.serialize_element(&OrderedRow {
                row,
                columns: &self.columns,
            })?;
        }
        seq.end()
    }
}

impl serde::Serialize for OrderedRow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.columns.len()))?;
        for (key, i) in self.columns {
            match &self.row[*i] {
                Cell::Str(v) => map.serialize_entry(key, v)?,
                Cell::List(v) => map.serialize_entry(key, v)?,
            }
        }
        map.end()
    }
}

/// Runs `templates` (as named by an index entry, with their names for errors) on
/// `data` and merges them as `CliTable.ParseCmd` does. Pure: the templates are
/// already loaded.
pub fn clitable_parse(templates: &[(&str, &Template)], data: &str) -> Result<NtcTable, NtcError> {
    let mut keys: Vec<String> = Vec::new();
    let mut table: Option<NtcTable> = None;
    for &(name, template) in templates {
        let parsed = NtcTable::from_template(template, data).map_err(|source| NtcError::Parse {
            template: name.to_owned(),
            source,
        })?;
        if keys.is_empty() {
            keys = template
                .values_with(ValueOption::Key)
                .into_iter()
                .map(str::to_owned)
                .collect();
        }
        match &mut table {
            None => table = Some(parsed),
            Some(t) => t.extend(&parsed, &keys, name)?,
        }
    }
    Ok(table.unwrap_or(NtcTable {
        header: Vec::new(),
        rows: Vec::new(),
    }))
}

/// ntc-templates' `parse_output(platform, command, data)`: the template(s) the
/// index selects for `platform` and `command`, run on `data`, as a table.
/// Templates are read from the templates folder on first use and cached.
pub fn parse_output_table(
    lib: &NtcTemplates,
    platform: &str,
    command: &str,
    data: &str,
) -> Result<NtcTable, NtcError> {
    let names = lib
        .index()
        .find(platform, command)
        .ok_or_else(|| NtcError::NoTemplate {
            platform: platform.to_owned(),
            command: command.to_owned(),
            index: lib.index_path(),
        })?;
    let loaded = names
        .iter()
        .map(|n| lib.template(n).map(|t| (n.as_str(), t)))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<(&str, &Template)> = loaded.iter().map(|(n, t)| (*n, t.as_ref())).collect();
    clitable_parse(&refs, data)
}

/// [`parse_output_table`] when the index has a template for `platform` and `command`:
/// the template names (joined with `:`, as the index writes a merge) and the table, or the
/// template's error; none when no template matches.
pub fn parse_if_templated(
    lib: &NtcTemplates,
    platform: &str,
    command: &str,
    data: &str,
) -> Option<(String, Result<NtcTable, NtcError>)> {
    let names = lib.index().find(platform, command)?.join(":");
    Some((names, parse_output_table(lib, platform, command, data)))
}

/// ntc-templates' `parse_output(platform, command, data)`: a list of objects with
/// lower-cased keys, values strings or arrays of strings.
pub fn parse_output(
    lib: &NtcTemplates,
    platform: &str,
    command: &str,
    data: &str,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, NtcError> {
    parse_output_table(lib, platform, command, data).map(|t| t.to_json_rows())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEYED_A: &str =
        "Value Key IF (\\S+)\nValue STATUS (\\S+)\n\nStart\n  ^if ${IF} ${STATUS} -> Record\n";
    const KEYED_B: &str =
        "Value Key IF (\\S+)\nValue SPEED (\\d+)\n\nStart\n  ^speed ${IF} ${SPEED} -> Record\n";
    const NOKEY: &str =
        "Value IF (\\S+)\nValue STATUS (\\S+)\n\nStart\n  ^if ${IF} ${STATUS} -> Record\n";
    const NOKEY2: &str = "Value DESC (\\S+)\n\nStart\n  ^desc ${DESC} -> Record\n";
    const OTHERKEY: &str =
        "Value Key PORT (\\S+)\nValue SPEED (\\d+)\n\nStart\n  ^speed ${PORT} ${SPEED} -> Record\n";
    const CLASH: &str = "Value STAT (\\S+)\n\nStart\n  ^stat ${STAT} -> Record\n";
    const LIST: &str = "Value Key IF (\\S+)\nValue List P ((?P<n>\\w+)=(?P<v>\\d+)?)\n\nStart\n  ^p ${IF} ${P}\n  ^end -> Record\n";
    const DATA: &str = "if e1 up\nif e2 down\nif e3 up\nspeed e2 100\nspeed e9 10\nspeed e1 1000\n\
                        desc d1\ndesc d2\nstat s1\np e1 a=1\np e1 b=\nend\n";

    fn run(texts: &[&str]) -> Result<serde_json::Value, NtcError> {
        let templates: Vec<Template> = texts
            .iter()
            .map(|t| Template::parse(t).expect("valid template"))
            .collect();
        let named: Vec<(&str, &Template)> = templates.iter().map(|t| ("t", t)).collect();
        let table = clitable_parse(&named, DATA)?;
        Ok(serde_json::Value::Array(
            table
                .to_json_rows()
                .into_iter()
                .map(serde_json::Value::Object)
                .collect(),
        ))
    }

    /// Expected values from ntc_templates.parse.parse_output with an index
    /// entry `a:b` for each pair (textfsm 2.1.0).
    #[test]
    fn merges_like_clitable() {
        assert_eq!(
            run(&[KEYED_A, KEYED_B]).expect("merge"),
            json!([{"if": "e1", "status": "up", "speed": "1000"}, {"if": "e2", "status": "down", "speed": "100"},
                   {"if": "e3", "status": "up", "speed": ""}])
        );
        assert_eq!(
            run(&[NOKEY, NOKEY2]).expect("merge"),
            json!([{"if": "e1", "status": "up", "desc": "d1"}, {"if": "e2", "status": "down", "desc": "d2"},
                   {"if": "e3", "status": "up", "desc": ""}])
        );
        assert_eq!(
            run(&[KEYED_A, LIST]).expect("merge"),
            json!([{"if": "e1", "status": "up", "p": ["{'n': 'a', 'v': '1'}", "{'n': 'b', 'v': None}"]},
                   {"if": "e2", "status": "down", "p": ""}, {"if": "e3", "status": "up", "p": ""}])
        );
    }

    #[test]
    fn merge_errors_like_clitable() {
        // Python: IndexError: Unknown key: 'PORT'
        assert!(
            matches!(run(&[NOKEY, OTHERKEY]), Err(NtcError::UnknownKey { key, .. }) if key == "PORT")
        );
        // Python: TableError: Column 'STAT' already in table.
        assert!(
            matches!(run(&[NOKEY, CLASH]), Err(NtcError::ColumnClash { column, .. }) if column == "STAT")
        );
    }

    #[test]
    fn keys_are_lower_cased_and_lists_are_string_arrays() {
        let t = Template::parse(
            "Value Name (\\S+)\nValue List IPS (\\S+)\n\nStart\n  ^n ${Name}\n  ^ip ${IPS}\n",
        )
        .expect("valid");
        let table = clitable_parse(&[("t", &t)], "n a\nip 1\nip 2\n").expect("parse");
        assert_eq!(
            serde_json::Value::Object(table.to_json_rows().remove(0)),
            json!({"name": "a", "ips": ["1", "2"]})
        );
    }

    #[test]
    fn ordered_json_keeps_column_order_and_the_last_value_of_a_repeated_name() {
        let table = NtcTable {
            header: vec!["Zone".into(), "ADDR".into(), "zone".into()],
            rows: vec![vec![
                Cell::Str("first".into()),
                Cell::List(vec!["1".into(), "2".into()]),
                Cell::Str("last".into()),
            ]],
        };
        let text = serde_json::to_string(&table.ordered_json()).expect("serialises");
        // Python: dict(zip(["zone", "addr", "zone"], row)) keeps "zone" first, "last".
        assert_eq!(text, r#"[{"zone":"last","addr":["1","2"]}]"#);
        let rows: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            rows,
            serde_json::Value::Array(
                table
                    .to_json_rows()
                    .into_iter()
                    .map(serde_json::Value::Object)
                    .collect()
            )
        );
    }
}
