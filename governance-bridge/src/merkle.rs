//! Checkpoint Merkle trees: the root the swarm anchors each epoch and the
//! proofs that an entry's chain head is under it.
//!
//! The tree is OpenZeppelin's: leaves are double-hashed (so no leaf can pass
//! for an inner node) and each inner node is the keccak of its two children
//! in sorted order, so a proof is a plain list of siblings and the contract's
//! `MerkleProof.verify` (used by `Anchor.verifyInclusion`) checks it.

use alloy::primitives::{B256, U256, keccak256};
use alloy::sol_types::SolValue;
use serde::{Deserialize, Serialize};

/// The leaf of one node's chain head: its NodeID, the height of its chain and
/// the hash of its last entry.
pub fn head_leaf(node_id: [u8; 32], height: u64, head: [u8; 32]) -> B256 {
    let inner = keccak256((B256::from(node_id), height, B256::from(head)).abi_encode_params());
    keccak256(inner)
}

/// The leaf of one member's row in a cycle's GI table, as
/// `Anchor.giLeaf(cycle, nodeId, gi, tier, status)` computes it.
pub fn gi_leaf(cycle: u64, node_id: [u8; 32], gi: u32, tier: u8, status: u8) -> B256 {
    // Every value is a static word; alloy has no SolValue for u8.
    let words = (
        cycle,
        B256::from(node_id),
        U256::from(gi),
        U256::from(tier),
        U256::from(status),
    );
    let inner = keccak256(words.abi_encode_params());
    keccak256(inner)
}

/// The checkpoint leaf that commits to a cycle's GI table root, as
/// `Anchor.giCommitmentLeaf(cycle, giRoot)` computes it. Its encoding (a
/// string and two words) differs from a head leaf's (three words), so
/// neither can pass for the other.
pub fn gi_commitment_leaf(cycle: u64, gi_root: B256) -> B256 {
    let inner = keccak256(("IPPOC gi table".to_string(), cycle, gi_root).abi_encode_params());
    keccak256(inner)
}

/// The tree of a cycle's GI rows `(node_id, gi, tier, status)`, given in
/// NodeID order; `None` for no rows.
pub fn gi_tree(cycle: u64, rows: impl IntoIterator<Item = ([u8; 32], u32, u8, u8)>) -> Option<MerkleTree> {
    MerkleTree::new(
        rows.into_iter()
            .map(|(node, gi, tier, status)| gi_leaf(cycle, node, gi, tier, status))
            .collect(),
    )
}

fn hash_pair(a: B256, b: B256) -> B256 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// A Merkle tree over leaves given in a canonical order (the caller sorts
/// them: by NodeID for chain heads, so every node builds the same tree).
#[derive(Debug, Clone)]
pub struct MerkleTree {
    /// levels[0] are the leaves, the last level is the root.
    levels: Vec<Vec<B256>>,
}

/// The siblings from a leaf up to the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProof {
    /// The leaf the proof is for.
    pub leaf: B256,
    /// Sibling hashes, leaf level first.
    pub siblings: Vec<B256>,
}

impl MerkleTree {
    /// Build the tree; `None` for no leaves (an empty swarm anchors nothing).
    pub fn new(leaves: Vec<B256>) -> Option<Self> {
        if leaves.is_empty() {
            return None;
        }
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().expect("non-empty");
            // An odd node out is carried up unchanged, as OpenZeppelin's
            // multiproof-free trees do not require a full binary tree.
            let above = below
                .chunks(2)
                .map(|pair| {
                    if pair.len() == 2 {
                        hash_pair(pair[0], pair[1])
                    } else {
                        pair[0]
                    }
                })
                .collect();
            levels.push(above);
        }
        Some(Self { levels })
    }

    /// The root.
    pub fn root(&self) -> B256 {
        self.levels.last().expect("a tree has a root")[0]
    }

    /// How many leaves.
    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    /// Always false: a tree has at least one leaf.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The proof for the leaf at `index`.
    pub fn proof(&self, index: usize) -> Option<MerkleProof> {
        let leaf = *self.levels[0].get(index)?;
        let mut siblings = Vec::new();
        let mut i = index;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                siblings.push(level[sibling]);
            }
            i /= 2;
        }
        Some(MerkleProof { leaf, siblings })
    }

    /// The proof for `leaf`, wherever it is.
    pub fn proof_of(&self, leaf: B256) -> Option<MerkleProof> {
        let index = self.levels[0].iter().position(|l| *l == leaf)?;
        self.proof(index)
    }
}

impl MerkleProof {
    /// Whether the proof leads from its leaf to `root`.
    pub fn verify(&self, root: B256) -> bool {
        self.siblings.iter().fold(self.leaf, |acc, s| hash_pair(acc, *s)) == root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<B256> {
        (0..n).map(|i| head_leaf([i as u8; 32], i as u64, [0xab; 32])).collect()
    }

    #[test]
    fn every_leaf_proves_against_the_root_for_every_size() {
        for n in 1..=17 {
            let tree = MerkleTree::new(leaves(n)).expect("leaves");
            for i in 0..n {
                let proof = tree.proof(i).expect("in range");
                assert!(proof.verify(tree.root()), "n={n} i={i}");
            }
            assert!(tree.proof(n).is_none());
        }
    }

    #[test]
    fn a_changed_leaf_or_sibling_fails() {
        let tree = MerkleTree::new(leaves(6)).expect("leaves");
        let mut proof = tree.proof(3).expect("in range");
        proof.leaf = head_leaf([3; 32], 4, [0xab; 32]);
        assert!(!proof.verify(tree.root()));
        let mut proof = tree.proof(3).expect("in range");
        proof.siblings[1] = B256::ZERO;
        assert!(!proof.verify(tree.root()));
    }

    #[test]
    fn empty_tree_is_none() {
        assert!(MerkleTree::new(Vec::new()).is_none());
    }
}
