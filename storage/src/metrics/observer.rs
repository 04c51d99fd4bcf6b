//! A hook that sees every committed batch, in commit order: what forwarding (replicating
//! nerve's metrics to a remote-write receiver) builds on.

use crate::labels::Labels;
use crate::metrics::{Exemplar, Sample};

/// One committed batch as the observer sees it.
pub struct CommittedBatch<'a> {
    /// Samples in append order, with their series' labels.
    pub samples: &'a mut dyn Iterator<Item = (&'a Labels, Sample)>,
    /// Exemplars in append order, with their series' labels.
    pub exemplars: &'a mut dyn Iterator<Item = (&'a Labels, &'a Exemplar)>,
}

/// Called once per successful commit, after the batch is in the WAL and the head, from the
/// committing thread (so batches of one writer arrive in order). Must be quick and must not
/// write to the same TSDB.
pub trait CommitObserver: Send + Sync {
    /// Sees one committed batch.
    fn committed(&self, batch: CommittedBatch<'_>);
}
