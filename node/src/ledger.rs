//! The ledger at boot: the genesis file of the node's swarm, installed in
//! its data dir, and opening the ledger with its own head checked. The views
//! the API serves and the CLI prints live in `ippoc_swarm::ledger`.

use std::path::Path;

use ippoc_economy::NodeId;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::store::{Ledger, LedgerError, LedgerOptions};
use ippoc_swarm::fsutil;
use ippoc_swarm::ledger::now_ms;

use crate::error::NodeError;
use crate::paths::NodePaths;

/// Reads `file` as a genesis, with the file named in errors.
pub fn read_genesis(file: &Path) -> Result<Genesis, NodeError> {
    let text = std::fs::read_to_string(file).map_err(|e| NodeError::io("cannot read genesis", file, e))?;
    Genesis::from_json(&text).map_err(|e| NodeError::Genesis {
        path: file.to_path_buf(),
        reason: e.to_string(),
    })
}

/// True if the ledger at `paths` holds no entry at all (own or heard).
fn ledger_is_pristine(paths: &NodePaths, genesis: &Genesis, node: NodeId) -> Result<bool, NodeError> {
    // Only read; the reserve matters to the boot that follows.
    let ledger = open_ledger(paths, genesis.clone(), node, 0)?;
    let err = |e: LedgerError| NodeError::Ledger {
        path: paths.ledger(),
        reason: e.to_string(),
    };
    Ok(ledger.heads().map_err(err)?.is_empty() && ledger.pending_count().map_err(err)? == 0)
}

/// The node's genesis: `explicit` is installed on first use (and must match
/// the installed one later); without one, the installed genesis is used, or
/// a solo development swarm is created for this node.
///
/// A node whose ledger holds no entry may switch to another swarm's genesis:
/// that is how founders first create their nodes (to learn their NodeIDs),
/// then join the genesis that names them. A node that recorded anything never
/// switches.
///
/// Only a node being `created` by this boot gets a new solo swarm: an
/// existing node whose genesis.json is gone is refused (its ledger belongs to
/// a swarm the file named), and nothing is written for it.
pub fn install_genesis(
    paths: &NodePaths,
    explicit: Option<&Path>,
    node: NodeId,
    created: bool,
) -> Result<Genesis, NodeError> {
    let installed_path = paths.genesis();
    let installed = installed_path
        .exists()
        .then(|| read_genesis(&installed_path))
        .transpose()?;
    match (explicit.map(read_genesis).transpose()?, installed) {
        (Some(given), Some(have)) if given.swarm_id() != have.swarm_id() => {
            if !ledger_is_pristine(paths, &have, node)? {
                return Err(NodeError::Genesis {
                    path: explicit.expect("given").to_path_buf(),
                    reason: format!(
                        "this node already recorded entries in swarm {} ({}); the file is swarm {}",
                        have.swarm_id(),
                        have.name,
                        given.swarm_id()
                    ),
                });
            }
            let ledger_dir = paths.ledger();
            std::fs::remove_dir_all(&ledger_dir).map_err(|e| NodeError::io("cannot remove", &ledger_dir, e))?;
            // This identity signed nothing in the old swarm: its guard starts
            // fresh in the new one.
            ippoc_swarm::guard::start_fresh(&paths.signing_guard(), given.swarm_id(), node)?;
            fsutil::write_atomic(&installed_path, given.to_json().as_bytes(), 0o644)?;
            tracing::info!(from = %have.swarm_id(), to = %given.swarm_id(), name = %given.name, "empty node switched swarms");
            Ok(given)
        }
        (_, Some(have)) => Ok(have),
        (Some(given), None) => {
            fsutil::write_atomic(&installed_path, given.to_json().as_bytes(), 0o644)?;
            tracing::info!(swarm_id = %given.swarm_id(), name = %given.name, "joined swarm from genesis file");
            Ok(given)
        }
        (None, None) if !created => Err(NodeError::Genesis {
            path: installed_path,
            reason: "missing: this node exists, and its ledger belongs to the swarm that file named; restore it (any member of the swarm has the same genesis.json), or give the swarm's genesis with --genesis".into(),
        }),
        (None, None) => {
            let solo = Genesis::solo(node, now_ms());
            fsutil::write_atomic(&installed_path, solo.to_json().as_bytes(), 0o644)?;
            tracing::info!(swarm_id = %solo.swarm_id(), "no genesis given: created a solo development swarm");
            Ok(solo)
        }
    }
}

/// Opens the node's ledger as sled finds it, without checking its head
/// (what `ledger repair` needs); a store sled cannot open is a one-line
/// error that names the way out.
pub fn open_unchecked(
    paths: &NodePaths,
    genesis: Genesis,
    node: NodeId,
    reserve_bytes: u64,
) -> Result<Ledger, NodeError> {
    let path = paths.ledger();
    let damaged = |e: LedgerError| NodeError::Ledger {
        path: path.clone(),
        reason: format!(
            "{e}. Its entries are on the swarm's other nodes: move {} aside and start the node again; its signing guard keeps it from signing until its peers have given its chain back",
            path.display()
        ),
    };
    let options = LedgerOptions {
        reserve_bytes,
        ..LedgerOptions::default()
    };
    crate::panics::quietly(|| Ledger::open(&path, genesis, node, options)).map_err(|e| match e {
        LedgerError::DiskFull(_) | LedgerError::Unavailable(_) => NodeError::StorageFull(e.to_string()),
        LedgerError::Corrupt(_) | LedgerError::Storage(_) => damaged(e),
        other => NodeError::Ledger {
            path: path.clone(),
            reason: other.to_string(),
        },
    })
}

/// Opens the node's ledger and checks the head of its own chain: the stored
/// head entry must decode, be signed by this node and hash to the head's tx_id.
/// `reserve_bytes` is the free space writes leave (`[storage]`).
pub fn open_ledger(paths: &NodePaths, genesis: Genesis, node: NodeId, reserve_bytes: u64) -> Result<Ledger, NodeError> {
    let path = paths.ledger();
    // The head is read to check it: a failure here is damage `ledger repair` mends.
    let ledger_err = |e: LedgerError| NodeError::Ledger {
        path: path.clone(),
        reason: format!(
            "{e}; run `ippoc ledger repair` (with `--from` an export that holds the entry, if you have one)"
        ),
    };
    let ledger = open_unchecked(paths, genesis, node, reserve_bytes)?;
    if let Some((seq, tx_id)) = ledger.head(&node).map_err(ledger_err)? {
        let (entry, _) = ledger
            .entry(&node, seq)
            .map_err(ledger_err)?
            .ok_or_else(|| ledger_err(LedgerError::Corrupt(format!("head seq {seq} has no entry"))))?;
        let verified = entry.verify().map_err(|e| ledger_err(e.into()))?;
        if verified.tx_id() != tx_id {
            return Err(ledger_err(LedgerError::Corrupt(format!(
                "head seq {seq} does not hash to its tx_id"
            ))));
        }
    }
    Ok(ledger)
}
