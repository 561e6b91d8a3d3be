//! Answers that refuse the client certificate after the handshake finished. Some servers finish
//! every handshake whatever certificate the client sent and refuse in their answer instead: nginx
//! with `ssl_verify_client on` answers every request `400` with its page "No required SSL
//! certificate was sent" (its code 496) or "The SSL certificate error" (495: untrusted, revoked
//! or expired). The CDN hands that answer to every viewer, so the TLS check (which sends the
//! CDN's request over its own finished handshake when the origin asked for a certificate) and
//! the HTTP check recognise it here. Pure: no I/O.
//!
//! Each server stack's words are one row of [`PATTERNS`]; a new stack is a new row and a row of
//! the table test.

/// Most bytes of an answer (head and body) read to recognise a refusal.
pub const MAX_ANSWER: usize = 16 * 1024;

/// How one server stack says, in an answer, that it refuses the client certificate.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    /// The server stack, for the evidence.
    pub stack: &'static str,
    /// The statuses it answers with.
    pub statuses: &'static [u16],
    /// Words of its answer's body (matched ignoring ASCII case): the server's own words.
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
    /// `400 "The SSL certificate error" (nginx: ...)`.
    pub fn describe(&self) -> String {
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

/// Whether an answer with `status` and the first bytes of its `body` refuses the client
/// certificate. Only error statuses are looked at.
pub fn recognise(status: u16, body: &[u8]) -> Option<Refusal> {
    if status < 400 {
        return None;
    }
    let body = &body[..body.len().min(MAX_ANSWER)];
    PATTERNS
        .iter()
        .find(|p| p.statuses.contains(&status) && contains_ignoring_case(body, p.words))
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
