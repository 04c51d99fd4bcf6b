//! Storage health figures, read at scrape time.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

use nerve_storage::quarantine::{Signal, quarantined_total};

/// Exports `nerve_storage_quarantined_total{signal}`: damaged units (blocks, partitions,
/// segments, WAL files) moved or copied to a store's quarantine since the process started.
#[derive(Debug)]
pub(super) struct StorageCollector;

impl Collector for StorageCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut m = encoder.encode_descriptor(
            "nerve_storage_quarantined",
            "Damaged storage units moved (or, for repaired WAL files, copied) to a quarantine directory",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for signal in Signal::ALL {
            let c = ConstCounter::new(quarantined_total(signal));
            let labels = [("signal", signal.as_str())];
            c.encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
