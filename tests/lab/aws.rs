//! A fake AWS API on loopback: moto's server (`moto_server`), started on 127.0.0.1 and stopped
//! when dropped. Distributions are made through boto3. Both come from the test virtual
//! environment (`$TEST_VENV`, by default `.venv-test/` at the repository root) that
//! `bash scripts/install-test-deps.sh` fills with the pinned versions below: a test installs
//! nothing, and fails, saying how to install them, when they are missing.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The moto release the tests are written against (≥ 5.2.3: CloudFront origin settings); the
/// same pins are in scripts/install-test-deps.sh.
pub const MOTO: (&str, &str) = ("moto", "5.2.5");
pub const BOTO3: (&str, &str) = ("boto3", "1.44.8");

/// Credentials the fake accepts, given to the exporter's CloudFront client in place of the
/// default chain (which would read the environment and could ask a metadata service).
pub fn fake_credentials() {
    origin_exporter::discovery::cloudfront::fake::use_static_credentials("testing", "testing");
}

/// The test virtual environment: `$TEST_VENV`, else `.venv-test/` at the repository root.
fn venv() -> PathBuf {
    std::env::var_os("TEST_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-test"),
        PathBuf::from,
    )
}

/// The venv, once checked to hold `moto_server` and the pinned moto and boto3; panics saying
/// how to install them otherwise.
fn installed() -> &'static PathBuf {
    static CHECKED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        let venv = venv();
        let server = venv.join("bin/moto_server");
        if !server.exists() {
            return Err(format!("{} is missing", server.display()));
        }
        let out = Command::new(venv.join("bin/python3"))
            .args([
                "-c",
                "import sys, importlib.metadata as m; print(' '.join(m.version(p) for p in sys.argv[1:]))",
                MOTO.0,
                BOTO3.0,
            ])
            .output()
            .map_err(|e| format!("{}: {e}", venv.join("bin/python3").display()))?;
        let versions = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let want = format!("{} {}", MOTO.1, BOTO3.1);
        if !out.status.success() || versions != want {
            return Err(format!(
                "{} has moto and boto3 {versions:?}, the tests want {want:?}",
                venv.display()
            ));
        }
        Ok(venv)
    });
    match checked {
        Ok(venv) => venv,
        Err(why) => panic!(
            "moto[server]=={} and boto3=={} are needed in the test venv: {why}. Install them with `bash scripts/install-test-deps.sh` (or set TEST_VENV to a venv that has them)",
            MOTO.1, BOTO3.1
        ),
    }
}

/// A running moto server.
pub struct Moto {
    pub addr: SocketAddr,
    venv: PathBuf,
    child: Option<Child>,
}

impl Moto {
    /// Starts moto on a free loopback port; panics, saying how to install it, when the test
    /// venv does not have it.
    pub fn start() -> Moto {
        let venv = installed().clone();
        fake_credentials();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // moto takes a few seconds to import on a loaded machine: poll until it listens.
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            addr,
            venv,
            child: Some(child),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs a Python script with boto3 and a `cf` CloudFront client on this server; returns its
    /// standard output. Panics, with its standard error, when it fails.
    pub fn python(&self, script: &str) -> String {
        let prelude = format!(
            "import boto3, json, sys\ncf = boto3.client('cloudfront', region_name='us-east-1', endpoint_url='{}', aws_access_key_id='testing', aws_secret_access_key='testing')\n",
            self.endpoint()
        );
        let mut child = Command::new(self.venv.join("bin/python"))
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{prelude}{script}").as_bytes())
            .expect("write script");
        let out = child.wait_with_output().expect("python runs");
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stops the server now (a test of an API that went away).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Python: creates a distribution from `spec` (JSON with `origins`, optional `aliases`,
/// `forward_host`, `origin_groups`, `tags`) and prints its id.
pub const CREATE_DISTRIBUTION: &str = r#"
spec = json.loads(sys.argv[1] if len(sys.argv) > 1 else SPEC)
origins = []
for o in spec['origins']:
    item = {'Id': o['id'], 'DomainName': o['domain'], 'OriginPath': o.get('path', ''),
            'CustomHeaders': {'Quantity': len(o.get('headers', {})),
                              'Items': [{'HeaderName': k, 'HeaderValue': v} for k, v in o.get('headers', {}).items()]}}
    if o.get('s3'):
        item['S3OriginConfig'] = {'OriginAccessIdentity': ''}
    else:
        item['CustomOriginConfig'] = {'HTTPPort': o.get('http_port', 80), 'HTTPSPort': o.get('https_port', 443),
            'OriginProtocolPolicy': o.get('policy', 'http-only'),
            'OriginSslProtocols': {'Quantity': 1, 'Items': ['TLSv1.2']},
            'OriginReadTimeout': o.get('read_timeout', 30), 'OriginKeepaliveTimeout': o.get('keepalive_timeout', 5)}
        if 'connection_timeout' in o:
            item['ConnectionTimeout'] = o['connection_timeout']
        if 'connection_attempts' in o:
            item['ConnectionAttempts'] = o['connection_attempts']
    origins.append(item)
headers = ['Host'] if spec.get('forward_host') else []
config = {
    'CallerReference': spec.get('ref', str(id(spec))) + str(len(origins)),
    'Aliases': {'Quantity': len(spec.get('aliases', [])), 'Items': spec.get('aliases', [])},
    'Origins': {'Quantity': len(origins), 'Items': origins},
    'DefaultCacheBehavior': {
        'TargetOriginId': spec['origins'][0]['id'],
        'ViewerProtocolPolicy': 'allow-all',
        'ForwardedValues': {'QueryString': False, 'Cookies': {'Forward': 'none'},
                            'Headers': {'Quantity': len(headers), 'Items': headers}},
        'MinTTL': 0,
    },
    'Comment': '', 'Enabled': True,
}
if spec.get('tags'):
    tags = {'Items': [{'Key': k, 'Value': v} for k, v in spec['tags'].items()]}
    out = cf.create_distribution_with_tags(DistributionConfigWithTags={'DistributionConfig': config, 'Tags': tags})
else:
    out = cf.create_distribution(DistributionConfig=config)
print(out['Distribution']['Id'] + ' ' + out['Distribution']['DomainName'])
"#;

impl Moto {
    /// Creates a distribution from a JSON spec (see [`CREATE_DISTRIBUTION`]); returns its id
    /// and domain name.
    pub fn create_distribution(&self, spec: &serde_json::Value) -> (String, String) {
        let script = format!("SPEC = {:?}\n{CREATE_DISTRIBUTION}", spec.to_string());
        let out = self.python(&script);
        let (id, domain) = out.split_once(' ').expect("id and domain");
        (id.to_string(), domain.to_string())
    }

    /// Imports a certificate into ACM (us-east-1) as an origin mTLS client certificate is
    /// brought there; returns its ARN.
    pub fn import_certificate(&self, cert_pem: &str, key_pem: &str, chain_pem: &str) -> String {
        self.python(&format!(
            "acm = boto3.client('acm', region_name='us-east-1', endpoint_url='{}', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
out = acm.import_certificate(Certificate={cert_pem:?}.encode(), PrivateKey={key_pem:?}.encode(), CertificateChain={chain_pem:?}.encode())\n\
print(out['CertificateArn'])\n",
            self.endpoint()
        ))
    }

    /// Deletes a distribution (disabling it first, as CloudFront requires).
    pub fn delete_distribution(&self, id: &str) {
        self.python(&format!(
            "d = cf.get_distribution_config(Id='{id}')\nc = d['DistributionConfig']\nc['Enabled'] = False\nu = cf.update_distribution(Id='{id}', IfMatch=d['ETag'], DistributionConfig=c)\ncf.delete_distribution(Id='{id}', IfMatch=u['ETag'])\n"
        ));
    }
}

/// What moto lacks (cache policies, origin request policies, `IpAddressType`, origin mTLS, VPC
/// origins, `ResponseCompletionTimeout`), served by a stub of the CloudFront API on loopback in
/// CloudFront's wire format (REST-XML, API version 2020-05-31, as in the API reference):
/// ListDistributions in pages (Marker/NextMarker), GetCachePolicy, GetOriginRequestPolicy and
/// GetVpcOrigin. Its tables can change while a test runs (a policy edited under the same id),
/// and every request path is recorded. A request for another service (a JSON protocol's
/// `X-Amz-Target`, such as ACM's DescribeCertificate) goes to the upstream given with
/// [`Stub::forward_others_to`] (moto), so that one `endpoint_url` serves both.
pub mod stub {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    const NS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";
    const API: &str = "/2020-05-31/";

    /// One distribution with one custom origin `web`, its default behavior and one more
    /// (`/api/*`) sending there with the same policies.
    #[derive(Debug, Clone)]
    pub struct StubDistribution {
        pub id: String,
        pub aliases: Vec<String>,
        /// The origin's domain name.
        pub domain: String,
        pub https_port: u16,
        pub ip_address_type: String,
        pub cache_policy: Option<String>,
        pub origin_request_policy: Option<String>,
        /// `OriginKeepaliveTimeout` (of the custom or the VPC origin config).
        pub keepalive_timeout: u32,
        pub response_completion_timeout: Option<u32>,
        /// `OriginMtlsConfig.ClientCertificateArn`.
        pub mtls_certificate_arn: Option<String>,
        /// The origin is a VPC origin of this id (`VpcOriginConfig`) instead of a custom one.
        pub vpc_origin: Option<String>,
    }

    impl StubDistribution {
        /// `id` with the alias `www.<id in lowercase>.test`, origin `web.stub.test:443`,
        /// ipv4, no policies.
        pub fn new(id: &str) -> Self {
            StubDistribution {
                id: id.into(),
                aliases: vec![format!("www.{}.test", id.to_ascii_lowercase())],
                domain: "web.stub.test".into(),
                https_port: 443,
                ip_address_type: "ipv4".into(),
                cache_policy: None,
                origin_request_policy: None,
                keepalive_timeout: 5,
                response_completion_timeout: None,
                mtls_certificate_arn: None,
                vpc_origin: None,
            }
        }

        /// `CustomOriginConfig`, or `VpcOriginConfig` for a VPC origin, and what follows them
        /// in `Origin` (the API reference's order).
        fn origin_config(&self) -> String {
            let config = match &self.vpc_origin {
                Some(id) => format!(
                    "<VpcOriginConfig><VpcOriginId>{id}</VpcOriginId><OriginReadTimeout>30</OriginReadTimeout>\
<OriginKeepaliveTimeout>{}</OriginKeepaliveTimeout></VpcOriginConfig>",
                    self.keepalive_timeout
                ),
                None => format!(
                    "<CustomOriginConfig><HTTPPort>80</HTTPPort><HTTPSPort>{port}</HTTPSPort><OriginProtocolPolicy>https-only</OriginProtocolPolicy>\
<OriginSslProtocols><Quantity>1</Quantity><Items><SslProtocol>TLSv1.2</SslProtocol></Items></OriginSslProtocols>\
<OriginReadTimeout>30</OriginReadTimeout><OriginKeepaliveTimeout>{keepalive}</OriginKeepaliveTimeout><IpAddressType>{ip}</IpAddressType>{mtls}</CustomOriginConfig>",
                    port = self.https_port,
                    keepalive = self.keepalive_timeout,
                    ip = self.ip_address_type,
                    mtls = self
                        .mtls_certificate_arn
                        .as_deref()
                        .map(|arn| format!("<OriginMtlsConfig><ClientCertificateArn>{arn}</ClientCertificateArn></OriginMtlsConfig>"))
                        .unwrap_or_default(),
                ),
            };
            let completion = self
                .response_completion_timeout
                .map(|t| format!("<ResponseCompletionTimeout>{t}</ResponseCompletionTimeout>"))
                .unwrap_or_default();
            format!("{config}<ConnectionAttempts>2</ConnectionAttempts><ConnectionTimeout>5</ConnectionTimeout>{completion}")
        }

        fn summary(&self) -> String {
            let id = &self.id;
            let aliases: String = self
                .aliases
                .iter()
                .map(|a| format!("<CNAME>{a}</CNAME>"))
                .collect();
            let policies = format!(
                "{}{}",
                self.cache_policy
                    .as_deref()
                    .map(|p| format!("<CachePolicyId>{p}</CachePolicyId>"))
                    .unwrap_or_default(),
                self.origin_request_policy
                    .as_deref()
                    .map(|p| format!("<OriginRequestPolicyId>{p}</OriginRequestPolicyId>"))
                    .unwrap_or_default()
            );
            format!(
                "<DistributionSummary><Id>{id}</Id><ARN>arn:aws:cloudfront::123456789012:distribution/{id}</ARN><Status>Deployed</Status>\
<LastModifiedTime>2024-01-01T00:00:00Z</LastModifiedTime><DomainName>{lower}.cloudfront.net</DomainName>\
<Aliases><Quantity>{n}</Quantity><Items>{aliases}</Items></Aliases>\
<Origins><Quantity>1</Quantity><Items><Origin><Id>web</Id><DomainName>{domain}</DomainName><OriginPath></OriginPath>\
{origin}</Origin></Items></Origins>\
<OriginGroups><Quantity>0</Quantity></OriginGroups>\
<DefaultCacheBehavior><TargetOriginId>web</TargetOriginId><ViewerProtocolPolicy>allow-all</ViewerProtocolPolicy>{policies}</DefaultCacheBehavior>\
<CacheBehaviors><Quantity>1</Quantity><Items><CacheBehavior><PathPattern>/api/*</PathPattern><TargetOriginId>web</TargetOriginId><ViewerProtocolPolicy>allow-all</ViewerProtocolPolicy>{policies}</CacheBehavior></Items></CacheBehaviors>\
<Comment></Comment><PriceClass>PriceClass_All</PriceClass><Enabled>true</Enabled><WebACLId></WebACLId><HttpVersion>http2</HttpVersion><IsIPV6Enabled>true</IsIPV6Enabled>\
</DistributionSummary>",
                lower = id.to_ascii_lowercase(),
                n = self.aliases.len(),
                domain = self.domain,
                origin = self.origin_config(),
            )
        }
    }

    /// A policy's `HeadersConfig`: `HeaderBehavior` and the headers it names.
    #[derive(Debug, Clone)]
    struct Headers {
        behavior: String,
        names: Vec<String>,
    }

    impl Headers {
        fn xml(&self) -> String {
            let items: String = self
                .names
                .iter()
                .map(|h| format!("<Name>{h}</Name>"))
                .collect();
            let list = if self.names.is_empty() {
                String::new()
            } else {
                format!(
                    "<Headers><Quantity>{}</Quantity><Items>{items}</Items></Headers>",
                    self.names.len()
                )
            };
            format!(
                "<HeadersConfig><HeaderBehavior>{}</HeaderBehavior>{list}</HeadersConfig>",
                self.behavior
            )
        }
    }

    /// A VPC origin's `VpcOriginEndpointConfig` (GetVpcOrigin).
    #[derive(Debug, Clone)]
    pub struct StubVpcOrigin {
        pub http_port: u16,
        pub https_port: u16,
        pub protocol_policy: String,
        pub ssl_protocols: Vec<String>,
    }

    impl StubVpcOrigin {
        fn xml(&self, id: &str) -> String {
            let protocols: String = self
                .ssl_protocols
                .iter()
                .map(|p| format!("<SslProtocol>{p}</SslProtocol>"))
                .collect();
            format!(
                "<?xml version=\"1.0\"?><VpcOrigin xmlns=\"{NS}\"><Arn>arn:aws:cloudfront::123456789012:vpcorigin/{id}</Arn>\
<CreatedTime>2025-01-01T00:00:00Z</CreatedTime><Id>{id}</Id><LastModifiedTime>2025-01-01T00:00:00Z</LastModifiedTime><Status>Deployed</Status>\
<VpcOriginEndpointConfig><Arn>arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/internal/{id}</Arn>\
<HTTPPort>{}</HTTPPort><HTTPSPort>{}</HTTPSPort><Name>{id}</Name><OriginProtocolPolicy>{}</OriginProtocolPolicy>\
<OriginSslProtocols><Items>{protocols}</Items><Quantity>{}</Quantity></OriginSslProtocols></VpcOriginEndpointConfig></VpcOrigin>",
                self.http_port,
                self.https_port,
                self.protocol_policy,
                self.ssl_protocols.len()
            )
        }
    }

    #[derive(Debug, Default)]
    struct Tables {
        /// ListDistributions pages, in order.
        pages: Vec<Vec<StubDistribution>>,
        cache_policies: HashMap<String, Headers>,
        request_policies: HashMap<String, Headers>,
        vpc_origins: HashMap<String, StubVpcOrigin>,
        /// Where requests for other services go.
        upstream: Option<SocketAddr>,
        requests: Vec<String>,
    }

    /// One request as read: its head (request line and headers) and body.
    struct Request {
        head: String,
        body: Vec<u8>,
    }

    impl Request {
        async fn read(stream: &mut TcpStream) -> Option<Request> {
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            let end = loop {
                if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                }
            };
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let length = Request::header_in(&head, "content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = data[end..].to_vec();
            while body.len() < length {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => body.extend_from_slice(&buf[..n]),
                }
            }
            Some(Request { head, body })
        }

        fn header_in(head: &str, name: &str) -> Option<String> {
            head.lines().skip(1).find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        }

        fn path(&self) -> String {
            self.head
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .to_string()
        }

        /// The request again, for one exchange only (`Connection: close`).
        fn closing(&self) -> Vec<u8> {
            let mut out = String::new();
            for line in self.head.trim_end().lines() {
                if !line.to_ascii_lowercase().starts_with("connection:") {
                    out.push_str(line);
                    out.push_str("\r\n");
                }
            }
            out.push_str("Connection: close\r\n\r\n");
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&self.body);
            bytes
        }
    }

    /// Sends `request` to `upstream` and relays its whole answer.
    async fn forward(stream: &mut TcpStream, upstream: SocketAddr, request: &Request) {
        let Ok(mut up) = TcpStream::connect(upstream).await else {
            let _ = stream
                .write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            return;
        };
        if up.write_all(&request.closing()).await.is_err() {
            return;
        }
        let mut answer = Vec::new();
        let _ = up.read_to_end(&mut answer).await;
        let _ = stream.write_all(&answer).await;
    }

    pub struct Stub {
        pub endpoint: String,
        tables: Arc<Mutex<Tables>>,
        task: JoinHandle<()>,
    }

    impl Drop for Stub {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    fn lock(tables: &Mutex<Tables>) -> std::sync::MutexGuard<'_, Tables> {
        tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    impl Stub {
        /// Serves `pages` of distributions (one ListDistributions page each).
        pub async fn start(pages: Vec<Vec<StubDistribution>>) -> Stub {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
            let tables = Arc::new(Mutex::new(Tables {
                pages,
                ..Tables::default()
            }));
            let shared = Arc::clone(&tables);
            let task = tokio::spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    let tables = Arc::clone(&shared);
                    tokio::spawn(async move {
                        let Some(request) = Request::read(&mut stream).await else {
                            return;
                        };
                        // Another service's JSON API: recorded by its target, answered upstream.
                        if let Some(target) = Request::header_in(&request.head, "x-amz-target") {
                            let upstream = {
                                let mut t = lock(&tables);
                                t.requests.push(target);
                                t.upstream
                            };
                            if let Some(upstream) = upstream {
                                forward(&mut stream, upstream, &request).await;
                            }
                            let _ = stream.shutdown().await;
                            return;
                        }
                        let path = request.path();
                        let (status, body) = {
                            let mut t = lock(&tables);
                            t.requests.push(path.clone());
                            answer(&t, &path)
                        };
                        let response = format!(
                            "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.write_all(response.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    });
                }
            });
            Stub {
                endpoint,
                tables,
                task,
            }
        }

        /// Sets (or edits, under the same id) a cache policy's cache-key headers: behavior
        /// `none` or `whitelist`.
        pub fn set_cache_policy(&self, id: &str, behavior: &str, headers: &[&str]) {
            lock(&self.tables).cache_policies.insert(
                id.into(),
                Headers {
                    behavior: behavior.into(),
                    names: headers.iter().map(|h| h.to_string()).collect(),
                },
            );
        }

        /// Sets (or edits) an origin request policy's headers: `none`, `whitelist`,
        /// `allViewer`, `allViewerAndWhitelistCloudFront` or `allExcept`.
        pub fn set_origin_request_policy(&self, id: &str, behavior: &str, headers: &[&str]) {
            lock(&self.tables).request_policies.insert(
                id.into(),
                Headers {
                    behavior: behavior.into(),
                    names: headers.iter().map(|h| h.to_string()).collect(),
                },
            );
        }

        /// Sets (or edits) a VPC origin's endpoint configuration (GetVpcOrigin).
        pub fn set_vpc_origin(&self, id: &str, vpc: StubVpcOrigin) {
            lock(&self.tables).vpc_origins.insert(id.into(), vpc);
        }

        /// Requests for other services (ACM) go to `upstream` (moto).
        pub fn forward_others_to(&self, upstream: SocketAddr) {
            lock(&self.tables).upstream = Some(upstream);
        }

        /// Every request path so far (another service's: its `X-Amz-Target`), in order.
        pub fn requests(&self) -> Vec<String> {
            lock(&self.tables).requests.clone()
        }
    }

    fn not_found(code: &str, id: &str) -> (&'static str, String) {
        (
            "404 Not Found",
            format!(
                "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type><Code>{code}</Code>\
<Message>The specified resource {id} does not exist.</Message></Error><RequestId>stub</RequestId></ErrorResponse>"
            ),
        )
    }

    fn answer(t: &Tables, path: &str) -> (&'static str, String) {
        let rest = path.strip_prefix(API).unwrap_or(path);
        if let Some(id) = rest.strip_prefix("cache-policy/") {
            let Some(h) = t.cache_policies.get(id) else {
                return not_found("NoSuchCachePolicy", id);
            };
            return ("200 OK", format!(
                "<?xml version=\"1.0\"?><CachePolicy xmlns=\"{NS}\"><Id>{id}</Id><LastModifiedTime>2024-01-01T00:00:00Z</LastModifiedTime>\
<CachePolicyConfig><Comment></Comment><Name>{id}</Name><DefaultTTL>86400</DefaultTTL><MaxTTL>31536000</MaxTTL><MinTTL>1</MinTTL>\
<ParametersInCacheKeyAndForwardedToOrigin><EnableAcceptEncodingGzip>true</EnableAcceptEncodingGzip><EnableAcceptEncodingBrotli>true</EnableAcceptEncodingBrotli>\
{}<CookiesConfig><CookieBehavior>none</CookieBehavior></CookiesConfig><QueryStringsConfig><QueryStringBehavior>none</QueryStringBehavior></QueryStringsConfig>\
</ParametersInCacheKeyAndForwardedToOrigin></CachePolicyConfig></CachePolicy>",
                h.xml()
            ));
        }
        if let Some(id) = rest.strip_prefix("origin-request-policy/") {
            let Some(h) = t.request_policies.get(id) else {
                return not_found("NoSuchOriginRequestPolicy", id);
            };
            return ("200 OK", format!(
                "<?xml version=\"1.0\"?><OriginRequestPolicy xmlns=\"{NS}\"><Id>{id}</Id><LastModifiedTime>2024-01-01T00:00:00Z</LastModifiedTime>\
<OriginRequestPolicyConfig><Name>{id}</Name>{}\
<CookiesConfig><CookieBehavior>none</CookieBehavior></CookiesConfig><QueryStringsConfig><QueryStringBehavior>none</QueryStringBehavior></QueryStringsConfig>\
</OriginRequestPolicyConfig></OriginRequestPolicy>",
                h.xml()
            ));
        }
        if let Some(id) = rest.strip_prefix("vpc-origin/") {
            let Some(vpc) = t.vpc_origins.get(id) else {
                return not_found("EntityNotFound", id);
            };
            return ("200 OK", vpc.xml(id));
        }
        // ListDistributions: page N+1 is asked for with Marker=pageN+1.
        let page = path
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("Marker=page"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let items: String = t
            .pages
            .get(page - 1)
            .map(|p| p.iter().map(StubDistribution::summary).collect())
            .unwrap_or_default();
        let quantity = t.pages.get(page - 1).map_or(0, Vec::len);
        let next = if page < t.pages.len() {
            format!("page{}", page + 1)
        } else {
            String::new()
        };
        let truncated = !next.is_empty();
        ("200 OK", format!(
            "<?xml version=\"1.0\"?><DistributionList xmlns=\"{NS}\"><Marker></Marker><NextMarker>{next}</NextMarker>\
<MaxItems>100</MaxItems><IsTruncated>{truncated}</IsTruncated><Quantity>{quantity}</Quantity><Items>{items}</Items></DistributionList>"
        ))
    }
}
