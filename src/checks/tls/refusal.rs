//! Answers that refuse the client certificate after the handshake finished. Some servers finish
//! every handshake whatever certificate the client sent and refuse in their answer instead: nginx
//! with `ssl_verify_client on` answers every request `400` with its page "No required SSL
//! certificate was sent" (its code 496) or "The SSL certificate error" (495: untrusted, revoked
//! or expired). The CDN hands that answer to every viewer, so the TLS check (which sends the
//! CDN's request over its own finished handshake when the origin asked for a certificate) and
//! the HTTP check recognise it here. Pure: no I/O.
//!
//! Each server stack's words are one row of [`PATTERNS`]; a new stack is a new row and a row of
//! the table test. docs/mtls.md lists what each stack does. A row matches narrowly: its status
//! and its words about the certificate, so that an ordinary 4xx (Apache's or HAProxy's `403`
//! page, an app's `401`) stays an HTTP status.

/// Most bytes of an answer (head and body) read to recognise a refusal.
pub const MAX_ANSWER: usize = 16 * 1024;

/// How one server stack says, in an answer, that it refuses the client certificate.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    /// The server stack, for the evidence.
    pub stack: &'static str,
    /// The statuses it answers with.
    pub statuses: &'static [u16],
    /// Words of its answer's body (matched ignoring ASCII case): the server's own words. Empty:
    /// the status alone says it (nginx's codes 495 and 496 mean nothing else).
    pub words: &'static str,
    /// What the answer means.
    pub means: &'static str,
}

/// Every known refusal, first match wins.
pub static PATTERNS: &[Pattern] = &[
    Pattern {
        stack: "nginx",
        statuses: &[400],
        words: "No required SSL certificate was sent",
        means: "no client certificate arrived (nginx's 496)",
    },
    Pattern {
        stack: "nginx",
        statuses: &[400],
        words: "The SSL certificate error",
        means: "the client certificate failed verification: untrusted, revoked or expired (nginx's 495)",
    },
    // IIS's detailed error pages ("HTTP Error 403.16 - Forbidden"): its default page for remote
    // clients, "403 - Forbidden: Access is denied.", names no substatus and stays a 403.
    Pattern {
        stack: "IIS",
        statuses: &[403],
        words: "403.7 - Forbidden",
        means: "a client certificate is required and none arrived (IIS's 403.7)",
    },
    Pattern {
        stack: "IIS",
        statuses: &[403],
        words: "403.13 - Forbidden",
        means: "the client certificate is revoked (IIS's 403.13)",
    },
    Pattern {
        stack: "IIS",
        statuses: &[403],
        words: "403.16 - Forbidden",
        means: "the client certificate is untrusted or invalid (IIS's 403.16)",
    },
    Pattern {
        stack: "IIS",
        statuses: &[403],
        words: "403.17 - Forbidden",
        means: "the client certificate has expired or is not yet valid (IIS's 403.17)",
    },
    // The widely copied Node.js example (`rejectUnauthorized: false`, the app decides): "Sorry
    // CN, certificates from ISSUER are not welcome here." Its 401 names the client certificate.
    Pattern {
        stack: "Node.js example app",
        statuses: &[403],
        words: "certificates from",
        means: "the client certificate's issuer is not trusted",
    },
    // nginx's own codes, which HAProxy rules (`http-request return status 495`) and apps send
    // on the wire.
    Pattern {
        stack: "status 495",
        statuses: &[495],
        words: "",
        means: "SSL Certificate Error: the client certificate failed verification",
    },
    Pattern {
        stack: "status 496",
        statuses: &[496],
        words: "",
        means: "SSL Certificate Required: no client certificate arrived",
    },
    // Any server or app whose refusal says what it refuses (Node.js apps, Go handlers, IIS).
    Pattern {
        stack: "the origin's answer",
        statuses: &[400, 401, 403],
        words: "client certificate",
        means: "it speaks of the client certificate",
    },
];

/// An answer recognised as a refusal of the client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// The server's words, as matched.
    pub words: &'static str,
    pub stack: &'static str,
    pub means: &'static str,
}

impl Refusal {
    /// `400 "The SSL certificate error" (nginx: ...)`; `495 (status 495: ...)`.
    pub fn describe(&self) -> String {
        if self.words.is_empty() {
            return format!("{} ({}: {})", self.status, self.stack, self.means);
        }
        format!(
            "{} \"{}\" ({}: {})",
            self.status, self.words, self.stack, self.means
        )
    }
}

/// What the origin did with the CDN's request sent over a handshake that finished with the
/// client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// An answer that does not refuse the certificate (the HTTP check judges its status).
    Answered(u16),
    /// An answer that refuses the certificate.
    Refused(Refusal),
    /// The connection ended before any answer: closed, reset or an alert.
    Ended(String),
    /// What came back is not HTTP (the HTTP check judges it).
    NotHttp,
    /// No answer in the time left (the HTTP check judges it).
    TimedOut,
}

impl After {
    /// The origin refused the certificate: it ended the connection unanswered, or said so.
    pub fn refuses(&self) -> bool {
        matches!(self, After::Refused(_) | After::Ended(_))
    }

    pub fn describe(&self) -> String {
        match self {
            After::Answered(status) => format!("the request over the handshake got {status}"),
            After::Refused(r) => format!(
                "the handshake finished, then it answered the request {}",
                r.describe()
            ),
            After::Ended(how) => {
                format!("the handshake finished, then it closed the connection right after the handshake, before any answer ({how})")
            }
            After::NotHttp => "the answer to the request over the handshake is not HTTP".into(),
            After::TimedOut => "no answer to the request over the handshake in time".into(),
        }
    }
}

/// What an alert means that answers the request over a finished handshake, when it says more
/// than its name. A server that asks for a client certificate for some paths only does so by
/// renegotiating after the request (Apache httpd `SSLVerifyClient` inside `<Location>` or
/// `<Directory>`, Tomcat's `CLIENT-CERT` login without `certificateVerification`); the CDN does
/// not renegotiate, and the server ends the connection with `handshake_failure`, whatever
/// certificate the CDN has.
pub fn alert_after_request(alert: u8) -> Option<&'static str> {
    (alert == 40).then_some(
        "what a server sends that asks for a client certificate by renegotiating after the request \
         (Apache httpd SSLVerifyClient inside <Location> or <Directory>), which the CDN does not \
         do: ask for it in the handshake (server or virtual host level)",
    )
}

/// Whether an answer with `status` and the first bytes of its `body` refuses the client
/// certificate. Only error statuses are looked at.
pub fn recognise(status: u16, body: &[u8]) -> Option<Refusal> {
    if status < 400 {
        return None;
    }
    let body = &body[..body.len().min(MAX_ANSWER)];
    PATTERNS
        .iter()
        .find(|p| {
            p.statuses.contains(&status)
                && (p.words.is_empty() || contains_ignoring_case(body, p.words))
        })
        .map(|p| Refusal {
            status,
            words: p.words,
            stack: p.stack,
            means: p.means,
        })
}

fn contains_ignoring_case(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nginx 1.22's pages, as sent.
    const NGINX_496: &str = "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>No required SSL certificate was sent</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
    const NGINX_495: &str = "<html>\r\n<head><title>400 The SSL certificate error</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The SSL certificate error</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
    const NGINX_400: &str = "<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";

    #[test]
    fn table() {
        // (status, body, the words recognised)
        let cases: &[(u16, &str, Option<&str>)] = &[
            (400, NGINX_496, Some("No required SSL certificate was sent")),
            (400, NGINX_495, Some("The SSL certificate error")),
            // An ordinary 400, and the same words under another status, are not refusals.
            (400, NGINX_400, None),
            (200, NGINX_495, None),
            (404, NGINX_495, None),
            (400, "", None),
            // Case does not matter; what is around the words does not either.
            (
                400,
                "the ssl certificate error",
                Some("The SSL certificate error"),
            ),
        ];
        for (status, body, want) in cases {
            let got = recognise(*status, body.as_bytes());
            assert_eq!(got.map(|r| r.words), *want, "{status} {body:?}");
        }
    }

    /// Other stacks' pages, as sent (docs/mtls.md): each refusal is recognised with its stack's
    /// words, each ordinary 4xx is not.
    #[test]
    fn every_stack() {
        const APACHE_403: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head>\n<title>403 Forbidden</title>\n</head><body>\n<h1>Forbidden</h1>\n<p>You don't have permission to access this resource.</p>\n</body></html>\n";
        const HAPROXY_403: &str =
            "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n";
        const LIGHTTPD_401: &str = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n <head>\n  <title>401 Unauthorized</title>\n </head>\n <body>\n  <h1>401 Unauthorized</h1>\n </body>\n</html>\n";
        const TOMCAT_401: &str = "<h1>HTTP Status 401 – Unauthorized</h1><hr class=\"line\" /><p><b>Type</b> Status Report</p><p><b>Message</b> Cannot authenticate with the provided credentials</p><p><b>Description</b> The request has not been applied to the target resource because it lacks valid authentication credentials for that resource.</p>";
        const IIS_403: &str = "<h2>403 - Forbidden: Access is denied.</h2>\n<h3>You do not have permission to view this directory or page using the credentials that you supplied.</h3>";
        const IIS_403_16: &str = "<h3>HTTP Error 403.16 - Forbidden</h3>\n<h4>Your client certificate is either not trusted or is invalid.</h4>";
        const IIS_403_7: &str = "<h3>HTTP Error 403.7 - Forbidden</h3>\n<h4>The page you are attempting to access requires your browser to have a Secure Sockets Layer (SSL) client certificate that the Web server recognizes.</h4>";
        const NODE_403: &str =
            "Sorry cdn-client.lab.test, certificates from Stranger Root CA are not welcome here.";
        const NODE_401: &str = "Sorry, but you need to provide a client certificate to continue.";
        // (status, body, the stack recognised)
        let cases: &[(u16, &str, Option<&str>)] = &[
            (403, IIS_403_16, Some("IIS")),
            (403, IIS_403_7, Some("IIS")),
            (403, NODE_403, Some("Node.js example app")),
            (401, NODE_401, Some("the origin's answer")),
            // HAProxy `http-request return status 495` with words of the user's.
            (495, "certificate not accepted", Some("status 495")),
            (496, "", Some("status 496")),
            (
                400,
                "client certificate required",
                Some("the origin's answer"),
            ),
            // Ordinary 4xx pages: not about the certificate, whoever sends them.
            (403, APACHE_403, None),
            (403, HAPROXY_403, None),
            (401, LIGHTTPD_401, None),
            (401, TOMCAT_401, None),
            (403, IIS_403, None),
            (403, "RBAC: access denied", None),
            // The words under a status that does not refuse anything.
            (404, "no client certificate page here", None),
            (200, NODE_403, None),
        ];
        for (status, body, want) in cases {
            let got = recognise(*status, body.as_bytes());
            assert_eq!(got.map(|r| r.stack), *want, "{status} {body:?}");
        }
    }

    #[test]
    fn an_alert_after_the_request() {
        let renegotiation = alert_after_request(40).expect("handshake_failure explained");
        assert!(renegotiation.contains("renegotiat"), "{renegotiation}");
        for alert in [0, 10, 42, 48, 80, 90, 100] {
            assert_eq!(alert_after_request(alert), None, "{alert}");
        }
    }

    #[test]
    fn a_status_that_says_it_alone_is_described_without_words() {
        let r = recognise(495, b"whatever the rule says").expect("a refusal");
        assert_eq!(
            r.describe(),
            "495 (status 495: SSL Certificate Error: the client certificate failed verification)"
        );
    }

    #[test]
    fn the_evidence_names_status_words_and_stack() {
        let r = recognise(400, NGINX_495.as_bytes()).expect("a refusal");
        assert_eq!(
            r.describe(),
            "400 \"The SSL certificate error\" (nginx: the client certificate failed verification: untrusted, revoked or expired (nginx's 495))"
        );
    }

    #[test]
    fn only_the_first_bytes_are_read() {
        let mut body = vec![b' '; MAX_ANSWER];
        body.extend_from_slice(b"The SSL certificate error");
        assert_eq!(recognise(400, &body), None);
    }
}
