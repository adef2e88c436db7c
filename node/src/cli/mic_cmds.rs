//! `ippoc mic`: the issuance surface (docs/issuance.md) — a node's reserve
//! and tranches, a mint's preview gate by gate, a sentinel's signature on
//! another node's mint, and the commit of this node's mint. The daemon mints
//! on its own when a closed cycle opens the mint; these are for operators
//! who look, and for a ceremony run by hand.

use std::path::PathBuf;

use clap::Subcommand;
use ippoc_economy::NodeId;
use ippoc_economy::entry::SentinelSignature;
use ippoc_economy::store::TrancheView;
use ippoc_swarm::issuance::{AuthorizeRequest, CommitRequest, Committed, MintPreview, PreviewRequest, ReserveReport};

use super::{Access, Env, Failure, access, runtime};
use crate::error::NodeError;

/// `ippoc mic …`.
#[derive(Debug, Subcommand)]
pub enum MicCommand {
    /// A node's non-circulating reserve, its recent accruals and the swarm's band.
    Reserve {
        /// The node (this node by default).
        node: Option<NodeId>,
    },
    /// A node's sealed tranches (50.00 units each), minted or not.
    Tranches {
        /// The node (this node by default).
        node: Option<NodeId>,
    },
    /// Whether this node could mint a tranche now, gate by gate.
    Preview {
        /// The tranche (the oldest open one by default).
        #[arg(long)]
        tranche: Option<u64>,
    },
    /// As a sentinel: sign another node's mint (prints the signature as JSON).
    Authorize {
        /// Whose tranche.
        #[arg(long)]
        owner: NodeId,
        /// Its sequence.
        #[arg(long)]
        tranche: u64,
        /// The closed cycle the mint cites.
        #[arg(long)]
        cycle: u64,
    },
    /// Append this node's mint with the sentinels' signatures.
    Commit {
        /// The tranche.
        #[arg(long)]
        tranche: u64,
        /// The closed cycle it cites.
        #[arg(long)]
        cycle: u64,
        /// Files each holding one signature as `authorize` printed it.
        #[arg(long = "signature", required = true)]
        signatures: Vec<PathBuf>,
    },
}

fn show<T: serde::Serialize>(env: &Env, value: &T, text: impl FnOnce(&T) -> String) {
    if env.json {
        println!("{}", serde_json::to_string_pretty(value).expect("views serialize"));
    } else {
        print!("{}", text(value));
    }
}

fn query(route: &str, node: Option<NodeId>) -> String {
    match node {
        Some(n) => format!("{route}?node={n}"),
        None => route.to_string(),
    }
}

/// Runs one `ippoc mic` command.
pub fn run(env: &Env, command: MicCommand) -> Result<(), Failure> {
    let now = ippoc_swarm::ledger::now_ms();
    match command {
        MicCommand::Reserve { node } => {
            let report: ReserveReport = match access(env)? {
                Access::Daemon(c) => runtime()?.block_on(c.get_json(&query(crate::routes::MIC_RESERVE, node)))?,
                Access::Direct(b) => {
                    let node = node.unwrap_or(b.identity.node_id());
                    ippoc_swarm::issuance::reserve(&b.ledger, node).map_err(NodeError::from)?
                }
            };
            show(env, &report, reserve_text);
        }
        MicCommand::Tranches { node } => {
            let list: Vec<TrancheView> = match access(env)? {
                Access::Daemon(c) => runtime()?.block_on(c.get_json(&query(crate::routes::MIC_TRANCHES, node)))?,
                Access::Direct(b) => {
                    let node = node.unwrap_or(b.identity.node_id());
                    ippoc_swarm::issuance::tranches(&b.ledger, node).map_err(NodeError::from)?
                }
            };
            show(env, &list, |l| tranches_text(l));
        }
        MicCommand::Preview { tranche } => {
            let preview: MintPreview = match access(env)? {
                Access::Daemon(c) => {
                    runtime()?.block_on(c.post_json(crate::routes::MIC_PREVIEW, &PreviewRequest { tranche }))?
                }
                Access::Direct(b) => {
                    ippoc_swarm::issuance::preview(&b.ledger, tranche, now).map_err(NodeError::from)?
                }
            };
            show(env, &preview, preview_text);
        }
        MicCommand::Authorize { owner, tranche, cycle } => {
            let request = AuthorizeRequest { owner, tranche, cycle };
            let sig: SentinelSignature = match access(env)? {
                Access::Daemon(c) => runtime()?.block_on(c.post_json(crate::routes::MIC_AUTHORIZE, &request))?,
                Access::Direct(b) => b
                    .own_chain()
                    .authorize_mint(&owner, tranche, cycle, now)
                    .map_err(NodeError::from)?,
            };
            // The signature is the output either way: JSON, for `commit --signature`.
            println!("{}", serde_json::to_string_pretty(&sig).expect("signatures serialize"));
        }
        MicCommand::Commit {
            tranche,
            cycle,
            signatures,
        } => {
            let mut sigs = Vec::with_capacity(signatures.len());
            for path in &signatures {
                let bytes = std::fs::read(path).map_err(|e| NodeError::io("cannot read a signature", path, e))?;
                let sig: SentinelSignature = serde_json::from_slice(&bytes)
                    .map_err(|e| NodeError::BadInput(format!("{}: not a signature: {e}", path.display())))?;
                sigs.push(sig);
            }
            let request = CommitRequest {
                tranche,
                cycle,
                signatures: sigs,
            };
            let done: Committed = match access(env)? {
                Access::Daemon(c) => runtime()?.block_on(c.post_json(crate::routes::MIC_COMMIT, &request))?,
                Access::Direct(b) => {
                    ippoc_swarm::issuance::commit(&b.own_chain(), request, now).map_err(NodeError::from)?
                }
            };
            show(env, &done, |d| {
                format!("minted {} IPPC at seq {} ({})\n", d.amount, d.seq, d.tx)
            });
        }
    }
    Ok(())
}

/// The band line shared with `ippoc status`.
pub(super) fn band_text(band: &Option<ippoc_swarm::issuance::BandView>) -> String {
    match band {
        None => "no cycle closed yet".into(),
        Some(b) => format!(
            "{:?} after cycle {} (swarm GI {}), {} sustained, mint {}{}",
            b.band,
            b.cycle,
            b.swarm_gi_ppm
                .map_or("-".into(), |g| format!("{:.4}", f64::from(g) / 1e6)),
            b.sustained,
            if b.mint_open { "open" } else { "closed" },
            if b.tripwires.is_empty() {
                String::new()
            } else {
                format!(", tripwires {:?}", b.tripwires)
            }
        ),
    }
}

fn reserve_text(r: &ReserveReport) -> String {
    let mut out = format!(
        "node      {}\nband      {}\nreserve   {} units accrued, {} unsealed; {} tranches sealed, {} minted ({} IPPC each)\n",
        r.node,
        band_text(&r.band),
        r.accrued,
        r.unsealed,
        r.sealed,
        r.minted,
        r.tranche_ippc
    );
    for a in &r.recent {
        let m = &a.detail.multipliers;
        out.push_str(&format!(
            "cycle {:>6}  +{:>6}  base {:.2} (integrity {:.2}, intent {:.2}, coordination {:.2}, resilience {:.2}) × GI {:.2} × consensus {:.1} × novelty {:.1} × drift {:.1}\n",
            a.cycle,
            a.units,
            a.detail.base.total() as f64 / 100.0,
            a.detail.base.integrity as f64 / 100.0,
            a.detail.base.human_intent as f64 / 100.0,
            a.detail.base.coordination as f64 / 100.0,
            a.detail.base.resilience as f64 / 100.0,
            f64::from(m.gi) / 1e6,
            f64::from(m.consensus) / 1e6,
            f64::from(m.novelty) / 1e6,
            f64::from(m.drift) / 1e6,
        ));
    }
    out
}

fn tranches_text(list: &[TrancheView]) -> String {
    if list.is_empty() {
        return "no tranche sealed\n".into();
    }
    list.iter()
        .map(|t| {
            format!(
                "tranche {:>4}  seal {}  sealed at {}  {}\n",
                t.seq,
                &t.seal[..16],
                t.sealed_at.map_or("?".into(), |c| format!("cycle {c}")),
                t.minted
                    .map_or("open".into(), |(a, s)| format!("minted at {} seq {s}", a.short()))
            )
        })
        .collect()
}

fn preview_text(p: &MintPreview) -> String {
    let mut out = format!(
        "tranche   {}\ncycle     {}\namount    {} IPPC\n",
        p.tranche.map_or("none open".into(), |t| t.to_string()),
        p.cycle.map_or("none closed".into(), |c| c.to_string()),
        p.amount
    );
    for g in &p.gates {
        out.push_str(&format!(
            "{} {:<8} {}\n",
            if g.passed { "ok  " } else { "FAIL" },
            g.gate,
            g.detail
        ));
    }
    out.push_str(&format!(
        "needs     {} of {} sentinels' signatures\n{}\n",
        p.quorum,
        p.sentinels.len(),
        if p.ready {
            "ready: the daemon asks the sentinels at the next close (or: ippoc mic authorize on each, then ippoc mic commit)"
        } else {
            "not ready"
        }
    ));
    out
}
