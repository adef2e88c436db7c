// A js-libp2p peer (TCP, Noise, Yamux, Identify, Ping, gossipsub without
// message signatures, as the node's mesh runs it) for the interop test
// (node/tests/interop_js.rs). It dials one node and reports what happens as
// JSON lines on stdout; it obeys lines on stdin:
//   publish <topic name> <hex bytes>    gossip bytes on /ippoc/<swarm>/<name>/1
//   quit                                stop
// usage: node peer.mjs <node multiaddr> <swarm id hex>

// js-libp2p 2.x expects Node 22; this is the one thing it needs from it.
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const { createLibp2p } = await import('libp2p')
const { tcp } = await import('@libp2p/tcp')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { identify } = await import('@libp2p/identify')
const { ping } = await import('@libp2p/ping')
const { gossipsub } = await import('@chainsafe/libp2p-gossipsub')
const { multiaddr } = await import('@multiformats/multiaddr')
const readline = await import('node:readline')

const [addr, swarm] = process.argv.slice(2)
if (!addr || !swarm) {
  console.error('usage: node peer.mjs <node multiaddr> <swarm id hex>')
  process.exit(2)
}
const out = (event) => process.stdout.write(JSON.stringify(event) + '\n')
const topic = (name) => `/ippoc/${swarm}/${name}/1`
const hex = (bytes) => Buffer.from(bytes).toString('hex')

const node = await createLibp2p({
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    // The node's mesh neither signs nor expects signed messages, and names
    // a message by the SHA-256 of its data: gossipsub's StrictNoSign default.
    pubsub: gossipsub({ globalSignaturePolicy: 'StrictNoSign', allowPublishToZeroTopicPeers: true })
  }
})

node.addEventListener('peer:connect', (e) => out({ event: 'connected', peer: e.detail.toString() }))
node.addEventListener('peer:disconnect', (e) => out({ event: 'disconnected', peer: e.detail.toString() }))
node.addEventListener('peer:identify', (e) =>
  out({ event: 'identified', peer: e.detail.peerId.toString(), agent: e.detail.agentVersion ?? '' }))
node.services.pubsub.addEventListener('subscription-change', (e) => {
  for (const s of e.detail.subscriptions) {
    out({ event: 'subscription', peer: e.detail.peerId.toString(), topic: s.topic, subscribe: s.subscribe })
  }
})
node.services.pubsub.addEventListener('message', (e) =>
  out({ event: 'message', topic: e.detail.topic, data: hex(e.detail.data) }))

for (const name of ['entries', 'attestations', 'warrants', 'bounties', 'governance']) {
  node.services.pubsub.subscribe(topic(name))
}
out({ event: 'started', peer: node.peerId.toString() })
try {
  await node.dial(multiaddr(addr))
} catch (err) {
  out({ event: 'dial_failed', error: String(err) })
}

const lines = readline.createInterface({ input: process.stdin })
for await (const line of lines) {
  const [command, name, data] = line.trim().split(/\s+/)
  if (command === 'quit') break
  if (command === 'publish') {
    try {
      const sent = await node.services.pubsub.publish(topic(name), Buffer.from(data, 'hex'))
      out({ event: 'published', topic: topic(name), recipients: sent.recipients.length })
    } catch (err) {
      out({ event: 'publish_failed', error: String(err) })
    }
  }
}
await node.stop()
process.exit(0)
