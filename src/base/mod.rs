//! The lowest layer: types and helpers every other module may use and that use nothing of
//! shipctl's. Outside input (a script argument, shipctl.toml, a journal, a record, a file
//! name) becomes one of these types before anything acts on it.

pub mod confined;
pub mod digest;
pub mod files;
pub mod location;
pub mod names;
pub mod operator;
pub mod serde_fields;
pub mod serde_words;
pub mod suggest;
pub mod time;
