//! The README stays true to the code: its config table is generated from `config::Key`.

use std::path::PathBuf;

#[test]
fn readme_config_table_matches_the_code() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README.md");
    let table = nostrp2p::config::markdown_table();
    assert!(
        readme.contains(&table),
        "README.md's config table differs from config::markdown_table(); paste this:\n{table}"
    );
}

#[test]
fn readme_starts_with_the_two_commands() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README.md");
    let head: String = readme.lines().take(12).collect::<Vec<_>>().join("\n");
    assert!(head.contains("cargo run --release -- server"), "{head}");
    assert!(head.contains("scripts/test"), "{head}");
}
