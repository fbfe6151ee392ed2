//! `chat-bench`: parse the command line, run, print the report.

use std::process::ExitCode;

use anyhow::Context;
use chat_bench::{Cli, Command, Output, compare, flood, plot, replay, report::Report, run};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => bench(&cli.run, &cli.output).await,
        Some(Command::Run(args)) => bench(&args, &cli.output).await,
        Some(Command::Auth(args)) => {
            let report = flood::flood(&args).await?;
            print_json_or(&report, report.table(), &cli.output)
        }
        Some(Command::Replay(args)) => {
            let report = replay::replay(&args).await?;
            print_json_or(&report, report.table(), &cli.output)
        }
        Some(Command::Compare { load, header, first, second }) => {
            if let Some([ours, theirs]) = header.as_deref() {
                print!("{}", compare::header(ours, theirs));
            }
            print!("{}", compare::rows(&load, &read(&first)?, &read(&second)?));
            Ok(())
        }
        Some(Command::Plot { svg, reports }) => {
            let reports =
                reports.iter().map(|path| read::<Report>(path)).collect::<anyhow::Result<Vec<_>>>()?;
            plot::sweep_svg(&reports, &svg)?;
            eprintln!("chat-bench: wrote {}", svg.display());
            Ok(())
        }
    }
}

async fn bench(args: &run::RunArgs, output: &Output) -> anyhow::Result<()> {
    let report = run::run(args).await?;
    if let Some(svg) = &args.svg {
        plot::sweep_svg(std::slice::from_ref(&report), svg)?;
    }
    if output.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if output.csv {
        print!("{}", report.csv());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// Prints `report` as JSON with `--json`, else `table`.
fn print_json_or(report: &impl serde::Serialize, table: String, output: &Output) -> anyhow::Result<()> {
    if output.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{table}");
    }
    Ok(())
}

fn read<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> anyhow::Result<T> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{} is not a chat-bench report", path.display()))
}
