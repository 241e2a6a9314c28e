//! The `xvc-agent` binary: everything lives in the library; this only hands over to the CLI.

fn main() -> std::process::ExitCode {
    xvc_agent::cli::main()
}
