//! A TextFSM engine that loads ntc-templates' TextFSM templates unchanged and
//! gives the rows Python's `textfsm` 2.x gives, plus the ntc-templates `index`
//! lookup and `parse_output`.
//!
//! ```
//! use sotp_textfsm::{Template, Value};
//!
//! let template = Template::parse(
//!     "Value Required NAME (\\S+)\nValue List ADDR (\\S+)\n\nStart\n  ^iface ${NAME} -> Continue.Record\n  ^\\s+ip ${ADDR}\n",
//! )?;
//! let rows = template.parse_text("iface eth0\n  ip 10.0.0.1\n  ip 10.0.0.2\niface eth1\n")?;
//! assert_eq!(rows.len(), 2);
//! assert_eq!(rows[0].get("NAME"), Some(&Value::Str("eth0".into())));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Parsing ([`Template::parse`], [`Template::parse_text`], [`Index::parse`],
//! [`clitable_parse`]) is pure: no I/O, no global state. Reading a templates
//! folder is in [`fs`] ([`Index::load`], [`NtcTemplates`], [`load_template`]).

mod engine;
mod error;
pub mod fs;
mod index;
mod ntc;
mod pyre;
mod pystr;
mod row;
mod template;

pub use error::{IndexError, LoadError, NtcError, ParseError, TemplateError};
pub use fs::{NtcTemplates, load_template};
pub use index::{Index, IndexEntry, expand_completion};
pub use ntc::{
    Cell, NtcTable, OrderedJson, clitable_parse, parse_if_templated, parse_output,
    parse_output_table,
};
pub use row::{ListItem, Row, Value};
pub use template::{Template, ValueOption};
