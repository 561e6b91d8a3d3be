//! A fake AWS API on loopback: moto's server (`moto_server`), installed from PyPI into a virtual
//! environment under the target directory (`target/venv-moto`) the first time a test needs it,
//! started on 127.0.0.1 and stopped when dropped. Distributions are made through boto3 from the
//! same environment. Tests skip, saying why, only when moto cannot be installed.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The moto release the tests are written against (≥ 5.2.3: CloudFront origin settings).
pub const MOTO: &str = "moto[server]==5.2.5";
pub const BOTO3: &str = "boto3==1.44.8";

/// Credentials the fake accepts; set in the environment so that the SDK's default chain finds
/// them first and asks no metadata service.
pub fn fake_credentials() {
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
    ] {
        // Every test sets the same values: concurrent setters cannot disagree.
        std::env::set_var(k, v);
    }
}

fn venv() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("venv-moto")
}

/// Installs moto once per test process; `Err` says why it cannot be.
fn install() -> Result<PathBuf, String> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let venv = venv();
            let server = venv.join("bin/moto_server");
            let marker = venv.join(format!(".installed-{MOTO}-{BOTO3}"));
            if server.exists() && marker.exists() {
                return Ok(venv);
            }
            let run = |cmd: &mut Command| -> Result<(), String> {
                let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "{cmd:?}: {}",
                        String::from_utf8_lossy(&out.stderr)
                            .lines()
                            .last()
                            .unwrap_or("")
                    ))
                }
            };
            if !venv.join("bin/pip").exists()
                && run(Command::new("python3").args(["-m", "venv"]).arg(&venv)).is_err()
            {
                // Debian splits venv out of python3.
                let _ = run(Command::new("apt-get").args(["install", "-y", "python3-venv"]));
                run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
            }
            run(Command::new(venv.join("bin/pip")).args(["install", "-q", MOTO, BOTO3]))?;
            let _ = std::fs::write(&marker, "");
            Ok(venv)
        })
        .clone()
}

/// A running moto server.
pub struct Moto {
    pub addr: SocketAddr,
    venv: PathBuf,
    child: Option<Child>,
}

impl Moto {
    /// Starts moto on a free loopback port; `None` (with the reason printed) when moto cannot
    /// be installed.
    pub fn start() -> Option<Moto> {
        let venv = match install() {
            Ok(v) => v,
            Err(why) => {
                eprintln!("SKIPPED: moto cannot be installed: {why}");
                return None;
            }
        };
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
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Moto {
            addr,
            venv,
            child: Some(child),
        })
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
