//! The node's writes to the swarm document (`crate::doc`): its directory
//! entry, the ban records it made, its checkpoint observations and the
//! parameter table it prices under; the document saved at most every
//! [`DOC_SAVE_INTERVAL`] and at stop, kept unloaded while idle; its counts
//! shown in the view.

use std::time::{Duration, Instant};

use ippoc_mesh::{Multiaddr, PeerId};
use sha2::Digest;

use super::ctx::Ctx;
use crate::doc::{AdoptedTable, BanRecord, DOC_IDLE, Member, Observation, SharedSwarmDoc, lock};
use crate::view::TableCount;

/// How often the swarm document is written to disk, at most.
const DOC_SAVE_INTERVAL: Duration = Duration::from_secs(30);

/// The document handler.
pub(crate) struct Document {
    /// The swarm document.
    doc: SharedSwarmDoc,
    /// This machine's fingerprint hash (hex) for the directory; empty in process.
    fingerprint: String,
    /// The node's listen addresses with `/p2p/<PeerId>`: one per interface
    /// and listen address the mesh reports, so bounded by the machine.
    listening: Vec<String>,
    /// When the document was last written.
    saved: Instant,
    /// The parameter table version last mirrored into the document.
    table_recorded: Option<u32>,
}

impl Document {
    /// The handler over `doc`.
    pub fn new(doc: SharedSwarmDoc, fingerprint: String) -> Document {
        Document {
            doc,
            fingerprint,
            listening: Vec::new(),
            saved: Instant::now(),
            table_recorded: None,
        }
    }

    /// The mesh listens on a new address: log it, show it, list it in the directory.
    pub fn listening(&mut self, ctx: &Ctx, addr: Multiaddr) {
        let full = format!("{addr}/p2p/{}", ctx.peer_id);
        tracing::info!(event = "mesh_listening", address = %full, "mesh listening");
        self.listening.push(full.clone());
        ctx.view.update(|v| v.listening.push(full));
        let member = Member {
            peer_id: ctx.peer_id.to_string(),
            addresses: self.listening.clone(),
            fingerprint: self.fingerprint.clone(),
            status: "active".into(),
            updated_ms: crate::ledger::now_ms(),
        };
        if let Err(e) = lock(&self.doc).set_member(ctx.owner, &member) {
            tracing::error!("could not write the directory entry: {e}");
        }
    }

    /// A peer left: its Automerge sync state goes.
    pub fn peer_gone(&self, peer: &PeerId) {
        lock(&self.doc).forget(&peer.to_string());
    }

    /// A ban this node made, with the hash of its evidence (empty if none).
    pub fn banned(&self, ctx: &Ctx, peer: PeerId, reason: String, evidence: String) {
        let record = BanRecord {
            reason,
            evidence,
            at_ms: crate::ledger::now_ms(),
        };
        if let Err(e) = lock(&self.doc).record_ban(&peer.to_string(), ctx.owner, &record) {
            tracing::error!("could not record the ban of {peer} in the swarm document: {e}");
        }
    }

    /// A checkpoint tally of this node's.
    pub fn observe(&self, ctx: &Ctx, observation: &Observation) {
        if let Err(e) = lock(&self.doc).observe(ctx.owner, observation) {
            tracing::error!("could not record an observation: {e}");
        }
    }

    /// The attestation tick: mirror the table this node prices under if it
    /// changed, save if due, show the counts.
    pub fn tick(&mut self, ctx: &Ctx) {
        self.record_table(ctx);
        self.save(ctx, false);
    }

    /// Mirrors the parameter table this node prices under into the swarm
    /// document when it changed (the watcher adopts tables from the chain).
    fn record_table(&mut self, ctx: &Ctx) {
        let (version, table) = ctx.ledger.parameters();
        if self.table_recorded == Some(version) {
            return;
        }
        let sha256 = hex::encode(sha2::Sha256::digest(ippoc_economy::encoding::encode(&table)));
        let adopted = AdoptedTable { version, sha256 };
        match lock(&self.doc).record_table(ctx.owner, &adopted) {
            Ok(_) => self.table_recorded = Some(version),
            Err(e) => tracing::error!("could not record the parameter table: {e}"),
        }
    }

    /// Persists the document if it is due (or `force`), and shows its size.
    pub fn save(&mut self, ctx: &Ctx, force: bool) {
        // A save compresses the whole document: at most every DOC_SAVE_INTERVAL
        // (and at stop). What is lost in a crash comes back from peers by sync.
        let due = force || self.saved.elapsed() >= DOC_SAVE_INTERVAL;
        let summary = {
            let mut doc = lock(&self.doc);
            if due {
                if let Err(e) = doc.save() {
                    tracing::error!("could not save the swarm document: {e}");
                }
                self.saved = Instant::now();
            }
            doc.summary()
        };
        let summary = match summary {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot read the swarm document: {e}");
                return;
            }
        };
        let tables = table_counts(summary.tables.into_values());
        ctx.view.update(|v| {
            v.stats.doc_members = summary.members as u64;
            v.stats.doc_ban_records = summary.bans as u64;
            v.tables = tables;
        });
    }

    /// Keeps the document as its saved bytes when nothing has needed it for
    /// [`DOC_IDLE`] (the next use loads it again).
    pub fn unload_if_idle(&self) {
        lock(&self.doc).unload_if_idle(DOC_IDLE);
    }

    /// The document, for sync rounds.
    pub fn shared(&self) -> &SharedSwarmDoc {
        &self.doc
    }
}

/// The tables nodes recorded, counted, most nodes first.
fn table_counts(tables: impl Iterator<Item = AdoptedTable>) -> Vec<TableCount> {
    let mut counts: std::collections::BTreeMap<(u32, String), u64> = Default::default();
    for t in tables {
        *counts.entry((t.version, t.sha256)).or_default() += 1;
    }
    let mut out: Vec<TableCount> = counts
        .into_iter()
        .map(|((version, sha256), nodes)| TableCount { version, sha256, nodes })
        .collect();
    out.sort_by(|a, b| b.nodes.cmp(&a.nodes).then(b.version.cmp(&a.version)));
    out
}
