//! IPPOC mesh: the node's peer-to-peer networking.
//!
//! This crate will carry rust-libp2p on tokio (TCP + Noise + Yamux, QUIC),
//! Identify, Kademlia/mDNS discovery, gossipsub topics for ledger entries,
//! attestations, warrants and governance relay, request-response anti-entropy
//! sync, the Trust Manager that bans forgers and equivocators, and the Automerge
//! swarm document (DESIGN.md §5, §9). It carries typed, signed envelopes and asks
//! a `Validator` supplied by the node to accept, reject or ignore each one.
//!
//! It must not depend on `ippoc-economy`, `ippoc-sandbox`,
//! `ippoc-governance-bridge` or `ippoc-node`: ledger rules reach it only through
//! the validator callback that `ippoc-node` implements.
//!
//! Status: the crate exists so that the workspace has its final shape; the
//! networking lands with the mesh issue.
