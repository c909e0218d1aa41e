//! Integration tests: the library and the built binary against real git repositories
//! and real HTTP servers on loopback, all in temporary directories.

mod backup;
mod cli;
mod errors;
mod journal;
mod notify_http;
mod postgres;
mod promote;
mod registry;
mod sandbox;
mod shapes;
mod support;
mod tag;
