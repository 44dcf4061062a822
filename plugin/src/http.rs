//! The HTTP server behind `friscy serve`: hyper (HTTP/1.1 with keep-alive)
//! on a single-threaded tokio runtime, with the bounds a server on a
//! network needs.
//!
//! - Connections ([`Limits`]): at most 256 at once (more get 503 and are
//!   closed); the request head must arrive within 30 s; a connection that
//!   moves no byte either way for 60 s is closed, so a client that stops
//!   reading cannot hold its slot.
//! - Requests: no bodies are read; a response body is streamed from its
//!   source by a blocking task through a channel of a few [`PIECE`]-sized
//!   pieces, so memory per request is bounded whatever the blob's size,
//!   and must be sent within 60 s plus one second per 16 KiB. HEAD never
//!   opens the body.
//! - Hosts: a request whose `Host` is not an IP address, `localhost` or a
//!   name the user allowed is refused (403), so a page on another site
//!   cannot read what is served here by pointing its own name at this
//!   machine (DNS rebinding).
//!
//! Async IO, because a browser keeps its connections open between
//! requests and may open a new one at any moment: a connection must never
//! wait for another to close.

use std::convert::Infallible;
use std::io::{self, Read};
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The bounds a server keeps (see the module docs); [`Limits::default`]
/// is what `friscy serve` uses.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// The longest a client may take to send a request head.
    pub head_timeout: Duration,
    /// The longest a connection may move no byte either way (between
    /// requests, or while a response waits for a client that does not
    /// read).
    pub idle: Duration,
    /// The time every response body gets, on top of its size at
    /// `min_rate`.
    pub response_time: Duration,
    /// The slowest a response body may be sent, in bytes per second.
    pub min_rate: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 256,
            head_timeout: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            response_time: Duration::from_secs(60),
            min_rate: 16 << 10,
        }
    }
}
/// The pieces a body is sent in.
const PIECE: usize = 64 << 10;
/// Pieces read ahead of the client.
const PIECES_AHEAD: usize = 4;

/// The request a handler sees (the server reads no request bodies).
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    /// The target's path, without the query.
    pub path: String,
    headers: hyper::HeaderMap,
}

impl Request {
    /// The first header called `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A request for tests and callers without a connection.
    pub fn new(method: Method, path: &str, headers: &[(&str, &str)]) -> Request {
        let mut map = hyper::HeaderMap::new();
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                header::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                map.append(k, v);
            }
        }
        Request {
            method,
            path: path.to_owned(),
            headers: map,
        }
    }
}

/// Opens a response body's bytes when (and only if) they are sent.
pub type Opener = Box<dyn FnOnce() -> io::Result<Box<dyn Read + Send>> + Send>;

/// A response body.
pub enum Body {
    /// Bytes at hand (small: errors, `image.json`).
    Bytes(Vec<u8>),
    /// `len` bytes read from what `open` gives, streamed.
    Stream { len: u64, open: Opener },
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Stream { len, .. } => *len,
        }
    }
}

/// A response; `Content-Length` is added when it is sent.
pub struct Response {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16, body: Vec<u8>) -> Response {
        Response {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: Vec::new(),
            body: Body::Bytes(body),
        }
    }

    /// A response whose body streams `len` bytes from `open`.
    pub fn stream(status: u16, len: u64, open: Opener) -> Response {
        Response {
            body: Body::Stream { len, open },
            ..Response::new(status, Vec::new())
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
}

/// Which `Host` names are served.
#[derive(Clone, Debug, Default)]
pub struct Hosts {
    /// Names allowed besides IP addresses and `localhost` (lower case);
    /// `*` allows any.
    pub allowed: Vec<String>,
}

impl Hosts {
    /// Whether a request with this `Host` header value is served: an IP
    /// address (v4, or v6 in brackets), `localhost` or a name under it,
    /// or an allowed name; with or without a port.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = if let Some(rest) = host.strip_prefix('[') {
            match rest.split_once(']') {
                Some((v6, port)) if port.is_empty() || is_port(port) => {
                    return v6.parse::<std::net::Ipv6Addr>().is_ok();
                }
                _ => return false,
            }
        } else {
            match host.rsplit_once(':') {
                Some((name, port)) if is_port(port) => name.to_owned(),
                Some(_) => return false,
                None => host.clone(),
            }
        };
        let name = name.strip_suffix('.').unwrap_or(&name);
        name.parse::<std::net::Ipv4Addr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.allowed.iter().any(|a| a == "*" || a == name)
    }
}

/// `:PORT` text after a host.
fn is_port(p: &str) -> bool {
    let p = p.strip_prefix(':').unwrap_or(p);
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// A handler: the response to a request (called on the runtime's thread:
/// it must not block; slow work goes in a [`Body::Stream`] opener).
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Serves `listener` with `handler` until the process ends.
pub fn serve(
    listener: TcpListener,
    hosts: Hosts,
    limits: Limits,
    handler: Handler,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let site = Arc::new(Site {
        hosts,
        limits,
        handler,
    });
    runtime.block_on(accept_loop(listener, site))
}

/// What every connection shares.
struct Site {
    hosts: Hosts,
    limits: Limits,
    handler: Handler,
}

async fn accept_loop(listener: TcpListener, site: Arc<Site>) -> io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let slots = Arc::new(tokio::sync::Semaphore::new(site.limits.max_connections));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // e.g. out of descriptors: let some connections end
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse_busy(stream));
            continue;
        };
        let site = site.clone();
        tokio::spawn(async move {
            connection(stream, site).await;
            drop(slot);
        });
    }
}

/// Answers a connection over the limit with 503 and closes it.
async fn refuse_busy(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt as _;
    let msg = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n";
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(msg)).await;
}

/// Serves one connection until it closes, misbehaves or idles.
async fn connection(stream: tokio::net::TcpStream, site: Arc<Site>) {
    let started = Instant::now();
    let moved = Arc::new(AtomicU64::new(0));
    let io = Watched {
        inner: stream,
        started,
        moved: moved.clone(),
    };
    let limits = site.limits;
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let response = respond(&site, req);
        async move { Ok::<_, Infallible>(response) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    loop {
        tokio::select! {
            _ = &mut conn => return,
            _ = tokio::time::sleep(limits.idle / 4) => {
                let last = Duration::from_millis(moved.load(Ordering::Relaxed));
                if started.elapsed().saturating_sub(last) >= limits.idle {
                    // dropping the connection closes it
                    return;
                }
            }
        }
    }
}

/// The response to one request: the host check, the methods served, the
/// handler, then the body wired up (not opened for HEAD).
fn respond(site: &Site, req: hyper::Request<Incoming>) -> hyper::Response<OutBody> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
    let resp = match host {
        Some(h) if !site.hosts.allows(&h) => Response::new(
            403,
            format!(
                "friscy serve does not serve the host {h:?}: only IP addresses and localhost \
                 (restart it with --allow-host NAME to serve a name)\n"
            )
            .into_bytes(),
        ),
        None if req.version() == hyper::Version::HTTP_11 => {
            Response::new(400, b"a request without Host\n".to_vec())
        }
        _ if req.method() != Method::GET && req.method() != Method::HEAD => {
            Response::new(405, b"only GET and HEAD\n".to_vec()).header("Allow", "GET, HEAD")
        }
        _ => {
            let view = Request {
                method: req.method().clone(),
                path: req.uri().path().to_owned(),
                headers: req.headers().clone(),
            };
            (site.handler)(&view)
        }
    };
    let head_only = req.method() == Method::HEAD;
    let len = resp.body.len();
    let mut out = hyper::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        out = out.header(k, v);
    }
    out = out.header(header::CONTENT_LENGTH, len);
    let body = if head_only {
        OutBody::empty()
    } else {
        match resp.body {
            Body::Bytes(b) => OutBody::bytes(b),
            Body::Stream { len, open } => {
                let allowed = site.limits.response_time
                    + Duration::from_secs(len / site.limits.min_rate.max(1));
                OutBody::stream(len, open, allowed)
            }
        }
    };
    out.body(body).unwrap_or_else(|_| {
        let mut r = hyper::Response::new(OutBody::bytes(b"bad response\n".to_vec()));
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// A response body as hyper sends it.
pub struct OutBody {
    kind: OutKind,
}

enum OutKind {
    Empty,
    Bytes(Option<Bytes>),
    Stream {
        rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
        left: u64,
        deadline: Pin<Box<tokio::time::Sleep>>,
    },
}

impl OutBody {
    fn empty() -> OutBody {
        OutBody {
            kind: OutKind::Empty,
        }
    }

    fn bytes(b: Vec<u8>) -> OutBody {
        OutBody {
            kind: OutKind::Bytes((!b.is_empty()).then(|| Bytes::from(b))),
        }
    }

    /// `len` bytes from `open`, read by a blocking task a few pieces ahead.
    fn stream(len: u64, open: Opener, allowed: Duration) -> OutBody {
        let (tx, rx) = tokio::sync::mpsc::channel(PIECES_AHEAD);
        tokio::task::spawn_blocking(move || pump(len, open, tx));
        OutBody {
            kind: OutKind::Stream {
                rx,
                left: len,
                deadline: Box::pin(tokio::time::sleep(allowed)),
            },
        }
    }
}

/// Reads `len` bytes from `open` into `tx`, piece by piece; stops when the
/// receiver is gone (the client went away).
fn pump(len: u64, open: Opener, tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>) {
    let mut reader = match open() {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.blocking_send(Err(e));
            return;
        }
    };
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left).map_or(PIECE, |l| l.min(PIECE));
        let mut piece = vec![0u8; want];
        if let Err(e) = reader.read_exact(&mut piece) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        left -= want as u64;
        if tx.blocking_send(Ok(Bytes::from(piece))).is_err() {
            return;
        }
    }
}

impl hyper::body::Body for OutBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.get_mut().kind {
            OutKind::Empty => Poll::Ready(None),
            OutKind::Bytes(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            OutKind::Stream { rx, left, deadline } => {
                if *left == 0 {
                    return Poll::Ready(None);
                }
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client took too long to take the response",
                    ))));
                }
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(Ok(b))) => {
                        *left = left.saturating_sub(b.len() as u64);
                        Poll::Ready(Some(Ok(Frame::data(b))))
                    }
                    Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) => Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the body ended early",
                    )))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            OutKind::Empty => true,
            OutKind::Bytes(b) => b.is_none(),
            OutKind::Stream { left, .. } => *left == 0,
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match &self.kind {
            OutKind::Empty => hyper::body::SizeHint::with_exact(0),
            OutKind::Bytes(b) => {
                hyper::body::SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64))
            }
            OutKind::Stream { left, .. } => hyper::body::SizeHint::with_exact(*left),
        }
    }
}

/// A connection's socket, noting when it last moved a byte (milliseconds
/// after `started`).
struct Watched {
    inner: tokio::net::TcpStream,
    started: Instant,
    moved: Arc<AtomicU64>,
}

impl Watched {
    fn note(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.moved.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.note();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.note();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.note();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
