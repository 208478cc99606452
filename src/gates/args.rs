//! Command-line arguments of `shipwatch gate`.

#[derive(Debug, Clone, clap::Args)]
pub struct GateArgs {
    /// Which gate to run.
    #[arg(value_name = "GATE")]
    pub gate: Option<String>,
    /// Print each tool's version and location, then exit.
    #[arg(long)]
    pub check_tools: bool,
}
