//! Node lifecycle commands: init, daemon, status, id, rebind, config.

use std::path::PathBuf;

use serde_json::json;

use super::{Env, Failure, runtime};
use crate::boot::{self, BootOptions};
use crate::client;
use crate::config::DEFAULT_CONFIG_TOML;
use crate::daemon;
use crate::error::ExitStatus;
use crate::hardware::{self, Fingerprint, HardwareProbe, SysinfoProbe};
use crate::identity;
use crate::lock::DataDirLock;

pub fn config_default() -> Result<(), Failure> {
    print!("{DEFAULT_CONFIG_TOML}");
    Ok(())
}

pub fn init(env: &Env, genesis: Option<PathBuf>) -> Result<(), Failure> {
    let options = BootOptions { create: true, genesis };
    let node = boot::boot_node(&env.data_dir, &env.config, &SysinfoProbe, &env.logging, &options)?;
    let id = node.identity.node_id();
    let dir = node.identity.paths().root().display().to_string();
    let swarm = node.ledger.swarm_id().to_string();
    // The EVM key a DAO registers the node under (checkpoint co-signatures).
    let eth = ippoc_swarm::anchor::load_or_create_eth_key(&node.identity.paths().eth_key())?.address();
    if env.json {
        println!(
            "{}",
            json!({"node_id": id.to_string(), "node_dir": dir, "created": node.created,
                   "hardware_fingerprint": node.fingerprint.hash_hex(), "swarm_id": swarm,
                   "eth_address": eth.to_string()})
        );
    } else if node.created {
        println!(
            "created node {id}\n  in {dir}\n  swarm {swarm} ({})\n  evm address {eth}",
            node.ledger.genesis().name
        );
    } else {
        println!("node {id} already exists and checks out\n  in {dir}\n  swarm {swarm}\n  evm address {eth}");
    }
    Ok(())
}

pub fn daemon(env: &Env, genesis: Option<PathBuf>) -> Result<(), Failure> {
    runtime()?
        .block_on(daemon::run(
            &env.data_dir,
            &env.config,
            &SysinfoProbe,
            &env.logging,
            genesis,
        ))
        .map_err(|e| Failure {
            status: e.exit_status(),
            message: e.to_string(),
        })
}

pub fn status(env: &Env) -> Result<(), Failure> {
    let status = runtime()?.block_on(client::fetch_status(&env.data_dir))?;
    if env.json {
        println!("{}", serde_json::to_string_pretty(&status).expect("status serializes"));
    } else {
        let up = status.uptime_ms / 1000;
        println!("node      {}", status.node_id);
        println!(
            "state     running (pid {}, up {}h {:02}m {:02}s)",
            status.pid,
            up / 3600,
            up / 60 % 60,
            up % 60
        );
        println!("version   {}", status.version);
        println!("api       {}", status.api_addr);
        if let Some(m) = &status.metrics_addr {
            println!("metrics   http://{m}/metrics");
        }
        println!("node dir  {}", status.node_dir);
        println!("hardware  {}", status.hardware_fingerprint);
        println!("swarm     {}", status.ledger.swarm_id);
        println!(
            "ledger    head seq {}, {} pending, {} forks, mode {:?}",
            status.ledger.head_seq.map_or("-".to_string(), |s| s.to_string()),
            status.ledger.pending,
            status.ledger.forks,
            status.ledger.mode
        );
        println!("signing   {}", status.signing.describe());
        println!("band      {}", super::mic_cmds::band_text(&status.issuance));
        match (&status.mesh.peer_id, status.mesh.enabled) {
            (Some(peer), true) => println!(
                "mesh      {peer}: {} connected, {} banned",
                status.mesh.peers.len(),
                status.mesh.banned.len()
            ),
            _ => println!("mesh      disabled"),
        }
        let g = &status.governance;
        let epoch = |e: Option<u64>| e.map_or("none".to_string(), |e| e.to_string());
        if g.following {
            println!(
                "dao       block {}: parameter table v{}, {} skills deployed ({} held), anchored epoch {} (newest vote {})",
                g.block,
                g.parameters_version,
                g.deployed_skills,
                g.held_skills,
                epoch(g.newest_anchored_epoch),
                epoch(g.newest_vote_epoch)
            );
        } else {
            println!(
                "dao       not followed ([governance] rpc unset); parameter table v{}",
                g.parameters_version
            );
        }
        if let Some(e) = &g.last_error {
            println!("dao error {e}");
        }
    }
    Ok(())
}

/// `route?node=&cycle=` with the parts given.
fn gi_path(route: &str, node: Option<ippoc_economy::NodeId>, cycle: Option<u64>) -> String {
    let node = node.map(|n| format!("node={n}"));
    let cycle = cycle.map(|c| format!("cycle={c}"));
    let query: Vec<String> = node.into_iter().chain(cycle).collect();
    format!("{route}?{}", query.join("&"))
}

/// `gi`: a node's integrity score in a closed cycle, from the daemon or,
/// without one, from the node's own files.
pub fn gi(env: &Env, node: Option<ippoc_economy::NodeId>, cycle: Option<u64>) -> Result<(), Failure> {
    use ippoc_swarm::integrity::GiReport;
    let report: GiReport = match super::access(env)? {
        super::Access::Daemon(c) => {
            let path = gi_path(crate::routes::GI, node, cycle);
            runtime()?.block_on(c.get_json(&path))?
        }
        super::Access::Direct(booted) => {
            let node = node.unwrap_or(booted.identity.node_id());
            ippoc_swarm::integrity::report(
                &booted.ledger,
                env.config.mesh.epoch_ms,
                node,
                cycle,
                ippoc_swarm::ledger::now_ms(),
                // Without the daemon nobody reads the DAO: a node that
                // follows one computes no standings it may lack decisions for.
                if env.config.governance.rpc.is_empty() {
                    &ippoc_economy::standing::NoDao
                } else {
                    &ippoc_economy::standing::Unread
                },
            )
            .map_err(crate::error::NodeError::from)?
        }
    };
    if env.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("reports serialize"));
        return Ok(());
    }
    print!("{}", gi_text(&report));
    Ok(())
}

/// `gi --proof`: a node's anchored GI as `Anchor.promote` takes it.
pub fn gi_proof(
    env: &Env,
    node: Option<ippoc_economy::NodeId>,
    cycle: Option<u64>,
    out: Option<&std::path::Path>,
) -> Result<(), Failure> {
    use ippoc_governance_bridge::dao::GiProof;
    let proof: GiProof = match super::access(env)? {
        super::Access::Daemon(c) => {
            let path = gi_path(crate::routes::GI_PROOF, node, cycle);
            runtime()?.block_on(c.get_json(&path))?
        }
        super::Access::Direct(booted) => {
            let node = node.unwrap_or(booted.identity.node_id());
            ippoc_swarm::anchor::gi_proof(&booted.ledger, &node, cycle)?
        }
    };
    let text = serde_json::to_string_pretty(&proof).expect("proofs serialize") + "\n";
    match out {
        Some(path) => {
            ippoc_swarm::fsutil::write_atomic(path, text.as_bytes(), 0o644)?;
            eprintln!(
                "wrote {}: GI {:.4} in cycle {} (tier {}, status {}), committed in the checkpoint of epoch {}",
                path.display(),
                f64::from(proof.gi) / 1e6,
                proof.cycle,
                proof.tier,
                proof.status,
                proof.cycle.saturating_add(ippoc_swarm::anchor::GI_LAG_EPOCHS)
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// The text form of a GI report.
fn gi_text(r: &ippoc_swarm::integrity::GiReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let tier = r.tier.map_or("-".to_string(), |t| format!("{t:?}").to_lowercase());
    let floor = r.floor.map_or(String::new(), |f| format!(" (floor {f:.2})"));
    let _ = writeln!(s, "node        {}", r.node);
    let _ = writeln!(s, "cycle       {}", r.cycle);
    let _ = writeln!(s, "score       {:.4}", r.score);
    let _ = writeln!(s, "tier        {tier}{floor}");
    if let Some(t) = r.suspended_through {
        let _ = writeln!(s, "suspended   through cycle {t}");
    }
    if let Some(c) = r.removed {
        let _ = writeln!(s, "removed     at cycle {c} (an executed DAO appeal reinstates)");
    }
    let b = &r.breakdown;
    let _ = writeln!(s, "breakdown   compliance {:.4} (40%)", b.compliance);
    let _ = writeln!(s, "            consensus  {:.4} (25%)", b.consensus);
    let _ = writeln!(s, "            reliability {:.4} (20%)", b.reliability);
    let _ = writeln!(s, "            efficiency {:.4} (10%)", b.efficiency);
    let _ = writeln!(s, "            community  {:.4} (5%)", b.community);
    let history: Vec<String> = r
        .history
        .iter()
        .map(|(c, g)| format!("{c}: {:.4}", f64::from(*g) / 1e6))
        .collect();
    let _ = writeln!(
        s,
        "trend       {}{}",
        format!("{:?}", r.trend).to_lowercase(),
        if history.is_empty() {
            String::new()
        } else {
            format!(" (before: {})", history.join(", "))
        }
    );
    let _ = writeln!(
        s,
        "swarm GI    {} over {} members; table {}",
        r.swarm_gi.map_or("-".into(), |g| format!("{g:.4}")),
        r.members,
        &r.table_digest[..16]
    );
    let wait_s = r.next_review_ms.saturating_sub(ippoc_swarm::ledger::now_ms()) / 1000;
    let _ = writeln!(
        s,
        "next review in {}m {:02}s (unix ms {}: the next cycle's table)",
        wait_s / 60,
        wait_s % 60,
        r.next_review_ms
    );
    for step in &r.record {
        let _ = writeln!(
            s,
            "record      cycle {}: {:?} (GI {:.4}, compliance {:.4})",
            step.cycle,
            step.kind,
            f64::from(step.gi) / 1e6,
            f64::from(step.compliance) / 1e6
        );
    }
    s
}

pub fn peers(env: &Env) -> Result<(), Failure> {
    let client = crate::client::DaemonClient::connect(&env.data_dir)?;
    let view: ippoc_swarm::view::MeshView = runtime()?.block_on(client.get_json(crate::routes::PEERS))?;
    if env.json {
        println!("{}", serde_json::to_string_pretty(&view).expect("views serialize"));
        return Ok(());
    }
    if !view.enabled {
        println!("the mesh is disabled ([mesh] enabled = false)");
        return Ok(());
    }
    println!("peer id    {}", view.peer_id.as_deref().unwrap_or("-"));
    for addr in &view.listening {
        println!("listening  {addr}");
    }
    println!("connected  {}", view.peers.len());
    for p in &view.peers {
        println!("  {p}");
    }
    println!("banned     {}", view.banned.len());
    for b in &view.banned {
        println!("  {}  {} (at {} ms)", b.peer, b.reason, b.at_ms);
    }
    println!(
        "heard      {} nodes (last heartbeat: beat, state root, entries)",
        view.heard.len()
    );
    for (node, h) in &view.heard {
        println!(
            "  {}  beat {}  root {}  entries {}",
            node,
            h.beat,
            &h.state_root[..16.min(h.state_root.len())],
            h.entries
        );
    }
    let s = &view.stats;
    println!(
        "gossip     entries published {} ingested {}; attestations sent {} received {}; warrants sent {} received {}",
        s.entries_published,
        s.entries_ingested,
        s.attestations_sent,
        s.attestations_received,
        s.warrants_sent,
        s.warrants_received
    );
    println!(
        "sync       rounds {} (failed {}, pulled when behind {})  entries {} (chased {})  bytes {} (missing {})",
        s.sync_rounds,
        s.sync_failed,
        s.sync_behind,
        s.sync_entries,
        s.chased_entries,
        s.sync_bytes,
        s.sync_missing_bytes
    );
    // The newest rounds, oldest first: with whom, why, what they brought.
    for a in &view.sync_recent {
        let outcome = match &a.error {
            Some(e) => format!("failed: {e}"),
            None => format!("{} entries", a.entries),
        };
        println!("  {}  {}  {}  (at {} ms)", a.peer, a.why, outcome, a.at_ms);
    }
    println!(
        "limits     throttled: entries {} (sync {}) attestations {} peers {}; waiting entries expired {}; peers' entries bounced {} refused {}",
        s.entries_throttled,
        s.sync_throttled,
        s.attestations_throttled,
        s.peers_throttled,
        s.pending_expired,
        s.entries_bounced,
        s.entries_refused
    );
    println!(
        "swarm doc  {} members, {} ban records; bounties worked {} paid {}",
        s.doc_members, s.doc_ban_records, s.bounties_worked, s.bounties_paid
    );
    for t in &view.tables {
        println!(
            "table      v{} ({}): {} nodes",
            t.version,
            &t.sha256[..16.min(t.sha256.len())],
            t.nodes
        );
    }
    if let Some(t) = &view.gi {
        let ppm = |v: u32| format!("{:.4}", f64::from(v) / 1e6);
        println!(
            "integrity  cycle {}: swarm GI {} ({} members; table {}); docs/integrity.md",
            t.cycle,
            t.swarm_gi.map_or("-".into(), ppm),
            t.rows.len(),
            &hex::encode(t.digest)[..16]
        );
        for r in &t.rows {
            let [compliance, consensus, reliability, efficiency, community] = r.components.0;
            // Its standing after the newest cycle the ladder moved by.
            let standing = view.standings.as_ref().and_then(|s| s.of(&r.node));
            let tier = match standing {
                None => "-".to_string(),
                Some(s) if s.removed.is_some() => "removed".to_string(),
                Some(s) => {
                    let tier = format!("{:?}", s.tier.tier()).to_lowercase();
                    match (s.suspended_through, view.standings.as_ref().and_then(|x| x.cycle)) {
                        (Some(until), Some(now)) if until > now => format!("{tier}, suspended"),
                        _ => tier,
                    }
                }
            };
            println!(
                "  {}  GI {}  {}  compliance {} consensus {} reliability {} efficiency {} community {}",
                r.node,
                ppm(r.gi),
                tier,
                ppm(compliance),
                ppm(consensus),
                ppm(reliability),
                ppm(efficiency),
                ppm(community)
            );
        }
    }
    Ok(())
}

pub fn id(env: &Env) -> Result<(), Failure> {
    let identity = identity::load_existing_identity(&env.data_dir)?;
    let id = identity.node_id();
    if env.json {
        let fingerprint = Fingerprint::read(&identity.paths().fingerprint()).ok().map(|f| f.hash);
        let eth = ippoc_swarm::anchor::read_eth_key(&identity.paths().eth_key())
            .ok()
            .map(|k| k.address().to_string());
        println!(
            "{}",
            json!({"node_id": id.to_string(), "node_dir": identity.paths().root().display().to_string(),
                   "hardware_fingerprint": fingerprint, "eth_address": eth})
        );
    } else {
        println!("{id}");
    }
    Ok(())
}

pub fn rebind(env: &Env, confirm: bool) -> Result<(), Failure> {
    let _lock = DataDirLock::acquire(&env.data_dir)?;
    let identity = identity::load_existing_identity(&env.data_dir)?;
    let path = identity.paths().fingerprint();
    let current = SysinfoProbe.probe()?;
    let recorded = Fingerprint::read(&path);
    let change = match &recorded {
        Ok(old) if old.verify(&current).is_ok() => {
            println!("the node is already bound to this hardware; nothing to do");
            return Ok(());
        }
        Ok(old) => hardware::describe_changes(&old.hardware, &current),
        Err(e) => format!("recorded fingerprint unusable ({e})"),
    };
    if !confirm {
        return Err(Failure {
            status: ExitStatus::Usage,
            message: format!(
                "this machine differs from the one node {} was bound to: {change}. If the hardware changed on purpose (and this is not a copy of a node running elsewhere), run `ippoc rebind --confirm`",
                identity.node_id().short()
            ),
        });
    }
    env.logging.attach_file(&identity.paths().logs(), &env.config.log)?;
    let new = Fingerprint::of(&current);
    new.write(&path)?;
    tracing::warn!(
        event = "hardware_rebind",
        node_id = %identity.node_id(),
        old_fingerprint = recorded.as_ref().map(|f| f.hash.as_str()).unwrap_or("unreadable"),
        new_fingerprint = %new.hash,
        change = %change,
        "operator re-bound the node to new hardware"
    );
    println!("node {} re-bound to this hardware ({change})", identity.node_id());
    Ok(())
}

pub fn config_show(env: &Env) -> Result<(), Failure> {
    if env.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&env.config).expect("config serializes")
        );
    } else {
        match &env.config_path {
            Some(path) => println!("# from {}", path.display()),
            None => println!("# built-in defaults (no config file)"),
        }
        print!("{}", toml::to_string(&env.config).expect("config serializes"));
    }
    Ok(())
}
