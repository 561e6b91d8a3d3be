//! Property tests: the config loader and the web config loader take any input without
//! panicking, and anything they accept is a usable config.

use std::path::Path;

use proptest::prelude::*;

const VALID: &str = "global: {interval: 30s, timeout: 5s, resolvers: ['127.0.0.1:53']}
origins:
  - {name: shop, domain: origin.shop.example.com, host_header: www.shop.example.com, https_port: 8443,
     ssl_protocols: [TLSv1, TLSv1.2], http: {path: /health, expect_status: [200, 3xx]}, labels: {team: web}}
";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_is_accepted_or_refused_cleanly(text in ".{0,400}") {
        if let Ok(config) = origin_exporter::config::load_str(&text, Path::new("fuzz.yaml")) {
            prop_assert!(!config.origins.is_empty());
        }
    }

    #[test]
    fn mutated_valid_configs_never_panic(pos in 0usize..VALID.len(), byte in any::<u8>(), cut in 0usize..VALID.len()) {
        let mut bytes = VALID.as_bytes().to_vec();
        bytes[pos] = byte;
        bytes.truncate(cut.max(1));
        let text = String::from_utf8_lossy(&bytes);
        match origin_exporter::config::load_str(&text, Path::new("fuzz.yaml")) {
            Ok(config) => {
                for o in &config.origins {
                    prop_assert!(o.timeout <= o.interval);
                    prop_assert!(o.https_port != 0 && o.http_port != 0);
                }
            }
            Err(e) => prop_assert!(!e.field_errors().is_empty()),
        }
    }

    #[test]
    fn web_config_loader_never_panics(text in ".{0,300}") {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web.yml");
        std::fs::write(&file, text.as_bytes()).unwrap();
        let _ = origin_exporter::server::web_config::load(&file);
    }
}

#[test]
fn the_seed_config_is_valid() {
    let c = origin_exporter::config::load_str(VALID, Path::new("fuzz.yaml")).expect("valid");
    assert_eq!(c.origins[0].https_port, 8443);
}
