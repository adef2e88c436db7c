//! The mesh task: a libp2p swarm driven on tokio, commanded through a handle,
//! reporting through a bounded event channel.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, Transport as _, allow_block_list, connection_limits, identify, kad, mdns,
    noise, ping, tcp, yamux,
};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::link::{LinkIo, SharedLinks};
use crate::metrics::{GossipVerdict, MeshMetrics};
use crate::rate::{Buckets, Rate};
use crate::redial::Redial;
use crate::topic::Topic;
use crate::validator::{SyncResponder, Validator, Verdict};

/// Which transport the mesh uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP + Noise + Yamux, and QUIC for `/udp/<port>/quic-v1` addresses (production).
    Tcp,
    /// In-process memory transport + Noise + Yamux (tests, simulator).
    Memory,
}

/// Mesh settings, every one bounded.
#[derive(Debug, Clone)]
pub struct MeshConfig {
    /// The swarm this node belongs to: scopes the topics.
    pub swarm_id: [u8; 32],
    /// Transport.
    pub transport: Transport,
    /// Addresses to listen on (`/ip4/127.0.0.1/tcp/0`, `/memory/<n>`).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start.
    pub bootstrap: Vec<Multiaddr>,
    /// Largest gossip message, in bytes.
    pub gossip_message_bytes_max: usize,
    /// Gossipsub heartbeat, in milliseconds.
    pub heartbeat_ms: u64,
    /// How long a message may wait in a peer's send queue before gossipsub
    /// drops it, in milliseconds. gossipsub's own default (1 s for forwards)
    /// drops forwards whenever a node is busy for a second, and every entry
    /// dropped is one the next sync round must carry instead.
    pub send_queue_ms: u64,
    /// Events buffered for the node before the mesh waits for it.
    pub events_queue_max: usize,
    /// Peers banned earlier (bans persist across restarts; the node stores them).
    pub banned: Vec<PeerId>,
    /// Rejected (not forged) messages a peer may send before it is banned.
    pub invalid_messages_max: u32,
    /// Gossip messages one peer may have this node validate: over it they
    /// are dropped unjudged (not delivered, not forwarded, no blame).
    pub peer_messages: Rate,
    /// Sync requests one peer may have this node answer: over it they go
    /// unanswered (the peer's request fails; it asks again later).
    pub peer_requests: Rate,
    /// Bans kept: past it the oldest ban is lifted (a forgotten forger is
    /// banned again at its next offence), so fresh keys cannot grow the
    /// block list without end.
    pub bans_max: usize,
    /// Find peers through a Kademlia DHT seeded by the bootstrap peers.
    pub kademlia: bool,
    /// Find peers on the local network by mDNS (multicast: off unless asked for).
    pub mdns: bool,
    /// Most established connections in all.
    pub connections_max: u32,
    /// Most established connections to one peer.
    pub connections_per_peer_max: u32,
    /// Most connections being set up at once, each way.
    pub connections_pending_max: u32,
    /// Peers the node dials on its own when discovery finds them, at most.
    pub discovered_dial_max: usize,
    /// Simulated latency and loss on the memory transport's links (the
    /// simulator's WAN); ignored by TCP and QUIC.
    pub links: Option<SharedLinks>,
    /// Where the mesh counts what it does (none: nothing is recorded).
    pub metrics: Option<Arc<MeshMetrics>>,
}

impl MeshConfig {
    /// Defaults for `swarm_id` on `transport`.
    pub fn new(swarm_id: [u8; 32], transport: Transport) -> MeshConfig {
        MeshConfig {
            swarm_id,
            transport,
            listen: Vec::new(),
            bootstrap: Vec::new(),
            gossip_message_bytes_max: 256 * 1024,
            heartbeat_ms: 1000,
            send_queue_ms: 10_000,
            events_queue_max: 1024,
            banned: Vec::new(),
            invalid_messages_max: 16,
            peer_messages: PEER_MESSAGES,
            peer_requests: PEER_REQUESTS,
            bans_max: BANS_MAX,
            kademlia: true,
            mdns: false,
            connections_max: 256,
            connections_per_peer_max: 2,
            connections_pending_max: 64,
            discovered_dial_max: 16,
            links: None,
            metrics: None,
        }
    }
}

/// Default [`MeshConfig::peer_messages`]: 1000 a second, bursts of 5000. An
/// honest peer forwards each message of the swarm to us once at most
/// (duplicates are dropped before validation), so this is above the
/// swarm's whole message rate in the simulator's busiest phase; validating
/// that many costs about one core's tenth (signature checks of entries).
pub const PEER_MESSAGES: Rate = Rate::new(1000, 5000);

/// Default [`MeshConfig::peer_requests`]: 50 a second, bursts of 200. One
/// request is answered on the mesh's own task (a range of up to 256 entries
/// read and signature-checked, about 8 ms); a sync round asks one request
/// at a time, so an honest catch-up of 50,000 entries still takes seconds.
pub const PEER_REQUESTS: Rate = Rate::new(50, 200);

/// Default [`MeshConfig::bans_max`].
pub const BANS_MAX: usize = 4096;

/// Peers whose rate buckets and rejection counts are kept, at most.
pub const PEERS_TRACKED_MAX: usize = 4096;

/// Something the node hears from the mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeshEvent {
    /// Listening on an address.
    Listening(Multiaddr),
    /// A connection to a peer is up.
    Connected(PeerId),
    /// The last connection to a peer is gone.
    Disconnected(PeerId),
    /// A peer subscribed to a topic of ours.
    Subscribed {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: Topic,
    },
    /// A message the validator accepted (and that is now forwarded).
    Delivered {
        /// Topic.
        topic: Topic,
        /// Payload.
        data: Vec<u8>,
        /// The peer that forwarded it to us.
        from: PeerId,
        /// Content-hash message id.
        id: Vec<u8>,
    },
    /// A peer was banned: disconnected, blocked, its messages dropped.
    Banned {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// A peer told us who it is (identify).
    Identified {
        /// The peer.
        peer: PeerId,
        /// The software it runs, as it says (`ippoc/<version>` for this node).
        agent_version: String,
    },
    /// A peer went over a rate limit ([`MeshConfig::peer_messages`] or
    /// [`MeshConfig::peer_requests`]): reported at its 1st, 10th, 100th, ...
    /// refusal, so a flood makes a handful of events.
    Throttled {
        /// The peer.
        peer: PeerId,
        /// `gossip` or `sync requests`.
        what: &'static str,
        /// Its messages or requests refused so far.
        refused: u64,
        /// Its connections were closed: it went [`DISCONNECT_AFTER_BURSTS`]
        /// bursts over.
        disconnect: bool,
    },
    /// A message the validator rejected (not forwarded).
    Rejected {
        /// Topic.
        topic: Topic,
        /// The peer that sent it.
        from: PeerId,
        /// Why.
        reason: String,
    },
}

/// Why a mesh call failed.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// The swarm could not be built or could not listen.
    #[error("mesh setup: {0}")]
    Setup(String),
    /// The message is in gossipsub's recent history already (published
    /// before, or heard from a peer): there is nothing more to send.
    #[error("publish on {topic}: already published")]
    Duplicate {
        /// Topic.
        topic: Topic,
    },
    /// Publishing failed (for example no peer subscribed yet).
    #[error("publish on {topic}: {reason}")]
    Publish {
        /// Topic.
        topic: Topic,
        /// Why.
        reason: String,
    },
    /// The peer does not speak the sync protocol (another implementation,
    /// a light client): asking it again is pointless.
    #[error("{peer} does not speak the sync protocol")]
    Unsupported {
        /// Peer.
        peer: PeerId,
    },
    /// A sync request failed.
    #[error("sync request to {peer}: {reason}")]
    Request {
        /// Peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// Dialing failed at once.
    #[error("dial {addr}: {reason}")]
    Dial {
        /// Address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The mesh task has stopped.
    #[error("the mesh has stopped")]
    Stopped,
}

/// The anti-entropy sync protocol.
pub const SYNC_PROTOCOL: &str = "/ippoc/sync/1";
/// How long a sync request may take, in milliseconds.
pub const SYNC_REQUEST_TIMEOUT_MS: u64 = 30_000;

/// Opaque sync payload (CBOR byte string on the wire).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SyncBytes(#[serde(with = "serde_bytes")] Vec<u8>);

/// The Kademlia protocol of IPPOC swarms (not the public IPFS DHT).
pub const KAD_PROTOCOL: &str = "/ippoc/kad/1";

#[derive(NetworkBehaviour)]
struct Behaviour {
    // Limits and blocks come first: they refuse a connection before any other
    // behaviour spends anything on it.
    limits: connection_limits::Behaviour,
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    partitioned: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    sync: request_response::cbor::Behaviour<SyncBytes, SyncBytes>,
    kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    mdns: Toggle<mdns::tokio::Behaviour>,
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

enum Command {
    Publish {
        topic: Topic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), MeshError>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), MeshError>>,
    },
    Request {
        peer: PeerId,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, MeshError>>,
    },
    Ban {
        peer: PeerId,
        reason: String,
    },
    Report {
        peer: PeerId,
        reason: String,
    },
    Partition {
        peers: Vec<PeerId>,
        cut: bool,
        reply: oneshot::Sender<Result<(), MeshError>>,
    },
    Stop,
}

/// A cheap, clonable handle for publishing and requesting from other tasks.
#[derive(Clone)]
pub struct MeshClient {
    commands: mpsc::Sender<Command>,
}

impl MeshClient {
    /// Sends a command built around a reply channel and waits for the answer.
    async fn call<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, MeshError>>) -> Command,
    ) -> Result<T, MeshError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| MeshError::Stopped)?;
        answer.await.map_err(|_| MeshError::Stopped)?
    }

    /// Sends a sync request to `peer` and waits for its answer.
    pub async fn request(&self, peer: PeerId, bytes: Vec<u8>) -> Result<Vec<u8>, MeshError> {
        self.call(|reply| Command::Request { peer, bytes, reply }).await
    }

    /// Publishes `data` on `topic`.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<(), MeshError> {
        self.call(|reply| Command::Publish { topic, data, reply }).await
    }

    /// Dials a peer.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), MeshError> {
        self.call(|reply| Command::Dial { addr, reply }).await
    }

    /// Bans `peer` on the node's own judgement (a warrant's evidence): the
    /// same as a ban for a forgery, reported as [`MeshEvent::Banned`].
    pub async fn ban(&self, peer: PeerId, reason: String) -> Result<(), MeshError> {
        self.commands
            .send(Command::Ban { peer, reason })
            .await
            .map_err(|_| MeshError::Stopped)
    }

    /// Counts a message `peer` sent outside gossip (a sync response) that
    /// breaks a rule, as a rejected gossip message counts: past the limit
    /// (`invalid_messages_max`) the peer is banned.
    pub async fn report(&self, peer: PeerId, reason: String) -> Result<(), MeshError> {
        self.commands
            .send(Command::Report { peer, reason })
            .await
            .map_err(|_| MeshError::Stopped)
    }

    /// Network control for tests and the simulator: closes the links to
    /// `peers` and refuses new ones (`cut`), or allows them again. Unlike a
    /// ban it says nothing about the peers and is not remembered.
    pub async fn partition(&self, peers: Vec<PeerId>, cut: bool) -> Result<(), MeshError> {
        self.call(|reply| Command::Partition { peers, cut, reply }).await
    }
}

/// A running mesh: the handle the node commands it with, and its events.
pub struct Mesh {
    peer_id: PeerId,
    client: MeshClient,
    /// Events for the node, in order.
    pub events: mpsc::Receiver<MeshEvent>,
    task: Option<tokio::task::JoinHandle<()>>,
}

fn message_id(message: &gossipsub::Message) -> MessageId {
    // Content-addressed: the same payload is the same message whoever relays it.
    MessageId::from(Sha256::digest(&message.data).to_vec())
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn behaviour(key: &Keypair, config: &MeshConfig) -> Result<Behaviour, BoxError> {
    let gossip_config = gossipsub::ConfigBuilder::default()
        // Every payload carries its own signature (entries by their actor,
        // attestations by their issuer), checked by the node's validator; a
        // gossipsub signature on top would cost one more verification per
        // delivery and prove nothing more. Blame goes to the propagation
        // source, which Noise authenticates.
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(message_id)
        .max_transmit_size(config.gossip_message_bytes_max * GOSSIP_LIBRARY_HEADROOM)
        .heartbeat_interval(Duration::from_millis(config.heartbeat_ms))
        .publish_queue_duration(Duration::from_millis(config.send_queue_ms))
        .forward_queue_duration(Duration::from_millis(config.send_queue_ms))
        // No IDONTWANT: each one received makes the library scan the peer's
        // whole send queue once per message id it names, and queues are long
        // exactly when a node is behind. Profiled at 100 simulated nodes on
        // two cores: that scan became the largest cost, the queues grew
        // faster than they drained and the run collapsed (3 GB, phases 5×
        // slower). IDONTWANT saves the bandwidth of duplicate large
        // messages; ours are small (an entry is a few hundred bytes).
        .idontwant_message_size_threshold(usize::MAX)
        .build()
        .map_err(|e| BoxError::from(e.to_string()))?;
    let gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config).map_err(BoxError::from)?;
    let sync = request_response::cbor::Behaviour::new(
        [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(Duration::from_millis(SYNC_REQUEST_TIMEOUT_MS)),
    );
    let peer_id = key.public().to_peer_id();
    let kad = config.kademlia.then(|| {
        let mut k = kad::Behaviour::with_config(
            peer_id,
            kad::store::MemoryStore::new(peer_id),
            kad::Config::new(StreamProtocol::new(KAD_PROTOCOL)),
        );
        // Every node serves the DHT: there are no light clients in a swarm.
        k.set_mode(Some(kad::Mode::Server));
        k
    });
    let mdns = match config.mdns && config.transport == Transport::Tcp {
        true => Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)?),
        false => None,
    };
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(config.connections_max))
        .with_max_established_per_peer(Some(config.connections_per_peer_max))
        .with_max_pending_incoming(Some(config.connections_pending_max))
        .with_max_pending_outgoing(Some(config.connections_pending_max));
    Ok(Behaviour {
        limits: connection_limits::Behaviour::new(limits),
        sync,
        kad: kad.into(),
        mdns: mdns.into(),
        partitioned: allow_block_list::Behaviour::default(),
        blocked: allow_block_list::Behaviour::default(),
        gossipsub,
        // The agent version names this node's software, as peers and crawlers expect.
        identify: identify::Behaviour::new(
            identify::Config::new("/ippoc/1".into(), key.public())
                .with_agent_version(format!("ippoc/{}", env!("CARGO_PKG_VERSION"))),
        ),
        ping: ping::Behaviour::default(),
    })
}

fn build_swarm(key: Keypair, config: &MeshConfig) -> Result<Swarm<Behaviour>, MeshError> {
    let setup = |e: &dyn std::fmt::Display| MeshError::Setup(e.to_string());
    let idle = |c: libp2p::swarm::Config| c.with_idle_connection_timeout(Duration::from_secs(60));
    let swarm = match config.transport {
        Transport::Tcp => libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| setup(&e))?
            .with_quic()
            .with_behaviour(|k| behaviour(k, config))
            .map_err(|e| setup(&e))?
            .with_swarm_config(idle)
            .build(),
        Transport::Memory => libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(|k| {
                let links = config.links.clone();
                Ok(MemoryTransport::default()
                    .map(move |channel, endpoint| match (&links, endpoint) {
                        (Some(links), ConnectedPoint::Dialer { address, .. }) => {
                            LinkIo::new(channel, links.link(&address))
                        }
                        _ => LinkIo::Direct(channel),
                    })
                    .upgrade(Version::V1)
                    .authenticate(noise::Config::new(k)?)
                    .multiplex(yamux::Config::default())
                    .boxed())
            })
            .map_err(|e| setup(&e))?
            .with_behaviour(|k| behaviour(k, config))
            .map_err(|e| setup(&e))?
            .with_swarm_config(idle)
            .build(),
    };
    Ok(swarm)
}

impl Mesh {
    /// Starts the mesh on the current tokio runtime: listens, subscribes to
    /// every topic of the swarm, dials the bootstrap peers.
    pub fn start(
        key: Keypair,
        config: MeshConfig,
        validator: Arc<dyn Validator>,
        responder: Arc<dyn SyncResponder>,
    ) -> Result<Mesh, MeshError> {
        let peer_id = key.public().to_peer_id();
        let mut swarm = build_swarm(key, &config)?;
        let mut topics = HashMap::new();
        for topic in Topic::ALL {
            let t = IdentTopic::new(topic.wire_name(&config.swarm_id));
            swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&t)
                .map_err(|e| MeshError::Setup(e.to_string()))?;
            topics.insert(t.hash(), topic);
        }
        let mut listeners = Vec::new();
        for addr in &config.listen {
            listeners.push(
                swarm
                    .listen_on(addr.clone())
                    .map_err(|e| MeshError::Setup(format!("listen on {addr}: {e}")))?,
            );
        }
        let mut redial = Redial::new();
        for addr in &config.bootstrap {
            let opts = DialOpts::from(addr.clone());
            let id = opts.connection_id();
            swarm.dial(opts).map_err(|e| MeshError::Dial {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
            redial.dialing(addr, id);
        }
        let mut trust = Trust::new(&config);
        for peer in &config.banned {
            trust.ban(&mut swarm, *peer);
        }
        let (commands, command_rx) = mpsc::channel(256);
        let (event_tx, events) = mpsc::channel(config.events_queue_max);
        let handlers = Handlers {
            swarm_id: config.swarm_id,
            validator,
            responder,
            topics,
            discovered_dial_max: config.discovered_dial_max,
            message_bytes_max: config.gossip_message_bytes_max,
            metrics: config.metrics.clone(),
        };
        let task = tokio::spawn(run(swarm, command_rx, event_tx, handlers, trust, redial, listeners));
        Ok(Mesh {
            peer_id,
            client: MeshClient { commands },
            events,
            task: Some(task),
        })
    }

    /// This node's libp2p PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// A clonable handle for other tasks.
    pub fn client(&self) -> MeshClient {
        self.client.clone()
    }

    /// Publishes `data` on `topic`.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<(), MeshError> {
        self.client.publish(topic, data).await
    }

    /// Dials a peer.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), MeshError> {
        self.client.dial(addr).await
    }

    /// Stops the mesh and waits for its task.
    pub async fn stop(mut self) {
        let _ = self.client.commands.send(Command::Stop).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// How long after a peer's first open connection a second one means the
/// first is stale (the peer restarted): simultaneous dials from both sides
/// land within milliseconds of each other, and are kept.
pub const RECONNECT_STALE_AFTER: Duration = Duration::from_secs(5);

/// Events the mesh task holds for the node beyond its event queue, at most,
/// before it stops reading the network (one swarm event makes a few).
pub const OUTBOX_MAX: usize = 64;

/// The node's callbacks, and what the event handlers need to know of the config.
struct Handlers {
    /// The swarm the topics belong to.
    swarm_id: [u8; 32],
    validator: Arc<dyn Validator>,
    responder: Arc<dyn SyncResponder>,
    topics: HashMap<gossipsub::TopicHash, Topic>,
    discovered_dial_max: usize,
    /// The node's own limit on one gossip message (the library's is
    /// [`GOSSIP_LIBRARY_HEADROOM`] times larger).
    message_bytes_max: usize,
    metrics: Option<Arc<MeshMetrics>>,
}

/// How much larger than the node's own per-message limit the gossipsub
/// library's limit is. The library checks a whole read frame, which may hold
/// several messages, and closes the peer's stream silently when it is over:
/// with this headroom, messages at the node's limit sent back to back still
/// fit, and one over the node's limit reaches the node, which refuses it,
/// logs it and counts it against the sender.
pub const GOSSIP_LIBRARY_HEADROOM: usize = 4;

type PendingRequests = HashMap<OutboundRequestId, (PeerId, oneshot::Sender<Result<Vec<u8>, MeshError>>)>;

async fn run(
    mut swarm: Swarm<Behaviour>,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<MeshEvent>,
    handlers: Handlers,
    mut trust: Trust,
    mut redial: Redial,
    listeners: Vec<libp2p::core::transport::ListenerId>,
) {
    let mut pending: PendingRequests = HashMap::new();
    // Events wait here, not in a blocked send: the node's pump awaits this
    // task (a publish, a request) while it handles events, so a task
    // blocked on a full event queue would wait on the pump and the pump on
    // it, both idle for ever (100 nodes under spam did). Commands are always
    // served; the network is not read while the outbox is full, which holds
    // peers back by the transport's own flow control.
    let mut outbox: VecDeque<MeshEvent> = VecDeque::new();
    // When each connected peer's first open connection was established; one
    // entry per connected peer (bounded by `connections_max`), removed when
    // its last connection closes.
    let mut first_connected: HashMap<PeerId, tokio::time::Instant> = HashMap::new();
    loop {
        let next_redial = redial.next_due();
        tokio::select! {
            permit = events.reserve(), if !outbox.is_empty() => match (permit, outbox.pop_front()) {
                (Ok(permit), Some(event)) => permit.send(event),
                // The node is gone: nobody to serve.
                (Err(_), _) => break,
                (Ok(_), None) => {}
            },
            () = async {
                match next_redial {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                let now = tokio::time::Instant::now();
                for addr in redial.due(now, |p| trust.banned.contains(p)) {
                    let opts = DialOpts::from(addr.clone());
                    let id = opts.connection_id();
                    redial.dialing(&addr, id);
                    if let Err(e) = swarm.dial(opts) {
                        tracing::debug!(%addr, "redial of a bootstrap peer refused: {e}");
                        redial.failed(id, now);
                    }
                }
            }
            command = commands.recv() => match command {
                None | Some(Command::Stop) => break,
                Some(Command::Publish { topic, data, reply }) if data.len() > handlers.message_bytes_max => {
                    let _ = reply.send(Err(MeshError::Publish {
                        topic,
                        reason: format!("{} bytes, over the limit of {}", data.len(), handlers.message_bytes_max),
                    }));
                }
                Some(Command::Publish { topic, data, reply }) => {
                    let t = IdentTopic::new(topic.wire_name(&handlers.swarm_id));
                    let result = swarm
                        .behaviour_mut()
                        .gossipsub
                        .publish(t, data)
                        .map(|_| ())
                        .map_err(|e| match e {
                            gossipsub::PublishError::Duplicate => MeshError::Duplicate { topic },
                            e => MeshError::Publish {
                                topic,
                                reason: e.to_string(),
                            },
                        });
                    let _ = reply.send(result);
                }
                Some(Command::Dial { addr, reply }) => {
                    let result = swarm
                        .dial(addr.clone())
                        .map_err(|e| MeshError::Dial { addr, reason: e.to_string() });
                    let _ = reply.send(result);
                }
                Some(Command::Request { peer, bytes, reply }) => {
                    let id = swarm.behaviour_mut().sync.send_request(&peer, SyncBytes(bytes));
                    pending.insert(id, (peer, reply));
                }
                // A ban's event joins the outbox even when it is full: one
                // per command, and commands come from the pump, which only
                // sends them while it takes events out.
                Some(Command::Ban { peer, reason }) => {
                    if trust.ban(&mut swarm, peer) {
                        outbox.push_back(MeshEvent::Banned { peer, reason });
                    }
                }
                Some(Command::Report { peer, reason }) => {
                    if trust.count(peer) && trust.ban(&mut swarm, peer) {
                        let reason = format!("too many invalid messages; last: {reason}");
                        outbox.push_back(MeshEvent::Banned { peer, reason });
                    }
                }
                Some(Command::Partition { peers, cut, reply }) => {
                    let b = &mut swarm.behaviour_mut().partitioned;
                    for peer in &peers {
                        if cut {
                            b.block_peer(*peer);
                        } else {
                            b.unblock_peer(*peer);
                        }
                    }
                    if !cut {
                        redial.wake(&peers, tokio::time::Instant::now());
                    }
                    let _ = reply.send(Ok(()));
                }
            },
            event = swarm.select_next_some(), if outbox.len() < OUTBOX_MAX => {
                match &event {
                    SwarmEvent::ConnectionEstablished { peer_id, connection_id, num_established, .. } => {
                        redial.connected(*peer_id, *connection_id);
                        let now = tokio::time::Instant::now();
                        let first = *first_connected.entry(*peer_id).or_insert(now);
                        if num_established.get() > 1 && now.duration_since(first) >= RECONNECT_STALE_AFTER {
                            // A peer connecting again long after its open
                            // connection was made restarted, or lost that
                            // connection silently (a QUIC peer killed with
                            // SIGKILL sends nothing). Gossipsub exchanges
                            // subscriptions on a peer's first connection only,
                            // so the new one would never carry gossip to it:
                            // close every connection, and the redials (ours
                            // or its own) start afresh.
                            tracing::info!(event = "peer_reconnected", peer = %peer_id, "a peer connected again while an older connection to it stays open: both closed, to start afresh");
                            let _ = swarm.disconnect_peer_id(*peer_id);
                        }
                    }
                    SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                        first_connected.remove(peer_id);
                        redial.disconnected(*peer_id, tokio::time::Instant::now());
                    }
                    SwarmEvent::OutgoingConnectionError { connection_id, .. } => {
                        redial.failed(*connection_id, tokio::time::Instant::now());
                    }
                    _ => {}
                }
                if let Some(m) = &handlers.metrics {
                    record(m.libp2p(), &event);
                }
                if let SwarmEvent::Behaviour(BehaviourEvent::Sync(e)) = event {
                    let throttled = handle_sync(&mut swarm, e, handlers.responder.as_ref(), &mut pending, &mut trust);
                    outbox.extend(throttled);
                    continue;
                }
                outbox.extend(handle(&mut swarm, event, &handlers, &mut trust));
            }
        }
    }
    // Removed, not just dropped: the memory transport frees a port only when
    // its listener is removed, and a node restarted in the same process
    // (tests, the simulator) listens on its address again.
    for id in listeners {
        swarm.remove_listener(id);
    }
}

/// Handles a sync event; a throttled request may come back as an event to report.
fn handle_sync(
    swarm: &mut Swarm<Behaviour>,
    event: request_response::Event<SyncBytes, SyncBytes>,
    responder: &dyn SyncResponder,
    pending: &mut PendingRequests,
    trust: &mut Trust,
) -> Option<MeshEvent> {
    use request_response::{Event, Message};
    match event {
        Event::Message {
            peer,
            message: Message::Request { request, channel, .. },
            ..
        } => {
            // Over the peer's rate the channel is dropped unanswered: the
            // peer's request fails, and it asks again in a later round.
            if let Err(event) = trust.admit(peer, THROTTLED_REQUESTS) {
                if matches!(event.as_deref(), Some(MeshEvent::Throttled { disconnect: true, .. })) {
                    let _ = swarm.disconnect_peer_id(peer);
                }
                return event.map(|e| *e);
            }
            let answer = responder.respond(&peer, &request.0);
            let _ = swarm.behaviour_mut().sync.send_response(channel, SyncBytes(answer));
        }
        Event::Message {
            message: Message::Response { request_id, response },
            ..
        } => {
            if let Some((_, reply)) = pending.remove(&request_id) {
                let _ = reply.send(Ok(response.0));
            }
        }
        Event::OutboundFailure { request_id, error, .. } => {
            if let Some((peer, reply)) = pending.remove(&request_id) {
                let _ = reply.send(Err(match error {
                    request_response::OutboundFailure::UnsupportedProtocols => MeshError::Unsupported { peer },
                    other => MeshError::Request {
                        peer,
                        reason: other.to_string(),
                    },
                }));
            }
        }
        Event::InboundFailure { peer, error, .. } => {
            tracing::debug!(%peer, "sync request from a peer failed: {error}");
        }
        Event::ResponseSent { .. } => {}
    }
    None
}

/// The Trust Manager: counts rejected messages per peer and bans forgers.
///
/// Only the peer that handed us a message (the propagation source) is ever
/// blamed. For a forgery that is safe: honest peers validate before they
/// forward, and a forged signature is invalid for every validator, so an
/// honest relay never passes one on. State-dependent rejections may come from
/// honest relays that see a different ledger, so they are only counted, and
/// only a long run of them bans.
struct Trust {
    /// Rejections counted per peer, for at most [`PEERS_TRACKED_MAX`]
    /// peers; at the bound the peer with the fewest is forgotten.
    invalid: HashMap<PeerId, u32>,
    invalid_max: u32,
    /// Banned peers in the order banned, at most `bans_max`.
    banned: std::collections::HashSet<PeerId>,
    ban_order: std::collections::VecDeque<PeerId>,
    bans_max: usize,
    /// Gossip messages each peer may have validated.
    messages: Buckets<PeerId>,
    /// Sync requests each peer may have answered.
    requests: Buckets<PeerId>,
}

impl Trust {
    fn new(config: &MeshConfig) -> Trust {
        Trust {
            invalid: HashMap::new(),
            invalid_max: config.invalid_messages_max,
            banned: Default::default(),
            ban_order: Default::default(),
            bans_max: config.bans_max.max(1),
            messages: Buckets::new(config.peer_messages, PEERS_TRACKED_MAX),
            requests: Buckets::new(config.peer_requests, PEERS_TRACKED_MAX),
        }
    }

    /// Bans `peer`; false if it was banned already.
    fn ban(&mut self, swarm: &mut Swarm<Behaviour>, peer: PeerId) -> bool {
        if !self.banned.insert(peer) {
            return false;
        }
        self.ban_order.push_back(peer);
        self.invalid.remove(&peer);
        let b = swarm.behaviour_mut();
        b.gossipsub.blacklist_peer(&peer);
        // Closes every connection to the peer and refuses new ones.
        b.blocked.block_peer(peer);
        if let Some(k) = b.kad.as_mut() {
            k.remove_peer(&peer);
        }
        while self.ban_order.len() > self.bans_max {
            let Some(lifted) = self.ban_order.pop_front() else {
                break;
            };
            self.banned.remove(&lifted);
            let b = swarm.behaviour_mut();
            b.gossipsub.remove_blacklisted_peer(&lifted);
            b.blocked.unblock_peer(lifted);
        }
        true
    }

    /// Counts a rejection; true when the peer crossed the limit.
    fn count(&mut self, peer: PeerId) -> bool {
        if !self.invalid.contains_key(&peer) && self.invalid.len() >= PEERS_TRACKED_MAX {
            let fewest = self.invalid.iter().min_by_key(|(_, n)| **n).map(|(p, _)| *p);
            if let Some(p) = fewest {
                self.invalid.remove(&p);
            }
        }
        let n = self.invalid.entry(peer).or_default();
        *n += 1;
        *n >= self.invalid_max
    }

    /// Whether `peer` may have one more `what` handled now; a refusal at a
    /// power of ten comes back as the event to report, and so does one that
    /// calls for closing the peer's connections ([`DISCONNECT_AFTER_BURSTS`]).
    fn admit(&mut self, peer: PeerId, what: &'static str) -> Result<(), Option<Box<MeshEvent>>> {
        let buckets = match what {
            THROTTLED_GOSSIP => &mut self.messages,
            _ => &mut self.requests,
        };
        let every = u64::from(buckets.rate().burst.max(1)) * DISCONNECT_AFTER_BURSTS;
        match buckets.take_counted(peer, 1, std::time::Instant::now()) {
            (1, _) => Ok(()),
            (_, refused) => {
                let disconnect = refused % every == 0;
                Err(
                    (disconnect || crate::rate::worth_logging(refused - 1, refused)).then(|| {
                        Box::new(MeshEvent::Throttled {
                            peer,
                            what,
                            refused,
                            disconnect,
                        })
                    }),
                )
            }
        }
    }
}

/// A peer whose refusals over its rate reach this many bursts (again and
/// again: at every multiple) has its connections closed. Below the rate
/// the node drops its excess cheaply, but every message still costs the
/// transport (decryption, framing, decoding: most of the CPU a flood
/// costs); a peer this far over is not an honest relay, whose traffic is
/// the swarm's, far below the rate. Not a ban: it may come back, and its
/// bucket is remembered.
pub const DISCONNECT_AFTER_BURSTS: u64 = 2;

const THROTTLED_GOSSIP: &str = "gossip";
const THROTTLED_REQUESTS: &str = "sync requests";

fn handle(
    swarm: &mut Swarm<Behaviour>,
    event: SwarmEvent<BehaviourEvent>,
    handlers: &Handlers,
    trust: &mut Trust,
) -> Vec<MeshEvent> {
    handle_one(swarm, event, handlers, trust).unwrap_or_default()
}

fn handle_one(
    swarm: &mut Swarm<Behaviour>,
    event: SwarmEvent<BehaviourEvent>,
    handlers: &Handlers,
    trust: &mut Trust,
) -> Option<Vec<MeshEvent>> {
    let (validator, topics, discovered_dial_max) = (
        handlers.validator.as_ref(),
        &handlers.topics,
        handlers.discovered_dial_max,
    );
    let one = |e: MeshEvent| Some(vec![e]);
    match event {
        SwarmEvent::NewListenAddr { address, .. } => one(MeshEvent::Listening(address)),
        SwarmEvent::ConnectionEstablished {
            peer_id,
            num_established,
            ..
        } if num_established.get() == 1 => one(MeshEvent::Connected(peer_id)),
        SwarmEvent::ConnectionClosed {
            peer_id,
            num_established: 0,
            ..
        } => one(MeshEvent::Disconnected(peer_id)),
        SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
            // What a peer says it listens on seeds the DHT (identify is how
            // Kademlia learns routable addresses of inbound peers).
            if let Some(k) = swarm.behaviour_mut().kad.as_mut() {
                for addr in info.listen_addrs {
                    k.add_address(&peer_id, addr);
                }
            }
            one(MeshEvent::Identified {
                peer: peer_id,
                agent_version: info.agent_version,
            })
        }
        SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::RoutingUpdated { peer, addresses, .. })) => {
            dial_discovered(swarm, peer, addresses.into_vec(), discovered_dial_max);
            None
        }
        SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
            for (peer, addr) in found {
                dial_discovered(swarm, peer, vec![addr], discovered_dial_max);
            }
            None
        }
        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, topic })) => {
            let topic = *topics.get(&topic)?;
            one(MeshEvent::Subscribed { peer: peer_id, topic })
        }
        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
            propagation_source: from,
            message_id,
            message,
        })) => {
            let gossip = &mut swarm.behaviour_mut().gossipsub;
            let Some(topic) = topics.get(&message.topic).copied() else {
                gossip.report_message_validation_result(&message_id, &from, MessageAcceptance::Ignore);
                return None;
            };
            let count = |verdict| {
                if let Some(m) = &handlers.metrics {
                    m.gossip(topic, verdict);
                }
            };
            if let Err(event) = trust.admit(from, THROTTLED_GOSSIP) {
                count(GossipVerdict::Throttled);
                gossip.report_message_validation_result(&message_id, &from, MessageAcceptance::Ignore);
                if matches!(event.as_deref(), Some(MeshEvent::Throttled { disconnect: true, .. })) {
                    let _ = swarm.disconnect_peer_id(from);
                }
                return event.map(|e| vec![*e]);
            }
            let oversize = message.data.len() > handlers.message_bytes_max;
            let verdict = if oversize {
                Verdict::Reject(format!(
                    "a message of {} bytes, over the limit of {}",
                    message.data.len(),
                    handlers.message_bytes_max
                ))
            } else {
                validator.validate(topic, &message.data, &from)
            };
            let (reason, forged) = match verdict {
                Verdict::Accept => {
                    count(GossipVerdict::Accepted);
                    gossip.report_message_validation_result(&message_id, &from, MessageAcceptance::Accept);
                    let id = message_id.0;
                    return one(MeshEvent::Delivered {
                        topic,
                        data: message.data,
                        from,
                        id,
                    });
                }
                Verdict::Ignore => {
                    count(GossipVerdict::Ignored);
                    gossip.report_message_validation_result(&message_id, &from, MessageAcceptance::Ignore);
                    return None;
                }
                Verdict::Reject(reason) => {
                    count(if oversize {
                        GossipVerdict::Oversize
                    } else {
                        GossipVerdict::Rejected
                    });
                    (reason, false)
                }
                Verdict::Forged(reason) => {
                    count(GossipVerdict::Forged);
                    (reason, true)
                }
            };
            gossip.report_message_validation_result(&message_id, &from, MessageAcceptance::Reject);
            // The node logs it (at most one warning per peer); a flood must
            // not become a flood of log lines.
            tracing::debug!(%from, %topic, %reason, forged, "gossip rejected");
            let mut out = vec![MeshEvent::Rejected {
                topic,
                from,
                reason: reason.clone(),
            }];
            if (forged || trust.count(from)) && trust.ban(swarm, from) {
                let why = if forged {
                    format!("forged message: {reason}")
                } else {
                    format!("too many invalid messages; last: {reason}")
                };
                out.push(MeshEvent::Banned {
                    peer: from,
                    reason: why,
                });
            }
            Some(out)
        }
        _ => None,
    }
}

/// Hands a swarm event to rust-libp2p's recorders (its swarm metrics, and
/// the protocol's own for the behaviours it knows).
fn record(metrics: &libp2p::metrics::Metrics, event: &SwarmEvent<BehaviourEvent>) {
    use libp2p::metrics::Recorder;
    match event {
        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => metrics.record(e),
        SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => metrics.record(e),
        SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => metrics.record(e),
        SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => metrics.record(e),
        _ => {}
    }
    metrics.record(event);
}

/// Dials a peer discovery found, unless already connected or the node has
/// enough peers; banned peers are refused by the block list.
fn dial_discovered(swarm: &mut Swarm<Behaviour>, peer: PeerId, addresses: Vec<Multiaddr>, dial_max: usize) {
    if peer == *swarm.local_peer_id() || swarm.is_connected(&peer) || swarm.connected_peers().count() >= dial_max {
        return;
    }
    let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
        .addresses(addresses)
        .build();
    if let Err(e) = swarm.dial(opts) {
        tracing::debug!(%peer, "not dialing a discovered peer: {e}");
    }
}
