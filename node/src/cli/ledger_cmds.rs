//! Ledger commands: wallet, transfer, ledger show/verify/export, genesis new.

use std::path::Path;

use ippoc_economy::genesis::Genesis;
use ippoc_economy::store::{check_export, parse_export, verify_export};
use ippoc_economy::{Amount, Currency, NodeId};
use serde::Serialize;

use super::{Access, Env, Failure, access, gov_cmds, runtime};
use crate::error::{ExitStatus, NodeError};
use ippoc_swarm::anchor::InclusionProof;
use ippoc_swarm::fsutil;
use ippoc_swarm::ledger::{self, EntryView, ImportView, TransferRequest, VerifyView, WalletView};

fn print_json<T: Serialize>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).expect("views serialize"));
}

pub fn wallet(env: &Env) -> Result<(), Failure> {
    let view: WalletView = match access(env)? {
        Access::Daemon(c) => runtime()?.block_on(c.get_json(crate::routes::WALLET))?,
        Access::Direct(node) => ledger::wallet_view(&node.ledger)?,
    };
    if env.json {
        print_json(&view);
        return Ok(());
    }
    println!("node    {}", view.node_id);
    println!("swarm   {}", view.swarm_id);
    println!("mode    {:?}", view.mode);
    println!(
        "head    {}",
        view.head_seq
            .map_or("no entries yet".to_string(), |s| format!("seq {s}"))
    );
    for b in &view.balances {
        println!("  {:>20} {:<5} {}", b.balance, b.currency.to_string(), b.account);
    }
    println!("pending {} · forks {}", view.pending, view.forks);
    println!("root    {}", view.state_root);
    Ok(())
}

pub fn transfer(env: &Env, to: NodeId, amount: Amount, currency: Currency) -> Result<(), Failure> {
    let request = TransferRequest { to, amount, currency };
    let view: EntryView = match access(env)? {
        Access::Daemon(c) => runtime()?.block_on(c.post_json(crate::routes::TRANSFER, &request))?,
        Access::Direct(node) => ledger::transfer(&node.own_chain(), &request)?,
    };
    if env.json {
        print_json(&view);
    } else {
        let fee = view.entry.body.transfers.get(1).map(|t| t.amount).unwrap_or_default();
        println!(
            "paid {amount} {currency} to {} (fee {fee}) — seq {}, tx {}",
            to.short(),
            view.entry.body.seq,
            view.tx_id
        );
    }
    Ok(())
}

pub fn show(env: &Env, actor: Option<NodeId>, from: u64, limit: u64) -> Result<(), Failure> {
    let entries: Vec<EntryView> = match access(env)? {
        Access::Daemon(c) => {
            let actor = actor.map(|a| format!("&actor={a}")).unwrap_or_default();
            runtime()?.block_on(c.get_json(&format!(
                "{}?from={from}&limit={limit}{actor}",
                crate::routes::LEDGER_ENTRIES
            )))?
        }
        Access::Direct(node) => {
            let actor = actor.unwrap_or(node.ledger.owner());
            ledger::ledger_page(&node.ledger, actor, from, limit)?
        }
    };
    if env.json {
        print_json(&entries);
        return Ok(());
    }
    if entries.is_empty() {
        println!("no entries");
    }
    for e in &entries {
        let b = &e.entry.body;
        let moves: Vec<String> = b
            .transfers
            .iter()
            .map(|t| {
                format!(
                    "{} {} {}→{}",
                    t.amount,
                    t.currency,
                    short(&t.from.to_string()),
                    short(&t.to.to_string())
                )
            })
            .collect();
        println!(
            "seq {:>6}  {}  {:<8} {:<14} {}",
            b.seq,
            &e.tx_id.to_string()[..12],
            e.effect,
            serde_json::to_value(&b.action)
                .ok()
                .and_then(|v| v["kind"].as_str().map(str::to_string))
                .unwrap_or_default(),
            moves.join(", ")
        );
    }
    Ok(())
}

/// `wallet:abcdef…` with the NodeID cut to 12 digits.
fn short(account: &str) -> String {
    match account.split_once(':') {
        Some((kind, rest)) if rest.len() >= 12 => format!("{kind}:{}", &rest[..12]),
        _ => account.to_string(),
    }
}

fn report_verify(view: VerifyView, what: &str, json: bool) -> Result<(), Failure> {
    if json {
        print_json(&view);
    }
    match view.error {
        None => {
            if !json {
                let scrubbed = if view.records > 0 {
                    format!(
                        "; {} stored records checked, balances and heads are what the entries give",
                        view.records
                    )
                } else {
                    String::new()
                };
                println!(
                    "ok: {what}: {} chains, {} entries verified{scrubbed}",
                    view.chains, view.entries
                );
            }
            Ok(())
        }
        Some(error) => Err(Failure {
            status: ExitStatus::LedgerInvalid,
            message: format!("{what} does not verify: {error}"),
        }),
    }
}

pub fn verify(env: &Env) -> Result<(), Failure> {
    let view: VerifyView = match access(env)? {
        Access::Daemon(c) => runtime()?.block_on(c.get_json(crate::routes::LEDGER_VERIFY))?,
        Access::Direct(node) => ledger::verify(&node.ledger)?,
    };
    report_verify(view, "ledger", env.json)
}

/// `ledger verify --file`: what the offline check of an export found.
#[derive(Debug, Serialize)]
struct FileCheckView {
    /// What the check found, when the file verifies.
    #[serde(flatten)]
    report: Option<ippoc_economy::store::ExportReport>,
    /// The first thing wrong.
    error: Option<String>,
}

pub fn verify_file(file: &Path, genesis: Option<&Path>, json: bool) -> Result<(), Failure> {
    let bytes = fsutil::read(file)?;
    let genesis = genesis.map(crate::ledger::read_genesis).transpose()?;
    let what = file.display().to_string();
    let view = match check_export(&bytes, genesis.as_ref()) {
        Ok(r) => FileCheckView {
            report: Some(r),
            error: None,
        },
        Err(e) => FileCheckView {
            report: None,
            error: Some(e.to_string()),
        },
    };
    if json {
        print_json(&view);
    }
    let view = match (view.report, view.error) {
        (Some(r), None) => r,
        (_, error) => {
            return Err(Failure {
                status: ExitStatus::LedgerInvalid,
                message: format!("{what} does not verify: {}", error.unwrap_or_default()),
            });
        }
    };
    if !json {
        let signed = match (view.exporter, view.complete) {
            (Some(by), Some(true)) => format!("every chain, signed by {by}"),
            (Some(by), _) => format!("one chain, signed by {by}"),
            _ => "v1 export: no commitment, so a cut after a whole entry or a dropped chain cannot be seen".into(),
        };
        println!(
            "ok: {what}: {} chains, {} entries verified ({signed})",
            view.summary.chains, view.summary.entries
        );
        if view.rules_checked {
            println!(
                "  ledger rules: {} applied, {} bounced (valid, without effect)",
                view.applied, view.bounced
            );
        } else {
            println!("  ledger rules not applied: a v1 export carries no genesis; give it with --genesis");
        }
        if let Some(first) = &view.first_unresolved {
            println!(
                "  {} entries depend on chains outside the file; their balances were not checked (first: {first})",
                view.unresolved
            );
        }
        match view.state_root_matches {
            Some(true) => println!("  replayed state root equals the exporter's"),
            Some(false) => println!(
                "  replayed state root differs from the exporter's: it holds fork evidence, or its derived state (balances, heads) is not what its entries give"
            ),
            None => {}
        }
    }
    Ok(())
}

pub fn export(env: &Env, actor: Option<NodeId>, out: &Path) -> Result<(), Failure> {
    let bytes = match access(env)? {
        Access::Daemon(c) => {
            let q = actor.map(|a| format!("?actor={a}")).unwrap_or_default();
            runtime()?.block_on(c.get_bytes(&format!("{}{q}", crate::routes::LEDGER_EXPORT)))?
        }
        Access::Direct(node) => ledger::export(&node.own_chain(), actor)?,
    };
    fsutil::write_atomic(out, &bytes, 0o644)?;
    let (_, summary) = verify_export(&bytes).map_err(|e| NodeError::Ledger {
        path: out.to_path_buf(),
        reason: format!("the export just written does not verify: {e}"),
    })?;
    println!(
        "wrote {} ({} chains, {} entries, {} bytes)",
        out.display(),
        summary.chains,
        summary.entries,
        bytes.len()
    );
    Ok(())
}

/// `ledger repair`: only on a stopped node (the data dir's lock is taken
/// first, so a running daemon makes it exit 11), and without the boot's
/// head check, which a damaged head would fail.
pub fn repair(env: &Env, from: Option<&Path>) -> Result<(), Failure> {
    let _lock = crate::lock::DataDirLock::acquire(&env.data_dir)?;
    let identity = crate::identity::load_existing_identity(&env.data_dir)?;
    let paths = identity.paths();
    let genesis = crate::ledger::read_genesis(&paths.genesis())?;
    let copies = match from {
        None => Vec::new(),
        Some(file) => {
            let invalid = |message: String| Failure {
                status: ExitStatus::LedgerInvalid,
                message,
            };
            let export = parse_export(&fsutil::read(file)?).map_err(|e| invalid(format!("{}: {e}", file.display())))?;
            if export.swarm_id != genesis.swarm_id() {
                return Err(invalid(format!(
                    "{} is an export of swarm {}, this node is in swarm {}",
                    file.display(),
                    export.swarm_id,
                    genesis.swarm_id()
                )));
            }
            export.entries
        }
    };
    let ledger = crate::ledger::open_unchecked(paths, genesis, identity.node_id(), env.config.storage.reserve_bytes)?;
    let view = ledger::repair(&ledger, &copies)?;
    if env.json {
        print_json(&view);
    } else {
        println!(
            "repaired {}: {} records checked, {} damaged entries replaced from the export, {} damaged records dropped; derived state rebuilt from the entries{}",
            paths.ledger().display(),
            view.records,
            view.replaced,
            view.dropped,
            if view.derived_state_matches {
                ""
            } else {
                " (but it still differs: report this)"
            }
        );
        for p in &view.dropped_positions {
            println!("  dropped {p}: sync brings it back from peers");
        }
        if view.dropped > 0 {
            println!(
                "  this node's own dropped entries come back the same way; its signing guard keeps it from signing until they have"
            );
        }
    }
    if !view.derived_state_matches {
        return Err(Failure {
            status: ExitStatus::LedgerInvalid,
            message: "after the repair the derived state still differs from the entries".into(),
        });
    }
    Ok(())
}

pub fn import(env: &Env, file: &Path) -> Result<(), Failure> {
    let bytes = fsutil::read(file)?;
    let view: ImportView = match access(env)? {
        Access::Daemon(c) => runtime()?.block_on(c.post_bytes(crate::routes::LEDGER_IMPORT, bytes))?,
        Access::Direct(node) => ledger::import(&node.ledger, &bytes)?,
    };
    if env.json {
        print_json(&view);
    } else {
        println!(
            "imported {}: {} applied, {} bounced, {} already held, {} pending, {} rejected, {} forks",
            file.display(),
            view.applied,
            view.bounced,
            view.duplicate,
            view.pending,
            view.rejected,
            view.forks
        );
        if let Some(reason) = &view.first_rejection {
            println!("  first rejection: {reason}");
        }
    }
    Ok(())
}

/// `ledger prove`: the inclusion proof of `tx`, from the daemon or the ledger.
pub fn prove(env: &Env, tx: &ippoc_economy::TxId, epoch: Option<u64>, out: Option<&Path>) -> Result<(), Failure> {
    let proof: InclusionProof = match access(env)? {
        Access::Daemon(c) => {
            let epoch = epoch.map(|e| format!("&epoch={e}")).unwrap_or_default();
            runtime()?.block_on(c.get_json(&format!("{}?tx={tx}{epoch}", crate::routes::LEDGER_PROOF)))?
        }
        Access::Direct(node) => ippoc_swarm::anchor::prove(&node.ledger, tx, epoch)?,
    };
    let text = serde_json::to_string_pretty(&proof).expect("proofs serialize") + "\n";
    match out {
        Some(path) => {
            fsutil::write_atomic(path, text.as_bytes(), 0o644)?;
            eprintln!(
                "wrote {}: entry {tx} under the heads of epoch {} (root {}, {} linking entries)",
                path.display(),
                proof.epoch,
                proof.root,
                proof.entries.len()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// `ledger verify-proof`: checks a proof file offline, then against the
/// root the Anchor contract holds for its epoch (or the `--root` given).
pub fn verify_proof(
    file: &Path,
    root: Option<ippoc_governance_bridge::B256>,
    target: &gov_cmds::GovTarget,
    json: bool,
) -> Result<(), Failure> {
    let invalid = |message: String| Failure {
        status: ExitStatus::LedgerInvalid,
        message,
    };
    let proof: InclusionProof = serde_json::from_slice(&fsutil::read(file)?)
        .map_err(|e| invalid(format!("{}: not an inclusion proof: {e}", file.display())))?;
    let proven = proof
        .check()
        .map_err(|e| invalid(format!("{}: the proof does not hold: {e}", file.display())))?;
    let (anchored, source) = match root {
        Some(r) => (r, "given"),
        None => {
            let dao = gov_cmds::load_dao(target)?;
            let rt = runtime()?;
            let anchored = rt
                .block_on(dao.root_of(proof.epoch))
                .map_err(gov_cmds::chain_failure)?
                .ok_or_else(|| invalid(format!("epoch {} is not anchored on the chain", proof.epoch)))?;
            // The contract checks the Merkle proof itself, too.
            let merkle = proof.merkle().map_err(|e| invalid(e.to_string()))?;
            if anchored == proof.root
                && !rt
                    .block_on(dao.verify_inclusion(proof.epoch, &merkle))
                    .map_err(gov_cmds::chain_failure)?
            {
                return Err(invalid("the Anchor contract refuses the Merkle proof".into()));
            }
            (anchored, "anchored on the chain")
        }
    };
    if anchored != proof.root {
        return Err(invalid(format!(
            "the proof leads to root {}, but the root {source} for epoch {} is {anchored}",
            proof.root, proof.epoch
        )));
    }
    if json {
        print_json(&proven);
    } else {
        println!(
            "verified: entry {} (chain {}, seq {}) is in the ledger {source} for epoch {}\n  head seq {} · root {}",
            proven.tx_id, proven.actor, proven.seq, proven.epoch, proven.head_seq, proven.root
        );
    }
    Ok(())
}

pub fn genesis_new(
    name: &str,
    founders: &[NodeId],
    stipend: Amount,
    treasury: Amount,
    out: Option<&Path>,
) -> Result<(), Failure> {
    let genesis = Genesis::new(name, ledger::now_ms(), founders, stipend, treasury);
    genesis.validate().map_err(|e| Failure {
        status: ExitStatus::Usage,
        message: e.to_string(),
    })?;
    match out {
        Some(path) => {
            fsutil::write_atomic(path, genesis.to_json().as_bytes(), 0o644)?;
            println!("wrote {} (swarm id {})", path.display(), genesis.swarm_id());
        }
        None => println!("{}", genesis.to_json()),
    }
    Ok(())
}
