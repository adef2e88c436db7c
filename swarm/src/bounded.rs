//! Bounded sets: one with a fixed capacity that forgets its oldest member
//! to make room, for the "seen it already" memories of the pump's handlers
//! (every one of them would otherwise grow with whatever peers send, for as
//! long as the node runs); and a set of keys claimed for one holder at a
//! time, released however the holder's work ends.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

/// At most `capacity` members; inserting into a full set evicts the member
/// inserted longest ago (first in, first out).
#[derive(Debug, Clone)]
pub struct FifoSet<T: Eq + Hash + Clone> {
    members: HashSet<T>,
    order: VecDeque<T>,
    capacity: usize,
    evicted: u64,
}

impl<T: Eq + Hash + Clone> FifoSet<T> {
    /// An empty set holding at most `capacity` members (at least one).
    pub fn new(capacity: usize) -> Self {
        FifoSet {
            members: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            evicted: 0,
        }
    }

    /// Adds `value`; false if it was already a member. A full set first
    /// forgets its oldest member.
    pub fn insert(&mut self, value: T) -> bool {
        if self.members.contains(&value) {
            return false;
        }
        if self.members.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.members.remove(&oldest);
            self.evicted += 1;
        }
        self.members.insert(value.clone());
        self.order.push_back(value);
        debug_assert_eq!(self.members.len(), self.order.len());
        true
    }

    /// Whether `value` is a member.
    pub fn contains(&self, value: &T) -> bool {
        self.members.contains(value)
    }

    /// Forgets `value`.
    pub fn remove(&mut self, value: &T) {
        if self.members.remove(value) {
            self.order.retain(|v| v != value);
        }
    }

    /// Keeps only the members `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.order.retain(|v| keep(v));
        self.members.retain(|v| keep(v));
    }

    /// Members now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// How many members were forgotten to make room, since creation.
    #[cfg(test)]
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

/// Keys held by one task at a time (a chain being fetched, a peer's
/// document sync): [`ClaimSet::claim`] refuses a key already held, and the
/// [`Claimed`] guard releases it when dropped. At most `capacity` keys are
/// held; past it a claim is granted unheld, so work goes ahead unclaimed
/// rather than waits. Clones share the set.
#[derive(Debug, Clone)]
pub struct ClaimSet<K: Eq + Hash + Clone> {
    held: Arc<Mutex<HashSet<K>>>,
    capacity: usize,
}

/// A claim on one key of a [`ClaimSet`]; dropping it releases the key.
#[derive(Debug)]
pub struct Claimed<K: Eq + Hash + Clone> {
    /// The set, if the key is held (None past the capacity).
    set: Option<Arc<Mutex<HashSet<K>>>>,
    key: K,
}

impl<K: Eq + Hash + Clone> ClaimSet<K> {
    /// An empty set holding at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        ClaimSet {
            held: Arc::default(),
            capacity,
        }
    }

    /// Claims `key`: `None` if it is held, else a guard (holding it, or
    /// not past the capacity).
    pub fn claim(&self, key: K) -> Option<Claimed<K>> {
        let mut held = lock(&self.held);
        if held.contains(&key) {
            return None;
        }
        let holds = held.len() < self.capacity && held.insert(key.clone());
        Some(Claimed {
            set: holds.then(|| self.held.clone()),
            key,
        })
    }

    /// Keys held now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        lock(&self.held).len()
    }

    /// Whether no key is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Eq + Hash + Clone> Drop for Claimed<K> {
    fn drop(&mut self) {
        if let Some(set) = &self.set {
            lock(set).remove(&self.key);
        }
    }
}

/// Locks `m`; a panic while it was held leaves the data usable (every
/// user's update is one insert or remove).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_set_forgets_the_oldest_member_and_never_grows() {
        let mut s = FifoSet::new(3);
        for v in 0..3 {
            assert!(s.insert(v));
        }
        assert!(!s.insert(1), "already a member");
        assert!(s.insert(3));
        assert_eq!(s.len(), 3);
        assert!(!s.contains(&0), "the oldest went first");
        assert!(s.contains(&1) && s.contains(&3));
        assert_eq!(s.evicted(), 1);
        for v in 4..1000 {
            s.insert(v);
        }
        assert_eq!(s.len(), 3);
        s.remove(&999);
        s.retain(|v| *v != 998);
        assert_eq!(s.len(), 1);
        assert!(s.contains(&997));
    }

    #[test]
    fn a_claimed_key_is_refused_until_its_guard_drops_and_clones_share_the_set() {
        let set = ClaimSet::new(2);
        let shared = set.clone();
        let a = set.claim("a").expect("free");
        assert!(shared.claim("a").is_none(), "held, seen through the clone");
        let b = shared.claim("b").expect("free");
        // Past the capacity: granted, but not held.
        let c = set.claim("c").expect("not refused at the capacity");
        assert!(set.claim("c").is_some(), "nothing was recorded for it");
        assert_eq!(set.len(), 2);
        drop((a, c));
        assert!(set.claim("a").is_some(), "released when the guard dropped");
        drop(b);
        assert!(set.is_empty());
    }
}
