//! Per-actor rate limits: what one ledger actor (an entry's author, an
//! attestation's issuer) may put through this node per second, whoever
//! relays it. The mesh limits each peer ([`ippoc_mesh::MeshConfig`]); these
//! limit each member, so a member cannot flood the swarm through many
//! peers, nor through sync.
//!
//! Going over a limit blames nobody: the entry is dropped unjudged (not
//! stored, not relayed) and comes again by sync when its author's bucket
//! has refilled. Relays see the same messages at other moments, so a count
//! against a peer here would one day hit an honest one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ippoc_economy::NodeId;
use ippoc_mesh::rate::worth_logging;
use ippoc_mesh::{Buckets, PeerId, Rate};
use serde::{Deserialize, Serialize};

use crate::bounded::{ClaimSet, Claimed, lock};

/// Actors whose buckets are kept, at most (see [`Buckets`] for the bound).
pub const ACTORS_TRACKED_MAX: usize = 4096;

/// The per-actor rates (`[mesh]` in the node's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActorRates {
    /// Entries of one actor's chain this node takes per second, by gossip
    /// and sync together.
    pub entries: Rate,
    /// Attestations of one issuer this node takes per second.
    pub attestations: Rate,
    /// Tokens an entry the ledger bounced costs its author on top of its
    /// own one: a member whose entries break the ledger's dynamic rules
    /// (overdrafts) is slowed this many times faster.
    pub bounce_charge: u32,
}

/// Default per-actor entry rate: 100 a second, bursts of 1000. An honest
/// node's chain grows with its work (inference and sandbox charges,
/// transfers), a few entries a second at most in every scenario measured.
pub const ACTOR_ENTRIES: Rate = Rate::new(100, 1000);

/// Default per-issuer attestation rate: 50 a second, bursts of 200. A node
/// issues one heartbeat and up to 16 receipts per attestation tick, plus
/// checkpoint and anchor votes per epoch.
pub const ACTOR_ATTESTATIONS: Rate = Rate::new(50, 200);

impl Default for ActorRates {
    fn default() -> Self {
        ActorRates {
            entries: ACTOR_ENTRIES,
            attestations: ACTOR_ATTESTATIONS,
            bounce_charge: 10,
        }
    }
}

/// What this node holds of each actor's rates, and how much it refused.
pub struct ActorLimits {
    rates: ActorRates,
    entries: Mutex<Buckets<NodeId>>,
    attestations: Mutex<Buckets<NodeId>>,
    /// Entries refused over their actor's rate, since the start.
    pub entries_throttled: AtomicU64,
    /// Attestations refused over their issuer's rate, since the start.
    pub attestations_throttled: AtomicU64,
    /// Chains gossip showed to reach further than this node holds: by
    /// actor, the peer that sent the furthest entry dropped and its seq.
    /// At most [`ACTORS_TRACKED_MAX`]; past it, new actors wait for the
    /// periodic sync.
    behind: Mutex<HashMap<NodeId, (PeerId, u64)>>,
    /// Chains a sync round of this node is fetching right now
    /// ([`ActorLimits::claim`]). At most [`ACTORS_TRACKED_MAX`].
    fetching: ClaimSet<NodeId>,
}

/// A chain claimed for one fetch ([`ActorLimits::claim`]); dropping it
/// releases the chain, however the fetch ended.
pub type Claim = Claimed<NodeId>;

/// A refusal over an actor's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// This actor's refusals so far.
    pub refused: u64,
    /// Whether this refusal is one to log (the 1st, 10th, 100th, ...).
    pub log: bool,
}

impl ActorLimits {
    /// Limits at `rates`.
    pub fn new(rates: ActorRates) -> ActorLimits {
        ActorLimits {
            rates,
            entries: Mutex::new(Buckets::new(rates.entries, ACTORS_TRACKED_MAX)),
            attestations: Mutex::new(Buckets::new(rates.attestations, ACTORS_TRACKED_MAX)),
            entries_throttled: AtomicU64::new(0),
            attestations_throttled: AtomicU64::new(0),
            behind: Mutex::new(HashMap::new()),
            fetching: ClaimSet::new(ACTORS_TRACKED_MAX),
        }
    }

    /// Gossip from `peer` carried `actor`'s entry at `seq`, and this node
    /// dropped it (over the actor's rate, or too far ahead of what it
    /// holds): the chain is to be fetched from that peer as the bucket
    /// allows ([`ActorLimits::chases`]), not left to the periodic sync,
    /// which at one peer per interval takes minutes to carry a chain across
    /// a large swarm. The furthest seq heard wins; an entry not yet verified
    /// may be a forger's claim, which costs one fetch that brings nothing.
    pub fn behind(&self, actor: NodeId, peer: PeerId, seq: u64) {
        let mut behind = lock(&self.behind);
        let len = behind.len();
        match behind.get_mut(&actor) {
            Some(known) if known.1 >= seq => {}
            Some(known) => *known = (peer, seq),
            None if len < ACTORS_TRACKED_MAX => {
                behind.insert(actor, (peer, seq));
            }
            None => {}
        }
    }

    /// Claims `actor`'s chain for one fetch, or `None` while another sync
    /// round of this node fetches it. A healed partition connects many
    /// peers at once, and each connection's round found the same chains
    /// missing: every round fetched, verified and stored the same entries
    /// (four times over at 100 nodes). A round refused a claim leaves the
    /// chain to the holder and records it as behind (chased later, if the
    /// holder's peer did not reach as far). Past [`ACTORS_TRACKED_MAX`]
    /// chains in flight, a fetch goes unclaimed rather than waits.
    pub fn claim(&self, actor: NodeId) -> Option<Claim> {
        self.fetching.claim(actor)
    }

    /// The chain of `actor` recorded as behind, if any.
    #[cfg(test)]
    pub fn behind_of(&self, actor: &NodeId) -> Option<(PeerId, u64)> {
        lock(&self.behind).get(actor).copied()
    }

    /// Up to `max` chains to fetch now: each behind ([`ActorLimits::behind`])
    /// with a token in its actor's bucket; taken out of the record (a fetch
    /// that stops short puts its chain back).
    pub fn chases(&self, max: usize) -> Vec<(NodeId, PeerId, u64)> {
        let mut behind = lock(&self.behind);
        let now = Instant::now();
        let due: Vec<(NodeId, PeerId, u64)> = {
            let buckets = lock(&self.entries);
            behind
                .iter()
                .filter(|(actor, _)| buckets.has_token(actor, now))
                .take(max)
                .map(|(actor, (peer, seq))| (*actor, *peer, *seq))
                .collect()
        };
        for (actor, _, _) in &due {
            behind.remove(actor);
        }
        due
    }

    /// Takes up to `n` entries of `actor`: how many may pass now (a prefix
    /// of a chain's range), and the refusal if not all. Gossip counts what
    /// it drops in `entries_throttled`; sync, which asks again for what it
    /// was refused, counts it in its round's report.
    pub fn entries(&self, actor: NodeId, n: u32) -> (u32, Option<Throttled>) {
        let (granted, refused) = take(&self.entries, actor, n);
        let throttled = (granted < n).then(|| Throttled {
            refused,
            log: worth_logging(refused - u64::from(n - granted), refused),
        });
        (granted, throttled)
    }

    /// Counts entries gossip dropped over their actor's rate.
    pub fn dropped(&self, n: u64) {
        self.entries_throttled.fetch_add(n, Ordering::Relaxed);
    }

    /// How long until `actor`'s bucket holds `n` entries' tokens (at most
    /// its burst); `None` if it never will (a rate of zero).
    pub fn entries_wait(&self, actor: NodeId, n: u32) -> Option<std::time::Duration> {
        lock(&self.entries).wait_for(actor, n, Instant::now())
    }

    /// Whether `actor` may have one more entry now, without taking it: the
    /// validator looks before it pays for a signature check.
    pub fn entry_allowed(&self, actor: &NodeId) -> bool {
        lock(&self.entries).has_token(actor, Instant::now())
    }

    /// Whether one more attestation of `issuer` may pass now.
    pub fn attestation(&self, issuer: NodeId) -> Result<(), Throttled> {
        match take(&self.attestations, issuer, 1) {
            (1, _) => Ok(()),
            (_, refused) => {
                self.attestations_throttled.fetch_add(1, Ordering::Relaxed);
                Err(Throttled {
                    refused,
                    log: worth_logging(refused - 1, refused),
                })
            }
        }
    }

    /// The ledger bounced an entry of `actor`: its bucket pays the bounce charge.
    pub fn bounced(&self, actor: NodeId) {
        lock(&self.entries).charge(actor, self.rates.bounce_charge, Instant::now());
    }
}

fn take(m: &Mutex<Buckets<NodeId>>, key: NodeId, n: u32) -> (u32, u64) {
    lock(m).take_counted(key, n, Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_round_at_a_time_fetches_a_chain() {
        let limits = ActorLimits::new(ActorRates::default());
        let (a, b) = (NodeId::from_bytes([1; 32]), NodeId::from_bytes([2; 32]));
        let first = limits.claim(a).expect("free");
        assert!(limits.claim(a).is_none(), "held by the first round");
        let other = limits.claim(b).expect("another chain is free");
        drop(first);
        assert!(limits.claim(a).is_some(), "released when the fetch ends");
        drop(other);
    }

    #[test]
    fn past_the_bound_chains_are_fetched_unclaimed() {
        let limits = ActorLimits::new(ActorRates::default());
        let held: Vec<Claim> = (0..ACTORS_TRACKED_MAX as u32)
            .map(|i| {
                let mut id = [0u8; 32];
                id[..4].copy_from_slice(&i.to_be_bytes());
                limits.claim(NodeId::from_bytes(id)).expect("free")
            })
            .collect();
        let extra = NodeId::from_bytes([0xff; 32]);
        let a = limits.claim(extra).expect("not refused at the bound");
        let b = limits
            .claim(extra)
            .expect("nor the second: nothing is recorded past it");
        drop((a, b));
        assert_eq!(limits.fetching.len(), ACTORS_TRACKED_MAX);
        drop(held);
        assert!(limits.fetching.is_empty(), "every claim released");
    }

    #[test]
    fn an_actor_over_its_rate_is_refused_counted_and_logged_sparsely_and_bounces_cost_more() {
        let limits = ActorLimits::new(ActorRates {
            entries: Rate::new(1, 10),
            attestations: Rate::new(1, 2),
            bounce_charge: 5,
        });
        let (a, b) = (NodeId::from_bytes([1; 32]), NodeId::from_bytes([2; 32]));
        assert_eq!(limits.entries(a, 4), (4, None));
        let (granted, throttled) = limits.entries(a, 8);
        assert_eq!(granted, 6);
        assert_eq!(throttled, Some(Throttled { refused: 2, log: true }));
        let (_, throttled) = limits.entries(a, 1);
        assert_eq!(throttled, Some(Throttled { refused: 3, log: false }));
        assert_eq!(limits.entries_throttled.load(Ordering::Relaxed), 0, "the caller counts");
        // Another actor is untouched; a bounce puts it 5 tokens down.
        limits.bounced(b);
        assert_eq!(limits.entries(b, 10).0, 5);
        assert!(limits.attestation(a).is_ok() && limits.attestation(a).is_ok());
        assert_eq!(limits.attestation(a), Err(Throttled { refused: 1, log: true }));
        assert_eq!(limits.attestations_throttled.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn chains_behind_are_chased_furthest_first_once_their_bucket_allows_and_bounded() {
        let limits = ActorLimits::new(ActorRates {
            entries: Rate::new(1, 2),
            ..ActorRates::default()
        });
        let (a, b) = (NodeId::from_bytes([1; 32]), NodeId::from_bytes([2; 32]));
        let (p, q) = (PeerId::random(), PeerId::random());
        limits.behind(a, p, 7);
        // A nearer seq does not displace the furthest; a further one does.
        limits.behind(a, q, 5);
        limits.behind(b, p, 3);
        limits.behind(b, q, 9);
        // `a` has spent its burst: only `b` is due, and is taken out.
        assert_eq!(limits.entries(a, 2).0, 2);
        assert_eq!(limits.chases(10), vec![(b, q, 9)]);
        assert_eq!(limits.chases(10), vec![], "taken once");
        // The record is bounded: actors past the bound wait for the periodic sync.
        for i in 0..ACTORS_TRACKED_MAX as u32 + 10 {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            id[31] = 9;
            limits.behind(NodeId::from_bytes(id), p, 1);
        }
        assert_eq!(
            limits.chases(usize::MAX).len(),
            ACTORS_TRACKED_MAX - 1,
            "`a` still holds its place, without a token"
        );
    }
}
