//! Integration tests: the library and the built binary against real git repositories
//! and real HTTP servers on loopback, all in temporary directories.

mod approve;
mod backup;
mod cli;
mod errors;
mod journal;
mod notify_http;
mod postgres;
mod promote;
mod registry;
mod replay;
mod sandbox;
mod script_tests;
mod shapes;
mod support;
mod tag;
mod watch;
