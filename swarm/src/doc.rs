//! The swarm document: the swarm's shared mutable state as an Automerge CRDT
//! (DESIGN.md §5): the membership directory, bans with their evidence, each
//! node's integrity observations, and the governed parameters. It syncs with
//! Automerge's sync protocol over the mesh's request-response channel and is
//! kept in `data/swarm.automerge`.
//!
//! Layout: four maps under the root, `members`, `bans`, `observations`,
//! `parameters`, whose values are JSON strings. Every node starts from the
//! same base document, derived from the genesis alone (fixed actor, fixed
//! time), so the four maps are the *same* objects everywhere: had each node
//! created its own `members` map, concurrent creations would conflict and
//! all but one node's members would vanish in the merge. Keys are written by
//! one node each (`members/<its NodeId>`, `bans/<peer>/<reporter>`,
//! `observations/<observer>/<subject>`), so merges never lose a write; the
//! parameters map holds the genesis table (in the base document) and, under
//! each node's own key, the version and hash of the table that node prices
//! under. It is a mirror for people and tools, never an authority: nodes
//! adopt tables from the chain alone (docs/evolution.md), as anyone can
//! write to a CRDT.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValueRef, Value, ValueRef};
use ippoc_economy::NodeId;
use ippoc_economy::genesis::Genesis;
use serde::{Deserialize, Serialize};

use crate::Error;

/// Largest swarm document this node loads or accepts, in bytes.
pub const SWARM_DOC_BYTES_MAX: usize = 16 << 20;

/// One node's entry in the membership directory, written by that node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its libp2p PeerId.
    pub peer_id: String,
    /// Addresses it listens on.
    pub addresses: Vec<String>,
    /// Its hardware fingerprint hash (hex), empty if it runs without one (in process).
    pub fingerprint: String,
    /// `active` while it runs.
    pub status: String,
    /// When it last wrote this, Unix ms.
    pub updated_ms: u64,
}

/// A ban, as one reporter recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanRecord {
    /// Why.
    pub reason: String,
    /// SHA-256 (hex) of the warrant that proves it, empty for first-hand bans.
    pub evidence: String,
    /// When, Unix ms.
    pub at_ms: u64,
}

/// One node's tally of the checkpoint votes it heard for one epoch.
///
/// One record per observer, rewritten once an epoch: a record per
/// (observer, subject) pair would add n² operations to every replica's
/// history each epoch (it made a 200-node simulation run out of CPU and
/// memory in Automerge alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// The epoch.
    pub epoch: u64,
    /// The observer's own state root (hex) at the end of it.
    pub state_root: String,
    /// Votes heard with the same root.
    pub agree: u32,
    /// Votes heard with another root.
    pub disagree: u32,
    /// The first [`OBSERVED_DISSENTERS_MAX`] nodes whose root differed.
    pub dissenters: Vec<String>,
}

/// The parameter table one node prices under, as that node recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoptedTable {
    /// The table's version (0 = genesis).
    pub version: u32,
    /// SHA-256 (hex) of the table's canonical encoding: the same on every
    /// node that adopted the same table, so a node following another DAO shows.
    pub sha256: String,
}

/// Dissenters named in one observation, at most (the count is exact).
pub const OBSERVED_DISSENTERS_MAX: usize = 32;

const MAPS: [&str; 4] = ["members", "bans", "observations", "parameters"];

/// The swarm document, shared by the mesh pump and the sync responder.
pub type SharedSwarmDoc = std::sync::Arc<std::sync::Mutex<SwarmDoc>>;

/// Locks a shared swarm document (a panic while holding it leaves it usable:
/// every write is one Automerge operation).
pub fn lock(doc: &SharedSwarmDoc) -> std::sync::MutexGuard<'_, SwarmDoc> {
    doc.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long the document stays loaded after its last use. Then it is kept
/// as its saved bytes alone (see [`SwarmDoc`]).
pub const DOC_IDLE: Duration = Duration::from_secs(2);

/// The swarm document of one node.
///
/// Loaded (an Automerge document) while in use, and kept as its saved,
/// compressed bytes in between: every node holds every node's records, so
/// the document is the part of a node's memory that grows with the swarm's
/// size. With 1000 records Automerge holds ~2.3 KB a record when the
/// document was built by sync (~1.3 KB once reloaded) against ~155 B saved
/// (`cargo run --release -p ippoc-swarm --example doc_memory -- 1000`). A
/// large swarm's sync interval is long, so the document is idle most of the
/// time; loading it takes ~7 ms at 1000 records, done when a sync exchange
/// or a write needs it, and it goes back to bytes [`DOC_IDLE`] after its
/// last use (~9 ms to save).
pub struct SwarmDoc {
    state: State,
    /// The actor this opening writes under, kept across unloads: the loaded
    /// document's changes continue its sequence.
    actor: ActorId,
    path: PathBuf,
    /// Automerge's sync state per peer; independent of the loaded document
    /// (it names changes by hash), so it survives an unload.
    peers: HashMap<String, sync::State>,
    /// Changed since the file was last written.
    dirty: bool,
    /// When the loaded document was last needed.
    used: Instant,
    /// The counts and tables the attestation tick shows, kept while the
    /// document does not change, so that showing them needs no load.
    summary: Option<Summary>,
}

/// The document, loaded or as bytes.
enum State {
    /// Loaded, with the object ids of the four maps (boxed: the two states
    /// alternate, and the bytes are small).
    Loaded(Box<AutoCommit>, HashMap<&'static str, ObjId>),
    /// As saved: what `AutoCommit::save` gave when it was last unloaded.
    Saved(Vec<u8>),
}

/// What the node shows of its document without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Directory entries.
    pub members: usize,
    /// Ban records.
    pub bans: usize,
    /// The parameter tables nodes recorded, by NodeId.
    pub tables: BTreeMap<String, AdoptedTable>,
}

fn doc_error(e: impl std::fmt::Display) -> Error {
    Error::Mesh(format!("swarm document: {e}"))
}

impl SwarmDoc {
    /// The base document every node of the swarm starts from.
    fn base(genesis: &Genesis) -> Result<AutoCommit, Error> {
        let mut doc = AutoCommit::new();
        doc.set_actor(ActorId::from(genesis.swarm_id().0.to_vec()));
        for name in MAPS {
            doc.put_object(ROOT, name, ObjType::Map).map_err(doc_error)?;
        }
        let params = doc.get(ROOT, "parameters").map_err(doc_error)?.expect("just created").1;
        let json = serde_json::to_string(&genesis.parameters).expect("parameters serialize");
        doc.put(&params, "genesis", json).map_err(doc_error)?;
        doc.commit_with(CommitOptions::default().with_time(0));
        Ok(doc)
    }

    /// Opens the document at `path` (or the swarm's base document if there is
    /// none yet); `owner` writes as itself, under an actor of this opening.
    ///
    /// The document is a replica: nothing in it is authoritative, and peers
    /// hold all of it. A damaged file (or one over the bound) is set aside
    /// as `<name>.damaged` and the document starts again from the base; sync
    /// with peers brings the rest back.
    pub fn open(path: &Path, genesis: &Genesis, owner: NodeId) -> Result<SwarmDoc, Error> {
        let loaded = match std::fs::read(path) {
            Ok(bytes) if bytes.len() <= SWARM_DOC_BYTES_MAX => {
                AutoCommit::load(&bytes).map_err(|e| format!("not an Automerge document: {e}"))
            }
            Ok(bytes) => Err(format!(
                "{} bytes, over the bound of {SWARM_DOC_BYTES_MAX}",
                bytes.len()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SwarmDoc::base(genesis)?),
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        let mut doc = match loaded {
            Ok(doc) => doc,
            Err(why) => {
                let aside = path.with_extension("automerge.damaged");
                std::fs::rename(path, &aside).map_err(|e| Error::io("cannot set aside", path, e))?;
                tracing::warn!(
                    event = "swarm_document_damaged",
                    path = %path.display(),
                    aside = %aside.display(),
                    "the swarm document is damaged ({why}); set aside, rebuilt from the base and from peers by sync"
                );
                SwarmDoc::base(genesis)?
            }
        };
        // A fresh actor for every opening: after a crash (kill -9) the file
        // may predate changes this node already sent, and reusing the actor
        // would reuse their sequence numbers for other changes, which peers
        // refuse ("duplicate seq"). Each start writes under a new actor.
        let mut actor = owner.as_bytes().to_vec();
        actor.extend_from_slice(&crate::fsutil::random_bytes(8));
        let actor = ActorId::from(actor);
        doc.set_actor(actor.clone());
        let maps = maps_of(&doc).map_err(|e| doc_error(format!("{}: {e}", path.display())))?;
        Ok(SwarmDoc {
            state: State::Loaded(Box::new(doc), maps),
            actor,
            path: path.to_path_buf(),
            peers: HashMap::new(),
            dirty: false,
            used: Instant::now(),
            summary: None,
        })
    }

    /// The loaded document and its maps, loading it if it is kept as bytes.
    fn loaded(&mut self) -> Result<(&mut AutoCommit, &HashMap<&'static str, ObjId>), Error> {
        self.used = Instant::now();
        if let State::Saved(bytes) = &self.state {
            // The bytes are this document's own save: failing to load them
            // is a bug in Automerge or memory corruption, not a peer's doing.
            let begun = Instant::now();
            let mut doc = AutoCommit::load(bytes).map_err(doc_error)?;
            doc.set_actor(self.actor.clone());
            let maps = maps_of(&doc).map_err(doc_error)?;
            tracing::debug!(
                event = "doc_loaded",
                bytes = bytes.len(),
                ms = begun.elapsed().as_secs_f64() * 1e3,
                "the swarm document loaded for use"
            );
            self.state = State::Loaded(Box::new(doc), maps);
        }
        match &mut self.state {
            State::Loaded(doc, maps) => Ok((doc, maps)),
            State::Saved(_) => Err(doc_error("not loaded")),
        }
    }

    /// Keeps the document as its saved bytes if it has not been needed for
    /// `idle`; true when it did. Its summary is taken first, so the
    /// attestation tick can show it without a load.
    pub fn unload_if_idle(&mut self, idle: Duration) -> bool {
        if matches!(self.state, State::Saved(_)) || self.used.elapsed() < idle {
            return false;
        }
        if self.summary.is_none() {
            self.summary = self.summarize().ok();
        }
        if let State::Loaded(doc, _) = &mut self.state {
            let begun = Instant::now();
            let bytes = doc.save();
            tracing::debug!(
                event = "doc_unloaded",
                bytes = bytes.len(),
                ms = begun.elapsed().as_secs_f64() * 1e3,
                "the swarm document idle: kept as its saved bytes"
            );
            self.state = State::Saved(bytes);
        }
        true
    }

    /// Whether the document is loaded now.
    pub fn is_loaded(&self) -> bool {
        matches!(self.state, State::Loaded(..))
    }

    fn put<T: Serialize>(&mut self, map: &'static str, key: &str, value: &T) -> Result<(), Error> {
        let json = serde_json::to_string(value).expect("serializable");
        let (doc, maps) = self.loaded()?;
        doc.put(&maps[map], key, json).map_err(doc_error)?;
        self.changed();
        Ok(())
    }

    /// The document changed: the file and the summary are out of date.
    fn changed(&mut self) {
        self.dirty = true;
        self.summary = None;
    }

    fn read<T: for<'de> Deserialize<'de>>(&mut self, map: &'static str) -> Result<BTreeMap<String, T>, Error> {
        let (doc, maps) = self.loaded()?;
        let mut out = BTreeMap::new();
        for item in doc.map_range(&maps[map], ..) {
            if let ValueRef::Scalar(ScalarValueRef::Str(text)) = item.value
                && let Ok(v) = serde_json::from_str(&text)
            {
                out.insert(item.key.to_string(), v);
            }
        }
        Ok(out)
    }

    fn read_one<T: for<'de> Deserialize<'de>>(&mut self, map: &'static str, key: &str) -> Result<Option<T>, Error> {
        let (doc, maps) = self.loaded()?;
        let Some((value, _)) = doc.get(&maps[map], key).map_err(doc_error)? else {
            return Ok(None);
        };
        Ok(value.to_str().and_then(|s| serde_json::from_str(s).ok()))
    }

    /// Writes this node's directory entry.
    pub fn set_member(&mut self, node: NodeId, member: &Member) -> Result<(), Error> {
        self.put("members", &node.to_string(), member)
    }

    /// Records that `reporter` banned `peer`.
    pub fn record_ban(&mut self, peer: &str, reporter: NodeId, ban: &BanRecord) -> Result<(), Error> {
        self.put("bans", &format!("{peer}/{reporter}"), ban)
    }

    /// Records `observer`'s tally of one epoch's checkpoint votes.
    pub fn observe(&mut self, observer: NodeId, o: &Observation) -> Result<(), Error> {
        self.put("observations", &observer.to_string(), o)
    }

    /// Records the parameter table `node` prices under, under its own key in
    /// `parameters`. Returns whether it wrote: recording the same table again
    /// (a restart) adds nothing to the document's history.
    pub fn record_table(&mut self, node: NodeId, table: &AdoptedTable) -> Result<bool, Error> {
        let key = node.to_string();
        if self.read_one::<AdoptedTable>("parameters", &key)?.as_ref() == Some(table) {
            return Ok(false);
        }
        self.put("parameters", &key, table)?;
        Ok(true)
    }

    /// How many directory entries and ban records the document holds, and
    /// the tables nodes recorded: kept until the document changes, so
    /// asking again loads nothing.
    pub fn summary(&mut self) -> Result<Summary, Error> {
        if let Some(s) = &self.summary {
            return Ok(s.clone());
        }
        let s = self.summarize()?;
        self.summary = Some(s.clone());
        Ok(s)
    }

    fn summarize(&mut self) -> Result<Summary, Error> {
        let (members, bans) = {
            let (doc, maps) = self.loaded()?;
            (doc.length(&maps["members"]), doc.length(&maps["bans"]))
        };
        Ok(Summary {
            members,
            bans,
            tables: self.adopted_tables()?,
        })
    }

    /// The membership directory: NodeId → entry.
    pub fn members(&mut self) -> Result<BTreeMap<String, Member>, Error> {
        self.read("members")
    }

    /// Bans: `<peer>/<reporter>` → record.
    pub fn bans(&mut self) -> Result<BTreeMap<String, BanRecord>, Error> {
        self.read("bans")
    }

    /// Observations: `<observer>` → its latest tally.
    pub fn observations(&mut self) -> Result<BTreeMap<String, Observation>, Error> {
        self.read("observations")
    }

    /// The governed parameters as recorded: `genesis` → the genesis table
    /// (JSON), and each node's [`AdoptedTable`] under its NodeId.
    pub fn parameters(&mut self) -> Result<BTreeMap<String, serde_json::Value>, Error> {
        self.read("parameters")
    }

    /// The parameter tables nodes price under, by NodeId, as they recorded them.
    pub fn adopted_tables(&mut self) -> Result<BTreeMap<String, AdoptedTable>, Error> {
        let mut tables: BTreeMap<String, AdoptedTable> = self.read("parameters")?;
        tables.remove("genesis");
        Ok(tables)
    }

    /// Hashes of the document's current heads: equal on two nodes when they
    /// hold the same changes.
    pub fn heads(&mut self) -> Result<Vec<String>, Error> {
        let (doc, _) = self.loaded()?;
        let mut heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
        heads.sort();
        Ok(heads)
    }

    /// Writes the document if it changed since the last save (atomic
    /// replace); an unloaded document writes the bytes it is kept as.
    pub fn save(&mut self) -> Result<(), Error> {
        if !self.dirty {
            return Ok(());
        }
        match &mut self.state {
            State::Loaded(doc, _) => {
                let bytes = doc.save();
                crate::fsutil::write_atomic(&self.path, &bytes, 0o644)?;
            }
            State::Saved(bytes) => crate::fsutil::write_atomic(&self.path, bytes, 0o644)?,
        }
        self.dirty = false;
        Ok(())
    }

    /// The next sync message for `peer`, encoded; `None` when it is up to date
    /// as far as this node knows.
    pub fn sync_message(&mut self, peer: &str) -> Result<Option<Vec<u8>>, Error> {
        let mut state = self.peers.remove(peer).unwrap_or_default();
        let message = self
            .loaded()
            .map(|(doc, _)| doc.sync().generate_sync_message(&mut state).map(|m| m.encode()));
        self.peers.insert(peer.to_string(), state);
        message
    }

    /// Applies a sync message from `peer`.
    pub fn receive(&mut self, peer: &str, bytes: &[u8]) -> Result<(), Error> {
        if bytes.len() > SWARM_DOC_BYTES_MAX {
            return Err(doc_error("sync message over the bound"));
        }
        let message = sync::Message::decode(bytes).map_err(doc_error)?;
        let mut state = self.peers.remove(peer).unwrap_or_default();
        let applied = self.loaded().and_then(|(doc, _)| {
            let before = doc.get_heads();
            doc.sync()
                .receive_sync_message(&mut state, message)
                .map_err(doc_error)?;
            Ok(doc.get_heads() != before)
        });
        self.peers.insert(peer.to_string(), state);
        if applied? {
            self.changed();
        }
        Ok(())
    }

    /// Forgets the sync state of `peer` (it disconnected: the next exchange starts afresh).
    pub fn forget(&mut self, peer: &str) {
        self.peers.remove(peer);
    }
}

/// The object ids of the four maps in a loaded document.
fn maps_of(doc: &AutoCommit) -> Result<HashMap<&'static str, ObjId>, String> {
    let mut maps = HashMap::new();
    for name in MAPS {
        match doc.get(ROOT, name).map_err(|e| e.to_string())? {
            Some((Value::Object(ObjType::Map), id)) => {
                maps.insert(name, id);
            }
            _ => return Err(format!("no `{name}` map")),
        }
    }
    Ok(maps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: u8) -> NodeId {
        NodeId::from_bytes([n; 32])
    }

    fn genesis() -> Genesis {
        Genesis::solo(node(1), 1)
    }

    fn member(peer: &str) -> Member {
        Member {
            peer_id: peer.into(),
            addresses: vec![format!("/memory/{peer}")],
            fingerprint: String::new(),
            status: "active".into(),
            updated_ms: 1,
        }
    }

    /// Runs the sync protocol between two documents until both are quiet.
    fn sync_pair(a: &mut SwarmDoc, b: &mut SwarmDoc) -> usize {
        for round in 1..50 {
            let to_b = a.sync_message("b").unwrap();
            if let Some(m) = &to_b {
                b.receive("a", m).unwrap();
            }
            let to_a = b.sync_message("a").unwrap();
            if let Some(m) = &to_a {
                a.receive("b", m).unwrap();
            }
            if to_b.is_none() && to_a.is_none() {
                return round;
            }
        }
        panic!("sync did not settle");
    }

    #[test]
    fn concurrent_writes_of_two_nodes_both_survive_the_merge() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = SwarmDoc::open(&dir.path().join("a"), &genesis(), node(1)).unwrap();
        let mut b = SwarmDoc::open(&dir.path().join("b"), &genesis(), node(2)).unwrap();
        a.set_member(node(1), &member("pa")).unwrap();
        b.set_member(node(2), &member("pb")).unwrap();
        let ban = BanRecord {
            reason: "equivocation at seq 3".into(),
            evidence: "ab".into(),
            at_ms: 2,
        };
        a.record_ban("evil", node(1), &ban).unwrap();
        b.record_ban("evil", node(2), &ban).unwrap();
        sync_pair(&mut a, &mut b);
        for d in [&mut a, &mut b] {
            assert_eq!(d.members().unwrap().len(), 2, "both directory entries kept");
            assert_eq!(d.bans().unwrap().len(), 2, "both reporters' records kept");
            let s = d.summary().unwrap();
            assert_eq!((s.members, s.bans), (2, 2));
            assert!(d.parameters().unwrap().contains_key("genesis"));
        }
        assert_eq!(a.heads().unwrap(), b.heads().unwrap());
        assert_eq!(a.members().unwrap(), b.members().unwrap());
    }

    #[test]
    fn each_node_records_its_own_table_and_the_same_table_again_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = SwarmDoc::open(&dir.path().join("a"), &genesis(), node(1)).unwrap();
        let mut b = SwarmDoc::open(&dir.path().join("b"), &genesis(), node(2)).unwrap();
        let table = |version, sha: &str| AdoptedTable {
            version,
            sha256: sha.into(),
        };
        assert!(a.record_table(node(1), &table(1, "aa")).unwrap());
        let heads = a.heads().unwrap();
        assert!(!a.record_table(node(1), &table(1, "aa")).unwrap());
        assert_eq!(a.heads().unwrap(), heads, "no change recorded");
        assert!(b.record_table(node(2), &table(0, "bb")).unwrap());
        sync_pair(&mut a, &mut b);
        for d in [&mut a, &mut b] {
            let tables = d.adopted_tables().unwrap();
            assert_eq!(tables.len(), 2, "{tables:?}");
            assert_eq!(tables[&node(1).to_string()], table(1, "aa"));
            assert_eq!(tables[&node(2).to_string()], table(0, "bb"));
            assert!(
                d.parameters().unwrap().contains_key("genesis"),
                "the genesis table stays"
            );
        }
        assert!(
            b.record_table(node(2), &table(1, "aa")).unwrap(),
            "a newer table is written"
        );
    }

    #[test]
    fn the_document_survives_a_restart_and_a_damaged_file_is_set_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("swarm.automerge");
        let mut a = SwarmDoc::open(&path, &genesis(), node(1)).unwrap();
        a.set_member(node(1), &member("pa")).unwrap();
        a.save().unwrap();
        let mut again = SwarmDoc::open(&path, &genesis(), node(1)).unwrap();
        assert_eq!(again.members().unwrap(), a.members().unwrap());

        std::fs::write(&path, b"not an automerge document").unwrap();
        let mut rebuilt = SwarmDoc::open(&path, &genesis(), node(1)).unwrap();
        assert!(rebuilt.members().unwrap().is_empty(), "back to the base");
        let aside = dir.path().join("swarm.automerge.damaged");
        assert_eq!(
            std::fs::read(&aside).unwrap(),
            b"not an automerge document",
            "kept for a look"
        );
        // A peer still holds what it had: sync brings it back.
        sync_pair(&mut rebuilt, &mut a);
        assert_eq!(rebuilt.members().unwrap(), a.members().unwrap());
    }

    #[test]
    fn a_node_that_crashed_after_sending_changes_never_reuses_their_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.automerge");
        let mut a = SwarmDoc::open(&path, &genesis(), node(1)).unwrap();
        a.save().unwrap();
        let mut b = SwarmDoc::open(&dir.path().join("b"), &genesis(), node(2)).unwrap();
        a.set_member(node(1), &member("before the crash")).unwrap();
        sync_pair(&mut a, &mut b);
        // kill -9: the change reached B but was never saved by A.
        drop(a);
        let mut a = SwarmDoc::open(&path, &genesis(), node(1)).unwrap();
        a.set_member(node(1), &member("after the restart")).unwrap();
        // Before a fresh actor per opening, B refused this: duplicate seq 1.
        sync_pair(&mut a, &mut b);
        assert_eq!(a.heads().unwrap(), b.heads().unwrap());
        assert_eq!(a.members().unwrap(), b.members().unwrap());
    }

    #[test]
    fn an_unloaded_document_keeps_everything_and_its_writer_goes_on_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.automerge");
        let mut a = SwarmDoc::open(&path, &genesis(), node(1)).unwrap();
        let mut b = SwarmDoc::open(&dir.path().join("b"), &genesis(), node(2)).unwrap();
        a.set_member(node(1), &member("pa")).unwrap();
        b.set_member(node(2), &member("pb")).unwrap();
        // Half an exchange, then A unloads: the sync states outlive it.
        let first = b.sync_message("a").unwrap().unwrap();
        a.receive("b", &first).unwrap();
        assert!(!a.unload_if_idle(Duration::from_secs(3600)), "used just now");
        assert!(a.unload_if_idle(Duration::ZERO));
        assert!(!a.is_loaded());
        assert!(!a.unload_if_idle(Duration::ZERO), "already unloaded");
        sync_pair(&mut a, &mut b);
        assert!(a.is_loaded(), "the exchange loaded it again");
        assert_eq!(a.heads().unwrap(), b.heads().unwrap());

        // A writes again after an unload, under the same actor: B takes the
        // change (a reused sequence number would be refused).
        assert!(a.unload_if_idle(Duration::ZERO));
        a.set_member(node(1), &member("pa, later")).unwrap();
        assert!(a.unload_if_idle(Duration::ZERO));
        sync_pair(&mut a, &mut b);
        assert_eq!(b.members().unwrap()[&node(1).to_string()], member("pa, later"));
        assert_eq!(a.heads().unwrap(), b.heads().unwrap());

        // The summary is taken before an unload and shown without a load.
        let summary = a.summary().unwrap();
        assert_eq!((summary.members, summary.bans), (2, 0));
        assert!(a.unload_if_idle(Duration::ZERO));
        assert_eq!(a.summary().unwrap(), summary);
        assert!(!a.is_loaded(), "the summary needed no load");

        // Saving an unloaded document writes its bytes; they open as the same document.
        a.save().unwrap();
        assert!(!a.is_loaded());
        let mut again = SwarmDoc::open(&path, &genesis(), node(1)).unwrap();
        assert_eq!(again.members().unwrap(), a.members().unwrap());
        assert_eq!(again.heads().unwrap(), a.heads().unwrap());
    }

    #[test]
    fn a_change_brought_by_sync_refreshes_the_summary() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = SwarmDoc::open(&dir.path().join("a"), &genesis(), node(1)).unwrap();
        let mut b = SwarmDoc::open(&dir.path().join("b"), &genesis(), node(2)).unwrap();
        assert_eq!(a.summary().unwrap().members, 0);
        b.set_member(node(2), &member("pb")).unwrap();
        b.record_table(
            node(2),
            &AdoptedTable {
                version: 3,
                sha256: "cc".into(),
            },
        )
        .unwrap();
        sync_pair(&mut a, &mut b);
        let s = a.summary().unwrap();
        assert_eq!(s.members, 1);
        assert_eq!(s.tables[&node(2).to_string()].version, 3);
    }

    #[test]
    fn a_malformed_sync_message_is_an_error_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = SwarmDoc::open(&dir.path().join("a"), &genesis(), node(1)).unwrap();
        a.set_member(node(1), &member("pa")).unwrap();
        let before = a.heads().unwrap();
        assert!(a.receive("x", b"\x42junk").is_err());
        assert_eq!(a.heads().unwrap(), before);
        assert_eq!(a.members().unwrap().len(), 1);
    }
}
