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
            'OriginReadTimeout': o.get('read_timeout', 30), 'OriginKeepaliveTimeout': 5}
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

    /// Deletes a distribution (disabling it first, as CloudFront requires).
    pub fn delete_distribution(&self, id: &str) {
        self.python(&format!(
            "d = cf.get_distribution_config(Id='{id}')\nc = d['DistributionConfig']\nc['Enabled'] = False\nu = cf.update_distribution(Id='{id}', IfMatch=d['ETag'], DistributionConfig=c)\ncf.delete_distribution(Id='{id}', IfMatch=u['ETag'])\n"
        ));
    }
}
