//! Redialling the bootstrap peers: a peer the node was told to dial at start
//! is dialled again whenever no connection to it is up, after a backoff that
//! starts at [`REDIAL_FIRST`] and doubles to [`REDIAL_CAP`] while dials fail,
//! so a restarted peer is back within seconds and a dead one costs a dial
//! every half minute. Kademlia finds the other peers again through them.

use std::time::Duration;

use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};
use tokio::time::Instant;

/// First wait before a redial.
pub const REDIAL_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between redials.
pub const REDIAL_CAP: Duration = Duration::from_secs(30);

/// One bootstrap address and where it stands.
#[derive(Debug)]
struct Target {
    addr: Multiaddr,
    /// The peer that answered there last.
    peer: Option<PeerId>,
    /// The dial in flight, if any.
    dialing: Option<ConnectionId>,
    /// A connection to it is up.
    connected: bool,
    /// When to dial next (none while dialing or connected).
    next: Option<Instant>,
    /// The wait after the next failure.
    backoff: Duration,
}

/// The bootstrap peers' redial schedule; as many entries as bootstrap
/// addresses in the configuration.
#[derive(Debug, Default)]
pub struct Redial {
    targets: Vec<Target>,
}

impl Redial {
    /// Nothing scheduled: each address is added as it is first dialled.
    pub fn new() -> Redial {
        Redial::default()
    }

    /// `addr` is being dialled as connection `id`.
    pub fn dialing(&mut self, addr: &Multiaddr, id: ConnectionId) {
        match self.targets.iter_mut().find(|t| t.addr == *addr) {
            Some(t) => {
                t.dialing = Some(id);
                t.next = None;
            }
            None => self.targets.push(Target {
                addr: addr.clone(),
                peer: None,
                dialing: Some(id),
                connected: false,
                next: None,
                backoff: REDIAL_FIRST,
            }),
        }
    }

    /// A connection is up: a dial of ours succeeded, or the peer came back.
    pub fn connected(&mut self, peer: PeerId, id: ConnectionId) {
        for t in &mut self.targets {
            if t.dialing == Some(id) || t.peer == Some(peer) {
                t.peer = Some(peer);
                t.connected = true;
                t.dialing = t.dialing.filter(|d| *d != id);
                t.next = None;
                t.backoff = REDIAL_FIRST;
            }
        }
    }

    /// The last connection to `peer` closed: redial it after the backoff.
    pub fn disconnected(&mut self, peer: PeerId, now: Instant) {
        for t in &mut self.targets {
            if t.peer == Some(peer) && t.connected {
                t.connected = false;
                if t.dialing.is_none() {
                    t.next = Some(now + t.backoff);
                }
            }
        }
    }

    /// Dial `id` failed: try again after the backoff, which doubles.
    pub fn failed(&mut self, id: ConnectionId, now: Instant) {
        for t in &mut self.targets {
            if t.dialing == Some(id) {
                t.dialing = None;
                if !t.connected {
                    t.next = Some(now + t.backoff);
                    t.backoff = (t.backoff * 2).min(REDIAL_CAP);
                }
            }
        }
    }

    /// Addresses due for a dial now (each then waits for its outcome),
    /// except those of `skip` peers (banned).
    pub fn due(&mut self, now: Instant, skip: impl Fn(&PeerId) -> bool) -> Vec<Multiaddr> {
        let mut out = Vec::new();
        for t in &mut self.targets {
            if t.next.is_some_and(|at| at <= now) {
                t.next = None;
                if !t.peer.as_ref().is_some_and(&skip) {
                    out.push(t.addr.clone());
                }
            }
        }
        out
    }

    /// `peers` became reachable again (a partition lifted): those of them
    /// not connected are due now, with the backoff reset, instead of after
    /// a backoff that grew while they were cut off (up to [`REDIAL_CAP`]).
    pub fn wake(&mut self, peers: &[PeerId], now: Instant) {
        for t in &mut self.targets {
            if !t.connected && t.dialing.is_none() && t.peer.is_some_and(|p| peers.contains(&p)) {
                t.next = Some(now);
                t.backoff = REDIAL_FIRST;
            }
        }
    }

    /// When the next redial is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.targets.iter().filter_map(|t| t.next).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_peer_is_redialled_with_a_backoff_that_doubles_to_its_cap_and_resets_on_success() {
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/7734".parse().unwrap();
        let peer = PeerId::random();
        let mut r = Redial::new();
        let t0 = Instant::now();
        let first = ConnectionId::new_unchecked(1);
        r.dialing(&addr, first);
        r.connected(peer, first);
        assert_eq!(r.next_due(), None, "connected: nothing to do");
        r.disconnected(peer, t0);
        assert_eq!(r.next_due(), Some(t0 + REDIAL_FIRST), "back within a second");
        assert!(r.due(t0, |_| false).is_empty());
        assert_eq!(r.due(t0 + REDIAL_FIRST, |_| false), vec![addr.clone()]);
        // Dials fail: 1 s, 2 s, 4 s, … up to the cap.
        let mut waits = Vec::new();
        let mut now = t0 + REDIAL_FIRST;
        for i in 2..12 {
            r.dialing(&addr, ConnectionId::new_unchecked(i));
            r.failed(ConnectionId::new_unchecked(i), now);
            let next = r.next_due().unwrap();
            waits.push((next - now).as_secs());
            now = next;
            assert_eq!(r.due(now, |_| false), vec![addr.clone()]);
        }
        assert_eq!(&waits[..6], &[1, 2, 4, 8, 16, 30]);
        assert!(waits.iter().all(|w| *w <= REDIAL_CAP.as_secs()));
        // The peer is back: the backoff starts over.
        r.dialing(&addr, ConnectionId::new_unchecked(99));
        r.connected(peer, ConnectionId::new_unchecked(99));
        r.disconnected(peer, now);
        assert_eq!(r.next_due(), Some(now + REDIAL_FIRST));
        // A banned peer is not dialled.
        assert!(r.due(now + REDIAL_FIRST, |p| *p == peer).is_empty());
    }

    #[test]
    fn a_peer_regained_when_a_partition_lifts_is_dialled_at_once_not_after_its_backoff() {
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/7734".parse().unwrap();
        let (peer, other) = (PeerId::random(), PeerId::random());
        let mut r = Redial::new();
        let t0 = Instant::now();
        r.dialing(&addr, ConnectionId::new_unchecked(1));
        r.connected(peer, ConnectionId::new_unchecked(1));
        r.disconnected(peer, t0);
        // Cut off: every redial fails and the backoff grows to its cap.
        let mut now = t0;
        for i in 2..10 {
            now = r.next_due().unwrap();
            assert_eq!(r.due(now, |_| false), vec![addr.clone()]);
            r.dialing(&addr, ConnectionId::new_unchecked(i));
            r.failed(ConnectionId::new_unchecked(i), now);
        }
        assert_eq!(r.next_due(), Some(now + REDIAL_CAP));
        // Lifting the cut of another peer changes nothing; of this one, it is due now.
        r.wake(&[other], now);
        assert_eq!(r.next_due(), Some(now + REDIAL_CAP));
        r.wake(&[other, peer], now);
        assert_eq!(r.next_due(), Some(now));
        assert_eq!(r.due(now, |_| false), vec![addr.clone()]);
        // And its backoff starts over.
        r.dialing(&addr, ConnectionId::new_unchecked(20));
        r.failed(ConnectionId::new_unchecked(20), now);
        assert_eq!(r.next_due(), Some(now + REDIAL_FIRST));
    }
}
