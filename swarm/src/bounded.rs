//! A set with a fixed capacity that forgets its oldest member to make room,
//! for the "seen it already" memories of the pump's handlers: every one of
//! them would otherwise grow with whatever peers send, for as long as the
//! node runs.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

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
}
