//! `xvc-agent browse`: the cables the lab advertises over DNS-SD.

use std::process::ExitCode;

/// Options of `xvc-agent browse`.
#[derive(Debug, clap::Args)]
pub struct BrowseArgs {
    /// Print JSON (`{"cables": [...]}`) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Browse for at most this many seconds (it ends sooner once Avahi has reported all it
    /// knows).
    #[arg(long, value_name = "S", default_value_t = 3.0)]
    pub timeout: f64,
}

pub(super) fn browse(args: &BrowseArgs) -> ExitCode {
    let Some(timeout) = std::time::Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
    else {
        eprintln!("xvc-agent: --timeout must be a positive number of seconds");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xvc-agent: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::lab::browse::browse(timeout)) {
        Ok(cables) => {
            if args.json {
                let doc = serde_json::json!({ "cables": cables });
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                print!("{}", crate::lab::service::render_table(&cables));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xvc-agent: {e}");
            ExitCode::FAILURE
        }
    }
}
