use super::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::AtomicBool;

/// A server on a free port of 127.0.0.1 with `limits`: `/bytes/N` streams
/// N bytes (noting that it opened them), anything else echoes its path.
fn start(limits: Limits, opened: Arc<AtomicBool>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handler: Handler = Arc::new(move |r: &Request| {
        if let Some(n) = r.path.strip_prefix("/bytes/") {
            let n: u64 = n.parse().unwrap();
            let opened = opened.clone();
            return Response::stream(
                200,
                n,
                Box::new(move || {
                    opened.store(true, Ordering::SeqCst);
                    Ok(Box::new(std::io::repeat(7).take(n)) as Box<dyn Read + Send>)
                }),
            );
        }
        Response::new(200, r.path.clone().into_bytes())
    });
    let hosts = Hosts {
        allowed: vec!["friscy.lan".into()],
    };
    std::thread::spawn(move || serve(listener, hosts, limits, handler));
    addr
}

/// Sends `head` and reads one response: (head lines, body).
fn ask(s: &mut TcpStream, head: &str) -> (String, Vec<u8>) {
    s.write_all(head.as_bytes()).unwrap();
    read_response(s, !head.starts_with("HEAD"))
}

fn read_response(s: &mut TcpStream, with_body: bool) -> (String, Vec<u8>) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        if l == "\r\n" || l.is_empty() {
            break;
        }
        head.push_str(&l);
    }
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; if with_body { len } else { 0 }];
    r.read_exact(&mut body).unwrap();
    (head, body)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
}

fn quick() -> Limits {
    Limits {
        head_timeout: Duration::from_secs(1),
        idle: Duration::from_secs(1),
        response_time: Duration::from_secs(1),
        ..Limits::default()
    }
}

/// Connections are served at once, whatever other connections are open
/// and idle (the stall a pooled server had), and kept alive.
#[test]
fn a_new_connection_is_served_while_others_idle() {
    let addr = start(Limits::default(), Arc::default());
    let mut idle: Vec<_> = (0..12).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for (i, s) in idle.iter_mut().enumerate() {
        let (head, body) = ask(s, &get(&format!("/idle{i}")));
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(body, format!("/idle{i}").as_bytes());
    }
    let mut fresh = TcpStream::connect(addr).unwrap();
    fresh
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(ask(&mut fresh, &get("/fresh")).1, b"/fresh");
    assert_eq!(ask(&mut idle[3], &get("/again")).1, b"/again");
}

/// A big body streams through bounded memory and arrives whole; HEAD
/// says its length without ever opening it.
#[test]
fn bodies_stream_and_head_opens_nothing() {
    let opened = Arc::new(AtomicBool::new(false));
    let addr = start(Limits::default(), opened.clone());
    let mut s = TcpStream::connect(addr).unwrap();
    let n = 64 << 20;
    let (head, body) = ask(
        &mut s,
        &format!("HEAD /bytes/{n} HTTP/1.1\r\nHost: localhost:1\r\n\r\n"),
    );
    assert!(head.contains(&format!("content-length: {n}")), "{head}");
    assert!(body.is_empty());
    std::thread::sleep(Duration::from_millis(200));
    assert!(!opened.load(Ordering::SeqCst), "HEAD opened the body");
    let (head, body) = ask(&mut s, &get(&format!("/bytes/{n}")));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body.len(), n);
    assert!(body.iter().all(|&b| b == 7));
    assert!(opened.load(Ordering::SeqCst));
}

/// DNS rebinding: a request for another site's name is refused; IP
/// addresses, localhost and allowed names are served.
#[test]
fn only_addresses_localhost_and_allowed_names_are_served() {
    let addr = start(Limits::default(), Arc::default());
    for (host, ok) in [
        ("127.0.0.1", true),
        ("127.0.0.1:8080", true),
        ("[::1]:8080", true),
        ("localhost", true),
        ("LOCALHOST:80", true),
        ("app.localhost", true),
        ("friscy.lan:8080", true),
        ("evil.example", false),
        ("evil.example:8080", false),
        ("127.0.0.1.evil.example", false),
        ("localhost.evil.example", false),
        ("[::1", false),
    ] {
        let mut s = TcpStream::connect(addr).unwrap();
        let (head, _) = ask(&mut s, &format!("GET /x HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        let want = if ok { "HTTP/1.1 200" } else { "HTTP/1.1 403" };
        assert!(head.starts_with(want), "{host}: {head}");
    }
    let mut s = TcpStream::connect(addr).unwrap();
    let (head, _) = ask(&mut s, "GET /x HTTP/1.1\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let mut s = TcpStream::connect(addr).unwrap();
    let (head, _) = ask(
        &mut s,
        "POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
}

/// A client that sends half a head, or asks for a body and stops
/// reading, loses its connection: slots are not held forever.
#[test]
fn slow_clients_are_cut_off() {
    let addr = start(quick(), Arc::default());
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: local").unwrap();
    let t = Instant::now();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    // a body nobody reads: the connection ends before it is sent
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let n = 512u64 << 20;
    s.write_all(get(&format!("/bytes/{n}")).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(
        (got.len() as u64) < n,
        "a client that did not read got it all"
    );
}

/// Over the connection limit: 503, at once.
#[test]
fn connections_beyond_the_limit_get_503() {
    let addr = start(
        Limits {
            max_connections: 2,
            ..Limits::default()
        },
        Arc::default(),
    );
    let mut held: Vec<_> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for s in &mut held {
        assert!(ask(s, &get("/x")).0.starts_with("HTTP/1.1 200"));
    }
    let mut extra = TcpStream::connect(addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (head, _) = read_response(&mut extra, true);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
}
