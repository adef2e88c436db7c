//! `ippoc`: the IPPOC node daemon and its operator CLI.

fn main() -> std::process::ExitCode {
    ippoc_node::cli::main()
}
