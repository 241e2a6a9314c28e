//! `xvc-agent check-config`: every mistake of a config file, with its line and column.

use crate::config::{self, ConfigSource};
use std::process::ExitCode;

use super::{config_error_exit, ConfigArg};

pub(super) fn check_config(args: &ConfigArg) -> ExitCode {
    let (path, explicit) = args.path();
    match config::load_or_default(&path, explicit) {
        Ok((cfg, ConfigSource::File)) => {
            println!(
                "{}: OK ({} cable rule{})",
                path.display(),
                cfg.cables.len(),
                if cfg.cables.len() == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Ok((_, ConfigSource::BuiltIn)) => {
            println!(
                "{}: not present; the built-in defaults apply",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => config_error_exit(&e),
    }
}
