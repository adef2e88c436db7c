//! Test vectors of docs/ledger-format.md: if any of these change, the format
//! changed, and every outside verifier breaks. Change the doc with them.

use ed25519_dalek::SigningKey;
use ippoc_economy::entry::{ENTRY_VERSION, EntryBody, Outcome};
use ippoc_economy::{AccountId, Action, Amount, Currency, Dep, NodeId, SwarmId, Transfer, TxId};
use sha2::{Digest, Sha256};

fn vector_entry() -> (SigningKey, EntryBody) {
    let key = SigningKey::from_bytes(&[1u8; 32]);
    let actor = NodeId::from_bytes(key.verifying_key().to_bytes());
    let body = EntryBody {
        version: ENTRY_VERSION,
        swarm_id: SwarmId([0x11; 32]),
        actor,
        seq: 1,
        prev: TxId([0x22; 32]),
        timestamp_ms: 1_700_000_000_000,
        params: 3,
        action: Action::Transfer,
        transfers: vec![
            Transfer {
                from: AccountId::Wallet(actor),
                to: AccountId::Wallet(NodeId::from_bytes([0x33; 32])),
                currency: Currency::Ippc,
                amount: Amount::from_base(1_500_000),
            },
            Transfer {
                from: AccountId::Wallet(actor),
                to: AccountId::PublicGoodsPool,
                currency: Currency::Ippc,
                amount: Amount::from_base(1_500),
            },
        ],
        deps: vec![Dep {
            actor: NodeId::from_bytes([0x44; 32]),
            seq: 7,
            tx_id: TxId([0x55; 32]),
        }],
        outcome: Outcome::Success,
        proof: None,
        memo: b"hi".to_vec(),
    };
    (key, body)
}

const SIGNING_BYTES: &str = "6970706f632d656e7472792d7631000211111111111111111111111111111111111111111111111111111111111111118a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c000000000000000122222222222222222222222222222222222222222222222222222222222222220000018bcfe5680000000003000000000000000000000002000000008a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c00000000333333333333333333333333333333333333333333333333333333333333333300000000000000000016e360000000008a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c000000060000000000000000000005dc0000000000000001444444444444444444444444444444444444444444444444444444444444444400000000000000075555555555555555555555555555555555555555555555555555555555555555000000000000000000000000026869";
const TX_ID: &str = "267a723e9aae4f1f2994887a0c7d9299d4d69256fb11b1f89602d166b558752a";
const SIGNATURE: &str = "ea9224fefc42e04cb55efcc7dd5e2b3b96f5d24ad07922b09dfc47e0d603a869d4c41387d76bb0500b187c455ae93800bd4cf7b17e7f97a852a80ea07f3d2709";
const ACTOR: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

#[test]
fn the_documented_entry_encodes_hashes_and_signs_to_the_documented_bytes() {
    let (key, body) = vector_entry();
    assert_eq!(body.actor.to_string(), ACTOR);
    let signing = body.signing_bytes();
    assert_eq!(hex::encode(&signing), SIGNING_BYTES);
    assert_eq!(hex::encode(Sha256::digest(&signing)), TX_ID);
    let signed = body.sign(&key);
    assert_eq!(signed.tx_id().to_string(), TX_ID);
    assert_eq!(hex::encode(signed.signature), SIGNATURE);
    // The wire/storage form is the body encoding (no domain) followed by the 64 signature bytes.
    let wire = signed.to_bytes();
    assert_eq!(hex::encode(&wire[..wire.len() - 64]), &SIGNING_BYTES[30..]);
    assert_eq!(hex::encode(&wire[wire.len() - 64..]), SIGNATURE);
    assert!(signed.verify().is_ok());
}

/// docs/ledger-format.md, "Genesis": one founder, fixed time.
fn vector_genesis() -> ippoc_economy::genesis::Genesis {
    ippoc_economy::genesis::Genesis::new(
        "v",
        1_700_000_000_000,
        &[NodeId::from_bytes([0x33; 32])],
        Amount::from_base(10_000_000_000),
        Amount::from_base(1_000_000_000_000),
    )
}

const GENESIS_BYTES: &str = "000000010000000000000001760000018bcfe5680000000000009896800000000000004e200000000002faf08000000001dcd6500000000000017d784000000000000f424000000000000f4240000000000000000a0000000005f5e100000000001dcd6500000000010000000000000001333333333333333333333333333333333333333333333333333333333333333300000000000000030000000500000000000000e8d4a5100000000006000000000000000ba43b74000000000033333333333333333333333333333333333333333333333333333333333333330000000000000002540be400";
const SWARM_ID: &str = "e211a8e60bce0d7f52b42f711a395efe61419c5dd8154a094f907f92a422fb78";

#[test]
fn the_documented_genesis_encodes_and_hashes_to_the_documented_swarm_id() {
    let g = vector_genesis();
    let bytes = ippoc_economy::encoding::encode(&g);
    assert_eq!(hex::encode(&bytes), GENESIS_BYTES);
    assert_eq!(g.swarm_id().to_string(), SWARM_ID);
    let mut h = Sha256::new();
    h.update(b"ippoc-genesis-v1\0");
    h.update(&bytes);
    assert_eq!(hex::encode(h.finalize()), SWARM_ID);
}

/// docs/ledger-format.md, "Seal test vector": the seal ids of the first two
/// tranches of the entry vector's actor in swarm `11…11`.
#[test]
fn the_documented_seal_ids() {
    let (key, _) = vector_entry();
    let owner = NodeId::from_bytes(key.verifying_key().to_bytes());
    let swarm = ippoc_economy::SwarmId([0x11; 32]);
    assert_eq!(
        hex::encode(ippoc_economy::issuance::seal_id(&swarm, &owner, 0)),
        "ba85f60ab2125640239c410b81df4eb4b0eb6d43cd98bbef5cfac995ee4f1cc6"
    );
    assert_eq!(
        hex::encode(ippoc_economy::issuance::seal_id(&swarm, &owner, 1)),
        "d90583396d6f1036b7c675b5b2040c2e1f0e797bf9e5d47ed21a041d01bbb0a0"
    );
}
