//! A registry stand-in for the hostile-registry suite: an HTTP server on a
//! loopback address that answers the OCI distribution API from a route
//! table the test fills (crafted manifests, configs, indexes and blobs),
//! can misbehave on purpose (wrong bytes, truncated, slow or endless
//! bodies, redirects, auth challenges, upload locations on another host)
//! and records every request it gets, headers included, so a test can
//! check where credentials went. A real registry cannot be made to lie;
//! this is the one mock of the suites.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    let h = Sha256::digest(bytes);
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// How a route's body is sent.
#[derive(Clone, Debug)]
pub enum Send {
    /// As it is (ranges honoured).
    Whole,
    /// `Content-Length` says the whole body, then only this many bytes
    /// come before the connection closes.
    Truncated(usize),
    /// One byte per interval.
    Slow(Duration),
    /// The body, then the same bytes again, forever (no length).
    Endless,
}

/// One answer.
#[derive(Clone, Debug)]
pub struct Route {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub send: Send,
}

impl Route {
    /// 200 with `body`.
    pub fn ok(body: Vec<u8>, content_type: &str) -> Route {
        Route {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
            send: Send::Whole,
        }
    }

    /// A redirect to `location`.
    pub fn redirect(location: &str) -> Route {
        Route {
            status: 307,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
            send: Send::Whole,
        }
    }

    pub fn with_header(mut self, k: &str, v: &str) -> Route {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn sent(mut self, send: Send) -> Route {
        self.send = send;
        self
    }
}

/// A request as the stand-in saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What every request must carry, else 401 with `challenge`.
#[derive(Clone, Debug)]
struct Auth {
    want: String,
    challenge: String,
}

#[derive(Default)]
struct State {
    /// (method, path) -> answer; GET routes answer HEAD too.
    routes: HashMap<(String, String), Route>,
    seen: Vec<Seen>,
    auth: Option<Auth>,
}

/// The stand-in: started on `ip` (any port), stopped with the test
/// process.
pub struct StandIn {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl StandIn {
    /// Listens on `ip` (a loopback address: `127.0.0.1`, `127.0.0.2`, …).
    pub fn start(ip: &str) -> StandIn {
        let listener = TcpListener::bind((ip, 0)).expect("bind the stand-in");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || answer(conn, &state));
            }
        });
        StandIn { addr, state }
    }

    /// `HOST:PORT`, as a registry name.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Answers `method path` with `route`.
    pub fn route(&self, method: &str, path: &str, route: Route) {
        self.state
            .lock()
            .expect("lock")
            .routes
            .insert((method.to_owned(), path.to_owned()), route);
    }

    /// Requests without `Authorization: want` get 401 with `challenge`
    /// (paths under `/token` are exempt: that is the token server).
    pub fn require_auth(&self, want: &str, challenge: &str) {
        self.state.lock().expect("lock").auth = Some(Auth {
            want: want.to_owned(),
            challenge: challenge.to_owned(),
        });
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("lock").seen.clone()
    }

    /// Serves blob `bytes` in `repo` under its digest (or `digest`, to lie).
    pub fn blob(&self, repo: &str, digest: &str, bytes: Vec<u8>) {
        self.route(
            "GET",
            &format!("/v2/{repo}/blobs/{digest}"),
            Route::ok(bytes, "application/octet-stream"),
        );
    }

    /// Serves `manifest` in `repo` under `tag` and its digest; returns the
    /// digest.
    pub fn manifest(&self, repo: &str, tag: &str, manifest: &[u8], media_type: &str) -> String {
        let d = digest_of(manifest);
        for r in [tag, d.as_str()] {
            self.route(
                "GET",
                &format!("/v2/{repo}/manifests/{r}"),
                Route::ok(manifest.to_vec(), media_type),
            );
        }
        d
    }

    /// Serves the image `tag` of the OCI layout `dir` as `repo:tag`, every
    /// blob of the layout included; returns the manifest.
    pub fn layout(&self, repo: &str, dir: &Path, tag: &str) -> serde_json::Value {
        let blobs = dir.join("blobs/sha256");
        for e in std::fs::read_dir(&blobs).expect("blobs").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let bytes = std::fs::read(e.path()).expect("blob");
            self.blob(repo, &format!("sha256:{name}"), bytes);
        }
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index"))
                .expect("index json");
        let desc = index["manifests"]
            .as_array()
            .and_then(|m| {
                m.iter().find(|d| {
                    d["annotations"]["org.opencontainers.image.ref.name"].as_str() == Some(tag)
                })
            })
            .expect("the tag")
            .clone();
        let digest = desc["digest"].as_str().expect("digest");
        let bytes = std::fs::read(blobs.join(digest.trim_start_matches("sha256:"))).expect("m");
        let media = desc["mediaType"].as_str().unwrap_or_default();
        self.manifest(repo, tag, &bytes, media);
        serde_json::from_slice(&bytes).expect("manifest json")
    }
}

fn answer(conn: TcpStream, state: &Mutex<State>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(write) = conn.try_clone() else {
        return;
    };
    let mut r = BufReader::new(conn);
    let mut w = write;
    let mut first = String::new();
    if r.read_line(&mut first).is_err() {
        return;
    }
    let mut parts = first.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap_or(0) == 0 {
            return;
        }
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let seen = Seen {
        method: method.to_owned(),
        path: target.to_owned(),
        headers,
    };
    // a request body (uploads) is read and dropped
    if let Some(n) = seen
        .header("Content-Length")
        .and_then(|v| v.parse::<u64>().ok())
    {
        let _ = std::io::copy(&mut (&mut r).take(n), &mut std::io::sink());
    }
    let path = target.split('?').next().unwrap_or(target).to_owned();
    let (route, auth) = {
        let mut s = state.lock().expect("lock");
        s.seen.push(seen.clone());
        let key_method = if method == "HEAD" { "GET" } else { method };
        let route = s
            .routes
            .get(&(method.to_owned(), path.clone()))
            .or_else(|| s.routes.get(&(key_method.to_owned(), path.clone())))
            .cloned();
        (route, s.auth.clone())
    };
    if let Some(a) = auth
        && !path.starts_with("/token")
        && seen.header("Authorization") != Some(a.want.as_str())
    {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        let head = format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            a.challenge,
            body.len()
        );
        let _ = w.write_all(head.as_bytes());
        let _ = w.write_all(body);
        return;
    }
    let route = route.unwrap_or_else(|| Route {
        status: 404,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: br#"{"errors":[{"code":"NOT_FOUND","message":"no such thing here"}]}"#.to_vec(),
        send: Send::Whole,
    });
    send(&mut w, &seen, &route);
}

/// Writes `route` as the answer to `req`.
fn send(w: &mut TcpStream, req: &Seen, route: &Route) {
    let mut status = route.status;
    let mut body = &route.body[..];
    let mut extra = String::new();
    if status == 200
        && let Some(range) = req.header("Range").and_then(|r| r.strip_prefix("bytes="))
        && let Some((a, b)) = range.split_once('-')
        && let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>())
        && a <= b
        && a < body.len()
        && matches!(route.send, Send::Whole | Send::Truncated(_))
    {
        let end = b.min(body.len() - 1);
        extra = format!("Content-Range: bytes {a}-{end}/{}\r\n", body.len());
        body = &body[a..=end];
        status = 206;
    }
    let reason = match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        206 => "Partial Content",
        307 => "Temporary Redirect",
        404 => "Not Found",
        _ => "Whatever",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n{extra}");
    for (k, v) in &route.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !matches!(route.send, Send::Endless) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    if w.write_all(head.as_bytes()).is_err() || req.method == "HEAD" {
        return;
    }
    match route.send {
        Send::Whole => {
            let _ = w.write_all(body);
        }
        Send::Truncated(n) => {
            let _ = w.write_all(&body[..n.min(body.len())]);
        }
        Send::Slow(every) => {
            for b in body {
                if w.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(every);
            }
        }
        Send::Endless => {
            let chunk = if body.is_empty() { &b"x"[..] } else { body };
            while w.write_all(chunk).is_ok() {}
        }
    }
}
