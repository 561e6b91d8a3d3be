//! Reads an origin's answer to a hand-built ClientHello without finishing the handshake:
//! ServerHello (version, suite), the plaintext Certificate message of TLS <= 1.2, an alert, or
//! the end of the connection. Bounded in every dimension: a record is at most [`MAX_RECORD`]
//! bytes, the handshake at most [`MAX_HANDSHAKE`], the chain at most [`MAX_CHAIN`]
//! certificates; the caller bounds the time. No byte sequence makes it panic.

use std::io;

use rustls::pki_types::CertificateDer;
use tls_parser::{
    parse_tls_message_handshake, parse_tls_server_hello_extensions, TlsExtension, TlsMessage,
    TlsMessageHandshake,
};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::analysis::MAX_CHAIN;

/// Largest record accepted: 2^14 bytes of plaintext plus the 2048 bytes of expansion TLS allows.
pub const MAX_RECORD: usize = 16_384 + 2_048;
/// Largest handshake message the CDN's TLS client accepts: s2n-tls caps every handshake message
/// at 64 KiB (`S2N_MAXIMUM_HANDSHAKE_MESSAGE_LENGTH`). A bigger one (a Certificate message with a
/// leaf of 10,000 names) fails the CDN's handshake, whatever the certificates say.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Most handshake bytes read before giving up (a Certificate message of a real chain is < 16 KiB).
pub const MAX_HANDSHAKE: usize = 256 * 1024;

/// `random` of a HelloRetryRequest (RFC 8446 4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// How the origin answered one ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Hello(ServerHello),
    /// A ServerHello, then something that ended the plaintext handshake before the Certificate
    /// (TLS <= 1.2): the version is spoken, but no handshake can complete (garbage, a reset, an
    /// alert, an oversized message after the hello).
    HelloThen(ServerHello, Box<Reply>),
    /// A fatal alert instead of a ServerHello (40 handshake_failure, 70 protocol_version, ...).
    Alert(u8),
    /// The connection ended before a ServerHello.
    Closed,
    Reset,
    /// Bytes that are not a TLS handshake (plain HTTP on the port, oversized records...).
    NotTls,
    /// A handshake message announcing more than [`MAX_MESSAGE`] bytes.
    Oversized(usize),
    TimedOut,
    /// The connection could not be made or written to.
    Io(io::ErrorKind),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version on the wire, from supported_versions when present (TLS 1.3).
    pub version: u16,
    pub suite: u16,
    /// A HelloRetryRequest: TLS 1.3 chosen, but another key share wanted.
    pub retry: bool,
}

impl Reply {
    /// A bounded reason for logs and evidence.
    pub fn describe(&self) -> String {
        match self {
            Reply::Hello(h) => format!(
                "ServerHello version 0x{:04x} suite 0x{:04x}",
                h.version, h.suite
            ),
            Reply::HelloThen(h, then) => format!(
                "ServerHello version 0x{:04x} suite 0x{:04x}, then {}",
                h.version,
                h.suite,
                then.describe()
            ),
            Reply::Alert(d) => format!("alert {d} ({})", alert_name(*d)),
            Reply::Closed => "connection closed without a ServerHello".into(),
            Reply::Reset => "connection reset".into(),
            Reply::NotTls => "the answer is not TLS".into(),
            Reply::Oversized(n) => format!(
                "a handshake message of {n} bytes, over the {} KiB the CDN's TLS client accepts",
                MAX_MESSAGE / 1024
            ),
            Reply::TimedOut => "no answer within the timeout".into(),
            Reply::Io(kind) => kind.to_string(),
        }
    }

    /// The ServerHello, whether or not the handshake went on after it.
    pub fn hello(&self) -> Option<&ServerHello> {
        match self {
            Reply::Hello(h) | Reply::HelloThen(h, _) => Some(h),
            _ => None,
        }
    }
}

/// The name of a TLS alert: every alert of RFC 5246 7.2 and RFC 8446 6 (the ones TLS 1.3 keeps
/// only as reserved under their TLS 1.2 names), RFC 6066's and RFC 7301's, RFC 9849's
/// `ech_required`; `unassigned` for a number no RFC gives.
pub fn alert_name(d: u8) -> &'static str {
    match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        121 => "ech_required",
        _ => "unassigned",
    }
}

/// Reads records until the ServerHello (and, with `want_chain`, the rest of the server's first
/// flight in TLS <= 1.2, through ServerHelloDone). Returns the reply and the served chain if one
/// was read.
pub async fn read_reply<S: AsyncRead + Unpin>(
    stream: &mut S,
    want_chain: bool,
) -> (Reply, Option<Vec<CertificateDer<'static>>>) {
    let (reply, flight) = read_flight(stream, want_chain).await;
    (reply, flight.chain)
}

/// What the server's first flight (TLS <= 1.2) showed besides its ServerHello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flight {
    /// The Certificate message's chain, also when the flight then broke.
    pub chain: Option<Vec<CertificateDer<'static>>>,
    /// The server sent a CertificateRequest: it asks the client for a certificate.
    pub cert_request: bool,
    /// The ServerHello's random and extensions, when the chain was wanted (TLS <= 1.2).
    pub hello: Option<HelloDetail>,
    /// The ServerKeyExchange message's body, as sent.
    pub key_exchange: Option<Vec<u8>>,
}

/// What a ServerHello holds besides its version and suite.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelloDetail {
    pub random: [u8; 32],
    /// The extensions block as sent (empty when there is none).
    pub extensions: Vec<u8>,
}

/// [`read_reply`], with everything the first flight showed.
pub async fn read_flight<S: AsyncRead + Unpin>(
    stream: &mut S,
    want_chain: bool,
) -> (Reply, Flight) {
    let mut reader = Reader {
        handshake: Vec::new(),
        total: 0,
        hello: None,
        flight: Flight::default(),
    };
    match reader.run(stream, want_chain).await {
        Ok(reply) => (reply, reader.flight),
        // Only a reader that wants the chain goes on after a hello (TLS <= 1.2).
        Err(reply) => match reader.hello {
            Some(hello) => (Reply::HelloThen(hello, Box::new(reply)), reader.flight),
            None => (reply, reader.flight),
        },
    }
}

struct Reader {
    /// Handshake bytes received and not yet consumed as whole messages.
    handshake: Vec<u8>,
    total: usize,
    hello: Option<ServerHello>,
    flight: Flight,
}

impl Reader {
    /// `Err` ends the read: with the ServerHello if one arrived, else with the error reply.
    async fn run<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        want_chain: bool,
    ) -> Result<Reply, Reply> {
        let mut header = [0u8; 5];
        let mut record = Vec::new();
        loop {
            read_exact(stream, &mut header).await?;
            let (kind, major) = (header[0], header[1]);
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            if !(20..=23).contains(&kind) || major != 3 || len > MAX_RECORD {
                return Err(Reply::NotTls);
            }
            self.total += len;
            if self.total > MAX_HANDSHAKE {
                return Err(Reply::NotTls);
            }
            record.resize(len, 0);
            read_exact(stream, &mut record).await?;
            match kind {
                21 if record.len() >= 2 => return Err(Reply::Alert(record[1])),
                22 => {
                    self.handshake.extend_from_slice(&record);
                    if let Some(done) = self.messages(want_chain)? {
                        return Ok(done);
                    }
                }
                // ChangeCipherSpec or application data: the plaintext part is over.
                _ => return Err(Reply::NotTls),
            }
        }
    }

    /// Consumes every whole handshake message buffered; `Some` when the reading is done.
    fn messages(&mut self, want_chain: bool) -> Result<Option<Reply>, Reply> {
        let mut at = 0;
        let result = loop {
            let rest = &self.handshake[at..];
            if rest.len() < 4 {
                break None;
            }
            let len = u32::from_be_bytes([0, rest[1], rest[2], rest[3]]) as usize;
            if len > MAX_MESSAGE {
                return Err(Reply::Oversized(len));
            }
            if rest.len() < 4 + len {
                break None;
            }
            let msg = &rest[..4 + len];
            at += 4 + len;
            match (msg[0], &self.hello) {
                (2, None) => {
                    let (hello, detail) = parse_server_hello(msg).ok_or(Reply::NotTls)?;
                    let tls13 = hello.version == 0x0304 || hello.retry;
                    let stop = tls13 || !want_chain;
                    self.hello = Some(hello.clone());
                    if want_chain {
                        self.flight.hello = Some(detail);
                    }
                    if stop {
                        break Some(Reply::Hello(hello));
                    }
                }
                // Anything before the ServerHello is a protocol violation.
                (_, None) => return Err(Reply::NotTls),
                (11, Some(_)) if self.flight.chain.is_none() => {
                    self.flight.chain = Some(parse_certificates(msg));
                }
                (12, Some(_)) if self.flight.key_exchange.is_none() => {
                    self.flight.key_exchange = Some(msg[4..].to_vec());
                }
                (13, Some(_)) => self.flight.cert_request = true,
                // ServerHelloDone: the end of the server's first flight.
                (14, Some(hello)) => break Some(Reply::Hello(hello.clone())),
                _ => {}
            }
        };
        self.handshake.drain(..at);
        Ok(result)
    }
}

async fn read_exact<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8]) -> Result<(), Reply> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Reply::Closed),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Err(Reply::Reset),
        Err(e) => Err(Reply::Io(e.kind())),
    }
}

fn parse_server_hello(msg: &[u8]) -> Option<(ServerHello, HelloDetail)> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) =
        parse_tls_message_handshake(msg)
    else {
        return None;
    };
    let mut version = sh.version.0;
    let detail = HelloDetail {
        random: sh.random.try_into().ok()?,
        extensions: sh.ext.unwrap_or_default().to_vec(),
    };
    if let Some(ext) = sh.ext {
        if let Ok((_, exts)) = parse_tls_server_hello_extensions(ext) {
            for e in exts {
                if let TlsExtension::SupportedVersions(v) = e {
                    if let Some(first) = v.first() {
                        version = first.0;
                    }
                }
            }
        }
    }
    let hello = ServerHello {
        version,
        suite: sh.cipher.0,
        retry: sh.random == HRR_RANDOM,
    };
    Some((hello, detail))
}

fn parse_certificates(msg: &[u8]) -> Vec<CertificateDer<'static>> {
    match parse_tls_message_handshake(msg) {
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::Certificate(c)))) => c
            .cert_chain
            .iter()
            .take(MAX_CHAIN)
            .map(|raw| CertificateDer::from(raw.data.to_vec()))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut r = vec![kind, 3, 3];
        r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        r.extend_from_slice(payload);
        r
    }

    fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        m.extend_from_slice(body);
        m
    }

    fn server_hello(version: u16, suite: u16, random: [u8; 32], ext: &[u8]) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend_from_slice(&random);
        b.push(0);
        b.extend_from_slice(&suite.to_be_bytes());
        b.push(0);
        if !ext.is_empty() {
            b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
            b.extend_from_slice(ext);
        }
        handshake(2, &b)
    }

    fn certificate(certs: &[&[u8]]) -> Vec<u8> {
        let mut list = Vec::new();
        for c in certs {
            list.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
            list.extend_from_slice(c);
        }
        let mut body = (list.len() as u32).to_be_bytes()[1..].to_vec();
        body.extend_from_slice(&list);
        handshake(11, &body)
    }

    fn read(bytes: &[u8], want_chain: bool) -> (Reply, Option<Vec<CertificateDer<'static>>>) {
        let mut input = bytes;
        tokio_test_block_on(read_reply(&mut input, want_chain))
    }

    fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn tls12_hello_and_chain_split_across_records() {
        let mut hs = server_hello(0x0303, 0xC02F, [1; 32], &[]);
        hs.extend(certificate(&[b"leaf", b"inter"]));
        hs.extend(handshake(14, &[]));
        // One handshake message split over three records.
        let mut bytes = record(22, &hs[..10]);
        bytes.extend(record(22, &hs[10..50]));
        bytes.extend(record(22, &hs[50..]));
        let (reply, chain) = read(&bytes, true);
        assert_eq!(
            reply,
            Reply::Hello(ServerHello {
                version: 0x0303,
                suite: 0xC02F,
                retry: false
            })
        );
        let chain = chain.unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1].as_ref(), b"inter");
        // Without wanting the chain, reading stops at the ServerHello.
        assert_eq!(read(&bytes[..20], false).0, Reply::Closed);
        assert!(read(&bytes, false).1.is_none());
    }

    #[test]
    fn tls13_version_comes_from_supported_versions() {
        let ext = [0x00, 0x2b, 0x00, 0x02, 0x03, 0x04];
        let bytes = record(22, &server_hello(0x0303, 0x1301, HRR_RANDOM, &ext));
        let (reply, chain) = read(&bytes, true);
        assert_eq!(
            reply,
            Reply::Hello(ServerHello {
                version: 0x0304,
                suite: 0x1301,
                retry: true
            })
        );
        assert!(chain.is_none());
    }

    #[test]
    fn alerts_eof_and_garbage() {
        assert_eq!(read(&record(21, &[2, 70]), true).0, Reply::Alert(70));
        assert_eq!(read(b"", true).0, Reply::Closed);
        assert_eq!(
            read(b"HTTP/1.1 400 Bad Request\r\n\r\n", true).0,
            Reply::NotTls
        );
        // A record announcing more than a record may hold.
        assert_eq!(read(&[22, 3, 3, 0xff, 0xff, 0, 0], true).0, Reply::NotTls);
        // A handshake message announcing 16 MB.
        assert_eq!(
            read(&record(22, &[11, 0xff, 0xff, 0xff, 0]), true).0,
            Reply::Oversized(0xff_ffff)
        );
        // A Certificate before any ServerHello.
        assert_eq!(
            read(&record(22, &certificate(&[b"x"])), true).0,
            Reply::NotTls
        );
        // A ServerHello that does not parse.
        assert_eq!(
            read(&record(22, &handshake(2, &[3, 3, 0])), true).0,
            Reply::NotTls
        );
    }

    #[test]
    fn hello_then_trouble_keeps_the_hello() {
        let mut bytes = record(22, &server_hello(0x0301, 0x002F, [0; 32], &[]));
        bytes.extend(record(21, &[2, 40]));
        let (reply, chain) = read(&bytes, true);
        match reply {
            Reply::HelloThen(h, then) => {
                assert_eq!((h.version, h.suite), (0x0301, 0x002F));
                assert_eq!(*then, Reply::Alert(40));
            }
            other => panic!("{other:?}"),
        }
        assert!(chain.is_none());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz beside the code; tests/fuzz_network.rs has the proptests.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let valid = {
            let mut hs = server_hello(0x0303, 0xC02F, [1; 32], &[]);
            hs.extend(certificate(&[b"leaf"]));
            record(22, &hs)
        };
        for _ in 0..2000 {
            let mut bytes = valid.clone();
            let flips = (next() % 6) as usize;
            for _ in 0..flips {
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
            bytes.truncate((next() as usize) % (bytes.len() + 1));
            let _ = read(&bytes, true);
        }
    }

    fn first_flight(bytes: &[u8], want_chain: bool) -> (Reply, Flight) {
        let mut input = bytes;
        tokio_test_block_on(read_flight(&mut input, want_chain))
    }

    const TLS12: ServerHello = ServerHello {
        version: 0x0303,
        suite: 0xC02F,
        retry: false,
    };

    fn hello12() -> Vec<u8> {
        server_hello(0x0303, 0xC02F, [1; 32], &[])
    }

    /// `hs` (handshake bytes) cut into records of at most [`RECORD`] bytes.
    fn records(hs: &[u8]) -> Vec<u8> {
        hs.chunks(RECORD).flat_map(|c| record(22, c)).collect()
    }

    /// The bounds as TLS (2^14 + 2048 bytes a record) and the CDN's client (64 KiB a message)
    /// set them, and the reader's own 256 KiB: written out, not taken from the constants, so that
    /// a wrong constant fails the tests below.
    const RECORD: usize = 16_384 + 2_048;
    const MESSAGE: usize = 65_536;
    const HANDSHAKE: usize = 262_144;

    #[test]
    fn a_record_may_hold_exactly_max_record_bytes() {
        // After the hello, a full-size record with the start of a long Certificate message; then
        // the connection ends.
        let mut body = handshake(11, &vec![0; 30_000]);
        body.truncate(RECORD);
        let mut bytes = record(22, &hello12());
        bytes.extend(record(22, &body));
        assert_eq!(
            first_flight(&bytes, true).0,
            Reply::HelloThen(TLS12, Box::new(Reply::Closed))
        );
        // One byte more is no TLS record.
        let mut bytes = record(22, &hello12());
        bytes.extend([22, 3, 3]);
        bytes.extend(((RECORD + 1) as u16).to_be_bytes());
        bytes.extend(vec![0; RECORD + 1]);
        assert_eq!(
            first_flight(&bytes, true).0,
            Reply::HelloThen(TLS12, Box::new(Reply::NotTls))
        );
    }

    #[test]
    fn a_handshake_message_may_announce_exactly_max_message_bytes() {
        let announce = |len: usize| {
            let mut hs = hello12();
            hs.push(11);
            hs.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
            first_flight(&records(&hs), true).0
        };
        assert_eq!(
            announce(MESSAGE),
            Reply::HelloThen(TLS12, Box::new(Reply::Closed))
        );
        assert_eq!(
            announce(MESSAGE + 1),
            Reply::HelloThen(TLS12, Box::new(Reply::Oversized(MESSAGE + 1)))
        );
        assert_eq!(
            Reply::Oversized(MESSAGE + 1).describe(),
            "a handshake message of 65537 bytes, over the 64 KiB the CDN's TLS client accepts"
        );
    }

    #[test]
    fn at_most_max_handshake_bytes_are_read() {
        // The hello, then messages of a type the reader skips, until `total` record bytes.
        let flight_of = |total: usize| {
            let mut hs = hello12();
            while hs.len() < total {
                hs.extend(handshake(0xfe, &vec![0; 60_000]));
            }
            hs.truncate(total);
            first_flight(&records(&hs), true).0
        };
        assert_eq!(
            flight_of(HANDSHAKE),
            Reply::HelloThen(TLS12, Box::new(Reply::Closed))
        );
        assert_eq!(
            flight_of(HANDSHAKE + 1),
            Reply::HelloThen(TLS12, Box::new(Reply::NotTls))
        );
    }

    #[test]
    fn only_tls_record_types_of_version_3_are_read() {
        // Record types 20-23 with major version 3; anything else is not TLS, before any byte
        // of its body is waited for.
        for header in [
            [19, 3, 3, 0, 2],
            [24, 3, 3, 0, 2],
            [22, 2, 0, 0, 2],
            [22, 4, 0, 0, 2],
        ] {
            assert_eq!(read(&header, true).0, Reply::NotTls, "{header:?}");
        }
        // A change_cipher_spec or application data record before the handshake is over.
        assert_eq!(read(&record(20, &[1]), true).0, Reply::NotTls);
        assert_eq!(read(&record(23, &[1, 2]), true).0, Reply::NotTls);
        // An alert too short to carry a description.
        assert_eq!(read(&record(21, &[2]), true).0, Reply::NotTls);
        // A header cut short, and a body cut short.
        assert_eq!(read(&[22, 3, 3, 0], true).0, Reply::Closed);
        assert_eq!(read(&[22, 3, 3, 0, 9, 2], true).0, Reply::Closed);
    }

    #[test]
    fn tls13_stops_at_the_hello_even_when_the_chain_is_wanted() {
        // supported_versions says TLS 1.3; an ordinary random (no HelloRetryRequest).
        let ext = [0x00, 0x2b, 0x00, 0x02, 0x03, 0x04];
        let mut hs = server_hello(0x0303, 0x1301, [7; 32], &ext);
        hs.extend(certificate(&[b"encrypted in 1.3"]));
        let (reply, flight) = first_flight(&record(22, &hs), true);
        assert_eq!(
            reply,
            Reply::Hello(ServerHello {
                version: 0x0304,
                suite: 0x1301,
                retry: false
            })
        );
        assert_eq!((flight.chain, flight.cert_request), (None, false));
        // The hello's random and extensions, as sent.
        assert_eq!(
            flight.hello,
            Some(HelloDetail {
                random: [7; 32],
                extensions: ext.to_vec()
            })
        );
        // A HelloRetryRequest stops the reading whatever version it names.
        let mut hs = server_hello(0x0303, 0x1301, HRR_RANDOM, &[]);
        hs.extend(certificate(&[b"x"]));
        let (reply, flight) = first_flight(&record(22, &hs), true);
        assert_eq!(
            reply,
            Reply::Hello(ServerHello {
                version: 0x0303,
                suite: 0x1301,
                retry: true
            })
        );
        assert_eq!(flight.chain, None);
    }

    #[test]
    fn the_first_flight_keeps_the_first_chain_and_a_certificate_request() {
        let mut hs = hello12();
        hs.extend(certificate(&[b"leaf", b"inter"]));
        hs.extend(certificate(&[b"other"]));
        hs.extend(handshake(12, &[1, 2, 3]));
        hs.extend(handshake(13, &[0]));
        hs.extend(handshake(14, &[]));
        let (reply, flight) = first_flight(&record(22, &hs), true);
        assert_eq!(reply, Reply::Hello(TLS12));
        assert!(flight.cert_request);
        let chain: Vec<&[u8]> = flight
            .chain
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.as_ref())
            .collect();
        assert_eq!(chain, [&b"leaf"[..], &b"inter"[..]]);
        assert_eq!(flight.key_exchange.as_deref(), Some(&[1, 2, 3][..]));
        // No CertificateRequest: none reported; the ServerHelloDone alone ends the flight.
        let mut hs = hello12();
        hs.extend(handshake(14, &[]));
        let (reply, flight) = first_flight(&record(22, &hs), true);
        assert_eq!(reply, Reply::Hello(TLS12));
        assert_eq!(
            (flight.chain, flight.cert_request, flight.key_exchange),
            (None, false, None)
        );
        // Without the chain wanted, nothing of the flight is kept.
        let (_, flight) = first_flight(&record(22, &hs), false);
        assert_eq!(flight, Flight::default());
        // The ServerHelloDone in a record of its own (exactly four bytes buffered).
        let mut bytes = record(22, &hello12());
        bytes.extend(record(22, &handshake(14, &[])));
        assert_eq!(first_flight(&bytes, true).0, Reply::Hello(TLS12));
    }

    /// A stream that fails with `kind` on the first read.
    struct Failing(io::ErrorKind);

    impl AsyncRead for Failing {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Err(io::Error::from(self.0)))
        }
    }

    #[test]
    fn read_errors_are_told_apart() {
        let cases = [
            (io::ErrorKind::ConnectionReset, Reply::Reset),
            (
                io::ErrorKind::ConnectionAborted,
                Reply::Io(io::ErrorKind::ConnectionAborted),
            ),
            (
                io::ErrorKind::PermissionDenied,
                Reply::Io(io::ErrorKind::PermissionDenied),
            ),
        ];
        for (kind, want) in cases {
            let mut stream = Failing(kind);
            let (reply, chain) = tokio_test_block_on(read_reply(&mut stream, true));
            assert_eq!(reply, want, "{kind:?}");
            assert_eq!(chain, None);
        }
    }

    #[test]
    fn every_reply_is_described() {
        let cases = [
            (
                Reply::Hello(TLS12),
                "ServerHello version 0x0303 suite 0xc02f",
            ),
            (
                Reply::HelloThen(TLS12, Box::new(Reply::Alert(40))),
                "ServerHello version 0x0303 suite 0xc02f, then alert 40 (handshake_failure)",
            ),
            (Reply::Alert(200), "alert 200 (unassigned)"),
            (Reply::Closed, "connection closed without a ServerHello"),
            (Reply::Reset, "connection reset"),
            (Reply::NotTls, "the answer is not TLS"),
            (Reply::TimedOut, "no answer within the timeout"),
            (
                Reply::Io(io::ErrorKind::ConnectionRefused),
                &io::ErrorKind::ConnectionRefused.to_string(),
            ),
        ];
        for (reply, want) in cases {
            assert_eq!(reply.describe(), want);
        }
        // RFC 5246 7.2 and RFC 8446 6 (B.2), RFC 6066, RFC 7301, RFC 9849.
        let names = [
            (0, "close_notify"),
            (10, "unexpected_message"),
            (20, "bad_record_mac"),
            (21, "decryption_failed"),
            (22, "record_overflow"),
            (30, "decompression_failure"),
            (40, "handshake_failure"),
            (41, "no_certificate"),
            (42, "bad_certificate"),
            (43, "unsupported_certificate"),
            (44, "certificate_revoked"),
            (45, "certificate_expired"),
            (46, "certificate_unknown"),
            (47, "illegal_parameter"),
            (48, "unknown_ca"),
            (49, "access_denied"),
            (50, "decode_error"),
            (51, "decrypt_error"),
            (60, "export_restriction"),
            (70, "protocol_version"),
            (71, "insufficient_security"),
            (80, "internal_error"),
            (86, "inappropriate_fallback"),
            (90, "user_canceled"),
            (100, "no_renegotiation"),
            (109, "missing_extension"),
            (110, "unsupported_extension"),
            (111, "certificate_unobtainable"),
            (112, "unrecognized_name"),
            (113, "bad_certificate_status_response"),
            (114, "bad_certificate_hash_value"),
            (115, "unknown_psk_identity"),
            (116, "certificate_required"),
            (120, "no_application_protocol"),
            (121, "ech_required"),
            (1, "unassigned"),
            (255, "unassigned"),
        ];
        let named = (0..=255u8)
            .filter(|d| alert_name(*d) != "unassigned")
            .count();
        assert_eq!(
            named,
            names.len() - 2,
            "no alert named that is not listed here"
        );
        for (code, name) in names {
            assert_eq!(alert_name(code), name, "{code}");
        }
    }

    #[test]
    fn the_hello_is_there_whether_or_not_the_handshake_went_on() {
        assert_eq!(Reply::Hello(TLS12).hello(), Some(&TLS12));
        assert_eq!(
            Reply::HelloThen(TLS12, Box::new(Reply::Reset)).hello(),
            Some(&TLS12)
        );
        for other in [Reply::Alert(40), Reply::Closed, Reply::NotTls] {
            assert_eq!(other.hello(), None);
        }
    }
}
