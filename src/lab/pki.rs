//! The lab's PKI, made in memory with rcgen at start: a root (trusted through `global.ca_file`),
//! an intermediate that issues the leaves, an untrusted second root, and leaves with any
//! validity window, names, issuer and AIA URL.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use super::LabDir;

const DAY: i64 = 86_400;

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A moment `days` from now, whole seconds (what a certificate can hold).
fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).expect("valid time")
}

pub struct Ca {
    pub issuer: Issuer<'static, KeyPair>,
    pub der: CertificateDer<'static>,
    pub pem: String,
}

impl Ca {
    pub fn new(cn: &str, parent: Option<&Ca>) -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.not_before = at(now() - 30 * DAY);
        p.not_after = at(now() + 3650 * DAY);
        let cert = match parent {
            None => p.self_signed(&key),
            Some(parent) => p.signed_by(&key, &parent.issuer),
        }
        .expect("CA certificate");
        Ca {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }
}

/// A leaf certificate and its key.
pub struct Leaf {
    pub der: CertificateDer<'static>,
    pub pem: String,
    pub key_der: Vec<u8>,
    pub key_pem: String,
    pub not_before: i64,
    pub not_after: i64,
    /// Lowercase hex, as the exporter's `serial` label.
    pub serial: String,
}

/// How to make a leaf.
#[derive(Clone)]
pub struct LeafSpec {
    pub names: Vec<String>,
    /// Validity window, in days from now.
    pub valid_from_days: i64,
    pub valid_until_days: i64,
    pub aia_url: Option<String>,
    /// An RSA key (one per process): RSA key exchange and DHE-RSA need one.
    pub rsa: bool,
    /// An Ed25519 key: no signature scheme the CDN offers fits it.
    pub ed25519: bool,
    /// Subject attributes after the CN (organisation, country, e-mail...), in this order.
    pub subject: Vec<(DnType, rcgen::DnValue)>,
}

impl LeafSpec {
    pub fn new(names: &[&str]) -> LeafSpec {
        LeafSpec {
            names: names.iter().map(|s| s.to_string()).collect(),
            valid_from_days: -1,
            valid_until_days: 90,
            aia_url: None,
            rsa: false,
            ed25519: false,
            subject: Vec::new(),
        }
    }

    pub fn valid(mut self, from_days: i64, until_days: i64) -> LeafSpec {
        self.valid_from_days = from_days;
        self.valid_until_days = until_days;
        self
    }

    pub fn aia(mut self, url: &str) -> LeafSpec {
        self.aia_url = Some(url.to_string());
        self
    }

    pub fn rsa(mut self) -> LeafSpec {
        self.rsa = true;
        self
    }

    pub fn ed25519(mut self) -> LeafSpec {
        self.ed25519 = true;
        self
    }

    /// More subject attributes, after the CN.
    pub fn subject(mut self, entries: &[(DnType, rcgen::DnValue)]) -> LeafSpec {
        self.subject.extend(entries.iter().cloned());
        self
    }
}

/// The lab's PKI: a root (trusted through `global.ca_file`), an intermediate that issues the
/// leaves, and a second, untrusted root.
pub struct Pki {
    pub root: Ca,
    pub inter: Ca,
    pub stranger: Ca,
    /// The root in PEM, for `global.ca_file`.
    pub ca_file: PathBuf,
    serial: Mutex<u64>,
    _dir: LabDir,
}

impl Pki {
    pub fn new() -> Pki {
        let root = Ca::new("Lab Root CA", None);
        let inter = Ca::new("Lab Intermediate CA", Some(&root));
        let stranger = Ca::new("Stranger Root CA", None);
        let dir = LabDir::new("pki");
        let ca_file = dir.path().join("lab-ca.pem");
        std::fs::write(&ca_file, &root.pem).expect("write CA file");
        Pki {
            root,
            inter,
            stranger,
            ca_file,
            serial: Mutex::new(0x1000),
            _dir: dir,
        }
    }

    /// A leaf issued by `issuer` (`None`: self-signed).
    pub fn leaf(&self, spec: &LeafSpec, issuer: Option<&Ca>) -> Leaf {
        let key = if spec.ed25519 {
            KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("Ed25519 key")
        } else if spec.rsa {
            KeyPair::from_pem_and_sign_algo(rsa_key_pem(), &rcgen::PKCS_RSA_SHA256)
                .expect("RSA key")
        } else {
            KeyPair::generate().expect("key")
        };
        let mut p = CertificateParams::new(spec.names.clone()).expect("params");
        p.distinguished_name
            .push(DnType::CommonName, &spec.names[0]);
        for (kind, value) in &spec.subject {
            p.distinguished_name.push(kind.clone(), value.clone());
        }
        let (nb, na) = (
            now() + spec.valid_from_days * DAY,
            now() + spec.valid_until_days * DAY,
        );
        p.not_before = at(nb);
        p.not_after = at(na);
        let serial = {
            let mut s = self.serial.lock().expect("serial lock");
            *s += 1;
            *s
        };
        let serial_bytes = serial.to_be_bytes();
        let serial_bytes = &serial_bytes[serial_bytes.iter().position(|b| *b != 0).unwrap_or(7)..];
        p.serial_number = Some(SerialNumber::from_slice(serial_bytes));
        if let Some(url) = &spec.aia_url {
            p.custom_extensions.push(aia_extension(url));
        }
        let cert = match issuer {
            Some(ca) => p.signed_by(&key, &ca.issuer),
            None => p.self_signed(&key),
        }
        .expect("leaf certificate");
        Leaf {
            der: cert.der().clone(),
            pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
            not_before: nb,
            not_after: na,
            serial: serial_bytes.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

impl Pki {
    /// A CRL of the lab intermediate (valid from a day ago for a week) revoking `revoked`, in
    /// PEM: what a server checks client certificates against (`openssl s_server -CRL`).
    pub fn crl(&self, revoked: &[&Leaf]) -> String {
        let revoked_certs = revoked
            .iter()
            .map(|leaf| rcgen::RevokedCertParams {
                serial_number: SerialNumber::from_slice(&hex_bytes(&leaf.serial)),
                revocation_time: at(now() - 60),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect();
        rcgen::CertificateRevocationListParams {
            this_update: at(now() - DAY),
            next_update: at(now() + 7 * DAY),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&self.inter.issuer)
        .expect("CRL")
        .pem()
        .expect("CRL PEM")
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

/// An AuthorityInfoAccess extension with one caIssuers URI, DER-encoded by hand (rcgen has no
/// builder for it).
pub fn aia_extension(url: &str) -> CustomExtension {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        assert!(content.len() < 128, "short form lengths only");
        let mut v = vec![tag, content.len() as u8];
        v.extend_from_slice(content);
        v
    }
    let method = tlv(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02]);
    let location = tlv(0x86, url.as_bytes());
    let description = tlv(0x30, &[method, location].concat());
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], tlv(0x30, &description))
}

/// One 2048-bit RSA key for the whole process (ring cannot generate RSA keys; the vendored
/// OpenSSL the exporter links can), PKCS#8 PEM.
fn rsa_key_pem() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = openssl::rsa::Rsa::generate(2048)
            .and_then(openssl::pkey::PKey::from_rsa)
            .and_then(|k| k.private_key_to_pem_pkcs8())
            .expect("RSA key from OpenSSL");
        String::from_utf8(key).expect("PEM is ASCII")
    })
}
