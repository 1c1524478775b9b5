//! `sotp`: the one binary. Parses the command line and wires the roles together.

use std::process::ExitCode;

use clap::Parser;
use sotp::cli::{Cli, Command, ConfigCommand};
use sotp::{backup, config, control, export_cmd, health, parse_cmd, query_cmd, report_cmd, run};

/// mimalloc instead of glibc malloc: under the devices API benchmark (issue 6) glibc's
/// malloc/free were about a fifth of the server's CPU, and in the streaming stage glibc's
/// page faults on the per-batch columns about a fifth of its time; see docs/BENCHMARKS.md.
/// With the `override` feature (workspace `Cargo.toml`) the C libraries (librdkafka,
/// zstd, OpenSSL) allocate from it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config {
            command: ConfigCommand::Example,
        } => {
            print!("{}", config::EXAMPLE);
            ExitCode::SUCCESS
        }
        Command::Config {
            command: ConfigCommand::Check { file },
        } => match config::load(Some(&file), std::env::vars()) {
            Ok(c) => {
                println!(
                    "{}: ok ({} devices, API on {}, data in {})",
                    file.display(),
                    c.device_list().len(),
                    c.api.listen,
                    c.data_dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprint!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Run(args) => run::main(args),
        Command::Query(args) => query_cmd::main(args),
        Command::Export(args) => export_cmd::main(args),
        Command::Report(args) => report_cmd::main(args),
        Command::Health(args) => health::main(args),
        Command::Parse(args) => parse_cmd::main(args),
        Command::User { command } => control::user_main(command),
        Command::Token { command } => control::token_main(command),
        Command::Secrets { command } => control::secrets_main(command),
        Command::Backup(args) => backup::backup_main(args),
        Command::Restore(args) => backup::restore_main(args),
    }
}
