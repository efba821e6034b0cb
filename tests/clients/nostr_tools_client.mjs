// Drives a running nostrp2p relay with nostr-tools 2.25.2 over the `ws` package (Node 20 has no
// global WebSocket that nostr-tools picks up): publish as the owner, subscribe, stored events
// before EOSE and live ones after, filters, COUNT, replaceable events, deletion, and a
// stranger's write refused with its reason.
//
// Usage: NOSTR_TOOLS_DIR=<dir holding node_modules> node nostr_tools_client.mjs ws://HOST:PORT NSEC
// Prints one "PASS <check>" line per check; exits 1 at the first failure (run by
// tests/it/clients.rs).

import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(process.env.NOSTR_TOOLS_DIR ?? '.', 'node_modules', 'x.js'))
const { generateSecretKey, finalizeEvent, getPublicKey } = require('nostr-tools/pure')
const { Relay, useWebSocketImplementation } = require('nostr-tools/relay')
const nip19 = require('nostr-tools/nip19')
useWebSocketImplementation(require('ws'))

const [url, nsec] = process.argv.slice(2)

function check (ok, what, detail = '') {
  if (!ok) {
    console.log(`FAIL ${what} ${detail}`)
    process.exit(1)
  }
  console.log(`PASS ${what}`)
}

function withTimeout (promise, what, ms = 5000) {
  return Promise.race([
    promise,
    new Promise((resolve, reject) => setTimeout(() => reject(new Error(`${what}: timed out`)), ms))
  ])
}

// Stored events matching `filters`, collected up to EOSE.
function query (relay, filters) {
  return withTimeout(new Promise((resolve, reject) => {
    const events = []
    const sub = relay.subscribe(filters, {
      onevent: e => events.push(e),
      oneose: () => { resolve(events); sub.close() },
      onclose: reason => reject(new Error(`closed: ${reason}`))
    })
  }), 'query')
}

async function rejection (promise) {
  try {
    await promise
    return null
  } catch (e) {
    return String(e.message ?? e)
  }
}

const now = Math.floor(Date.now() / 1000)
const owner = nip19.decode(nsec).data
const me = getPublicKey(owner)
const stranger = generateSecretKey()
const sign = (sk, kind, content, tags = [], createdAt = now) =>
  finalizeEvent({ kind, created_at: createdAt, tags, content }, sk)

const relay = await withTimeout(Relay.connect(url), 'connect')
check(true, 'connected')

// Publish as the owner.
const note = sign(owner, 1, 'hello from nostr-tools', [['t', 'js-filters']], now - 20)
const reason = await withTimeout(relay.publish(note), 'publish')
check(reason === '', 'owner publish accepted', JSON.stringify(reason))

// A stranger is refused with the reason.
const refused = await rejection(withTimeout(relay.publish(sign(stranger, 1, 'not the owner')), 'stranger publish'))
check(refused !== null && refused.startsWith('restricted:'), 'stranger refused with restricted:', refused)

// Filters.
let got = await query(relay, [{ kinds: [1], authors: [me], '#t': ['js-filters'] }])
check(got.length === 1 && got[0].id === note.id, 'filter by kind, author and #t')
got = await query(relay, [{ ids: [note.id] }])
check(got.length === 1, 'filter by id')
got = await query(relay, [{ kinds: [1], since: now - 10 }])
check(got.length === 0, 'since excludes older events')
got = await query(relay, [{ kinds: [1], until: now - 20, since: now - 20 }])
check(got.length === 1, 'since/until inclusive')
const count = await withTimeout(relay.count([{ kinds: [1], authors: [me] }], {}), 'count')
check(count === 1, 'COUNT (NIP-45)', String(count))

// Subscribe: the stored note before EOSE, then a live one after it, on a second connection.
const listener = await withTimeout(Relay.connect(url), 'connect listener')
const seen = []
let eose = false
const live = sign(owner, 1, 'live from nostr-tools', [['t', 'js-filters']])
await withTimeout(new Promise((resolve, reject) => {
  listener.subscribe([{ kinds: [1], '#t': ['js-filters'] }], {
    onevent: e => {
      seen.push({ id: e.id, afterEose: eose })
      if (e.id === live.id) resolve()
    },
    oneose: () => {
      eose = true
      relay.publish(live).catch(reject)
    },
    onclose: r => reject(new Error(`closed: ${r}`))
  })
}), 'live delivery')
check(seen.length === 2 && seen[0].id === note.id && !seen[0].afterEose, 'stored event before EOSE')
check(seen[1].id === live.id && seen[1].afterEose, 'live event after EOSE')

// Replaceable: the newer kind 0 wins, an older one is refused as a duplicate.
await relay.publish(sign(owner, 0, '{"name":"js one"}', [], now - 10))
const v2 = sign(owner, 0, '{"name":"js two"}', [], now - 5)
await relay.publish(v2)
got = await query(relay, [{ kinds: [0], authors: [me] }])
check(got.length === 1 && got[0].id === v2.id, 'replaceable keeps the newest')
const older = await rejection(relay.publish(sign(owner, 0, '{"name":"js zero"}', [], now - 30)))
check(older !== null && older.startsWith('duplicate:'), 'older version refused as duplicate:', older)

// Deletion (NIP-09).
const deletion = sign(owner, 5, '', [['e', note.id], ['k', '1']])
check(await relay.publish(deletion) === '', 'deletion accepted')
got = await query(relay, [{ ids: [note.id] }])
check(got.length === 0, 'deleted note not served')
got = await query(relay, [{ kinds: [5], authors: [me] }])
check(got.length === 1 && got[0].id === deletion.id, 'deletion event served')

relay.close()
listener.close()
console.log('DONE')
process.exit(0)
