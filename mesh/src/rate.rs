//! Token buckets keyed by sender (a peer, an actor): what one sender may
//! have this node validate, store and relay per second, in a map of bounded
//! size. The mesh keeps one per peer; the node keeps one per ledger actor.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// A sustained rate and the burst allowed on top of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: u32,
    /// Most tokens a bucket holds: what a quiet sender may spend at once.
    pub burst: u32,
}

impl Rate {
    /// A rate of `per_second`, bursts of `burst`.
    pub const fn new(per_second: u32, burst: u32) -> Rate {
        Rate { per_second, burst }
    }
}

/// One sender's bucket. Tokens may fall below zero (a charge for work that
/// turned out wasted), down to minus one burst: the sender then waits that
/// debt off before anything more of it passes.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Tokens asked for and not granted, since the sender was first tracked.
    refused: u64,
}

impl Bucket {
    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(rate.per_second)).min(f64::from(rate.burst));
        // Never backwards: a caller's older `now` must not refill twice.
        self.at = self.at.max(now);
    }
}

/// Token buckets for at most `capacity` senders.
///
/// At the bound a new sender first makes the map forget every sender whose
/// bucket has refilled (forgetting one is the same as keeping a full
/// bucket), then, if none has, the sender with the most tokens: the most a
/// sender gains from being forgotten is one refill to a full burst.
#[derive(Debug)]
pub struct Buckets<K> {
    rate: Rate,
    map: HashMap<K, Bucket>,
    capacity: usize,
    forgotten: u64,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    /// Buckets of `rate` for at most `capacity` senders (at least one).
    pub fn new(rate: Rate, capacity: usize) -> Buckets<K> {
        Buckets {
            rate,
            map: HashMap::new(),
            capacity: capacity.max(1),
            forgotten: 0,
        }
    }

    /// The rate.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes up to `n` tokens from `key`'s bucket; returns how many it got
    /// (whole tokens, all or part of `n`).
    pub fn take(&mut self, key: K, n: u32, now: Instant) -> u32 {
        self.take_counted(key, n, now).0
    }

    /// [`Buckets::take`], and how many tokens `key` has been refused in all
    /// (this one included): callers log a sender's refusals at powers of
    /// ten ([`worth_logging`]) instead of once each.
    pub fn take_counted(&mut self, key: K, n: u32, now: Instant) -> (u32, u64) {
        let bucket = self.bucket(key, now);
        let granted = (bucket.tokens.max(0.0).floor() as u32).min(n);
        bucket.tokens -= f64::from(granted);
        bucket.refused += u64::from(n - granted);
        (granted, bucket.refused)
    }

    /// Takes `n` tokens from `key`'s bucket whether it holds them or not,
    /// down to minus one burst: the cost of what the sender made the node
    /// do in vain (an entry the ledger bounced).
    pub fn charge(&mut self, key: K, n: u32, now: Instant) {
        let burst = f64::from(self.rate.burst);
        let bucket = self.bucket(key, now);
        bucket.tokens = (bucket.tokens - f64::from(n)).max(-burst);
    }

    /// Whether `key`'s bucket holds a whole token now, without taking it
    /// (a sender not tracked holds a full burst).
    pub fn has_token(&self, key: &K, now: Instant) -> bool {
        self.map.get(key).is_none_or(|b| {
            let mut b = *b;
            b.refill(self.rate, now);
            b.tokens >= 1.0
        })
    }

    /// How long until `key`'s bucket holds `n` tokens (at most its burst):
    /// zero if it does now, `None` if it never will (a rate of zero).
    pub fn wait_for(&mut self, key: K, n: u32, now: Instant) -> Option<std::time::Duration> {
        let rate = self.rate;
        let want = f64::from(n.min(rate.burst));
        let bucket = self.bucket(key, now);
        let missing = want - bucket.tokens;
        if missing <= 0.0 {
            return Some(std::time::Duration::ZERO);
        }
        (rate.per_second > 0).then(|| std::time::Duration::from_secs_f64(missing / f64::from(rate.per_second)))
    }

    /// Forgets `key` (a peer that left).
    pub fn remove(&mut self, key: &K) {
        self.map.remove(key);
    }

    /// Senders tracked now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no sender is tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Senders forgotten to make room, since the start.
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    fn bucket(&mut self, key: K, now: Instant) -> &mut Bucket {
        if !self.map.contains_key(&key) && self.map.len() >= self.capacity {
            self.make_room(now);
        }
        let (rate, burst) = (self.rate, f64::from(self.rate.burst));
        let bucket = self.map.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
            refused: 0,
        });
        bucket.refill(rate, now);
        bucket
    }

    fn make_room(&mut self, now: Instant) {
        let (rate, burst) = (self.rate, f64::from(self.rate.burst));
        let before = self.map.len();
        self.map.retain(|_, b| {
            b.refill(rate, now);
            b.tokens < burst
        });
        if self.map.len() >= self.capacity {
            let fullest = self
                .map
                .iter()
                .max_by(|a, b| a.1.tokens.total_cmp(&b.1.tokens))
                .map(|(k, _)| *k);
            if let Some(k) = fullest {
                self.map.remove(&k);
            }
        }
        self.forgotten += (before - self.map.len()) as u64;
    }
}

/// Whether a running count of refusals just reached a power of ten (1, 10,
/// 100, ...): a flood of n refusals makes about log10(n) log lines.
pub fn worth_logging(refused_before: u64, refused_now: u64) -> bool {
    let mut p = 1u64;
    while p <= refused_now {
        if p > refused_before {
            return true;
        }
        match p.checked_mul(10) {
            Some(next) => p = next,
            None => break,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_sender_gets_its_burst_then_its_rate_and_a_charge_puts_it_in_debt() {
        let t0 = Instant::now();
        let mut b: Buckets<u8> = Buckets::new(Rate::new(10, 50), 8);
        assert_eq!(b.take(1, 40, t0), 40);
        assert_eq!(b.take(1, 40, t0), 10, "the rest of the burst");
        assert_eq!(b.take(1, 1, t0), 0);
        // Half a second refills five.
        assert_eq!(b.take(1, 100, t0 + Duration::from_millis(500)), 5);
        // Another sender is not touched by the first one's spending.
        assert_eq!(b.take(2, 50, t0), 50);
        // A charge below zero must be waited off: 30 in debt, then 10/s.
        b.charge(1, 30, t0 + Duration::from_millis(500));
        assert_eq!(
            b.take(1, 1, t0 + Duration::from_millis(3400)),
            0,
            "still 1 token in debt"
        );
        assert_eq!(b.take(1, 1, t0 + Duration::from_millis(3600)), 1);
        assert!(!b.has_token(&2, t0) && b.has_token(&2, t0 + Duration::from_millis(100)));
        assert!(b.has_token(&9, t0), "an untracked sender has its burst");
        // The wait for tokens: none when held, the refill time when not.
        assert_eq!(b.wait_for(2, 1, t0), Some(Duration::from_millis(100)));
        assert_eq!(
            b.wait_for(2, 500, t0 + Duration::from_secs(10)),
            Some(Duration::ZERO),
            "at most a burst"
        );
        let mut never: Buckets<u8> = Buckets::new(Rate::new(0, 1), 1);
        never.take(1, 1, t0);
        assert_eq!(never.wait_for(1, 1, t0), None);
        // Debt is capped at one burst, and a long quiet refills at most one burst.
        b.charge(1, 10_000, t0 + Duration::from_secs(4));
        assert_eq!(b.take(1, 1, t0 + Duration::from_millis(8900)), 0);
        assert_eq!(b.take(1, 1_000, t0 + Duration::from_secs(100)), 50);
    }

    #[test]
    fn refusals_are_logged_at_powers_of_ten() {
        let logged: Vec<u64> = (1..=1000).filter(|&n| worth_logging(n - 1, n)).collect();
        assert_eq!(logged, vec![1, 10, 100, 1000]);
        assert!(worth_logging(5, 12), "a jump over 10");
        assert!(!worth_logging(12, 99));
        assert!(!worth_logging(7, 7));
        let t0 = Instant::now();
        let mut b: Buckets<u8> = Buckets::new(Rate::new(1, 2), 4);
        assert_eq!(b.take_counted(1, 5, t0), (2, 3));
        assert_eq!(b.take_counted(1, 1, t0), (0, 4));
    }

    #[test]
    fn at_its_bound_the_map_forgets_refilled_senders_first_then_the_fullest() {
        let t0 = Instant::now();
        let mut b: Buckets<u32> = Buckets::new(Rate::new(1, 10), 3);
        b.take(1, 10, t0);
        b.take(2, 5, t0);
        b.take(3, 8, t0);
        // Full map, nobody refilled: the fullest (2, with 5 left) goes.
        assert_eq!(b.take(4, 1, t0), 1);
        assert_eq!(b.len(), 3);
        assert_eq!(b.take(2, 10, t0), 10, "2 was forgotten: a fresh burst");
        assert_eq!(b.take(1, 1, t0), 0, "1 was kept, empty");
        // After 20 s every bucket has refilled: all are forgotten for room.
        assert_eq!(b.take(9, 1, t0 + Duration::from_secs(20)), 1);
        assert_eq!(b.len(), 1);
        assert!(b.forgotten() >= 4);
    }
}
