//! The admin API's routes, named once: the server (`api`) mounts them and
//! the CLI's client (`client`, `cli`) asks for them, so the two cannot
//! disagree about a path.

/// Liveness: `ok`, without a token.
pub const HEALTHZ: &str = "/healthz";
/// `GET`: the node's status.
pub const STATUS: &str = "/v1/status";
/// `GET`: the wallet.
pub const WALLET: &str = "/v1/wallet";
/// `GET ?actor=&from=&limit=`: entries of a chain.
pub const LEDGER_ENTRIES: &str = "/v1/ledger/entries";
/// `GET`: verify every chain.
pub const LEDGER_VERIFY: &str = "/v1/ledger/verify";
/// `GET ?actor=`: the export file.
pub const LEDGER_EXPORT: &str = "/v1/ledger/export";
/// `GET ?tx=&epoch=`: an inclusion proof.
pub const LEDGER_PROOF: &str = "/v1/ledger/proof";
/// `POST`: import an export file.
pub const LEDGER_IMPORT: &str = "/v1/ledger/import";
/// `POST`: pay another node.
pub const TRANSFER: &str = "/v1/transfer";
/// `POST`: price a computation.
pub const METABOLISM_QUOTE: &str = "/v1/metabolism/quote";
/// `POST`: record a charge (the budget check).
pub const METABOLISM_CHARGE: &str = "/v1/metabolism/charge";
/// `POST`: run a module in the sandbox, paid.
pub const SANDBOX_RUN: &str = "/v1/sandbox/run";
/// `GET`: the mesh as the node sees it.
pub const PEERS: &str = "/v1/peers";
/// `GET ?node=&cycle=`: a node's integrity score in a closed cycle.
pub const GI: &str = "/v1/gi";
/// `GET ?node=&cycle=`: a node's anchored GI as `Anchor.promote` takes it (`ippoc gi --proof`).
pub const GI_PROOF: &str = "/v1/gi/proof";
/// `GET ?node=`: a node's issuance reserve and the swarm's band.
pub const MIC_RESERVE: &str = "/v1/mic/reserve";
/// `GET ?node=`: a node's sealed tranches, minted or not.
pub const MIC_TRANCHES: &str = "/v1/mic/tranches";
/// `POST`: whether this node could mint a tranche now, gate by gate.
pub const MIC_PREVIEW: &str = "/v1/mic/mint/preview";
/// `POST`: this node's signature, as a sentinel, on another node's mint.
pub const MIC_AUTHORIZE: &str = "/v1/mic/mint/authorize";
/// `POST`: append this node's mint with the sentinels' signatures.
pub const MIC_COMMIT: &str = "/v1/mic/mint/commit";
/// `GET`: the skills the DAO deployed, as the node follows them.
pub const SKILLS: &str = "/v1/skills";
/// `POST`: run a deployed skill, paid.
pub const SKILLS_RUN: &str = "/v1/skills/run";
