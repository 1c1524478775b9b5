//! The records a template extracts: one [`Row`] per record, holding a [`Value`]
//! per template `Value`, in the template's order, as Python textfsm's
//! `ParseText` returns them (before ntc-templates turns them into strings).

use std::sync::Arc;

/// One cell of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A plain value (`''` when nothing was captured).
    Str(String),
    /// A `List` value: every capture since the record was last cleared.
    List(Vec<ListItem>),
}

/// One element of a `List` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListItem {
    /// The captured text.
    Str(String),
    /// The value's group did not take part in the match (Python's `None`).
    Null,
    /// For a `List` value whose regex has named groups of its own: those groups,
    /// in pattern order (`None` for a group that did not match), as textfsm's
    /// list-of-dicts form.
    Dict(Vec<(String, Option<String>)>),
}

impl Value {
    /// Python's truthiness of the value (non-empty string or list).
    pub(crate) fn is_truthy(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }

    /// The text, when this is a plain value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::List(_) => None,
        }
    }

    /// The items, when this is a `List` value.
    pub fn as_list(&self) -> Option<&[ListItem]> {
        match self {
            Value::Str(_) => None,
            Value::List(l) => Some(l),
        }
    }
}

impl ListItem {
    /// Python's `str()` of the item, which ntc-templates (through textfsm's
    /// `TextTable`) stores: the text, `None`, or the dict's repr.
    pub fn to_python_str(&self) -> String {
        match self {
            ListItem::Str(s) => s.clone(),
            ListItem::Null => "None".to_owned(),
            ListItem::Dict(pairs) => {
                let inner: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}: {}",
                            crate::pystr::repr_str(k),
                            crate::pystr::repr_opt(v.as_deref())
                        )
                    })
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
        }
    }
}

/// One record: the template's value names with their values, in template order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    header: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(header: Arc<[String]>, values: Vec<Value>) -> Self {
        Row { header, values }
    }

    /// The value names, in template order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The values, in template order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The value of the template `Value` called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = self.header.iter().position(|h| h == name)?;
        self.values.get(i)
    }

    /// `(name, value)` pairs in template order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.header
            .iter()
            .map(String::as_str)
            .zip(self.values.iter())
    }

    /// The values, consuming the row.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_str_of_list_items() {
        // Expected values from Python 3.11 `str()` of the same objects.
        assert_eq!(ListItem::Str("a b".into()).to_python_str(), "a b");
        assert_eq!(ListItem::Null.to_python_str(), "None");
        let dict = ListItem::Dict(vec![
            ("name".into(), Some("Bob".into())),
            ("age".into(), None),
        ]);
        assert_eq!(dict.to_python_str(), "{'name': 'Bob', 'age': None}");
        let quoted = ListItem::Dict(vec![("q".into(), Some("it's".into()))]);
        assert_eq!(quoted.to_python_str(), "{'q': \"it's\"}");
    }

    #[test]
    fn row_accessors() {
        let header: Arc<[String]> = vec!["A".to_owned(), "B".to_owned()].into();
        let row = Row::new(
            header,
            vec![Value::Str("1".into()), Value::List(vec![ListItem::Null])],
        );
        assert_eq!(row.get("A").and_then(Value::as_str), Some("1"));
        assert_eq!(
            row.get("B").and_then(Value::as_list).map(<[_]>::len),
            Some(1)
        );
        assert!(row.get("C").is_none());
        assert_eq!(row.iter().count(), 2);
        assert!(!Value::Str(String::new()).is_truthy());
        assert!(!Value::List(vec![]).is_truthy());
    }
}
