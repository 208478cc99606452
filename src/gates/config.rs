//! `[gates]` in shipwatch.toml: tool paths, policy thresholds and the allowlist file.

crate::config_section! {
    /// `[gates]`.
    pub struct GatesSection {
        /// Where gate outputs go (default `shipwatch-out/gates`).
        pub output_dir: std::path::PathBuf,
    }
}
