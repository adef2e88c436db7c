//! Gossip topics: versioned and scoped to one swarm, so nodes of different
//! swarms never share a topic.

use std::fmt;

/// What a gossip message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Signed ledger entries.
    Entries,
    /// Attestations: validation receipts, checkpoint votes, heartbeats.
    Attestations,
    /// Warrants with evidence against equivocators.
    Warrants,
    /// Governance relay.
    Governance,
    /// The bounty board: offers of paid work and results.
    Bounties,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 5] = [
        Topic::Entries,
        Topic::Attestations,
        Topic::Warrants,
        Topic::Governance,
        Topic::Bounties,
    ];

    /// The short name (`entries`, ...): the wire name's topic part, and
    /// the `topic` label of the metrics.
    pub fn label(self) -> &'static str {
        match self {
            Topic::Entries => "entries",
            Topic::Attestations => "attestations",
            Topic::Warrants => "warrants",
            Topic::Governance => "governance",
            Topic::Bounties => "bounties",
        }
    }

    /// The wire name: `/ippoc/<swarm id hex>/<topic>/1`.
    pub fn wire_name(self, swarm_id: &[u8; 32]) -> String {
        format!("/ippoc/{}/{}/1", hex::encode(swarm_id), self.label())
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
