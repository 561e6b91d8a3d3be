//! Pure analysis of what an origin served: certificate chains and host names. No I/O here, so
//! every rule is unit-tested with certificates made on the spot.

pub mod chain;
pub mod dn;
pub mod hostname;

pub use chain::{
    analyze, cdn_store, facts, facts_with, report, CertSummary, ChainFacts, ChainReport, Defects,
    Inputs, PeerFacts, Trust, MAX_AIA_URL, MAX_CHAIN, MAX_LABEL,
};
pub use hostname::{dns_matches, CertNames};

#[cfg(test)]
mod tests;
