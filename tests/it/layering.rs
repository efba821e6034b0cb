//! The layering a workspace would enforce, checked by reading the sources (ARCHITECTURE.md
//! "Package and modules"): which module may `use crate::…` what, and what the sans-IO cores may
//! never name. Failures print `file:line`.

use std::fs;
use std::path::{Path, PathBuf};

/// Module (path under src/) → the crate modules it may use. Anything else is forbidden.
const ARROWS: &[(&str, &[&str])] = &[
    ("nostr", &["nostr"]),
    ("limits.rs", &["nostr"]),
    ("ring.rs", &["nostr", "limits"]),
    ("store", &["store", "nostr", "limits"]),
    ("mesh", &["mesh", "nostr", "limits"]),
    (
        "gossip",
        &["gossip", "mesh", "ring", "store", "nostr", "limits"],
    ),
    (
        "node.rs",
        &["gossip", "mesh", "ring", "store", "nostr", "limits"],
    ),
    ("config", &["config", "nostr", "limits"]),
    (
        "sim",
        &[
            "sim", "node", "store", "mesh", "gossip", "ring", "nostr", "limits",
        ],
    ),
    (
        "api",
        &["api", "node", "store", "config", "nostr", "limits"],
    ),
    (
        "daemon",
        &[
            "daemon", "api", "node", "store", "config", "nostr", "limits", "ring", "mesh", "gossip",
        ],
    ),
];

/// Sans-IO modules: no runtime, sockets, clocks, files or OS randomness.
const SANS_IO: &[&str] = &["nostr", "ring.rs", "mesh", "gossip", "node.rs", "sim"];
const SANS_IO_BANNED: &[&str] = &[
    "tokio",
    "UdpSocket",
    "TcpStream",
    "TcpListener",
    "std::fs",
    "Instant::now",
    "SystemTime::now",
    "getrandom",
    "OsRng",
    "thread_rng",
];

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code lines of a file with 1-based numbers: comment lines skipped, and everything from a
/// `#[cfg(test)]` line on (unit tests sit at the bottom and may read vector files).
/// A file named `tests.rs` is all test code and yields nothing.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return Vec::new();
    }
    all_lines(path)
        .into_iter()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .collect()
}

/// Every non-comment line of a file, test code included.
fn all_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_owned()))
        .collect()
}

fn files_of(module: &str) -> Vec<PathBuf> {
    let path = src().join(module);
    let mut files = Vec::new();
    if path.is_dir() {
        rust_files(&path, &mut files);
    } else if path.exists() {
        files.push(path);
    } else if let Some(stem) = module.strip_suffix(".rs") {
        rust_files(&src().join(stem), &mut files);
    }
    let flat = src().join(format!("{module}.rs"));
    if flat.exists() {
        files.push(flat);
    }
    files
}

#[test]
fn modules_use_only_what_their_arrows_allow() {
    let mut violations = Vec::new();
    for (module, allowed) in ARROWS {
        for file in files_of(module) {
            for (n, line) in code_lines(&file) {
                for (pos, _) in line.match_indices("crate::") {
                    let rest = &line[pos + "crate::".len()..];
                    let target: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !target.is_empty() && !allowed.contains(&target.as_str()) {
                        violations.push(format!(
                            "{}:{n}: {module} uses crate::{target}",
                            file.display()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn sans_io_cores_name_no_runtime_socket_clock_file_or_entropy() {
    let mut violations = Vec::new();
    let mut checked = 0;
    for module in SANS_IO {
        for file in files_of(module) {
            checked += 1;
            for (n, line) in code_lines(&file) {
                for banned in SANS_IO_BANNED {
                    if line.contains(banned) {
                        violations.push(format!("{}:{n}: names {banned}", file.display()));
                    }
                }
            }
        }
    }
    assert!(
        checked > 0,
        "no sans-IO file found: the test checks nothing"
    );
    assert!(
        violations.is_empty(),
        "sans-IO violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn clippy_bans_are_lifted_only_in_the_shell() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(src())
            .expect("under src")
            .to_string_lossy()
            .into_owned();
        let shell = rel.starts_with("daemon/") || rel == "cli.rs";
        for (n, line) in code_lines(file) {
            if !shell && line.contains("clippy::disallowed_") {
                violations.push(format!(
                    "src/{rel}:{n}: allows a clippy ban outside the shell"
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn no_bare_matches_statements() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let lines = all_lines(file);
        // A `matches!(..)` whose value is thrown away: the expression starts a line and the
        // statement it forms ends in `;` (a tail expression or an argument does not).
        for (i, (n, line)) in lines.iter().enumerate() {
            if !line.trim_start().starts_with("matches!(") {
                continue;
            }
            let mut depth = 0i32;
            let mut end = None;
            'scan: for (_, l) in &lines[i..] {
                for (pos, c) in l.char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(l[pos + 1..].trim_start().to_owned());
                                break 'scan;
                            }
                        }
                        _ => {}
                    }
                }
            }
            if end.is_some_and(|rest| rest.starts_with(';')) {
                violations.push(format!(
                    "{}:{n}: a bare matches! asserts nothing",
                    file.display()
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
