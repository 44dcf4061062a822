//! A client of the OCI distribution API: manifests and blobs pulled (whole
//! or by byte range) and pushed, with the credentials of the user's Docker
//! config (`docker login`), token and basic authentication, plain HTTP for
//! 127.0.0.1 and localhost and TLS everywhere else.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use crate::source::digest::sha256_of;
use crate::source::media;

/// Docker Hub's registry, as `docker` names it and as it is reached.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_HOST: &str = "registry-1.docker.io";
const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
/// An old name of Docker Hub, normalised to [`DOCKER_HUB`].
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
/// The longest repository name (registry and path) the distribution
/// grammar allows.
const MAX_NAME_LEN: usize = 255;
/// The longest tag.
const MAX_TAG_LEN: usize = 128;

/// `sha256:` and 64 lower-case hex digits: the only digests friscy takes
/// (they become URL paths and file names).
pub fn is_digest(d: &str) -> bool {
    d.strip_prefix(crate::source::digest::SHA256_PREFIX)
        .is_some_and(crate::source::digest::is_sha256_hex)
}

/// A tag as the distribution grammar has it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    t.len() <= MAX_TAG_LEN
        && t.bytes().next().is_some_and(word)
        && t.bytes().all(|b| word(b) || b == b'.' || b == b'-')
}

/// One path component of a repository name: lower-case letters and
/// digits, runs of them joined by `.`, `_`, `__` or any number of `-`.
pub fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.first().is_none_or(|&x| !alnum(x)) || b.last().is_none_or(|&x| !alnum(x)) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &b[start..i];
        let ok = sep == b"." || sep == b"_" || sep == b"__" || sep.iter().all(|&x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A registry as the distribution grammar has it: a DNS name (components
/// of letters, digits and inner `-`, joined by `.`), an IPv4 address or a
/// bracketed IPv6 address, with an optional `:PORT`.
pub fn is_registry_host(h: &str) -> bool {
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => (v6, Some(port)),
                None => return false,
            },
        }
    } else {
        match h.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if h.starts_with('[') {
        return true;
    }
    let component = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.last().is_some_and(u8::is_ascii_alphanumeric)
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
    };
    !host.is_empty() && host.split('.').all(component)
}
/// Bytes read from registries by this process (manifests, blobs, ranges).
pub static FETCHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn count(n: usize) {
    FETCHED.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
}

/// How long a registry may keep friscy waiting: to connect, for any one
/// read, and the window over which a body must bring [`MIN_BYTES`]
/// (`$FRISCY_REGISTRY_TIMEOUT` seconds, default 60).
fn patience() -> Duration {
    std::env::var("FRISCY_REGISTRY_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&n| n > 0)
        .map_or(Duration::from_secs(60), Duration::from_secs)
}

/// The fewest bytes a body must bring per [`patience`] window: a registry
/// that dribbles slower than this is given up on, rather than holding
/// friscy forever one byte per timeout.
const MIN_BYTES: u64 = 1024;

/// A response body: counted in [`FETCHED`], and failed when it arrives
/// slower than [`MIN_BYTES`] per [`patience`].
struct Metered<R> {
    inner: R,
    window: std::time::Instant,
    in_window: u64,
    patience: Duration,
}

impl<R> Metered<R> {
    fn new(inner: R) -> Metered<R> {
        Metered {
            inner,
            window: std::time::Instant::now(),
            in_window: 0,
            patience: patience(),
        }
    }
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        count(n);
        self.in_window += n as u64;
        if self.window.elapsed() >= self.patience {
            if self.in_window < MIN_BYTES && n > 0 {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the registry sent {} bytes in {} s: too slow (FRISCY_REGISTRY_TIMEOUT sets the window)",
                        self.in_window,
                        self.patience.as_secs()
                    ),
                ));
            }
            self.window = std::time::Instant::now();
            self.in_window = 0;
        }
        Ok(n)
    }
}

/// The largest manifest or token response read.
const MAX_DOCUMENT: u64 = 16 << 20;

/// A manifest or token reply, whole: at most [`MAX_DOCUMENT`] bytes.
fn read_document(r: ureq::Response) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    Metered::new(r.into_reader())
        .take(MAX_DOCUMENT + 1)
        .read_to_end(&mut body)?;
    if body.len() as u64 > MAX_DOCUMENT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {} MiB", MAX_DOCUMENT >> 20),
        ));
    }
    Ok(body)
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("bad image reference {reference:?}: {reason}")]
    Reference { reference: String, reason: String },
    #[error("{what}: not found in {registry}")]
    NotFound { what: String, registry: String },
    #[error(
        "{registry}: authentication failed for {what}: {message} (try `docker login {registry}`)"
    )]
    Auth {
        registry: String,
        what: String,
        message: String,
    },
    #[error("{registry}: {what}: HTTP {status}: {message}")]
    Http {
        registry: String,
        what: String,
        status: u16,
        message: String,
    },
    #[error("{registry}: cannot reach it for {what}: {message}")]
    Transport {
        registry: String,
        what: String,
        message: String,
    },
    #[error("{registry}: {what}: {message}")]
    Invalid {
        registry: String,
        what: String,
        message: String,
    },
    #[error("reading {what}: {source}")]
    Io { what: String, source: io::Error },
}

/// `[docker://]REGISTRY/REPOSITORY[:TAG][@DIGEST]`, normalised as docker
/// does (no registry: Docker Hub, one-word repositories under `library/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    /// As `docker` writes it (`docker.io` for Docker Hub).
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl RegistryRef {
    pub fn parse(s: &str) -> Result<RegistryRef, RegistryError> {
        let bad = |reason: &str| RegistryError::Reference {
            reference: s.to_owned(),
            reason: reason.to_owned(),
        };
        let s2 = s.strip_prefix("docker://").unwrap_or(s);
        let (name, digest) = match s2.split_once('@') {
            Some((n, d)) => {
                if !is_digest(d) {
                    return Err(bad("a digest is sha256: and 64 lower-case hex digits"));
                }
                (n, Some(d.to_owned()))
            }
            None => (s2, None),
        };
        let (name, tag) = match name.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t.to_owned())),
            _ => (name, None),
        };
        if name.is_empty() {
            return Err(bad("no repository"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(bad("the name is longer than 255 characters"));
        }
        let (registry, repo) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if !is_registry_host(first) {
                    return Err(bad("bad registry host"));
                }
                let first = if first == LEGACY_DOCKER_HUB {
                    DOCKER_HUB
                } else {
                    first
                };
                (first.to_owned(), rest.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let repository = if registry == DOCKER_HUB && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo
        };
        if !repository.split('/').all(is_path_component) {
            return Err(bad(
                "repository path components are lower-case letters and digits, \
                 joined by single '.', '_', '__' or '-' runs",
            ));
        }
        if let Some(t) = &tag
            && !is_tag(t)
        {
            return Err(bad(
                "a tag is at most 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
            ));
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_owned())
        } else {
            tag
        };
        Ok(RegistryRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The tag or digest to ask the registry for.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The host (and port) HTTP requests go to.
    pub fn host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_HOST
        } else {
            &self.registry
        }
    }

    /// Plain HTTP for the local host, as docker allows for it.
    pub fn insecure(&self) -> bool {
        let host = self
            .registry
            .rsplit_once(':')
            .map_or(&*self.registry, |(h, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    &self.registry
                }
            });
        matches!(host, "localhost" | "127.0.0.1" | "[::1]")
    }
}

impl std::fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// User name and password (or identity token) for a registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// A Docker config folder given on the command line (`docker --config`).
static CONFIG_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Uses `dir` instead of `$DOCKER_CONFIG` or `~/.docker` (once, at start-up).
pub fn set_config_dir(dir: PathBuf) {
    let _ = CONFIG_DIR.set(dir);
}

/// The user's Docker config file: `docker --config DIR`, else
/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = CONFIG_DIR.get() {
        return Some(dir.join("config.json"));
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// The credentials `docker login` stored for `registry`, if any.
pub fn credentials_for(registry: &str) -> Option<Credentials> {
    let path = docker_config_path()?;
    let bytes = std::fs::read(path).ok()?;
    credentials_in(&bytes, registry)
}

/// The credentials a Docker config document holds for `registry`: from
/// its credential helper, else its `auths` entry.
pub fn credentials_in(config: &[u8], registry: &str) -> Option<Credentials> {
    credentials_with(config, registry, &from_helper)
}

/// As [`credentials_in`], asking credential helpers through `helper`
/// (helper name, server): for tests and fuzzing, which must not run
/// programs.
pub fn credentials_with(
    config: &[u8],
    registry: &str,
    helper: &dyn Fn(&str, &str) -> Option<Credentials>,
) -> Option<Credentials> {
    let cfg: DockerConfig = serde_json::from_slice(config).ok()?;
    let key = if registry == DOCKER_HUB {
        DOCKER_HUB_AUTH_KEY.to_owned()
    } else {
        registry.to_owned()
    };
    if let Some(name) = cfg.cred_helpers.get(&key).or(cfg.creds_store.as_ref())
        && is_helper_name(name)
        && let Some(c) = helper(name, &key)
    {
        return Some(c);
    }
    let entry = cfg.auths.iter().find_map(|(k, v)| {
        let k = k
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let want = key.trim_start_matches("https://").trim_end_matches('/');
        (k == want).then_some(v)
    })?;
    if let Some(token) = &entry.identitytoken {
        return Some(Credentials {
            username: "<token>".into(),
            password: token.clone(),
        });
    }
    if let Some(auth) = &entry.auth {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (u, p) = text.split_once(':')?;
        return Some(Credentials {
            username: u.into(),
            password: p.into(),
        });
    }
    Some(Credentials {
        username: entry.username.clone()?,
        password: entry.password.clone()?,
    })
}

/// A credential helper's name: it becomes a program name looked up in
/// PATH (`docker-credential-NAME`), so no path separators or anything
/// that is not a plain word.
fn is_helper_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.')
}

/// Asks `docker-credential-HELPER get` (the protocol docker uses).
fn from_helper(helper: &str, server: &str) -> Option<Credentials> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(server.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    #[derive(Deserialize)]
    struct Reply {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let r: Reply = serde_json::from_slice(&out.stdout).ok()?;
    Some(Credentials {
        username: r.username,
        password: r.secret,
    })
}

/// A `WWW-Authenticate` challenge: scheme and parameters.
fn parse_challenge(h: &str) -> (String, BTreeMap<String, String>) {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    let mut params = BTreeMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((k, v)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let v = v.trim_start();
        let (value, after) = if let Some(q) = v.strip_prefix('"') {
            match q.split_once('"') {
                Some((val, after)) => (val.to_owned(), after),
                None => (q.to_owned(), ""),
            }
        } else {
            match v.split_once(',') {
                Some((val, after)) => (val.trim().to_owned(), after),
                None => (v.trim().to_owned(), ""),
            }
        };
        params.insert(k, value);
        rest = after.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_ascii_lowercase(), params)
}

/// A manifest (or index) as the registry returned it.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

/// A client for one repository of one registry.
pub struct Client {
    pub target: RegistryRef,
    agent: ureq::Agent,
    base: String,
    creds: Option<Credentials>,
    /// `Authorization` header value once authenticated.
    auth: Mutex<Option<String>>,
    push: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.target)
    }
}

enum Body<'a> {
    None,
    Bytes(&'a [u8]),
    Reader(Box<dyn Read + 'a>, u64),
}

impl Client {
    /// A client of `target`'s repository (`push`: ask for push rights too).
    pub fn new(target: &RegistryRef, push: bool) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(patience())
            .timeout_read(patience())
            // a redirect (to a CDN, say) never carries our credentials
            .redirect_auth_headers(ureq::RedirectAuthHeaders::Never)
            .build();
        let scheme = if target.insecure() { "http" } else { "https" };
        Client {
            base: format!("{scheme}://{}/v2/{}", target.host(), target.repository),
            target: target.clone(),
            agent,
            creds: credentials_for(&target.registry),
            auth: Mutex::new(None),
            push,
        }
    }

    fn registry(&self) -> String {
        self.target.registry.clone()
    }

    /// `digest`, if it is one friscy takes; it becomes part of a URL.
    fn checked<'d>(&self, digest: &'d str, what: &str) -> Result<&'d str, RegistryError> {
        if is_digest(digest) {
            Ok(digest)
        } else {
            Err(RegistryError::Invalid {
                registry: self.registry(),
                what: what.to_owned(),
                message: format!("{digest:?} is not a sha256 digest"),
            })
        }
    }

    /// Whether the user's password may go to the token server `realm`:
    /// over TLS, or in the clear only to the (local, plain-HTTP) registry's
    /// own host.
    fn may_send_password_to(&self, realm: &str) -> bool {
        let Ok(realm) = url::Url::parse(realm) else {
            return false;
        };
        match realm.scheme() {
            "https" => true,
            "http" => {
                let registry = url::Url::parse(&self.base).ok();
                self.target.insecure() && registry.is_some_and(|r| r.host_str() == realm.host_str())
            }
            _ => false,
        }
    }

    /// Gets a token (or sets basic auth) for the challenge `header`.
    fn authenticate(&self, header: &str, what: &str) -> Result<(), RegistryError> {
        let (scheme, params) = parse_challenge(header);
        let auth_err = |message: String| RegistryError::Auth {
            registry: self.registry(),
            what: what.to_owned(),
            message,
        };
        let basic = self.creds.as_ref().map(|c| {
            let raw = format!("{}:{}", c.username, c.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        });
        match scheme.as_str() {
            "basic" => {
                let Some(b) = basic else {
                    return Err(auth_err(
                        "the registry wants a user name and password".into(),
                    ));
                };
                *self.auth.lock().expect("lock") = Some(b);
                Ok(())
            }
            "bearer" => {
                let realm = params
                    .get("realm")
                    .ok_or_else(|| auth_err("token challenge without a realm".into()))?;
                let actions = if self.push { "pull,push" } else { "pull" };
                let scope = format!("repository:{}:{actions}", self.target.repository);
                let mut req = self.agent.get(realm).query("scope", &scope);
                if let Some(service) = params.get("service") {
                    req = req.query("service", service);
                }
                if let Some(b) = &basic
                    && self.may_send_password_to(realm)
                {
                    req = req.set("Authorization", b);
                }
                let resp = match req.call() {
                    Ok(r) => r,
                    Err(ureq::Error::Status(code, r)) => {
                        return Err(auth_err(format!(
                            "token server said {code}: {}",
                            error_message(r)
                        )));
                    }
                    Err(e) => return Err(auth_err(e.to_string())),
                };
                #[derive(Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let body = read_document(resp).map_err(|e| auth_err(e.to_string()))?;
                let t: Token =
                    serde_json::from_slice(&body).map_err(|e| auth_err(e.to_string()))?;
                let token = t
                    .token
                    .or(t.access_token)
                    .ok_or_else(|| auth_err("no token in the reply".into()))?;
                *self.auth.lock().expect("lock") = Some(format!("Bearer {token}"));
                Ok(())
            }
            other => Err(auth_err(format!("unknown authentication scheme {other:?}"))),
        }
    }

    /// One request; a 401 is answered by authenticating and trying again
    /// (requests with a streamed body authenticate first with a ping).
    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        what: &str,
    ) -> Result<ureq::Response, RegistryError> {
        if matches!(body, Body::Reader(..)) && self.auth.lock().expect("lock").is_none() {
            // a streamed body cannot be sent twice
            let ping = self.send(
                "GET",
                &format!("{}/tags/list", self.base),
                &[],
                Body::None,
                what,
            );
            if let Err(RegistryError::Auth { .. }) = ping {
                return ping;
            }
        }
        let mut body = Some(body);
        for attempt in 0..2 {
            let mut req = self.agent.request(method, url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            // credentials (a password or the registry's token) go to the
            // registry itself, never to another host it points at (an
            // upload location, say), as docker does
            let ours = same_origin(url, &self.base);
            if ours && let Some(a) = self.auth.lock().expect("lock").clone() {
                req = req.set("Authorization", &a);
            }
            let b = body.take().unwrap_or(Body::None);
            let replay = match &b {
                Body::None => Some(Body::None),
                Body::Bytes(x) => Some(Body::Bytes(x)),
                Body::Reader(..) => None,
            };
            let result = match b {
                Body::None => req.call(),
                Body::Bytes(x) => req.send_bytes(x),
                Body::Reader(r, len) => req.set("Content-Length", &len.to_string()).send(r),
            };
            match result {
                Ok(r) => return Ok(r),
                Err(ureq::Error::Status(401, r)) if attempt == 0 && ours => {
                    let challenge = r.header("www-authenticate").unwrap_or("").to_owned();
                    self.authenticate(&challenge, what)?;
                    match replay {
                        Some(again) => body = Some(again),
                        None => {
                            return Err(RegistryError::Auth {
                                registry: self.registry(),
                                what: what.into(),
                                message: "refused after authenticating".into(),
                            });
                        }
                    }
                }
                Err(ureq::Error::Status(code, r)) => {
                    let message = error_message(r);
                    return Err(match code {
                        401 | 403 => RegistryError::Auth {
                            registry: self.registry(),
                            what: what.into(),
                            message,
                        },
                        404 => RegistryError::NotFound {
                            what: what.into(),
                            registry: self.registry(),
                        },
                        _ => RegistryError::Http {
                            registry: self.registry(),
                            what: what.into(),
                            status: code,
                            message,
                        },
                    });
                }
                Err(e) => {
                    return Err(RegistryError::Transport {
                        registry: self.registry(),
                        what: what.into(),
                        message: e.to_string(),
                    });
                }
            }
        }
        Err(RegistryError::Auth {
            registry: self.registry(),
            what: what.into(),
            message: "refused after authenticating".into(),
        })
    }

    /// A manifest or index by tag or digest (checked when a digest).
    pub fn manifest(&self, reference: &str) -> Result<Fetched, RegistryError> {
        let what = format!("manifest {}:{reference}", self.target.repository);
        if !is_digest(reference) && !is_tag(reference) {
            return Err(RegistryError::Invalid {
                registry: self.registry(),
                what,
                message: format!("{reference:?} is neither a tag nor a sha256 digest"),
            });
        }
        let accept = [
            media::OCI_IMAGE_INDEX,
            media::OCI_IMAGE_MANIFEST,
            media::DOCKER_MANIFEST_LIST,
            media::DOCKER_MANIFEST,
        ]
        .join(", ");
        let r = self.send(
            "GET",
            &format!("{}/manifests/{reference}", self.base),
            &[("Accept", &accept)],
            Body::None,
            &what,
        )?;
        let media_type = r
            .content_type()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let bytes = read_document(r).map_err(|source| RegistryError::Io {
            what: what.clone(),
            source,
        })?;
        let digest = sha256_of(&bytes);
        if is_digest(reference) && digest != reference {
            return Err(RegistryError::Invalid {
                registry: self.registry(),
                what,
                message: format!("the registry sent {digest}"),
            });
        }
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// A blob as a stream (the caller checks its digest).
    pub fn blob(&self, digest: &str) -> Result<Box<dyn Read + Send + Sync>, RegistryError> {
        let digest = self.checked(digest, "a blob")?;
        let r = self.send(
            "GET",
            &format!("{}/blobs/{digest}", self.base),
            &[],
            Body::None,
            &format!("blob {digest}"),
        )?;
        Ok(Box::new(Metered::new(r.into_reader())))
    }

    /// `len` bytes of a blob from `offset` (an HTTP range request).
    pub fn blob_range(
        &self,
        digest: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let what = format!("blob {digest} bytes {offset}+{len}");
        let mut out = Vec::new();
        self.blob_range_reader(digest, offset, len)?
            .read_to_end(&mut out)
            .map_err(|source| RegistryError::Io {
                what: what.clone(),
                source,
            })?;
        if out.len() as u64 != len {
            return Err(RegistryError::Invalid {
                registry: self.registry(),
                what,
                message: format!("got {} bytes", out.len()),
            });
        }
        Ok(out)
    }

    /// A stream of at most `len` bytes of a blob from `offset` (an HTTP
    /// range request; a server that ignores the range is skipped ahead).
    pub fn blob_range_reader(
        &self,
        digest: &str,
        offset: u64,
        len: u64,
    ) -> Result<Box<dyn Read + Send + Sync>, RegistryError> {
        let what = format!("blob {digest} bytes {offset}+{len}");
        let digest = self.checked(digest, &what)?;
        let Some(last) = offset.checked_add(len).and_then(|e| e.checked_sub(1)) else {
            return Ok(Box::new(io::empty()));
        };
        let range = format!("bytes={offset}-{last}");
        let r = self.send(
            "GET",
            &format!("{}/blobs/{digest}", self.base),
            &[("Range", &range)],
            Body::None,
            &what,
        )?;
        let whole = r.status() == 200;
        if !whole {
            // a part must be the part asked for
            let start = r
                .header("content-range")
                .and_then(|c| c.trim().strip_prefix("bytes "))
                .and_then(|c| c.split('-').next())
                .and_then(|a| a.trim().parse::<u64>().ok());
            if start != Some(offset) {
                return Err(RegistryError::Invalid {
                    registry: self.registry(),
                    what,
                    message: format!(
                        "answered with Content-Range {:?}",
                        r.header("content-range").unwrap_or("")
                    ),
                });
            }
        }
        let mut reader = Metered::new(r.into_reader());
        if whole {
            // the server ignored the range: skip to it
            io::copy(&mut (&mut reader).take(offset), &mut io::sink()).map_err(|source| {
                RegistryError::Io {
                    what: what.clone(),
                    source,
                }
            })?;
        }
        Ok(Box::new(reader.take(len)))
    }

    /// Whether the repository has the blob.
    pub fn has_blob(&self, digest: &str) -> Result<bool, RegistryError> {
        let digest = self.checked(digest, "a blob")?;
        match self.send(
            "HEAD",
            &format!("{}/blobs/{digest}", self.base),
            &[],
            Body::None,
            &format!("blob {digest}"),
        ) {
            Ok(_) => Ok(true),
            Err(RegistryError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Uploads a blob (one monolithic PUT).
    pub fn put_blob(
        &self,
        digest: &str,
        size: u64,
        data: Box<dyn Read + '_>,
    ) -> Result<(), RegistryError> {
        let what = format!("upload of blob {digest}");
        let digest = self.checked(digest, &what)?;
        let r = self.send(
            "POST",
            &format!("{}/blobs/uploads/", self.base),
            &[("Content-Length", "0")],
            Body::Bytes(&[]),
            &what,
        )?;
        let location = r.header("location").unwrap_or_default().to_owned();
        if location.is_empty() {
            return Err(RegistryError::Invalid {
                registry: self.registry(),
                what,
                message: "no upload location".into(),
            });
        }
        let location = if location.starts_with("http://") || location.starts_with("https://") {
            location
        } else {
            let scheme = if self.target.insecure() {
                "http"
            } else {
                "https"
            };
            format!("{scheme}://{}{location}", self.target.host())
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        self.send(
            "PUT",
            &url,
            &[("Content-Type", "application/octet-stream")],
            Body::Reader(data, size),
            &what,
        )?;
        Ok(())
    }

    /// Stores a manifest under a tag (or its digest); returns its digest.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        if !is_digest(reference) && !is_tag(reference) {
            return Err(RegistryError::Invalid {
                registry: self.registry(),
                what: format!("manifest {}", self.target.repository),
                message: format!("{reference:?} is neither a tag nor a sha256 digest"),
            });
        }
        self.send(
            "PUT",
            &format!("{}/manifests/{reference}", self.base),
            &[("Content-Type", media_type)],
            Body::Bytes(bytes),
            &format!("manifest {}:{reference}", self.target.repository),
        )?;
        Ok(sha256_of(bytes))
    }
}

/// Whether two URLs have the same scheme, host and port.
fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// The message of a registry error body (`{"errors":[{code,message}]}`).
fn error_message(r: ureq::Response) -> String {
    let mut body = Vec::new();
    let _ = r.into_reader().take(64 << 10).read_to_end(&mut body);
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    if let Ok(e) = serde_json::from_slice::<Errors>(&body) {
        let parts: Vec<String> = e
            .errors
            .into_iter()
            .map(|i| {
                format!(
                    "{} {}",
                    i.code.unwrap_or_default(),
                    i.message.unwrap_or_default()
                )
                .trim()
                .to_owned()
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let text = String::from_utf8_lossy(&body).trim().to_owned();
    if text.is_empty() {
        "(no message)".into()
    } else {
        text.chars().take(300).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_as_docker_does() {
        let r = RegistryRef::parse("docker://127.0.0.1:5000/app/web:v1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference()),
            ("127.0.0.1:5000", "app/web", "v1")
        );
        assert!(r.insecure());
        let r = RegistryRef::parse("debian").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference()),
            ("docker.io", "library/debian", "latest")
        );
        assert!(!r.insecure());
        assert_eq!(r.host(), DOCKER_HUB_HOST);
        let d = format!("sha256:{}", "a".repeat(64));
        let r = RegistryRef::parse(&format!("localhost/x@{d}")).unwrap();
        assert_eq!(r.reference(), d);
        assert!(r.insecure());
        let r = RegistryRef::parse("index.docker.io/debian").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "library/debian")
        );
        let r = RegistryRef::parse("[::1]:5000/a/b-c__d.e:v1.0_rc-1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference()),
            ("[::1]:5000", "a/b-c__d.e", "v1.0_rc-1")
        );
        assert!(r.insecure());
        let long_tag = format!("x:{}", "t".repeat(129));
        let long_name = format!("r.example/{}", "a".repeat(250));
        for bad in [
            "",
            "UPPER/case",
            "x@sha256:zz",
            "docker://:tag",
            "127.0.0.1:5000/../../v2/x",
            "127.0.0.1:5000/a/./b",
            "127.0.0.1:5000/a//b",
            "127.0.0.1:5000/a?x=1",
            "127.0.0.1:5000/a#frag",
            "127.0.0.1:5000/a:t?x",
            "127.0.0.1:5000/a:t#x",
            "127.0.0.1:5000/a:.t",
            "127.0.0.1:5000/a:-t",
            "127.0.0.1:5000/a___b",
            "127.0.0.1:5000/a.",
            "-x",
            "-x/y",
            "r.example:5x/a",
            "r_x.example/a",
            "-r.example/a",
            "[zz]:1/a",
            "a@sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
            &long_tag,
            &long_name,
        ] {
            assert!(RegistryRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn docker_config_credentials() {
        let auth = base64::engine::general_purpose::STANDARD.encode("ann:s3cret");
        let cfg = format!(
            r#"{{"auths":{{"https://127.0.0.1:5000":{{"auth":"{auth}"}},
                "https://index.docker.io/v1/":{{"username":"hub","password":"pw"}},
                "ghcr.example":{{"identitytoken":"tok"}}}}}}"#
        );
        let c = credentials_in(cfg.as_bytes(), "127.0.0.1:5000").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("ann", "s3cret")
        );
        let c = credentials_in(cfg.as_bytes(), "docker.io").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("hub", "pw"));
        assert_eq!(
            credentials_in(cfg.as_bytes(), "ghcr.example")
                .unwrap()
                .password,
            "tok"
        );
        assert!(credentials_in(cfg.as_bytes(), "other.example").is_none());
        assert!(credentials_in(b"not json", "x").is_none());
        // helpers are asked by name; a name that is a path is not run
        let asked = std::cell::RefCell::new(Vec::new());
        let helper = |name: &str, _: &str| {
            asked.borrow_mut().push(name.to_owned());
            Some(Credentials {
                username: "h".into(),
                password: "p".into(),
            })
        };
        for (store, runs) in [
            ("pass", true),
            ("../../tmp/x", false),
            ("/bin/sh", false),
            ("", false),
        ] {
            asked.borrow_mut().clear();
            let cfg = format!(
                r#"{{"credsStore":"{store}","auths":{{"r.example":{{"username":"u","password":"w"}}}}}}"#
            );
            let c = credentials_with(cfg.as_bytes(), "r.example", &helper).unwrap();
            assert_eq!(asked.borrow().len(), usize::from(runs), "{store}");
            assert_eq!(c.username, if runs { "h" } else { "u" });
        }
    }

    #[test]
    fn credentials_stay_with_their_registry() {
        assert!(same_origin(
            "https://r.example/v2/a/blobs/uploads/x?y",
            "https://r.example/v2/a"
        ));
        assert!(same_origin(
            "https://r.example:443/v2/",
            "https://r.example/v2/a"
        ));
        assert!(!same_origin(
            "https://cdn.example/v2/a",
            "https://r.example/v2/a"
        ));
        assert!(!same_origin(
            "http://r.example/v2/a",
            "https://r.example/v2/a"
        ));
        assert!(!same_origin(
            "https://r.example:444/v2/a",
            "https://r.example/v2/a"
        ));
        assert!(!same_origin("not a url", "https://r.example/v2/a"));
        let remote = Client::new(&RegistryRef::parse("r.example/a").unwrap(), false);
        assert!(remote.may_send_password_to("https://auth.example/token"));
        assert!(!remote.may_send_password_to("http://auth.example/token"));
        assert!(!remote.may_send_password_to("http://r.example/token"));
        assert!(!remote.may_send_password_to("ftp://r.example/token"));
        let local = Client::new(&RegistryRef::parse("127.0.0.1:5000/a").unwrap(), false);
        assert!(local.may_send_password_to("http://127.0.0.1:5001/token"));
        assert!(!local.may_send_password_to("http://127.0.0.2:5000/token"));
        assert!(!local.may_send_password_to("http://auth.example/token"));
        assert!(local.may_send_password_to("https://auth.example/token"));
    }

    #[test]
    fn challenges_parse() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(s, "bearer");
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "registry.example");
        assert_eq!(p["scope"], "repository:a/b:pull");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(s, "basic");
        assert_eq!(p["realm"], "Registry Realm");
    }
}
