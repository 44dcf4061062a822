//! The small HTTP/1.1 server behind `friscy serve`: GET and HEAD, keep-alive,
//! one thread per connection.
//!
//! A thread per connection, because a browser keeps its connections open
//! between requests and may open a new one at any moment: a connection must
//! never wait for another to close. (The pooled server used before could
//! leave a freshly accepted connection queued behind idle keep-alive ones,
//! so a page load stalled until the browser gave up a connection.)

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The most bytes a request line plus headers may take.
const MAX_HEAD: usize = 16 << 10;
/// The most headers a request may have.
const MAX_HEADERS: usize = 100;
/// Connections served at once; more are answered 503 and closed.
const MAX_CONNECTIONS: usize = 256;
/// How long an idle keep-alive connection is kept.
const IDLE: Duration = Duration::from_secs(60);

/// One request's head (the server reads no request bodies).
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    /// The target's path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A whole response; `Content-Length` and `Connection` are added when sent.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body,
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// What reading the next request gave.
enum Next {
    Request(Request, bool),
    /// The peer closed (or went idle) between requests.
    Closed,
    /// A request the server will not serve: answer with this and close.
    Refuse(u16),
}

/// Reads one line of the head, counting it against `budget`.
fn line(r: &mut impl BufRead, budget: &mut usize) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
    }
    if !buf.ends_with(b"\n") {
        // the peer closed in the middle of a line
        return Ok(None);
    }
    *budget -= n;
    while buf.last().is_some_and(|&c| c == b'\n' || c == b'\r') {
        buf.pop();
    }
    // header values may hold other bytes than ASCII (obs-text); names and
    // the request line are checked by the caller
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

fn read_request(r: &mut impl BufRead) -> Next {
    let mut budget = MAX_HEAD;
    // blank lines before a request are allowed (RFC 9112 §2.2)
    let first = loop {
        match line(r, &mut budget) {
            Ok(None) => return Next::Closed,
            Ok(Some(l)) if l.is_empty() => continue,
            Ok(Some(l)) => break l,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Next::Refuse(431),
            Err(_) => return Next::Closed,
        }
    };
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Next::Refuse(400);
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.starts_with("HTTP/") => return Next::Refuse(505),
        _ => return Next::Refuse(400),
    };
    let mut headers = Vec::new();
    loop {
        match line(r, &mut budget) {
            Ok(Some(l)) if l.is_empty() => break,
            Ok(Some(l)) => {
                let Some((k, v)) = l.split_once(':') else {
                    return Next::Refuse(400);
                };
                // a folded line (obsolete continuation) or a bad name
                let bad_name = k.is_empty()
                    || !k.bytes().all(|b| b.is_ascii_graphic())
                    || l.starts_with([' ', '\t']);
                if headers.len() == MAX_HEADERS || bad_name {
                    return Next::Refuse(if headers.len() == MAX_HEADERS {
                        431
                    } else {
                        400
                    });
                }
                headers.push((k.to_owned(), v.trim().to_owned()));
            }
            Ok(None) => return Next::Closed,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Next::Refuse(431),
            Err(_) => return Next::Closed,
        }
    }
    let req = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
    };
    // no request bodies: a request that has one is answered, then the
    // connection is closed rather than the body skipped
    let has_body = req.header("Transfer-Encoding").is_some()
        || req
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("Content-Length") && v.trim() != "0");
    let connection = req.header("Connection").unwrap_or("").to_ascii_lowercase();
    let keep = !has_body
        && if http11 {
            !connection.contains("close")
        } else {
            connection.contains("keep-alive")
        };
    Next::Request(req, keep)
}

fn write_response(
    w: &mut impl Write,
    resp: &Response,
    head_only: bool,
    keep: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: {}\r\n\r\n",
        resp.body.len(),
        if keep { "keep-alive" } else { "close" }
    ));
    w.write_all(head.as_bytes())?;
    if !head_only {
        w.write_all(&resp.body)?;
    }
    w.flush()
}

fn connection(stream: TcpStream, handler: &(dyn Fn(&Request) -> Response + Send + Sync)) {
    let _ = stream.set_read_timeout(Some(IDLE));
    // a peer that stops reading a response does not hold its thread forever
    let _ = stream.set_write_timeout(Some(IDLE));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = io::BufWriter::new(write_half);
    loop {
        let (req, keep) = match read_request(&mut reader) {
            Next::Request(req, keep) => (req, keep),
            Next::Closed => return,
            Next::Refuse(status) => {
                let resp = Response::new(status, format!("{}\n", reason(status)).into_bytes());
                let _ = write_response(&mut writer, &resp, false, false);
                return;
            }
        };
        let resp = handler(&req);
        if write_response(&mut writer, &resp, req.method == "HEAD", keep).is_err() || !keep {
            return;
        }
    }
}

/// One open connection, counted while it lives (dropped with its thread,
/// or at once when the thread cannot start).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `listener` with `handler` until the process ends.
pub fn serve(listener: TcpListener, handler: Arc<dyn Fn(&Request) -> Response + Send + Sync>) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else {
            // e.g. out of descriptors: let some connections end
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        if open.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::AcqRel);
            let resp = Response::new(503, b"too many connections\n".to_vec());
            let _ = write_response(&mut stream, &resp, false, false);
            continue;
        }
        let slot = Slot(open.clone());
        let handler = handler.clone();
        let spawned = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                let _slot = slot;
                connection(stream, &*handler);
            });
        if spawned.is_err() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn parse(s: &str) -> Next {
        read_request(&mut Cursor::new(s.as_bytes().to_vec()))
    }

    #[test]
    fn requests() {
        let Next::Request(r, keep) =
            parse("GET /blobs/x?y=1 HTTP/1.1\r\nHost: a\r\nrange:  bytes=0-9 \r\n\r\n")
        else {
            panic!("not parsed")
        };
        assert!(keep);
        assert_eq!(r.path(), "/blobs/x");
        assert_eq!(r.header("Range"), Some("bytes=0-9"));
        let Next::Request(_, keep) = parse("GET / HTTP/1.0\r\n\r\n") else {
            panic!("not parsed")
        };
        assert!(!keep);
        let Next::Request(_, keep) = parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n") else {
            panic!("not parsed")
        };
        assert!(!keep);
        let Next::Request(_, keep) = parse("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
        else {
            panic!("not parsed")
        };
        assert!(!keep);
        assert!(matches!(parse(""), Next::Closed));
        assert!(matches!(parse("GET / HTTP/1.1\r\nHost"), Next::Closed));
        assert!(matches!(parse("GET /\r\n\r\n"), Next::Refuse(400)));
        assert!(matches!(parse("GET / HTTP/2.0\r\n\r\n"), Next::Refuse(505)));
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nbad\r\n\r\n"),
            Next::Refuse(400)
        ));
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(matches!(parse(&huge), Next::Refuse(431)));
    }

    /// Connections are served at once, whatever other connections are open
    /// and idle: the stall the pooled server had.
    #[test]
    fn a_new_connection_is_served_while_others_idle() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handler = Arc::new(|r: &Request| Response::new(200, r.target.clone().into_bytes()));
        std::thread::spawn(move || serve(listener, handler));
        let ask = |s: &mut TcpStream, path: &str| {
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut l = String::new();
                r.read_line(&mut l).unwrap();
                if l == "\r\n" {
                    break;
                }
                head.push_str(&l);
            }
            let mut body = vec![0; path.len()];
            r.read_exact(&mut body).unwrap();
            (head, String::from_utf8(body).unwrap())
        };
        // many idle keep-alive connections
        let mut idle: Vec<_> = (0..12).map(|_| TcpStream::connect(addr).unwrap()).collect();
        for (i, s) in idle.iter_mut().enumerate() {
            let (head, body) = ask(s, &format!("/idle{i}"));
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            assert!(head.contains("Connection: keep-alive"), "{head}");
            assert_eq!(body, format!("/idle{i}"));
        }
        let mut fresh = TcpStream::connect(addr).unwrap();
        fresh
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(ask(&mut fresh, "/fresh").1, "/fresh");
        // and a kept connection answers again
        assert_eq!(ask(&mut idle[3], "/again").1, "/again");
    }
}
