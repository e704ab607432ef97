//! The `mxgate` command: see `mxgate --help` and [`mxgate::cli`].
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    mxgate::cli::run(mxgate::cli::Cli::parse())
}
