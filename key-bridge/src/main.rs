//! `key-bridge`: the workstation agent for hardware keys. The command line is
//! [`key_bridge::cli`]; secrets are asked for, never arguments or variables.

fn main() -> std::process::ExitCode {
    key_bridge::cli::main()
}
