//! A test-only check, proving the recipe of ARCHITECTURE.md ("A check"): this module and one line
//! in [`super::REGISTRY`] are all it takes, and the registry, `/metrics`, `check` and the landing
//! page show it. It connects nowhere: it counts the addresses the CDN would connect to.

use std::fmt;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use prometheus_client::encoding::DescriptorEncoder;

use super::{
    Check, CheckModule, CheckRun, CheckTypes, ContextError, Earlier, Memory, OriginResults,
    Outcome, ProbeContext, Ran, Report, ThisCycle,
};
use crate::config::Origin;
use crate::diagnose::{Cause, Diagnosis, Finding};
use crate::exposition::{family, Observed};

/// The check's id: its place in the registry.
pub const ID: Check = Check::at(5);

pub struct ExampleCheck;

/// What one cycle found: how many addresses the origin has.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleReport {
    pub addresses: usize,
}

impl CheckTypes for ExampleCheck {
    const ID: Check = ID;
    type Report = ExampleReport;
    type Memory = ();
    type Handover = ();
    type Context = ();

    fn context(_shared: &ProbeContext) -> Result<(), ContextError> {
        Ok(())
    }
}

fn report(results: &OriginResults) -> Option<&CheckRun<ExampleReport>> {
    results.get::<ExampleCheck>()
}

impl CheckModule for ExampleCheck {
    fn name(&self) -> &'static str {
        "example"
    }

    fn causes(&self) -> &'static [Cause] {
        &[]
    }

    fn run<'a>(
        &'a self,
        origin: &'a Origin,
        _ctx: &'a ProbeContext,
        earlier: Earlier<'a>,
        _memory: &'a mut Memory,
        _cycle: &'a mut ThisCycle,
    ) -> BoxFuture<'a, Report> {
        async move {
            let run = CheckRun {
                duration: std::time::Duration::ZERO,
                outcome: Outcome::Completed(ExampleReport {
                    addresses: earlier.addresses(origin).len(),
                }),
            };
            Report::of::<ExampleCheck>(run)
        }
        .boxed()
    }

    fn ran(&self, results: &OriginResults) -> Option<Ran> {
        Some(report(results)?.ran(|_| Ran::Completed))
    }

    fn duration(&self, results: &OriginResults) -> Option<std::time::Duration> {
        report(results).map(|r| r.duration)
    }

    fn findings(&self, _origin: &Origin, _results: &OriginResults) -> Vec<Finding> {
        Vec::new()
    }

    fn encode(&self, enc: &mut DescriptorEncoder, origins: &[Observed]) -> fmt::Result {
        // No family at all while no origin runs it: the other checks' output stays as it was.
        let ran: Vec<&Observed> = origins
            .iter()
            .filter(|o| report(o.results).is_some())
            .collect();
        if ran.is_empty() {
            return Ok(());
        }
        family(
            enc,
            "origin_example_addresses",
            "Addresses the origin resolved to (a test-only check).",
            origins,
            |o, s, e| match report(s.results).and_then(|r| r.completed()) {
                Some(r) => e.gauge(o, &[], r.addresses as i64),
                None => Ok(()),
            },
        )
    }

    fn evidence(&self, _origin: &Origin, results: &OriginResults) -> Vec<String> {
        report(results)
            .and_then(|r| r.completed())
            .map(|r| vec![format!("example: {} address(es)", r.addresses)])
            .unwrap_or_default()
    }

    fn confirm(&self, _cause: Cause, origin: &Origin, _results: &OriginResults) -> String {
        format!("dig +short {}", origin.domain)
    }

    fn columns(&self) -> &'static [&'static str] {
        &["Example"]
    }

    fn cells(
        &self,
        _origin: &Origin,
        results: &OriginResults,
        _diagnosis: &Diagnosis,
    ) -> Vec<String> {
        let cell = report(results)
            .and_then(|r| r.completed())
            .map_or_else(String::new, |r| {
                format!("{} example addresses", r.addresses)
            });
        vec![cell]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use super::*;
    use crate::checks::REGISTRY;
    use crate::store::{Slot, Store};

    /// The recipe: a module and a registry line. The registry lists the check under its name,
    /// a cycle runs it, and `/metrics`, `check` and the landing page show what it found.
    #[tokio::test]
    async fn a_check_added_as_one_module_shows_everywhere() {
        assert!(REGISTRY
            .iter()
            .any(|m| m.id() == ID && m.name() == "example"));
        assert_eq!(Check::from_name("example"), Some(ID));

        let cfg = crate::config::load_str(
            "global: {resolvers: ['127.0.0.1:9']}\norigins: [{name: shop, domain: shop.example, address: 192.0.2.7, checks: [tcp]}]",
            std::path::Path::new("t.yaml"),
        )
        .expect("config");
        let ctx = ProbeContext::new(&cfg.global).expect("context");
        let mut origin = (*cfg.origins[0]).clone();
        origin.checks = [ID].into_iter().collect();
        let origin = Arc::new(origin);
        let snapshot = crate::cycle::run_once(&origin, &ctx).await;
        assert_eq!(
            report(&snapshot.results).and_then(|r| r.completed()),
            Some(&ExampleReport { addresses: 1 })
        );
        assert!(snapshot
            .diagnosis
            .checks
            .iter()
            .any(|c| c.check == ID && c.success));

        // `check`.
        let reports = [crate::report::Report {
            origin: Arc::clone(&origin),
            snapshot,
        }];
        let text = crate::report::render_text(&reports, false);
        assert!(text.contains("example: 1 address(es)"), "{text}");
        let [crate::report::Report { snapshot, .. }] = reports;

        // `/metrics`, through the registry the server scrapes.
        let slot = Arc::new(Slot::new(Arc::clone(&origin)));
        slot.publish(Arc::new(snapshot));
        let store = Arc::new(Store::default());
        store.replace(vec![Arc::clone(&slot)]);
        store.counters.count_probe(ID, "success");
        let registry = crate::metrics::registry(Arc::clone(&store), Default::default());
        let scrape = crate::metrics::encode(&registry, crate::metrics::Format::PrometheusText)
            .expect("encode");
        assert!(
            scrape.contains("origin_example_addresses{origin=\"shop\"} 1"),
            "{scrape}"
        );
        assert!(
            scrape.contains("origin_exporter_probes_total{check=\"example\",result=\"success\"} 1"),
            "{scrape}"
        );

        // The landing page.
        let page = crate::server::landing::render(&[slot], &[], SystemTime::now());
        assert!(page.contains("<th>Example</th>"), "{page}");
        assert!(page.contains("<td>1 example addresses</td>"), "{page}");
    }
}
