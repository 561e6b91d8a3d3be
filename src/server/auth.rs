//! Basic auth against the web config's bcrypt users: remembered logins, a bounded number of
//! bcrypt verifications at once, and an unknown user verified against the config's dummy hash
//! so that response times do not tell which users exist.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use quick_cache::sync::Cache;
use tokio::sync::Semaphore;

use super::web_config::WebConfig;

/// Remembered successful logins (SHA-256 digests of user, password and hash): a scrape must not
/// cost a bcrypt each time. Beyond it the least used go (quick_cache's CLOCK-Pro); a web config
/// (re)load empties it. Failures are never cached, so a client trying new passwords cannot push
/// the scraper's login out.
const AUTH_CACHE_MAX: usize = 1024;
/// bcrypt verifications at once (each 50-100 ms of a CPU, on blocking threads): a stream of wrong
/// passwords queues here instead of taking the async workers from the scrapes.
const BCRYPT_AT_ONCE: usize = 2;
/// How long a login waits for a verification slot before it is answered 503.
const BCRYPT_WAIT: Duration = Duration::from_secs(5);

/// The logins remembered and the verification slots, shared by every request.
pub(super) struct Auth {
    cache: Cache<[u8; 32], ()>,
    bcrypt_slots: Arc<Semaphore>,
    /// bcrypt verifications started (tests count them: timing-free proof of their cost).
    verifications: AtomicU64,
}

/// How a basic-auth login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Login {
    Accepted,
    Refused,
    /// Too many verifications waiting: answered 503 without a verdict.
    Busy,
}

impl Auth {
    pub(super) fn new() -> Auth {
        Auth {
            cache: Cache::new(AUTH_CACHE_MAX),
            bcrypt_slots: Arc::new(Semaphore::new(BCRYPT_AT_ONCE)),
            verifications: AtomicU64::new(0),
        }
    }

    /// Forgets every remembered login (the users or their hashes may have changed).
    pub(super) fn forget(&self) {
        self.cache.clear();
    }

    /// Whether the `Authorization` header carries a configured user and its password. A
    /// remembered login answers at once; any other costs a bcrypt on a blocking thread, at most
    /// [`BCRYPT_AT_ONCE`] at a time. An unknown user costs one bcrypt too (against the config's
    /// dummy hash, of the users' cost), exactly as a known user's wrong password does: response
    /// times do not tell which users exist.
    pub(super) async fn authorized(
        &self,
        config: &WebConfig,
        authorization: Option<&str>,
    ) -> Login {
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return Login::Refused;
        };
        let (hash, known) = match (config.users.get(&user), &config.dummy_hash) {
            (Some(hash), _) => (hash, true),
            (None, Some(dummy)) => (dummy, false),
            (None, None) => return Login::Refused,
        };
        let key = cache_key(&user, &password, hash);
        // Only a known user's verified login is ever inserted.
        if self.cache.get(&key).is_some() {
            return Login::Accepted;
        }
        let slot =
            tokio::time::timeout(BCRYPT_WAIT, Arc::clone(&self.bcrypt_slots).acquire_owned()).await;
        let Ok(Ok(_slot)) = slot else {
            return Login::Busy;
        };
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let hash = hash.clone();
        let verified =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if verified && known {
            self.cache.insert(key, ());
            Login::Accepted
        } else {
            Login::Refused
        }
    }
}

/// The cache holds digests, never passwords.
fn cache_key(user: &str, password: &str, hash: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, password, hash] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

/// `Basic base64(user:password)` → (user, password).
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn parses_basic_credentials() {
        // "alice:pa:ss" — a colon in the password is allowed.
        assert_eq!(
            basic_credentials("Basic YWxpY2U6cGE6c3M="),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(basic_credentials("Bearer x"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }

    #[tokio::test]
    async fn auth_checks_and_caches_successes_only() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let auth = Auth::new();
        let mut config = WebConfig::default();
        config.users.insert("alice".into(), hash);
        let login = |h: Option<String>| {
            let (auth, config) = (&auth, &config);
            async move { auth.authorized(config, h.as_deref()).await }
        };
        assert_eq!(
            login(Some(header("alice", "secret"))).await,
            Login::Accepted
        );
        assert_eq!(auth.cache.len(), 1);
        assert_eq!(
            login(Some(header("alice", "secret"))).await,
            Login::Accepted
        );
        assert_eq!(login(Some(header("alice", "wrong"))).await, Login::Refused);
        assert_eq!(login(None).await, Login::Refused);
        assert_eq!(login(Some("Bearer x".into())).await, Login::Refused);
        // Failures are not remembered: only the one success is.
        assert_eq!(auth.cache.len(), 1);
    }

    /// An unknown user costs exactly one bcrypt verification, as a known user's wrong password
    /// does (counted, not timed), and is never remembered; a remembered login costs none.
    #[tokio::test]
    async fn an_unknown_user_costs_one_bcrypt_like_a_wrong_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web.yml");
        let hash = bcrypt::hash("secret", 4).unwrap();
        std::fs::write(&file, format!("basic_auth_users: {{alice: '{hash}'}}")).unwrap();
        // As loaded from a file, so with the dummy hash the loader makes.
        let config = super::super::web_config::load(&file).unwrap();
        let auth = Auth::new();
        let verifications = || auth.verifications.load(Ordering::Relaxed);
        let mut costs = Vec::new();
        for (user, password, want) in [
            ("alice", "wrong", Login::Refused),
            ("mallory", "secret", Login::Refused),
            ("mallory", "wrong", Login::Refused),
            ("", "", Login::Refused),
            ("alice", "secret", Login::Accepted),
            ("alice", "secret", Login::Accepted),
        ] {
            let before = verifications();
            let got = auth
                .authorized(&config, Some(&header(user, password)))
                .await;
            assert_eq!(got, want, "{user}:{password}");
            costs.push(verifications() - before);
        }
        // The last login was remembered from the one before.
        assert_eq!(costs, [1, 1, 1, 1, 1, 0]);
        assert_eq!(auth.cache.len(), 1);
    }

    #[tokio::test]
    async fn logins_wait_for_a_verification_slot_and_are_busy_past_the_wait() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let auth = Auth::new();
        let mut config = WebConfig::default();
        config.users.insert("alice".into(), hash.clone());
        let alice = header("alice", "secret");
        // Every slot taken (as by a flood of wrong passwords): a new login waits, then is busy.
        let taken: Vec<_> = (0..BCRYPT_AT_ONCE)
            .map(|_| Arc::clone(&auth.bcrypt_slots).try_acquire_owned().unwrap())
            .collect();
        tokio::time::pause();
        assert_eq!(auth.authorized(&config, Some(&alice)).await, Login::Busy);
        tokio::time::resume();
        drop(taken);
        assert_eq!(
            auth.authorized(&config, Some(&alice)).await,
            Login::Accepted
        );
        // Remembered: accepted without a slot even while every slot is taken.
        let _taken: Vec<_> = (0..BCRYPT_AT_ONCE)
            .map(|_| Arc::clone(&auth.bcrypt_slots).try_acquire_owned().unwrap())
            .collect();
        assert_eq!(
            auth.authorized(&config, Some(&alice)).await,
            Login::Accepted
        );
    }

    #[test]
    fn the_auth_cache_stays_bounded_and_keeps_what_is_used() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let auth = Auth::new();
        let alice_key = cache_key("alice", "secret", &hash);
        auth.cache.insert(alice_key, ());
        // Three times the bound of other logins while the scraper keeps coming back.
        for i in 0..3 * AUTH_CACHE_MAX {
            auth.cache
                .insert(cache_key("user", &i.to_string(), &hash), ());
            if i % 100 == 0 {
                assert!(auth.cache.get(&alice_key).is_some(), "evicted at {i}");
            }
        }
        assert!(auth.cache.len() <= AUTH_CACHE_MAX);
        assert!(auth.cache.len() > AUTH_CACHE_MAX / 2);
        assert!(auth.cache.get(&alice_key).is_some());
    }
}
