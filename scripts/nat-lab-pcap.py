#!/usr/bin/env python3
"""Checks a packet capture of the NAT lab's "internet" (scripts/nat-lab --quick) for plaintext.

    scripts/nat-lab-pcap.py CAPTURE.pcap [--forbid LABEL=HEX]... [--initiator-key LABEL=HEX]...
                            [--forbid-flow SRC>DST:LABEL=HEX]... [--tls SERVER_IP:PORT]...

Asserts, on every IPv4 packet of the capture (classic pcap, Ethernet or Linux cooked):

- every UDP payload is one well-formed mesh datagram (docs/wire.md "The header"): version 1,
  a known type, zero flags and reserved bytes, its type's exact length, the header fields its
  type fixes;
- transport data looks random: no body holds a run of RUN_MAX identical bytes (a plaintext
  entry's 12 zero bytes, a zero-padded field or ASCII would), and the nibble histogram of all
  transport bodies together passes a chi-square test (at most CHI2_MAX over 15 degrees of
  freedom, on at least CHI2_MIN_BYTES bytes);
- the TCP payloads to and from each --tls server are TLS records (content type 20..23, version
  3.x, length within TLS's bound), with application data among them;
- --forbid markers appear in no UDP or TCP payload at all (the network id; later gossip adds
  event content here);
- --initiator-key markers (a node key) appear only where Noise IX puts them in clear: the
  handshake payload's node_id of a handshake initiation (offset 81), and nowhere else;
- --forbid-flow markers appear in no payload from SRC to DST (the introducer's datagrams to
  one home must not show the other home's public mapping in any encoding).

Prints what it found and what an observer learns; exits 1 on any failed check.

    scripts/nat-lab-pcap.py --self-test

checks the checker: synthetic captures of random transport pass, and one with a plaintext
membership entry, a node key outside an initiation or a datagram that is not ours fail.
"""

import argparse
import collections
import math
import os
import struct
import subprocess
import sys
import tempfile

# docs/wire.md: header, types and their exact lengths.
HEADER_LEN = 16
INITIATION, RESPONSE, COOKIE, TRANSPORT = 0x11, 0x12, 0x13, 0x14
HANDSHAKE_LEN = 234
COOKIE_LEN = 48
TRANSPORT_MIN, MAX_DATAGRAM = 33, 1200
# Where an initiation carries the initiator's node key in clear: header 16, e 32, s 32, then
# the payload's version byte.
INITIATION_NODE_ID_AT = 16 + 32 + 32 + 1

# A random body holds a run of 8 equal bytes with probability ≈ n · 256⁻⁷: never here.
RUN_MAX = 8
# Chi-square of the nibble histogram (each byte gives its high and its low nibble: 16 values,
# 15 degrees of freedom, mean 15, sd 5.5) over all transport bodies together. A quick run
# captures only a few hundred bytes of them (≈ 30 datagrams), too few for 256 byte values, but
# plenty for 16 nibble values. P(chi-square > 70) < 5e-9 for random bytes; a plaintext
# membership entry alone (53 bytes) scores ≈ 670.
CHI2_MAX = 70.0
# Below this many bytes some nibble values expect fewer than 32 counts.
CHI2_MIN_BYTES = 256

# TLS record layer (RFC 8446 §5.1): change_cipher_spec, alert, handshake, application_data.
TLS_TYPES = {20, 21, 22, 23}
TLS_APPLICATION_DATA = 23
TLS_MAX_RECORD = 2**14 + 256


def packets(path):
    """Yields (src, dst, proto, sport, dport, seq, flags, payload) of each IPv4 UDP/TCP packet."""
    data = open(path, "rb").read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise SystemExit(f"{path}: not a classic pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0xFFFF
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[off + 8 : off + 12])[0]
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        if linktype == 1:  # Ethernet
            if len(frame) < 14 or frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
        elif linktype == 113:  # Linux cooked (tcpdump -i any)
            if len(frame) < 16 or frame[14:16] != b"\x08\x00":
                continue
            ip = frame[16:]
        else:
            raise SystemExit(f"{path}: link type {linktype} not handled")
        if len(ip) < 20 or ip[0] >> 4 != 4:
            continue
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        ip = ip[:total]
        proto = ip[9]
        src = ".".join(map(str, ip[12:16]))
        dst = ".".join(map(str, ip[16:20]))
        l4 = ip[ihl:]
        if proto == 17 and len(l4) >= 8:
            sport, dport = struct.unpack(">HH", l4[:4])
            yield src, dst, "udp", sport, dport, 0, 0, l4[8:]
        elif proto == 6 and len(l4) >= 20:
            sport, dport, seq = struct.unpack(">HHI", l4[:8])
            doff = (l4[12] >> 4) * 4
            yield src, dst, "tcp", sport, dport, seq, l4[13], l4[doff:]


def datagram_error(d):
    """Why `d` is not a well-formed mesh datagram, or None."""
    if len(d) < HEADER_LEN or len(d) > MAX_DATAGRAM:
        return f"length {len(d)}"
    kind, flags, reserved = d[0], d[1], d[2:4]
    index, counter = struct.unpack("<IQ", d[4:16])
    if flags != 0 or reserved != b"\0\0":
        return "nonzero flags or reserved bytes"
    if kind == INITIATION:
        if len(d) != HANDSHAKE_LEN or index != 0 or counter != 0 or d[80] != 1:
            return "bad initiation"
    elif kind == RESPONSE:
        if len(d) != HANDSHAKE_LEN or index == 0 or counter != 0:
            return "bad response"
    elif kind == COOKIE:
        if len(d) != COOKIE_LEN or index == 0:
            return "bad cookie reply"
    elif kind == TRANSPORT:
        if len(d) < TRANSPORT_MIN or index == 0:
            return "bad transport"
    else:
        return f"type byte {kind:#04x}"
    return None


def longest_run(b):
    best = run = 0
    prev = None
    for x in b:
        run = run + 1 if x == prev else 1
        prev = x
        best = max(best, run)
    return best


def nibble_chi2(b):
    counts = [0] * 16
    for x in b:
        counts[x >> 4] += 1
        counts[x & 0x0F] += 1
    expect = 2 * len(b) / 16
    return sum((c - expect) ** 2 / expect for c in counts)


def occurrences(hay, needle):
    at, found = 0, []
    while True:
        at = hay.find(needle, at)
        if at < 0:
            return found
        found.append(at)
        at += 1


def marker(spec):
    label, _, hexs = spec.rpartition("=")
    if not label:
        raise argparse.ArgumentTypeError(f"{spec}: want LABEL=HEX")
    return label, bytes.fromhex(hexs)


def flow_marker(spec):
    flow, _, rest = spec.partition(":")
    src, _, dst = flow.partition(">")
    label, value = marker(rest)
    return src, dst, label, value


def tls_records(stream):
    """Parses TLS records off one direction's bytes; returns (types, error or None)."""
    types, at = [], 0
    while at + 5 <= len(stream):
        ctype, major, minor, length = stream[at], stream[at + 1], stream[at + 2], struct.unpack(">H", stream[at + 3 : at + 5])[0]
        if ctype not in TLS_TYPES or major != 3 or minor > 4 or length > TLS_MAX_RECORD:
            return types, f"no TLS record at byte {at}: {stream[at:at + 5].hex()}"
        types.append(ctype)
        at += 5 + length
    # A capture may end inside a record; anything else left over is a partial header.
    return types, None


def tcp_streams(segments):
    """Reassembles each direction's bytes from (seq, flags, payload), in order, from the SYN."""
    out = {}
    for key, segs in segments.items():
        syn = [seq for seq, flags, _ in segs if flags & 0x02]
        if not syn:
            out[key] = (None, "no SYN captured")
            continue
        expected = (syn[0] + 1) & 0xFFFFFFFF
        pending = {seq: p for seq, _, p in segs if p}
        stream = bytearray()
        while expected in pending:
            p = pending.pop(expected)
            stream += p
            expected = (expected + len(p)) & 0xFFFFFFFF
        # Retransmissions of bytes already taken are dropped; anything else is a gap.
        gap = [s for s in pending if (s - expected) & 0xFFFFFFFF < 2**31]
        out[key] = (bytes(stream), f"gap at {expected}" if gap else None)
    return out


def synthetic_pcap(path, payloads):
    """Writes a classic Ethernet pcap of UDP datagrams (src, dst, payload), port 20000 both ends."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for src, dst, payload in payloads:
            udp = struct.pack(">HHHH", 20000, 20000, 8 + len(payload), 0) + payload
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                             bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))) + udp
            frame = bytes(12) + b"\x08\x00" + ip
            f.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)


def self_test():
    i, b = "203.0.113.254", "203.0.113.2"
    key = bytes([0xAA]) * 32
    entry = key + b"\x04\xcb\x00\x71\x01" + bytes(12) + b"\x4e\x20"
    header = b"\x14\x00\x00\x00" + struct.pack("<IQ", 7, 1)
    random_transport = (i, b, header + os.urandom(400))
    args = ["--forbid-flow", f"{i}>{b}:A's mapping=04cb0071010000000000000000000000004e20",
            "--initiator-key", f"key={key.hex()}"]
    cases = {
        "random transport": ([random_transport], 0),
        "a plaintext PunchNotify": ([random_transport, (i, b, header + b"\x01\xb9" + entry + os.urandom(16))], 1),
        "a node key in a transport": ([random_transport, (i, b, header + os.urandom(20) + key + os.urandom(20))], 1),
        "a datagram that is not ours": ([random_transport, (i, b, b"hello, this is plaintext")], 1),
    }
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (payloads, want) in cases.items():
            path = os.path.join(tmp, "t.pcap")
            synthetic_pcap(path, payloads)
            got = subprocess.run([sys.executable, __file__, path, *args], capture_output=True).returncode
            print(f"self-test: {name}: exit {got}, want {want}")
            bad += got != want
    return 1 if bad else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pcap")
    ap.add_argument("--forbid", type=marker, action="append", default=[])
    ap.add_argument("--initiator-key", type=marker, action="append", default=[])
    ap.add_argument("--forbid-flow", type=flow_marker, action="append", default=[])
    ap.add_argument("--tls", action="append", default=[], help="SERVER_IP:PORT of a TLS link")
    args = ap.parse_args()

    fails = []
    kinds = collections.Counter()
    bodies = bytearray()
    clear_keys = collections.Counter()
    flow_payloads = collections.Counter()
    tcp = collections.defaultdict(list)
    tls_servers = {(h, int(p)) for h, _, p in (t.rpartition(":") for t in args.tls)}
    n_udp = n_tcp = 0
    for src, dst, proto, sport, dport, seq, flags, payload in packets(args.pcap):
        if proto == "udp":
            n_udp += 1
            err = datagram_error(payload)
            if err:
                fails.append(f"UDP {src}:{sport} > {dst}:{dport}: not a mesh datagram ({err}): {payload[:16].hex()}")
                continue
            kinds[payload[0]] += 1
            if payload[0] == TRANSPORT:
                body = payload[HEADER_LEN:]
                if longest_run(body) >= RUN_MAX:
                    fails.append(f"transport {src} > {dst}: a run of {longest_run(body)} equal bytes: {body.hex()}")
                bodies += body
        else:
            n_tcp += 1
            if (dst, dport) in tls_servers or (src, sport) in tls_servers:
                tcp[(src, sport, dst, dport)].append((seq, flags, payload))
        if not payload:
            continue
        for label, value in args.forbid:
            if value in payload:
                fails.append(f"{label} in a {proto} payload {src} > {dst}")
        for fsrc, fdst, label, value in args.forbid_flow:
            if src == fsrc and dst == fdst:
                flow_payloads[label] += 1
                if value in payload:
                    fails.append(f"{label} in a {proto} payload {src} > {dst}")
        for label, value in args.initiator_key:
            for at in occurrences(payload, value):
                if proto == "udp" and payload[0] == INITIATION and at == INITIATION_NODE_ID_AT:
                    clear_keys[label] += 1
                else:
                    fails.append(f"{label} at byte {at} of a {proto} payload {src} > {dst} (type {payload[0]:#04x})")

    names = {INITIATION: "initiation", RESPONSE: "response", COOKIE: "cookie reply", TRANSPORT: "transport"}
    print(f"pcap: {n_udp} UDP datagrams (" + ", ".join(f"{kinds[k]} {names[k]}" for k in sorted(kinds)) + f"), {n_tcp} TCP segments")
    if len(bodies) >= CHI2_MIN_BYTES:
        score = nibble_chi2(bodies)
        print(f"pcap: transport bodies {len(bodies)} bytes, nibble chi-square {score:.1f} (15 dof, limit {CHI2_MAX:.0f})")
        if score > CHI2_MAX:
            fails.append(f"transport bodies are not random: chi-square {score:.0f} > {CHI2_MAX:.0f}")
    else:
        fails.append(f"only {len(bodies)} bytes of transport bodies captured (< {CHI2_MIN_BYTES}): nothing to test")
    for label, _ in args.initiator_key:
        print(f"pcap: {label} in clear only as an initiation's node_id ({clear_keys[label]} initiations)")
    for label, _ in args.forbid:
        print(f"pcap: {label}: checked, in no payload" if not any(label in f for f in fails) else f"pcap: {label}: FOUND")
    for fsrc, fdst, label, _ in args.forbid_flow:
        print(f"pcap: {label}: in none of the {flow_payloads[label]} payloads {fsrc} > {fdst}" if not any(label in f for f in fails) else f"pcap: {label}: FOUND")
        if flow_payloads[label] == 0:
            fails.append(f"no payload {fsrc} > {fdst} captured: the check of {label} tests nothing")
    if tls_servers:
        streams = tcp_streams(tcp)
        if not streams:
            fails.append("no TCP to the TLS server captured")
        app = 0
        for (src, sport, dst, dport), (stream, err) in sorted(streams.items()):
            if stream is None:
                fails.append(f"TCP {src}:{sport} > {dst}:{dport}: {err}")
                continue
            types, perr = tls_records(stream)
            app += types.count(TLS_APPLICATION_DATA)
            print(f"pcap: TCP {src}:{sport} > {dst}:{dport}: {len(stream)} bytes, {len(types)} TLS records (types {sorted(set(types))})")
            for e in (err, perr):
                if e:
                    fails.append(f"TCP {src}:{sport} > {dst}:{dport}: {e}")
            if stream and stream[0] != 22:
                fails.append(f"TCP {src}:{sport} > {dst}:{dport}: does not open with a TLS handshake record")
        if app == 0:
            fails.append("no TLS application data on the TLS links")
    for f in fails:
        print(f"FAIL: {f}", file=sys.stderr)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
