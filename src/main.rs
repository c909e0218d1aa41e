//! The `shipctl` binary: parse arguments, call the library, exit with its code.

fn main() {
    let code = shipctl::cli::main(std::env::args_os());
    std::process::exit(code);
}
