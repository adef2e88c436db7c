//! Identifiers: nodes, entries, accounts, escrows, swarms.

use std::fmt;
use std::str::FromStr;

use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A node's identifier: its 32-byte Ed25519 public key.
///
/// Text form: 64 lowercase hex digits, no prefix (docs/identity.md). Being the
/// key itself, a NodeID is enough to check the node's signatures.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub struct NodeId([u8; 32]);

impl NodeId {
    /// Wraps public-key bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        NodeId(bytes)
    }
    /// The public-key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// The first 12 hex digits, for log lines meant for people.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

/// Why a string is not a 32-byte hex identifier.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("expected 64 lowercase hex digits, got {0:?}")]
pub struct ParseIdError(String);

fn parse_hex32(s: &str) -> Result<[u8; 32], ParseIdError> {
    let bad = || ParseIdError(s.chars().take(80).collect());
    if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad());
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(s, &mut bytes).map_err(|_| bad())?;
    Ok(bytes)
}

macro_rules! hex32_text {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl FromStr for $t {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex32(s).map($t)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex32_text!(NodeId);
hex32_text!(TxId);
hex32_text!(SwarmId);

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.short())
    }
}

/// An entry's identifier: SHA-256 of its signing bytes (docs/ledger-format.md).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Default)]
pub struct TxId(pub [u8; 32]);

impl TxId {
    /// The all-zero id: the `prev` of a chain's first entry.
    pub const ZERO: TxId = TxId([0; 32]);
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({})", hex::encode(&self.0[..6]))
    }
}

/// A swarm's identifier: the hash of its genesis.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub struct SwarmId(pub [u8; 32]);

impl fmt::Debug for SwarmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SwarmId({})", hex::encode(&self.0[..6]))
    }
}

/// A bounty's escrow: named by the poster and the seq of the posting entry,
/// so the account's controller is visible in its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize)]
pub struct EscrowId {
    /// The node that posted the bounty and alone may pay or refund it.
    pub poster: NodeId,
    /// Seq of the poster's `BountyPost` entry.
    pub seq: u64,
}

/// An account in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub enum AccountId {
    /// A node's spendable wallet.
    Wallet(NodeId),
    /// A node's non-circulating issuance reserve (moved only with a mint certificate).
    Reserve(NodeId),
    /// A bounty's escrow.
    Escrow(EscrowId),
    /// Source of all value; debited only with a mint quorum certificate.
    Mint,
    /// Where metabolism charges go; never debited (burned).
    MetabolismSink,
    /// Swarm treasury; debited only by an executed DAO proposal.
    Treasury,
    /// Public goods pool; receives transfer fees, debited only by an executed DAO proposal.
    PublicGoodsPool,
}

impl AccountId {
    /// The node that may debit this account on its own authority, if any.
    pub fn controller(&self) -> Option<NodeId> {
        match self {
            AccountId::Wallet(n) => Some(*n),
            AccountId::Escrow(e) => Some(e.poster),
            AccountId::Reserve(_)
            | AccountId::Mint
            | AccountId::MetabolismSink
            | AccountId::Treasury
            | AccountId::PublicGoodsPool => None,
        }
    }

    /// True for accounts that must never go below zero (all but the mint).
    pub fn must_stay_non_negative(&self) -> bool {
        !matches!(self, AccountId::Mint)
    }

    /// Canonical bytes for storage keys (the bincode encoding).
    pub fn key_bytes(&self) -> Vec<u8> {
        crate::encoding::encode(self)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountId::Wallet(n) => write!(f, "wallet:{n}"),
            AccountId::Reserve(n) => write!(f, "reserve:{n}"),
            AccountId::Escrow(e) => write!(f, "escrow:{}:{}", e.poster, e.seq),
            AccountId::Mint => f.write_str("mint"),
            AccountId::MetabolismSink => f.write_str("metabolism_sink"),
            AccountId::Treasury => f.write_str("treasury"),
            AccountId::PublicGoodsPool => f.write_str("public_goods_pool"),
        }
    }
}

impl FromStr for AccountId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let node = |t: &str| t.parse::<NodeId>().map_err(|e| e.to_string());
        let mut parts = s.split(':');
        let account = match (parts.next(), parts.next(), parts.next()) {
            (Some("wallet"), Some(n), None) => AccountId::Wallet(node(n)?),
            (Some("reserve"), Some(n), None) => AccountId::Reserve(node(n)?),
            (Some("escrow"), Some(n), Some(seq)) => AccountId::Escrow(EscrowId {
                poster: node(n)?,
                seq: seq.parse().map_err(|_| format!("bad escrow seq in {s:?}"))?,
            }),
            (Some("mint"), None, None) => AccountId::Mint,
            (Some("metabolism_sink"), None, None) => AccountId::MetabolismSink,
            (Some("treasury"), None, None) => AccountId::Treasury,
            (Some("public_goods_pool"), None, None) => AccountId::PublicGoodsPool,
            _ => {
                return Err(format!(
                    "unknown account {s:?} (wallet:<NodeID>, reserve:<NodeID>, escrow:<NodeID>:<seq>, mint, metabolism_sink, treasury, public_goods_pool)"
                ));
            }
        };
        Ok(account)
    }
}

impl Serialize for AccountId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_text_form_round_trips_and_rejects_bad_input() {
        let id = NodeId([0xab; 32]);
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<NodeId>().unwrap(), id);
        assert!(text.to_uppercase().parse::<NodeId>().is_err());
        assert!(text[..63].parse::<NodeId>().is_err());
        assert!(format!("{}zz", &text[..62]).parse::<NodeId>().is_err());
    }

    #[test]
    fn account_text_form_round_trips() {
        let n = NodeId([7; 32]);
        for a in [
            AccountId::Wallet(n),
            AccountId::Reserve(n),
            AccountId::Escrow(EscrowId { poster: n, seq: 9 }),
            AccountId::Mint,
            AccountId::MetabolismSink,
            AccountId::Treasury,
            AccountId::PublicGoodsPool,
        ] {
            assert_eq!(a.to_string().parse::<AccountId>().unwrap(), a);
        }
        assert!("wallet:xyz".parse::<AccountId>().is_err());
        assert!("bank".parse::<AccountId>().is_err());
    }
}
