// Benchmark: WebRTC connections brokered per server CPU-second, skipmesh's signaling server against PeerJS's
// (`peer`), with the signals a real connection sends: an offer, an answer and each side's ICE candidates.
//   skipmesh          the skipmesh client's batched form: each side sends one signal, its description followed by
//                     its candidates ({ batch: [offer|answer, candidate × N] }), with an ack (the client awaits it)
//   skipmesh-noack    the batched form without acks (a client that does not ask for them; the skipmesh client does)
//   skipmesh-trickle  each side sends its description, then one signal per candidate (a client that signals every
//                     candidate the moment the ICE agent reports it), with acks
//   skipmesh-held     the skipmesh client with a signal hold (signalHoldMs 10, opt-in) in a browser behind NAT: the
//                     description and the host candidates in one signal, the srflx and the relay candidate each in
//                     one of its own (each waits for a STUN or TURN round trip, longer than the hold), with acks
//   peerjs            PeerJS's client with simple-peer's default trickle: OFFER / ANSWER, then one CANDIDATE message
//                     per candidate (no acks in its protocol)
// A connection is brokered when both sides received everything the other sent. Clients in rooms of 10, each
// initiating connections round-robin to the other peers of its room, 2 in flight per client; the responder answers
// on the first signal of a connection. Server CPU is the server child's user + system time over the brokering phase
// only (as in run.mjs). Bounded: BROKERED connections per scenario, 60 s per phase. Same client harness as run.mjs.
// Writes docs/benchmarks/signaling-brokered.{json,md}. Run: npm run bench (after run.mjs) or node bench/brokered.mjs.
// Quick look: BENCH_KINDS=skipmesh,peerjs BENCH_CLIENTS=1000 BENCH_REPS=1 prints the runs, writes nothing.
import { loadavg } from 'node:os'
import { generateKeyPair } from '@skipmesh/core'
import {
  alternate,
  cpuMs,
  inBatches,
  peerjsPeer,
  percentile,
  selection,
  skipmeshPeer,
  startServer,
  stopServer,
  writeDocuments,
} from './harness.mjs'

const ROOM_SIZE = 10
/** Connections each client keeps in flight as initiator. */
const IN_FLIGHT = 2
/** ICE candidates each side gathers (Chromium behind NAT with TURN: mDNS host UDP and TCP, srflx, relay). */
const CANDIDATES = 4
const TIMEOUT_MS = 60_000
const ALL_KINDS = [
  'skipmesh',
  'skipmesh-noack',
  'skipmesh-trickle',
  'skipmesh-trickle-acked',
  'skipmesh-held',
  'skipmesh-held-acked',
  'peerjs',
]
/**
 * Which messages of a side ask for an ack: `first` (the skipmesh client: the first signal of a session; the later
 * ones hear only of a refusal), `every` (the client before refusal-only signals, or with `ackEverySignal`), `none`.
 */
const ACKS = {
  skipmesh: 'first',
  'skipmesh-noack': 'none',
  'skipmesh-trickle': 'first',
  'skipmesh-trickle-acked': 'every',
  'skipmesh-held': 'first',
  'skipmesh-held-acked': 'every',
}
/** With the hold, the candidates that leave with the description: the host ones (mDNS UDP and TCP). */
const HELD_WITH_DESCRIPTION = 2
const {
  quick: QUICK,
  kinds: KINDS,
  scenarios: SCENARIOS,
  reps: REPS,
} = selection(ALL_KINDS, [
  { clients: 100, connections: 3_000 },
  { clients: 1000, connections: 6_000 },
])

/** A data-channel-only session description as Chromium writes it (the fingerprint differs per peer). */
const sdp = (type, ufrag) =>
  [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=extmap-allow-mixed',
    'a=msid-semantic: WMS',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    `a=ice-ufrag:${ufrag}`,
    'a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09:DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF',
    `a=setup:${type === 'offer' ? 'actpass' : 'active'}`,
    'a=mid:0',
    'a=sctp-port:5000',
    'a=max-message-size:262144',
    '',
  ].join('\r\n')

/** The candidates one side gathers, as `RTCIceCandidateInit`. */
const candidates = (ufrag) =>
  [
    `candidate:1467250027 1 udp 2122260223 3a1f6e2c-7d4b-4c1e-9f0a-2b8c5d6e7f80.local 54321 typ host generation 0 ufrag ${ufrag} network-id 1`,
    `candidate:1467250028 1 tcp 1518280447 3a1f6e2c-7d4b-4c1e-9f0a-2b8c5d6e7f80.local 9 typ host tcptype active generation 0 ufrag ${ufrag} network-id 1`,
    `candidate:842163049 1 udp 1686052607 203.0.113.7 54321 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag ${ufrag} network-id 1`,
    `candidate:3471623853 1 udp 41885439 198.51.100.20 61234 typ relay raddr 203.0.113.7 rport 54321 generation 0 ufrag ${ufrag} network-id 1`,
  ]
    .slice(0, CANDIDATES)
    .map((candidate) => ({ candidate, sdpMid: '0', sdpMLineIndex: 0 }))

/**
 * What each side of connection `key` sends, per server kind: `initiator` at once, `responder` on the first signal
 * of the connection. Each entry is one message through the server.
 */
const SEQUENCES = {
  skipmesh: (key) => ({
    initiator: [
      { batch: [{ type: 'offer', sdp: sdp('offer', 'EsAw') }, ...candidates('EsAw').map(asSignal)] },
    ],
    responder: [
      { batch: [{ type: 'answer', sdp: sdp('answer', 'Qx7p') }, ...candidates('Qx7p').map(asSignal)] },
    ],
    key,
  }),
  'skipmesh-noack': (key) => SEQUENCES.skipmesh(key),
  'skipmesh-trickle-acked': (key) => SEQUENCES['skipmesh-trickle'](key),
  'skipmesh-held-acked': (key) => SEQUENCES['skipmesh-held'](key),
  'skipmesh-trickle': (key) => ({
    initiator: [
      { batch: [{ type: 'offer', sdp: sdp('offer', 'EsAw') }] },
      ...candidates('EsAw').map((c) => ({ batch: [asSignal(c)] })),
    ],
    responder: [
      { batch: [{ type: 'answer', sdp: sdp('answer', 'Qx7p') }] },
      ...candidates('Qx7p').map((c) => ({ batch: [asSignal(c)] })),
    ],
    key,
  }),
  'skipmesh-held': (key) => {
    const side = (description, ufrag) => {
      const all = candidates(ufrag).map(asSignal)
      return [
        { batch: [description, ...all.slice(0, HELD_WITH_DESCRIPTION)] },
        ...all.slice(HELD_WITH_DESCRIPTION).map((c) => ({ batch: [c] })),
      ]
    }
    return {
      initiator: side({ type: 'offer', sdp: sdp('offer', 'EsAw') }, 'EsAw'),
      responder: side({ type: 'answer', sdp: sdp('answer', 'Qx7p') }, 'Qx7p'),
      key,
    }
  },
  peerjs: (key) => {
    const common = { type: 'data', connectionId: key }
    return {
      initiator: [
        [
          'OFFER',
          {
            ...common,
            sdp: { type: 'offer', sdp: sdp('offer', 'EsAw') },
            label: key,
            serialization: 'binary',
            reliable: false,
            browser: 'chrome',
          },
        ],
        ...candidates('EsAw').map((candidate) => ['CANDIDATE', { ...common, candidate }]),
      ],
      responder: [
        ['ANSWER', { ...common, sdp: { type: 'answer', sdp: sdp('answer', 'Qx7p') }, browser: 'chrome' }],
        ...candidates('Qx7p').map((candidate) => ['CANDIDATE', { ...common, candidate }]),
      ],
      key,
    }
  },
}

function asSignal(candidate) {
  return { type: 'candidate', candidate }
}

/** One client's way to send a message of a connection and to hear the messages of its connections. */
function transport(kind, peer, counts) {
  if (kind === 'peerjs') {
    return {
      send: (to, _key, [type, payload]) => peer.sendMessage(type, to, payload),
      onMessage: (fn) => peer.onMessage((_type, from, payload) => fn(from, payload.connectionId)),
    }
  }
  const onAck = (ack) => {
    if (!ack.ok) counts.refused++
  }
  const acks = ACKS[kind]
  return {
    // the index of the message within its side's sequence: 0 is the first signal of the session
    send: (to, key, data, index) =>
      peer.send(to, data, onAck, key, acks === 'every' || (acks === 'first' && index === 0)),
    onMessage: (fn) => peer.onSignal((from, _data, session) => fn(from, session)),
  }
}

/**
 * The brokering loop: each client initiates `floor(connections / clients)` connections round-robin to the other
 * peers of its room, {@link IN_FLIGHT} at a time; ends when all are brokered or after {@link TIMEOUT_MS}. Latency is
 * from the initiator's first message to the moment both sides have everything.
 */
async function broker(kind, peers, connections) {
  const clients = peers.length
  const counts = { refused: 0 }
  const byId = new Map(peers.map((p, i) => [p.id, i]))
  const room = (i) => Math.floor(i / ROOM_SIZE)
  const targets = peers.map((_, i) => peers.flatMap((_p, j) => (j !== i && room(j) === room(i) ? [j] : [])))
  const quota = Math.floor(connections / clients)
  const total = quota * clients
  const started = new Int32Array(clients)
  const latencies = new Float64Array(total)
  const open = new Map()
  const wires = peers.map((p) => transport(kind, p, counts))
  let brokered = 0
  let done
  const finished = new Promise((r) => {
    done = r
  })
  const next = (i) => {
    if (started[i] >= quota) return
    const n = started[i]++
    const to = targets[i][n % targets[i].length]
    const conn = SEQUENCES[kind](`c-${i}-${n}`)
    const state = { initiator: i, responder: to, t0: performance.now(), answered: false, got: [0, 0], conn }
    open.set(conn.key, state)
    for (const [index, m] of conn.initiator.entries()) wires[i].send(peers[to].id, conn.key, m, index)
  }
  const settle = (state) => {
    if (state.got[0] < state.conn.responder.length || state.got[1] < state.conn.initiator.length) return
    open.delete(state.conn.key)
    latencies[brokered++] = performance.now() - state.t0
    if (brokered === total) done()
    next(state.initiator)
  }
  wires.forEach((w, receiver) => {
    w.onMessage((from, key) => {
      const state = open.get(key)
      if (state === undefined) return
      if (receiver === state.responder) {
        state.got[1]++
        if (!state.answered) {
          state.answered = true
          const initiatorId = peers[state.initiator].id
          for (const [index, m] of state.conn.responder.entries()) w.send(initiatorId, key, m, index)
        }
      } else if (receiver === state.initiator && byId.get(from) === state.responder) {
        state.got[0]++
      }
      settle(state)
    })
  })
  const start = performance.now()
  for (let w = 0; w < IN_FLIGHT; w++) for (let i = 0; i < clients; i++) next(i)
  const timeout = setTimeout(() => done(), TIMEOUT_MS)
  await finished
  clearTimeout(timeout)
  const seconds = (performance.now() - start) / 1000
  // refusals answered by an ack, and those pushed for signals sent without one
  const refused = counts.refused + peers.reduce((n, p) => n + (p.refused?.() ?? 0), 0)
  return { total, brokered, refused, seconds, latencies: latencies.slice(0, brokered).sort() }
}

async function scenario(kind, { clients, connections }) {
  const { child, port } = await startServer(kind === 'peerjs' ? 'peerjs' : 'skipmesh')
  try {
    const keys = await generateKeyPair()
    const peers = await inBatches(clients, 50, (i) =>
      kind === 'peerjs'
        ? peerjsPeer(port)
        : skipmeshPeer(port, `room-${Math.floor(i / ROOM_SIZE)}`, keys, kind !== 'skipmesh-noack'),
    )
    const cpuBefore = await cpuMs(child)
    const { total, brokered, refused, seconds, latencies } = await broker(kind, peers, connections)
    const serverCpuMs = (await cpuMs(child)) - cpuBefore
    for (const p of peers) p.close()
    const sample = SEQUENCES[kind]('c-0-0')
    return {
      server: kind,
      clients,
      connections: total,
      brokered,
      refused,
      messagesPerConnection: sample.initiator.length + sample.responder.length,
      seconds: +seconds.toFixed(3),
      connectionsPerSecond: Math.round(brokered / seconds),
      p50Ms: +percentile(latencies, 50).toFixed(2),
      p99Ms: +percentile(latencies, 99).toFixed(2),
      serverCpuMs: Math.round(serverCpuMs),
      serverCpuUsPerConnection: +((serverCpuMs * 1000) / brokered).toFixed(1),
      connectionsPerCpuSecond: Math.round(brokered / (serverCpuMs / 1000)),
    }
  } finally {
    await stopServer(child)
  }
}

console.error('bench brokered: start')
// Two repetitions in alternating order (the machine is shared); the table keeps each server's run with the most
// connections per CPU-second, the JSON keeps every run.
const loadBefore = loadavg()
const runs = await alternate({ scenarios: SCENARIOS, kinds: KINDS, reps: REPS }, scenario)
if (QUICK) process.exit(0)
const best = (kind, clients) =>
  runs
    .filter((r) => r.server === kind && r.clients === clients)
    .reduce((a, b) => (b.connectionsPerCpuSecond > a.connectionsPerCpuSecond ? b : a))
const results = SCENARIOS.flatMap(({ clients }) => ALL_KINDS.map((kind) => best(kind, clients)))
const ratio = (a, b) => +(a / b).toFixed(2)
const ratios = SCENARIOS.map(({ clients }) => {
  const pick = (server) => results.find((r) => r.server === server && r.clients === clients)
  const p = pick('peerjs')
  const of = (x) => ({
    connectionsPerCpuSecond: ratio(x.connectionsPerCpuSecond, p.connectionsPerCpuSecond),
    connectionsPerSecond: ratio(x.connectionsPerSecond, p.connectionsPerSecond),
    p50: ratio(x.p50Ms, p.p50Ms),
  })
  return {
    clients,
    batched: of(pick('skipmesh')),
    noAck: of(pick('skipmesh-noack')),
    trickle: of(pick('skipmesh-trickle')),
    trickleAcked: of(pick('skipmesh-trickle-acked')),
    held: of(pick('skipmesh-held')),
    heldAcked: of(pick('skipmesh-held-acked')),
  }
})
const md = writeDocuments(
  'signaling-brokered',
  loadBefore,
  {
    method: {
      roomSize: ROOM_SIZE,
      inFlightPerClient: IN_FLIGHT,
      candidatesPerSide: CANDIDATES,
      clients: 'raw WebSocket clients in the benchmark process, each server in its own child process',
      skipmesh: 'one signal per side: { batch: [description, candidate x N] }, with ack; rate limit lifted',
      'skipmesh-noack': 'the same signals without acks',
      'skipmesh-trickle':
        'description (with ack), then one signal per candidate without ack (refusal-only); rate limit lifted',
      'skipmesh-trickle-acked': 'the same signals, each with ack (the client before refusal-only signals)',
      'skipmesh-held': `the client with signalHoldMs 10 behind NAT: { batch: [description, host candidate x ${HELD_WITH_DESCRIPTION}] } with ack, then one signal per later candidate without ack`,
      'skipmesh-held-acked': 'the same signals, each with ack',
      peerjs:
        'peer@1.0.2 PeerServer: OFFER / ANSWER, one CANDIDATE per candidate (simple-peer default trickle)',
    },
    results,
    ratios,
    runs,
  },
  (report) => {
    const rows = results.map(
      (r) =>
        `| ${r.server} | ${r.clients} | ${r.messagesPerConnection} | ${r.brokered} | ${r.connectionsPerCpuSecond} | ${r.serverCpuUsPerConnection} | ${r.connectionsPerSecond} | ${r.p50Ms} | ${r.p99Ms} |`,
    )
    const ratioRows = ratios.map(
      (x) =>
        `| ${x.clients} | ${x.batched.connectionsPerCpuSecond} (${x.noAck.connectionsPerCpuSecond}) | ${x.batched.connectionsPerSecond} (${x.noAck.connectionsPerSecond}) | ${x.held.connectionsPerCpuSecond} (${x.heldAcked.connectionsPerCpuSecond}) | ${x.held.connectionsPerSecond} (${x.heldAcked.connectionsPerSecond}) | ${x.trickle.connectionsPerCpuSecond} (${x.trickleAcked.connectionsPerCpuSecond}) | ${x.trickle.connectionsPerSecond} (${x.trickleAcked.connectionsPerSecond}) |`,
    )
    return `# Connections brokered per server CPU-second

Generated by \`npm run bench -w @skipmesh/signaling-server\` (\`bench/brokered.mjs\`) on ${report.date} (${report.machine.cpus} CPUs, ${report.machine.cpuModel}, Node ${report.machine.node}; load average ${report.machine.loadAverageBefore[0]} before, ${report.machine.loadAverageAfter[0]} after: the machine was shared, so treat absolute figures as noisy and the ratios as the result).

Each WebRTC connection is brokered with the signals a real one sends: an offer, an answer (data-channel-only SDP as
Chromium writes it, ~500 bytes) and ${CANDIDATES} ICE candidates per side (mDNS host UDP and TCP, srflx, relay). Clients
in rooms of ${ROOM_SIZE} each initiate connections round-robin to the other peers of their room, ${IN_FLIGHT} in flight
per client; the responder answers on the first signal of a connection; a connection is brokered when both sides
have everything the other sent. Server CPU is the server process's user + system time over the brokering phase
only; each server runs alone in a child process, the clients are raw WebSocket clients in the benchmark process.
Rows:

- \`skipmesh\`: the skipmesh client's batched form, one signal per side (\`{ batch: [description, candidate × ${CANDIDATES}] }\`),
  each acknowledged (the first signal of a session: the client awaits the ack, a refused signal fails the dial at
  once). The signaling server validates, checks identity and the room, and counts the rate limit (lifted for the
  run) on every signal.
- \`skipmesh-noack\`: the same signals without acks, to show what the ack costs.
- \`skipmesh-trickle\`: the same server with one signal per candidate after the description (${2 + 2 * CANDIDATES} signals per
  connection); the description is acknowledged, the candidates are not: the client's refusal-only signals (a later
  signal of a session hears only of a refusal, pushed as \`signal-refused\`). \`skipmesh-trickle-acked\`: the same
  signals, each acknowledged (the client before refusal-only signals, or with \`ackEverySignal\`).
- \`skipmesh-held\`: the skipmesh client with a signal hold (\`signalHoldMs\` 10 ms, opt-in) in a browser behind NAT:
  the description and the ${HELD_WITH_DESCRIPTION} host candidates (gathered within the hold) in one signal, then the srflx and the relay
  candidate in one signal each (each waits for a STUN or TURN round trip, longer than the hold): ${2 + 2 * (CANDIDATES - HELD_WITH_DESCRIPTION)} signals
  per connection, the first of each side acknowledged (the answer now leaves unheld, so a browser answerer sends it
  before its host candidates: one signal more than this row). \`skipmesh-held-acked\`: the same, each acknowledged.
- \`peerjs\`: peer@1.0.2's server with PeerJS's messages and simple-peer's default trickle: OFFER / ANSWER, then one
  CANDIDATE message per candidate (${2 + 2 * CANDIDATES} messages per connection, no ack, validation, identity or rooms).

Which row is the skipmesh client: it asks for the ack of a session's first signal (a refused one fails its dial at
once) and sends the later ones without (refusal-only, to a server that announces \`signalRefusals\`), and its outbox
holds a batch \`signalHoldMs\` (opt-in, default 0) after its first signal, the description first. Without the hold
(\`signalHoldMs: 0\`, what one microtask produced) a browser, which reports each candidate in its own task, sends
the trickled form (\`skipmesh-trickle\`). With it, a browser behind NAT sends \`skipmesh-held\` (its srflx and relay
candidates come a STUN or TURN round trip later), and one that gathers only host candidates (a LAN, loopback, or
Node's stacks) the batched form (\`skipmesh\`).

Each configuration ran ${REPS} times in alternating order; the table shows each server's run with the most connections
per CPU-second (every run is in the JSON).

| server | clients | messages per connection | connections | connections per server CPU-second | server CPU µs per connection | connections/s | p50 ms | p99 ms |
|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Ratio skipmesh / PeerJS (> 1 is better for skipmesh; target for connections per CPU-second: ≥ 2): batched with acks
(without acks in parentheses); held (the client with \`signalHoldMs: 10\` behind NAT) and trickled, refusal-only
(every signal acknowledged in parentheses):

| clients | batched: per CPU-second | batched: per second | held: per CPU-second | held: per second | trickle: per CPU-second | trickle: per second |
|---|---|---|---|---|---|---|
${ratioRows.join('\n')}
`
  },
)
console.log(md)
