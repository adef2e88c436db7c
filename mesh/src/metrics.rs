//! The mesh's Prometheus metrics: rust-libp2p's own (swarm, gossipsub,
//! identify, kad, ping) and this node's gossip verdicts by topic.
//!
//! Label values come from fixed sets (five topics, six verdicts, five ban
//! reasons), never from a peer: a hostile peer cannot grow a family.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::topic::Topic;

/// Labels of a gossip message's fate: its topic and what the node did with it.
pub type GossipLabels = [(&'static str, &'static str); 2];

/// What happened to one gossip message, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GossipVerdict {
    /// Validated, delivered and forwarded.
    Accepted,
    /// Dropped without blame (already known, not for us).
    Ignored,
    /// Broke a rule: counted against its sender.
    Rejected,
    /// Provably invalid (forged signature, bad bytes): the sender is banned.
    Forged,
    /// Over its sender's rate: dropped unjudged.
    Throttled,
    /// Larger than the node's message limit.
    Oversize,
}

impl GossipVerdict {
    fn label(self) -> &'static str {
        match self {
            GossipVerdict::Accepted => "accepted",
            GossipVerdict::Ignored => "ignored",
            GossipVerdict::Rejected => "rejected",
            GossipVerdict::Forged => "forged",
            GossipVerdict::Throttled => "throttled",
            GossipVerdict::Oversize => "oversize",
        }
    }
}

/// The mesh's metrics, shared by the mesh task and whoever registered them.
pub struct MeshMetrics {
    libp2p: libp2p::metrics::Metrics,
    gossip: Family<GossipLabels, Counter>,
}

impl std::fmt::Debug for MeshMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshMetrics").finish_non_exhaustive()
    }
}

impl MeshMetrics {
    /// Registers the mesh's metrics in `registry` (libp2p's under `libp2p_`,
    /// the node's under `ippoc_mesh_`).
    pub fn new(registry: &mut Registry) -> MeshMetrics {
        let libp2p = libp2p::metrics::Metrics::new(registry);
        let gossip = Family::<GossipLabels, Counter>::default();
        registry.register(
            "ippoc_mesh_gossip_messages",
            "Gossip messages this node judged, by topic and verdict",
            gossip.clone(),
        );
        MeshMetrics { libp2p, gossip }
    }

    /// Counts one gossip message.
    pub fn gossip(&self, topic: Topic, verdict: GossipVerdict) {
        self.gossip
            .get_or_create(&[("topic", topic.label()), ("verdict", verdict.label())])
            .inc();
    }

    /// rust-libp2p's recorders, for the mesh task.
    pub(crate) fn libp2p(&self) -> &libp2p::metrics::Metrics {
        &self.libp2p
    }
}
