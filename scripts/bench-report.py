"""Turns criterion's estimates and measured sizes into the tables of docs/benchmarks.md.

Each section sits between `<!-- BEGIN name -->` and `<!-- END name -->`; everything outside
the markers (the prose) is kept as written.
"""
import argparse
import datetime
import json
import pathlib
import platform
import re
import subprocess
import sys


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine():
    model = "?"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    cores = sh("nproc")
    mem = "?"
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 1048576:.0f} GiB"
    return f"{platform.machine()}, {model}, {cores} cores, {mem}"


LOAD = "?"


def header(quick, commit=None):
    """The line every section starts with. `commit` names the tree measured when it is not the
    working tree's HEAD (a clean export, or only other files uncommitted)."""
    dirty = ""
    if commit is None:
        commit = sh("git", "rev-parse", "--short", "HEAD")
        dirty = " (with uncommitted changes)" if sh("git", "status", "--porcelain", "--untracked-files=no") else ""
    date = datetime.date.today().isoformat()
    mode = "quick mode (short samples, figures indicative only)" if quick else "full run"
    return (
        f"Measured {date} on {machine()}; commit `{commit}`{dirty}; "
        f"{sh('rustc', '--version')}; {mode}; load average at start {LOAD} "
        f"(other jobs on the 2 cores skew absolute figures, not same-run ratios)."
    )


def estimate_ns(root, name):
    path = root / "event" / name / "new" / "estimates.json"
    data = json.loads(path.read_text())
    return data["median"]["point_estimate"]


def store_section(r, quick, commit=None):
    f, m = r["fjall"], r["memory"]
    n = r["events_stored"]
    lines = [header(quick, commit), "",
             f"{r['events_generated']:,} events generated, {n:,} stored after replacements and deletions; "
             f"JSON {r['json_bytes_per_event']:.0f} B/event, compact record {r['record_bytes_per_event']:.0f} B/event.", "",
             "| figure | fjall (SD-card tuning) | baseline: same engine in memory | ratio |", "|---|---|---|---|",
             f"| ingest, durable (64 per commit) | {f['ingest_per_sec']:,.0f} ev/s | {m['ingest_per_sec']:,.0f} ev/s "
             f"| {m['ingest_per_sec'] / f['ingest_per_sec']:.2f}× slower |"]
    for q in ["author", "kind", "p_tag", "recent"]:
        fq, mq = f["queries"][q], m["queries"][q]
        label = {"author": "`authors` (1 key)", "kind": "`kinds` (1 or 7)", "p_tag": "`#p` + kinds 1, 6, 7 (notifications)", "recent": "no condition (recent)"}[q]
        lines.append(f"| query {label}, limit 100, p50 / p99 | {fq['p50_us']:.0f} / {fq['p99_us']:.0f} µs "
                     f"| {mq['p50_us']:.0f} / {mq['p99_us']:.0f} µs | {fq['p50_us'] / max(mq['p50_us'], 0.001):.2f}× |")
    lines.append(f"| get by id | {f['queries']['get_by_id_us']:.1f} µs | {m['queries']['get_by_id_us']:.1f} µs "
                 f"| {f['queries']['get_by_id_us'] / max(m['queries']['get_by_id_us'], 0.001):.2f}× |")
    per = f["disk_bytes_per_event"]
    lines += ["", f"- bytes on disk per event, indexes and journal included: **{per:,.0f} B** (goal ≤ 600 B; "
              f"{f['disk_bytes']:,} B in all; fjall's journal is preallocated, so small stores are dominated by it)"]
    logical = f["logical_bytes"]
    if f.get("proc_io_write_bytes") is not None:
        lines.append(f"- bytes written per logical byte, `/proc/self/io`: **{f['proc_io_write_bytes'] / logical:.2f}×** (goal ≤ 3×)")
    if f.get("device_bytes_written") is not None:
        lines.append(f"- device sectors written per logical byte (`/sys/block`, includes the filesystem journal and "
                     f"any other writer on the device): {f['device_bytes_written'] / logical:.2f}×")
    i = r.get("inline")
    if i and i.get("proc_io_write_bytes") is not None:
        lines.append(f"- without key-value separation (records inline in the LSM tree): "
                     f"{i['proc_io_write_bytes'] / i['logical_bytes']:.2f}× written per logical byte, "
                     f"{i['disk_bytes'] / n:,.0f} B on disk per event, {i['ingest_per_sec']:,.0f} ev/s")
    t = r.get("trickle")
    if t:
        tl = t["logical_bytes"]
        parts = [f"{t['events']:,} events, one commit each: {t['commits_per_sec']:,.0f} commits/s"]
        if t.get("proc_io_write_bytes") is not None:
            parts.append(f"`/proc/self/io` {t['proc_io_write_bytes'] / tl:.1f}× logical")
        if t.get("device_bytes_written") is not None:
            parts.append(f"device {t['device_bytes_written'] / tl:.1f}× logical")
        lines.append("- trickle load (an idle home node): " + "; ".join(parts))
    for key, how in [("store_process_rss", "after a clean stop"),
                     ("store_process_rss_after_kill", "after its writer was killed at the end of the ingest (abort: no flush at close)")]:
        pr = r.get(key)
        if not (pr and pr.get("rss_after_queries")):
            continue
        mib = lambda b: f"{b / 1048576:.1f} MiB"
        extra = ""
        if pr.get("memtable_bytes") is not None:
            extra = (f"; recovery left {mib(pr['memtable_bytes'])} in memtables, "
                     f"{pr['journals']} journal file(s), {mib(pr['journal_bytes'])} long")
        lines.append(f"- RSS of a fresh process opening this store ({pr['events']:,} events) {how}: "
                     f"**{mib(pr['rss_opened'])} right after open** (peak {mib(pr.get('hwm_opened') or pr['rss_opened'])}, "
                     f"{mib(pr['rss_start'])} before open), {mib(pr['rss_after_queries'])} after 250 queries{extra} "
                     f"(the benchmark binary, not the daemon)")
    if r.get("rss_bytes_after"):
        lines.append(f"- RSS of the benchmark process after ingest and queries (both stores and the corpus in memory, "
                     f"so an upper bound): {r['rss_bytes_after'] / 1048576:.1f} MiB")
    return "\n".join(lines)


def replace_section(doc, name, body):
    pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
    if not pattern.search(doc):
        raise SystemExit(f"docs/benchmarks.md has no {name} markers")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), doc)


def mesh_section(r, quick, commit=None):
    """Figures of benches/mesh.rs (issue 6): one core, in process, the crate's public API.
    `commit` names the tree measured when it is not the working tree's HEAD (a clean export)."""
    k = lambda x: f"{x / 1000:,.0f} k/s"
    mbs = lambda x: f"{x:,.0f} MB/s"
    head = header(quick, commit)
    if r.get("cpu_share") is not None:
        head += (f" The benchmark's thread was on a core {100 * r['cpu_share']:.0f} % of its wall time "
                 f"(load average at its end {' '.join(r.get('loadavg_end', '?').split()[:3])}): times are medians "
                 "of batches of at most 1.5 ms, most of which no other job interrupted, so p50s hold and p99s "
                 "include waiting for the core.")
    lines = [head, "",
             "| per datagram, one core | seal (ours) | open (ours) | bare snow seal / open, same run | ours ÷ bare, seal / open |",
             "|---|---|---|---|---|"]
    for s in r["seal_open"]:
        lines.append(
            f"| {s['datagram_bytes']} B datagram ({s['plaintext_bytes']} B plaintext) "
            f"| {k(s['seal_per_s'])}, {mbs(s['seal_mb_s'])} | {k(s['open_per_s'])}, {mbs(s['open_mb_s'])} "
            f"| {k(s['bare_seal_per_s'])} / {k(s['bare_open_per_s'])} "
            f"| {s['seal_per_s'] / s['bare_seal_per_s']:.2f} / {s['open_per_s'] / s['bare_open_per_s']:.2f} |")
    lines.append("")
    for d in r["delivery"]:
        lines.append(
            f"- `MeshNode` → `MeshNode` (`send`, `poll_transmit`, `handle_datagram`, `poll_event`; both ends on "
            f"the one core), {d['message_bytes']} B messages in {d['datagram_bytes']} B datagrams: "
            f"**{k(d['messages_per_s'])}**, {mbs(d['mb_s'])} of payload")
    h, b = r["handshake"], r["big_message"]
    lines += ["",
              "| handshake and fragments | value |", "|---|---|",
              f"| full IX handshake, both sides on one core (connect, 4 datagrams, both up), p50 / p99 of {h['handshakes']:,} "
              f"| **{h['total_us_p50']:,.0f} µs / {h['total_us_p99']:,.0f} µs** |",
              f"| of which initiator / responder, p50 | {h['initiator_us_p50']:,.0f} µs / {h['responder_us_p50']:,.0f} µs |",
              f"| bare BIP-340 verify (one per side per handshake), same run | {h['bip340_verify_us']:,.1f} µs |",
              f"| node start-up, which signs the binding once (`MeshNode::new`), p50 | {h['node_start_us_p50']:,.0f} µs |",
              f"| {b['message_bytes'] // 1024} KiB message end to end ({b['datagrams']} datagrams: fragment, seal, open, reassemble), p50 "
              f"| {b['end_to_end_us_p50']:,.0f} µs |",
              f"| of which cutting into frames and reassembling (no crypto), p50 | {b['fragment_reassembly_us_p50']:,.0f} µs |"]
    m = r["memory"]
    lines += ["",
              "| memory (counting allocator, `daemon::heap`) | measured | goal |", "|---|---|---|",
              f"| heap per established session, hub with {m['sessions']} sessions (session map entry with both key sets, "
              f"index map, snow's keys, B-tree slack; `size_of` of the entry is in docs/wire.md \"Memory per session\") "
              f"| **{m['heap_per_session_bytes']:,.0f} B** | ≤ 2 KiB |",
              f"| heap per address-book entry: the book's one allocation of `ADDRESS_BOOK_MAX` entries, made when the "
              f"overlay is built, ÷ that cap ({m['book_entries_fed']:,} fed, {m['book_entries_held']:,} kept, nothing "
              f"allocated while filling); `size_of` key + `BookEntry` = {m['size_of_book_entry']} B | **{m['heap_per_book_entry_bytes']:,.0f} B** | ≤ 128 B |",
              f"| inline: `size_of::<MeshNode>()` / `size_of::<Overlay>()` (the overlay holds the node) "
              f"| {m['size_of_mesh_node']:,} B / {m['size_of_overlay']:,} B | |"]
    f = r["forged"]
    rate = f"{r['flood_rate']:,.0f}"
    lines += ["",
              f"| forged datagram at the responder | ns per datagram | one core's share at {rate}/s |", "|---|---|---|"]
    for key, label in [("garbage", f"garbage ({f['initiation_bytes']} random bytes)"),
                       ("bad_mac1", "initiation with a wrong `mac1`"),
                       ("cookie_reply", "initiation with a right `mac1`, under load: answered by a cookie reply"),
                       ("full_handshake", "initiation processed in full (DHs, BIP-340 binding, response) with every limit raised")]:
        pct = f[key + "_cpu_pct"]
        share = f"{pct:.2f} %" if pct < 100 else f"{pct:,.0f} % ({pct / 100:.1f} cores)"
        lines.append(f"| {label} | {f[key + '_ns']:,.0f} ns | {share} |")
    lines += ["", "The last row is what the defences keep away: with the default limits a flood of valid "
              "initiations puts the node under load within 32 of them (`UNDER_LOAD_PER_SECOND`), after which "
              "each costs the cookie-reply row; one whose `mac2` holds (the attacker reads cookies at its own "
              "address) still meets the per-source rate (20/s) and the 64-entry handshake table."]
    return "\n".join(lines)


def section_only(name, render):
    """`bench-report.py --NAME-only FILE --doc DOC [--load L] [--quick 1] [--commit C]`: writes
    the NAME section alone from a bench's JSON line, leaving every other section as it is."""
    ap = argparse.ArgumentParser()
    ap.add_argument(f"--{name}-only", dest="json", type=pathlib.Path, required=True)
    ap.add_argument("--doc", type=pathlib.Path, required=True)
    ap.add_argument("--load", default="?")
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--commit", help="the commit measured, when it is not the working tree's HEAD")
    a = ap.parse_args()
    global LOAD
    LOAD = a.load
    r = json.loads(a.json.read_text())
    a.doc.write_text(replace_section(a.doc.read_text(), name, render(r, a.quick, a.commit)))
    print(f"docs updated: {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--criterion", type=pathlib.Path, required=True)
    ap.add_argument("--binary-size", type=int, required=True)
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--doc", type=pathlib.Path, required=True)
    ap.add_argument("--store", type=pathlib.Path)
    ap.add_argument("--load", default="?")
    ap.add_argument("--cross-sizes", type=pathlib.Path)
    ap.add_argument("--mesh", type=pathlib.Path)
    a = ap.parse_args()
    global LOAD
    LOAD = a.load

    ns = {n: estimate_ns(a.criterion, n) for n in [
        "id", "verify", "parse_json", "to_json", "parse_and_verify",
        "baseline_secp256k1_verify", "baseline_sha256", "baseline_serde_json_value"]}
    us = lambda n: f"{ns[n] / 1000:.2f} µs"
    rows = [
        ("event id (canonical serialization + SHA-256)", "id", "baseline_sha256", "SHA-256 of the same bytes alone"),
        ("verify (id recomputed + BIP-340)", "verify", "baseline_secp256k1_verify", "bare `secp256k1` BIP-340 verify"),
        ("JSON parse with limits", "parse_json", "baseline_serde_json_value", "serde_json into a generic `Value`"),
        ("JSON out (canonical)", "to_json", None, ""),
        ("parse + verify (what arrival costs)", "parse_and_verify", "baseline_secp256k1_verify", "bare BIP-340 verify"),
    ]
    lines = [header(a.quick), "",
             "| per event (≈500 B kind-1 JSON) | median | baseline (same run) | ratio |",
             "|---|---|---|---|"]
    for label, n, base, base_label in rows:
        if base:
            lines.append(f"| {label} | {us(n)} | {base_label}: {us(base)} | {ns[n] / ns[base]:.2f}× |")
        else:
            lines.append(f"| {label} | {us(n)} | — | — |")
    rate = 1e9 / ns["parse_and_verify"]
    lines += ["", f"**Verification rate on one core: {rate:,.0f} events/s** (parse + id + BIP-340; "
              "the bound later ingest figures are compared with)."]
    doc = a.doc.read_text()
    doc = replace_section(doc, "nostr-core", "\n".join(lines))
    size = a.binary_size
    doc = replace_section(doc, "binary-size", "\n".join([
        header(a.quick), "",
        "| target | profile | stripped size | goal |", "|---|---|---|---|",
        f"| x86_64-unknown-linux-gnu | release (`opt-level = \"s\"`, fat LTO, 1 CGU, `panic = \"abort\"`) "
        f"| {size:,} B ({size / 1048576:.2f} MiB) | ≤ 5 MB |"]
        + [f"| {t} | release | {int(b):,} B ({int(b) / 1048576:.2f} MiB) | ≤ 5 MB |"
           for t, b in (l.split() for l in (a.cross_sizes.read_text().splitlines() if a.cross_sizes else []) if l.strip())]))
    if a.store:
        doc = replace_section(doc, "store", store_section(json.loads(a.store.read_text()), a.quick))
    if a.mesh:
        doc = replace_section(doc, "mesh", mesh_section(json.loads(a.mesh.read_text()), a.quick))
    a.doc.write_text(doc)
    print(f"docs updated: verify rate {rate:,.0f}/s, binary {size:,} B")


if __name__ == "__main__":
    if any(arg.startswith("--mesh-only") for arg in sys.argv[1:]):
        section_only("mesh", mesh_section)
    elif any(arg.startswith("--store-only") for arg in sys.argv[1:]):
        section_only("store", store_section)
    else:
        main()
