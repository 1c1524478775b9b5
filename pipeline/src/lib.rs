//! The streaming stage: topics in, derived topics and tables out, computed with
//! DataFusion (counter deltas, rates, utilization, rollups). It reads and writes through
//! the bus trait (`sotp-bus`) and never depends on a collector or the API.

pub mod operator;
pub mod stream;
