//! How much heap one node's swarm document holds with `n` other nodes'
//! records (a directory entry and `epochs` observations each, written by
//! their own nodes and brought in by Automerge sync): built by sync, saved,
//! reloaded, and kept unloaded as bytes. The figures behind the document's
//! load/unload design (docs/benchmarks.md).
//!
//! `cargo run --release -p ippoc-swarm --example doc_memory -- 1000 1`
#![allow(unsafe_code)] // the counting allocator below

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use ippoc_economy::NodeId;
use ippoc_economy::genesis::Genesis;
use ippoc_swarm::doc::{Member, Observation, SwarmDoc};
use sha2::Digest;

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, size: usize) -> *mut u8 {
        LIVE.fetch_add(size as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(p, l, size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn hash(s: String) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn node(i: usize) -> NodeId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    NodeId::from_bytes(b)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let n = args.next().transpose()?.unwrap_or(400);
    let epochs = args.next().transpose()?.unwrap_or(1);
    let dir = tempfile::tempdir()?;
    let genesis = Genesis::solo(node(0), 1);
    let path = dir.path().join("mine.automerge");
    let mut mine = SwarmDoc::open(&path, &genesis, node(0))?;
    let opened = live();
    for i in 1..=n {
        let mut other = SwarmDoc::open(&dir.path().join("other"), &genesis, node(i))?;
        // Random-looking ids and roots, as real ones are (they compress as badly).
        let peer = format!("12D3KooW{}", &hash(format!("peer {i}"))[..44]);
        let member = Member {
            addresses: vec![format!("/ip4/127.0.0.1/tcp/{}/p2p/{peer}", 40_000 + i)],
            peer_id: peer,
            fingerprint: String::new(),
            status: "active".into(),
            updated_ms: 1_764_000_000_000 + i as u64,
        };
        other.set_member(node(i), &member)?;
        for e in 0..epochs {
            let observation = Observation {
                epoch: e as u64,
                state_root: hash(format!("root {i} {e}")),
                agree: n as u32,
                disagree: 0,
                dissenters: vec![],
            };
            other.observe(node(i), &observation)?;
        }
        for _ in 0..32 {
            let to_mine = other.sync_message("mine")?;
            if let Some(m) = &to_mine {
                mine.receive("other", m)?;
            }
            let to_other = mine.sync_message("other")?;
            if let Some(m) = &to_other {
                other.receive("mine", m)?;
            }
            if to_mine.is_none() && to_other.is_none() {
                break;
            }
        }
        mine.forget("other");
    }
    let per = |bytes: isize| format!("{} KiB ({} B a record)", bytes / 1024, bytes / n as isize);
    let synced = live() - opened;

    let begun = Instant::now();
    assert!(mine.unload_if_idle(Duration::ZERO), "it was loaded");
    let unload_ms = begun.elapsed().as_secs_f64() * 1e3;
    let unloaded = live() - opened;

    let begun = Instant::now();
    let members = mine.members()?.len();
    let load_ms = begun.elapsed().as_secs_f64() * 1e3;
    let reloaded = live() - opened;
    assert_eq!(members, n, "every record came through the sync");
    mine.save()?;
    let file = std::fs::metadata(&path)?.len() as isize;

    println!("{n} records, {epochs} observation(s) each");
    println!("  built by sync:   {}", per(synced));
    println!("  loaded again:    {} (load {load_ms:.1} ms)", per(reloaded));
    println!("  unloaded:        {} (save {unload_ms:.1} ms)", per(unloaded));
    println!("  file:            {}", per(file));
    Ok(())
}
