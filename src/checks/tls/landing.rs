//! The TLS check's cells on the landing page: the leaf's days left, and what the CDN's own
//! handshake negotiated.

use super::{Handshake, TlsReport};
use crate::diagnose::{Cause, Diagnosis};
use crate::server::escape;

/// A cell with nothing to show.
const NOTHING: &str = "<span class=muted>–</span>";

/// The leaf certificate's days left, coloured by the verdict (which knows the origin's warning
/// threshold).
pub(super) fn certificate(report: Option<&TlsReport>, diagnosis: &Diagnosis) -> String {
    let days = report
        .and_then(|t| t.chain.as_ref())
        .and_then(|c| c.leaf_days_remaining);
    match days {
        None => NOTHING.into(),
        Some(d) if d < 0.0 => format!("<span class=bad>expired {:.0} days ago</span>", -d),
        Some(d) => {
            let class = if diagnosis.is_active(Cause::CertExpiringSoon) {
                "warn"
            } else {
                "ok"
            };
            format!("<span class={class}>{:.0} days left</span>", d.floor())
        }
    }
}

/// What the CDN's handshake negotiated. Where the CDN's handshake does not succeed, the version
/// and suite the report holds (from the CDN's hello before a later step broke, or from the
/// recording handshake of an origin that refuses the CDN's hello) are not what the CDN gets: the
/// cell says so instead of showing them as the CDN's.
pub(super) fn negotiated(report: Option<&TlsReport>) -> String {
    let Some(t) = report else {
        return NOTHING.into();
    };
    let cdn_handshake = matches!(
        t.handshake,
        Handshake::Accepted | Handshake::ClientCertificateUnchecked { .. }
    );
    match (&t.negotiated, cdn_handshake) {
        (Some(n), true) => format!("{}<br><code>{}</code>", n.version, escape(&n.cipher)),
        (Some(n), false) => format!(
            "<span class=bad>the CDN's handshake fails</span><br><span class=muted>not the CDN's: {} <code>{}</code></span>",
            n.version,
            escape(&n.cipher)
        ),
        (None, true) => NOTHING.into(),
        (None, false) => "<span class=bad>the CDN's handshake fails</span>".into(),
    }
}
