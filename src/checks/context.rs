//! What the checks share across origins and cycles: built once per `global` settings and the
//! files they name, never per probe. A shared part (the profile, the settings, the files read,
//! the recursive resolver, the HTTP client's TLS config) and a part per check, in a slot the
//! registry creates, built by the check's module from the shared part
//! ([`CheckTypes::context`]).

use std::any::Any;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hickory_resolver::TokioResolver;

use crate::cdn::CdnProfile;
use crate::config::{Global, Origin};
use crate::netpolicy::Reach;

use super::{http_client, resolve, CheckTypes, CHECKS, REGISTRY};

/// The system resolver's configuration, read when `global.resolvers` is empty.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// The system hosts file, which the system resolver answers from first.
pub const HOSTS: &str = "/etc/hosts";

#[derive(Debug)]
pub struct ProbeContext {
    pub cdn: &'static CdnProfile,
    pub global: Global,
    /// The recursive resolver: resolution, the DNS check's zone discovery and AIA's host names
    /// go through it.
    pub resolver: TokioResolver,
    /// The one crypto provider of the probes' rustls clients (the TLS check's and the HTTP
    /// client's).
    pub provider: Arc<rustls::crypto::CryptoProvider>,
    /// The TLS config of the shared HTTP client (`http_client`; any certificate: the TLS check
    /// judges certificates), for the checks that send a request over rustls (the edge check).
    pub http_tls: Arc<rustls::ClientConfig>,
    /// The files the context was built from, as read.
    pub files: ContextFiles,
    /// Where the exporter serves HTTP, when it does: an ad-hoc probe may not connect to it.
    pub listen: Option<SocketAddr>,
    /// Each check's own part, by check index; `None` only while the context is being built.
    parts: [Option<Part>; CHECKS],
}

/// One check's part of the probe context, of the check's own type ([`CheckTypes::Context`]: the
/// TLS check's `TlsContext`, the DNS check's `DnsContext`, `()` for a check that needs none).
pub type Part = Box<dyn Any + Send + Sync>;

/// The content of every file a probe context is built from, read once (blocking: never on an
/// async worker). A reload reads them again: the same settings with the same bytes keep the
/// running context and its caches; any other bytes build a new one, so a replaced CA file
/// changes the chain verdict from the next cycle, as a rotated client certificate does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextFiles {
    /// `global.ca_file`.
    pub ca_file: Option<Arc<[u8]>>,
    /// [`RESOLV_CONF`] and [`HOSTS`], when `global.resolvers` is empty (the system resolver).
    pub system_resolver: Option<SystemResolverFiles>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemResolverFiles {
    pub resolv_conf: Arc<[u8]>,
    /// Empty when the file is missing (the resolver then answers from DNS only).
    pub hosts: Arc<[u8]>,
}

impl ContextFiles {
    /// Reads every file `global` names or implies.
    pub fn read(global: &Global) -> Result<Self, ContextError> {
        let ca_file = match global.ca_file.as_deref() {
            Some(path) => Some(Arc::from(read_ca_file(path)?)),
            None => None,
        };
        let system_resolver = if global.resolvers.is_empty() {
            let resolv_conf = std::fs::read(RESOLV_CONF)
                .map_err(|e| ContextError::Resolver(format!("{RESOLV_CONF}: {e}")))?;
            let hosts = match std::fs::read(HOSTS) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(ContextError::Resolver(format!("{HOSTS}: {e}"))),
            };
            Some(SystemResolverFiles {
                resolv_conf: Arc::from(resolv_conf),
                hosts: Arc::from(hosts),
            })
        } else {
            None
        };
        Ok(ContextFiles {
            ca_file,
            system_resolver,
        })
    }
}

/// `global.ca_file`'s bytes, or an error naming the file.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<u8>, ContextError> {
    std::fs::read(path).map_err(|e| ContextError::CaFile {
        file: path.display().to_string(),
        reason: e.to_string(),
    })
}

impl ProbeContext {
    /// Reads the files `global` names and builds the context from them.
    pub fn new(global: &Global) -> Result<Self, ContextError> {
        Self::from_files(global, ContextFiles::read(global)?)
    }

    /// Builds the context from files already read (see [`ContextFiles`]).
    /// Each check's part is built by its module ([`CheckTypes::context`]), from the shared part.
    pub fn from_files(global: &Global, files: ContextFiles) -> Result<Self, ContextError> {
        let resolver = resolve::resolver(global, files.system_resolver.as_ref())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let http_tls = http_client::tls_client(Arc::clone(&provider)).map_err(ContextError::Tls)?;
        let mut ctx = ProbeContext {
            cdn: global.cdn,
            global: global.clone(),
            resolver,
            provider,
            http_tls,
            files,
            listen: None,
            parts: Default::default(),
        };
        for m in REGISTRY {
            ctx.parts[m.id().index()] = Some(m.context_part(&ctx)?);
        }
        Ok(ctx)
    }

    /// The part of check `C` as its module built it: the check's own, or that of an earlier
    /// check it declares (the HTTP check reads the TLS check's CDN-profile clients).
    pub fn part<C: CheckTypes>(&self) -> &C::Context {
        // Every registered check's slot holds its `C::Context` once `from_files` returns: the
        // slot of `REGISTRY[i]` is filled by that module's `context_part`, which boxes exactly
        // its `CheckTypes::Context`, and the registry test proves `REGISTRY[i]` has id `i`.
        match self.parts[C::ID.index()]
            .as_deref()
            .and_then(|p| p.downcast_ref())
        {
            Some(part) => part,
            None => unreachable!("{:?} built its context part", C::ID),
        }
    }

    /// The context of an exporter serving on `listen`.
    pub fn serving(self, listen: SocketAddr) -> Self {
        ProbeContext {
            listen: Some(listen),
            ..self
        }
    }

    /// Where `origin`'s connections may go ([`super::dial`]): anywhere for a configured or
    /// discovered origin, where the ad-hoc policy allows for a `/probe?target=` one.
    pub fn reach(&self, origin: &Origin) -> Reach {
        match origin.adhoc {
            false => Reach::Configured,
            true => Reach::Adhoc {
                policy: self.global.adhoc.clone(),
                own: self.listen,
            },
        }
    }

    /// Whether a config with `global`, whose files read as `files`, can keep this context.
    pub fn fits(&self, global: &Global, files: &ContextFiles) -> bool {
        self.global == *global && self.files == *files
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{file}: {reason}")]
    CaFile { file: String, reason: String },
    #[error("cannot set up the TLS client: {0}")]
    Tls(#[source] rustls::Error),
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
}

impl ContextError {
    /// The config field the error is about, for `config check`.
    pub fn field(&self) -> &'static str {
        match self {
            ContextError::CaFile { .. } => "global.ca_file",
            ContextError::Tls(_) => "global",
            ContextError::Resolver(_) => "global.resolvers",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::tls::TlsCheck;

    fn global(yaml: &str) -> Global {
        let yaml = format!("{yaml}\norigins: [{{name: a, domain: a.example}}]\n");
        crate::config::load_str(&yaml, Path::new("t.yaml"))
            .expect("config")
            .global
    }

    #[test]
    fn the_ca_file_is_read_into_the_context_and_compared_by_content() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = dir.path().join("ca.pem");
        let pem = |cn: &str| {
            let key = rcgen::KeyPair::generate().expect("key");
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
            p.distinguished_name.push(rcgen::DnType::CommonName, cn);
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            p.self_signed(&key).expect("CA").pem()
        };
        std::fs::write(&ca, pem("X")).expect("write");
        let g = global(&format!(
            "global: {{ca_file: '{}', resolvers: [127.0.0.1]}}",
            ca.display()
        ));
        let ctx = ProbeContext::new(&g).expect("context");
        let same = ContextFiles::read(&g).expect("read");
        assert!(ctx.fits(&g, &same), "same path, same bytes: kept");
        assert!(same.system_resolver.is_none(), "explicit resolvers");

        // The same path with another CA: a changed context.
        std::fs::write(&ca, pem("Y")).expect("rewrite");
        let replaced = ContextFiles::read(&g).expect("read");
        assert!(!ctx.fits(&g, &replaced));
        let fresh = ProbeContext::from_files(&g, replaced).expect("context");
        let roots = |c: &ProbeContext| c.part::<TlsCheck>().roots.len();
        assert_eq!(roots(&fresh), roots(&ctx));
        assert_ne!(fresh.files, ctx.files);

        std::fs::remove_file(&ca).expect("remove");
        match ContextFiles::read(&g) {
            Err(e @ ContextError::CaFile { .. }) => {
                assert_eq!(e.field(), "global.ca_file");
                assert!(e.to_string().contains("ca.pem"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// The system resolver answers from the hosts file as read, not from the file system.
    #[tokio::test]
    async fn the_system_resolver_is_built_from_the_bytes_read() {
        let g = global("global: {}");
        let files = ContextFiles {
            ca_file: None,
            system_resolver: Some(SystemResolverFiles {
                resolv_conf: Arc::from(&b"nameserver 127.0.0.1\n"[..]),
                // Both families: the resolver asks for A and AAAA, and needs no server.
                hosts: Arc::from(
                    &b"127.0.0.9 only-in-these-bytes.test\n::1 only-in-these-bytes.test\n"[..],
                ),
            }),
        };
        let ctx = ProbeContext::from_files(&g, files).expect("context");
        let found = ctx
            .resolver
            .lookup_ip("only-in-these-bytes.test.")
            .await
            .expect("answered from the hosts bytes");
        let mut ips: Vec<std::net::IpAddr> = found.iter().collect();
        ips.sort();
        assert_eq!(
            ips,
            [
                std::net::IpAddr::from([127, 0, 0, 9]),
                std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            ]
        );
    }

    #[test]
    fn the_system_resolver_files_are_read_without_resolvers() {
        let g = global("global: {}");
        let files = ContextFiles::read(&g).expect("read");
        let system = files.system_resolver.expect("system resolver files");
        assert_eq!(
            &*system.resolv_conf,
            std::fs::read(RESOLV_CONF).expect("resolv.conf").as_slice()
        );
        assert!(ProbeContext::new(&g).is_ok());
    }
}
