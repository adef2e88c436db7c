//! Genesis: the initial allocations and parameters of a swarm. Its hash is
//! the swarm id; nodes of different swarms accept neither each other's entries
//! nor each other as peers.
//!
//! The file is JSON (docs/ledger-format.md). The swarm id is
//! `SHA-256("ippoc-genesis-v1" ‖ 0x00 ‖ encode(genesis))` over the canonical
//! binary encoding, so whitespace and key order in the file do not matter.

use std::collections::BTreeSet;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::amount::{Amount, Currency, UNIT};
use crate::encoding;
use crate::ids::{AccountId, NodeId, SwarmId};
use crate::params::Parameters;

/// Genesis format version.
pub const GENESIS_VERSION: u32 = 1;
/// The public goods pool's initial endowment in the source documents.
pub const PUBLIC_GOODS_POOL_GENESIS: Amount = Amount::from_base(50_000 * UNIT);
/// Most allocations in a genesis.
pub const ALLOCATIONS_MAX: usize = 100_000;

/// One initial balance.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    /// Who receives it.
    pub account: AccountId,
    /// Currency.
    pub currency: Currency,
    /// How much.
    pub amount: Amount,
}

/// The sentinels whose quorum certifies mints.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sentinels {
    /// Signatures a mint certificate needs.
    pub threshold: u32,
    /// Sentinel NodeIDs.
    pub members: Vec<NodeId>,
}

/// A swarm's genesis.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// [`GENESIS_VERSION`].
    pub version: u32,
    /// Human name of the swarm.
    pub name: String,
    /// Unix ms of creation (makes two swarms with equal allocations distinct).
    pub created_at_ms: u64,
    /// Governed parameters at start.
    pub parameters: Parameters,
    /// Mint certifiers.
    pub sentinels: Sentinels,
    /// Initial balances, debited from the mint.
    pub allocations: Vec<Allocation>,
}

/// A genesis that cannot start a swarm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid genesis: {0}")]
pub struct GenesisError(pub String);

impl Genesis {
    /// A swarm with `founders`, each given `stipend` IPPC, the treasury
    /// `treasury` IPPC and the public goods pool its 50 000 IPPC; the founders
    /// are the sentinels, with a majority threshold.
    pub fn new(name: &str, created_at_ms: u64, founders: &[NodeId], stipend: Amount, treasury: Amount) -> Genesis {
        let mut allocations = vec![
            Allocation {
                account: AccountId::Treasury,
                currency: Currency::Ippc,
                amount: treasury,
            },
            Allocation {
                account: AccountId::PublicGoodsPool,
                currency: Currency::Ippc,
                amount: PUBLIC_GOODS_POOL_GENESIS,
            },
        ];
        allocations.extend(founders.iter().map(|f| Allocation {
            account: AccountId::Wallet(*f),
            currency: Currency::Ippc,
            amount: stipend,
        }));
        Genesis {
            version: GENESIS_VERSION,
            name: name.to_string(),
            created_at_ms,
            parameters: Parameters::default(),
            sentinels: Sentinels {
                threshold: (founders.len() as u32) / 2 + 1,
                members: founders.to_vec(),
            },
            allocations,
        }
    }

    /// The single-node development swarm a node creates when started without
    /// a genesis: itself as founder and sentinel, 10 000 IPPC stipend,
    /// 1 000 000 IPPC treasury.
    pub fn solo(node: NodeId, created_at_ms: u64) -> Genesis {
        Genesis::new(
            &format!("solo-{}", node.short()),
            created_at_ms,
            &[node],
            Amount::from_base(10_000 * UNIT),
            Amount::from_base(1_000_000 * UNIT),
        )
    }

    /// The founders: every node with an initial allocation or a sentinel
    /// seat. They are members from the start; every other node is admitted
    /// by a member's payment (docs/ledger-format.md, "Membership").
    pub fn founders(&self) -> BTreeSet<NodeId> {
        let allocated = self.allocations.iter().filter_map(|a| match a.account {
            AccountId::Wallet(n) | AccountId::Reserve(n) => Some(n),
            _ => None,
        });
        allocated.chain(self.sentinels.members.iter().copied()).collect()
    }

    /// The swarm id.
    pub fn swarm_id(&self) -> SwarmId {
        let mut h = Sha256::new();
        h.update(b"ippoc-genesis-v1\0");
        h.update(encoding::encode(self));
        SwarmId(h.finalize().into())
    }

    /// Checks that the genesis can start a swarm.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let bad = |m: String| Err(GenesisError(m));
        if self.version != GENESIS_VERSION {
            return bad(format!("version {} (expected {GENESIS_VERSION})", self.version));
        }
        self.parameters.validate().map_err(|e| GenesisError(e.to_string()))?;
        if self.allocations.len() > ALLOCATIONS_MAX {
            return bad(format!("more than {ALLOCATIONS_MAX} allocations"));
        }
        let mut totals = [0u64; 2];
        for a in &self.allocations {
            if a.amount.is_zero() {
                return bad(format!("zero allocation to {}", a.account));
            }
            if matches!(
                a.account,
                AccountId::Mint | AccountId::Escrow(_) | AccountId::MetabolismSink
            ) {
                return bad(format!("cannot allocate to {}", a.account));
            }
            let t = &mut totals[usize::from(a.currency.tag())];
            *t = t
                .checked_add(a.amount.base())
                .ok_or_else(|| GenesisError(format!("{} allocations overflow", a.currency)))?;
        }
        let members: BTreeSet<_> = self.sentinels.members.iter().collect();
        if members.len() != self.sentinels.members.len() {
            return bad("a sentinel is listed twice".into());
        }
        if self.sentinels.threshold == 0 || self.sentinels.threshold as usize > members.len() {
            return bad(format!(
                "sentinel threshold {} with {} sentinels",
                self.sentinels.threshold,
                members.len()
            ));
        }
        Ok(())
    }

    /// Parses and validates a genesis JSON document.
    pub fn from_json(text: &str) -> Result<Genesis, GenesisError> {
        let g: Genesis = serde_json::from_str(text).map_err(|e| GenesisError(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a genesis always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_the_swarm_id() {
        let g = Genesis::new(
            "t",
            5,
            &[NodeId::from_bytes([1; 32]), NodeId::from_bytes([2; 32])],
            Amount::from_base(7),
            Amount::from_base(9),
        );
        g.validate().unwrap();
        let back = Genesis::from_json(&g.to_json()).unwrap();
        assert_eq!(back.swarm_id(), g.swarm_id());
        let compact = serde_json::to_string(&g).unwrap();
        assert_eq!(
            Genesis::from_json(&compact).unwrap().swarm_id(),
            g.swarm_id(),
            "whitespace does not matter"
        );
        let other = Genesis {
            created_at_ms: 6,
            ..g.clone()
        };
        assert_ne!(other.swarm_id(), g.swarm_id());
        assert!(
            g.allocations
                .iter()
                .any(|a| a.account == AccountId::PublicGoodsPool && a.amount == PUBLIC_GOODS_POOL_GENESIS)
        );
    }

    #[test]
    fn invalid_geneses_are_refused() {
        let n = NodeId::from_bytes([1; 32]);
        let base = Genesis::solo(n, 1);
        let mut g = base.clone();
        g.allocations.push(Allocation {
            account: AccountId::Mint,
            currency: Currency::Ippc,
            amount: Amount::from_base(1),
        });
        assert!(g.validate().is_err());
        let mut g = base.clone();
        g.sentinels.threshold = 2;
        assert!(g.validate().is_err());
        let mut g = base.clone();
        g.allocations[0].amount = Amount::ZERO;
        assert!(g.validate().is_err());
        assert!(Genesis::from_json("{\"version\":1}").is_err());
        assert!(Genesis::from_json(&base.to_json().replace("\"name\"", "\"nmae\"")).is_err());
    }
}
