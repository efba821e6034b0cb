//! `GET /metrics`: every numeric leaf of the `/status` document as a Prometheus gauge named
//! `nostrp2p_<path>` (object keys joined by `_`, anything outside `[a-zA-Z0-9_]` made `_`),
//! each with `# HELP` and `# TYPE` lines (text exposition format 0.0.4). Booleans become 0/1;
//! strings and arrays are left out. One source for both, so they never disagree.

use std::fmt::Write;

use serde_json::Value;

use super::super::reply::{PROMETHEUS, Reply};

/// Deepest nesting followed: the status document is three levels deep; a bound keeps a
/// mistaken self-referencing document from recursing far.
const MAX_DEPTH: usize = 8;

/// Answers with the gauges of `status`.
#[must_use]
pub fn handle(status: Option<&Value>) -> Reply {
    match status {
        Some(value) => Reply::new(200, PROMETHEUS, render(value).into_bytes()),
        None => Reply::error(500, "status unavailable"),
    }
}

/// The exposition text of `status`.
#[must_use]
pub fn render(status: &Value) -> String {
    let mut out = String::new();
    walk(&mut out, "nostrp2p", "", status, 0);
    out
}

fn walk(out: &mut String, name: &str, path: &str, value: &Value, depth: usize) {
    let number = match value {
        Value::Object(map) if depth < MAX_DEPTH => {
            for (key, v) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(
                    out,
                    &format!("{name}_{}", sanitize(key)),
                    &child_path,
                    v,
                    depth + 1,
                );
            }
            return;
        }
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => u8::from(*b).to_string(),
        _ => return,
    };
    let _ = writeln!(out, "# HELP {name} /status field {path}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {number}");
}

fn sanitize(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]

    use super::*;

    #[test]
    fn numeric_leaves_become_gauges() {
        let status = serde_json::json!({
            "version": "0.1.0",
            "threads": 8,
            "writable": true,
            "store": { "events": 12, "disk-bytes": 4096 },
            "http": { "bounds": { "attached_max": 3 } },
            "list": [1, 2],
            "nothing": null,
        });
        let text = render(&status);
        assert!(text.contains("# HELP nostrp2p_threads /status field threads\n"));
        assert!(text.contains("# TYPE nostrp2p_threads gauge\nnostrp2p_threads 8\n"));
        assert!(text.contains("nostrp2p_store_events 12\n"));
        assert!(text.contains("nostrp2p_store_disk_bytes 4096\n"));
        assert!(text.contains("nostrp2p_http_bounds_attached_max 3\n"));
        assert!(text.contains("nostrp2p_writable 1\n"));
        assert!(!text.contains("version"));
        assert!(!text.contains("list"));
        // Every sample line has its HELP and TYPE lines.
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(
            text.lines().filter(|l| l.starts_with("# TYPE")).count(),
            samples
        );
    }
}
