//! What every handler of the pump works with: the mesh to publish on, the
//! node's own chain and ledger, the view people and tests read, the cadence.

use std::sync::Arc;

use ippoc_economy::store::Ledger;
use ippoc_economy::{Claim, NodeId};
use ippoc_mesh::{MeshClient, MeshError, PeerId, Topic};
use tokio_util::task::TaskTracker;

use super::Cadence;
use crate::OwnChain;
use crate::limits::ActorLimits;
use crate::view::SharedMeshView;

/// The handlers' shared context (cheap handles, no state of its own).
pub(crate) struct Ctx {
    /// The mesh.
    pub client: MeshClient,
    /// This node's libp2p PeerId.
    pub peer_id: PeerId,
    /// The own chain: appends wake the pump; attestations are signed with its key.
    pub chain: OwnChain,
    /// The ledger (the chain's).
    pub ledger: Arc<Ledger>,
    /// This node.
    pub owner: NodeId,
    /// What `ippoc peers` shows; every change wakes waiters.
    pub view: SharedMeshView,
    /// Each actor's rate (shared with the validator).
    pub limits: Arc<ActorLimits>,
    /// Attestation, sync and epoch periods.
    pub cadence: Cadence,
    /// Every task the handlers start (sync rounds, chases, bounty work,
    /// ledger work off the async threads): the pump waits for all of them
    /// before its stop returns, so a restarted node never meets a task of
    /// its previous instance still holding the ledger.
    pub tasks: TaskTracker,
    /// The DAO's ladder decisions, as far as the chain has been read.
    pub decisions: Arc<dyn ippoc_economy::standing::Decisions>,
}

impl Ctx {
    /// Signs `claim` and gossips it on `topic`; false if it could not be published.
    pub async fn publish(&self, topic: Topic, claim: Claim) -> bool {
        let attestation = self.chain.attest(claim);
        match self.client.publish(topic, attestation.to_bytes()).await {
            Ok(()) => {
                self.view.update(|v| v.stats.attestations_sent += 1);
                true
            }
            Err(e) => {
                tracing::debug!(%topic, "attestation not published: {e}");
                false
            }
        }
    }

    /// Publishes raw bytes (an entry) on `topic`: true if sent, false if
    /// the network already carries the message (nothing more to do).
    pub async fn publish_bytes(&self, topic: Topic, data: Vec<u8>) -> Result<bool, MeshError> {
        match self.client.publish(topic, data).await {
            Ok(()) => Ok(true),
            Err(MeshError::Duplicate { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Runs ledger work off the async threads; `None` if the task died.
    pub async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&Ledger) -> T + Send + 'static) -> Option<T> {
        let l = self.ledger.clone();
        self.tasks.spawn_blocking(move || f(&l)).await.ok()
    }

    /// Starts `task` beside the pump, tracked: see [`Self::tasks`].
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// The epoch a Unix time in ms falls in.
    pub fn epoch_of(&self, ms: u64) -> u64 {
        ms / self.cadence.epoch_ms.max(1)
    }
}
