//! A write overlay on the ledger tree: reads see earlier writes of the same
//! transaction, and commit applies every write as one atomic sled batch.
//! Durability is the caller's: it flushes the database before acknowledging.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};

use super::LedgerError;

/// Key-value pairs read from the tree.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Reads through, writes buffered until [`Txn::commit`].
pub struct Txn<'a> {
    tree: &'a sled::Tree,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Txn<'a> {
    pub fn new(tree: &'a sled::Tree) -> Self {
        Txn {
            tree,
            writes: BTreeMap::new(),
        }
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        if let Some(v) = self.writes.get(key) {
            return Ok(v.clone());
        }
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    pub fn del(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Every live key in `[start, end)`, in order, with this transaction's writes applied.
    pub fn range(&self, start: &[u8], end: &[u8]) -> Result<Pairs, LedgerError> {
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for item in self.tree.range(start.to_vec()..end.to_vec()) {
            let (k, v) = item?;
            merged.insert(k.to_vec(), Some(v.to_vec()));
        }
        for (k, v) in self
            .writes
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
        {
            merged.insert(k.clone(), v.clone());
        }
        Ok(merged.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
    }

    /// Applies the writes as one batch. `writes` counts the ledger's
    /// commits (before and after, so a reader that started during one sees
    /// the count move): the cached state root is only as fresh as it.
    pub fn commit(self, writes: &AtomicU64) -> Result<(), LedgerError> {
        writes.fetch_add(1, Ordering::AcqRel);
        let result = self.apply();
        writes.fetch_add(1, Ordering::AcqRel);
        result
    }

    fn apply(self) -> Result<(), LedgerError> {
        let mut batch = sled::Batch::default();
        for (k, v) in self.writes {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }
}
