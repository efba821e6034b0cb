"""Drives a running nostrp2p relay with rust-nostr's Python bindings (nostr-sdk 0.45.1), an
implementation independent of ours: publish as the owner, subscribe, live delivery after EOSE,
filters, replaceable events, deletion, and a stranger's write refused with its reason.

Usage: nostr_sdk_client.py ws://127.0.0.1:PORT OWNER_NSEC
Prints one "PASS <check>" line per check; exits 1 at the first failure (run by
tests/it/clients.rs).
"""

import asyncio
import sys
from datetime import timedelta

import nostr_sdk as n

WAIT = timedelta(seconds=5)


def check(ok, what, detail=""):
    if not ok:
        print(f"FAIL {what} {detail}", flush=True)
        sys.exit(1)
    print(f"PASS {what}", flush=True)


async def client(url):
    c = n.Client()
    await c.add_relay(n.RelayUrl.parse(url))
    # `connect` returns before the socket is up; this waits for the first attempt.
    out = await c.try_connect(WAIT)
    check(len(out.success) == 1, "client connected", str(out))
    return c


async def fetch(c, flt):
    """The stored events matching flt, as a list (this version returns a list already)."""
    return list(await c.fetch_events(n.ReqTarget.auto([flt]), WAIT))


async def next_matching(stream, pred, what):
    """The next notification for which pred returns a value, within 5 s."""

    async def run():
        while True:
            note = await stream.next()
            if note is None:
                return None
            found = pred(note)
            if found is not None:
                return found

    try:
        return await asyncio.wait_for(run(), 5)
    except asyncio.TimeoutError:
        check(False, what, "(timed out)")


async def main(url, nsec):
    owner = n.Keys.parse(nsec)
    stranger = n.Keys.generate()
    me = owner.public_key()
    pub = await client(url)
    now = n.Timestamp.now().as_secs()

    # Publish as the owner: OK true from our relay.
    note = (
        n.EventBuilder(n.Kind(1), "hello from nostr-sdk")
        .tags([n.Tag.hashtag("py-filters")])
        .finalize(owner)
    )
    out = await pub.send_event(note)
    check(len(out.success) == 1 and not out.failed, "owner publish accepted", str(out))

    # A stranger's write is refused with the restricted: reason.
    bad = n.EventBuilder(n.Kind(1), "not the owner").finalize(stranger)
    out = await pub.send_event(bad)
    reasons = list(out.failed.values())
    check(
        not out.success and len(reasons) == 1 and reasons[0].startswith("restricted:"),
        "stranger refused with restricted:",
        str(out),
    )

    # Filters: by author + kind + hashtag finds the note; another hashtag finds nothing.
    found = await fetch(pub, n.Filter().author(me).kind(n.Kind(1)).hashtag("py-filters"))
    ids = [e.id().to_hex() for e in found]
    check(ids == [note.id().to_hex()], "filter by author, kind and #t", str(ids))
    none = await fetch(pub, n.Filter().kind(n.Kind(1)).hashtag("no-such-tag"))
    check(len(none) == 0, "non-matching filter finds nothing")
    by_id = await fetch(pub, n.Filter().id(note.id()))
    check(len(by_id) == 1, "filter by id")

    # Subscribe, wait for EOSE, then a live event arrives on the subscription.
    sub = await client(url)
    stream = sub.notifications()
    live_filter = n.Filter().kind(n.Kind(1)).hashtag("py-live")
    out = await sub.subscribe(n.ReqTarget.auto([live_filter]), "py-live")

    def eose(note_):
        if note_.is_message():
            msg = note_.message.as_enum()
            if msg.is_end_of_stored_events() and msg.subscription_id == "py-live":
                return True
        return None

    await next_matching(stream, eose, "EOSE on the subscription")
    check(True, "EOSE received")
    live = n.EventBuilder(n.Kind(1), "live from nostr-sdk").tags([n.Tag.hashtag("py-live")]).finalize(owner)
    out = await pub.send_event(live)
    check(len(out.success) == 1, "live event published")

    def new_event(note_):
        if note_.is_new_event() and note_.subscription_id == "py-live":
            return note_.event
        return None

    got = await next_matching(stream, new_event, "live event after EOSE")
    check(got.id().to_hex() == live.id().to_hex(), "live event delivered after EOSE")

    # Replaceable: two kind-0 versions, only the newer is served.
    v1 = (
        n.EventBuilder(n.Kind(0), '{"name":"py one"}')
        .custom_created_at(n.Timestamp.from_secs(now - 10))
        .finalize(owner)
    )
    v2 = (
        n.EventBuilder(n.Kind(0), '{"name":"py two"}')
        .custom_created_at(n.Timestamp.from_secs(now - 5))
        .finalize(owner)
    )
    for v in (v1, v2):
        out = await pub.send_event(v)
        check(len(out.success) == 1, f"metadata version published ({v.content()})")
    meta = await fetch(pub, n.Filter().author(me).kind(n.Kind(0)))
    check([e.id().to_hex() for e in meta] == [v2.id().to_hex()], "replaceable keeps the newest")

    # Deletion (NIP-09): the note is no longer served, the kind 5 is.
    deletion = (
        n.EventBuilder(n.Kind(5), "")
        .tags([n.Tag.event(note.id()), n.Tag.parse(["k", "1"])])
        .finalize(owner)
    )
    out = await pub.send_event(deletion)
    check(len(out.success) == 1, "deletion published")
    gone = await fetch(pub, n.Filter().id(note.id()))
    check(len(gone) == 0, "deleted note not served")
    kept = await fetch(pub, n.Filter().id(deletion.id()))
    check(len(kept) == 1, "deletion event served")

    await pub.shutdown()
    await sub.shutdown()
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
