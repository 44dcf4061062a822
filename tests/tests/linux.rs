//! The Linux personality against a real kernel: each case runs a command of
//! a real Debian riscv64 image under friscy and under the oracle (the same
//! unpacked image under `chroot`, its riscv64 programs run by
//! qemu-user-static through binfmt); stdout and exit status must match.
//!
//! Every bug found becomes a case here. The test prints how many cases
//! pass and fails if any does not.

use friscy_tests::{TempDir, bin, fixture, unpack_fixture};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};

/// One case: a name, the command line, and optional standard input.
struct Case {
    name: &'static str,
    argv: &'static [&'static str],
    stdin: Option<&'static str>,
}

const fn case(name: &'static str, argv: &'static [&'static str]) -> Case {
    Case {
        name,
        argv,
        stdin: None,
    }
}

const fn with_stdin(
    name: &'static str,
    argv: &'static [&'static str],
    input: &'static str,
) -> Case {
    Case {
        name,
        argv,
        stdin: Some(input),
    }
}

const ENV: &[&str] = &[
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "HOSTNAME=friscy",
    "LC_ALL=C",
];

const CASES: &[Case] = &[
    case(
        "/proc/self/maps names the program, its libraries and the stack",
        &[
            "sh",
            "-c",
            "grep -o '/usr/lib[^ ]*libc.so.6$' /proc/self/maps | sort -u; grep -c '\\[stack\\]$' /proc/self/maps; grep -o ' /usr/bin/grep$' /proc/self/maps | sort -u",
        ],
    ),
    case("echo", &["/bin/echo", "hello", "world"]),
    case("true", &["true"]),
    case("false status", &["false"]),
    case("sh exit status", &["sh", "-c", "exit 7"]),
    case("sh pipeline", &["sh", "-c", "echo hello | tr a-z A-Z"]),
    case(
        "bash pipeline and subshell",
        &["bash", "-c", "(echo one; echo two) | wc -l; echo $((6*7))"],
    ),
    case(
        "bash loop",
        &["bash", "-c", "for i in 1 2 3; do echo n$i; done"],
    ),
    case(
        "bash pipe status",
        &[
            "bash",
            "-c",
            "false | true; echo ${PIPESTATUS[@]}; set -o pipefail; false | true; echo $?",
        ],
    ),
    case("cat a file", &["cat", "/etc/debian_version"]),
    case(
        "ls a directory",
        &["ls", "/usr/lib/os-release", "/etc/os-release"],
    ),
    case("ls -la of /", &["sh", "-c", "ls -1 / | head -5"]),
    case(
        "write, read, remove a file",
        &[
            "sh",
            "-c",
            "echo data > /tmp/f && cat /tmp/f && rm /tmp/f && ls /tmp/f; echo $?",
        ],
    ),
    case(
        "mkdir, rename, rmdir",
        &[
            "sh",
            "-c",
            "mkdir -p /tmp/a/b && mv /tmp/a /tmp/c && ls /tmp/c && rmdir /tmp/c/b /tmp/c && echo gone",
        ],
    ),
    case(
        "symlinks",
        &[
            "sh",
            "-c",
            "ln -s /etc/os-release /tmp/l && readlink /tmp/l && head -1 /tmp/l && rm /tmp/l",
        ],
    ),
    case("heredoc", &["bash", "-c", "cat <<EOF\nline $((1+1))\nEOF"]),
    case(
        "sort and uniq",
        &["sh", "-c", "printf 'b\\na\\nb\\nc\\n' | sort | uniq -c"],
    ),
    case(
        "command substitution",
        &["sh", "-c", "x=$(echo inner); echo outer-$x"],
    ),
    case(
        "wc of a binary",
        &[
            "sh",
            "-c",
            "wc -c < /bin/true | tr -d ' ' | grep -q . && echo counted",
        ],
    ),
    case(
        "stat",
        &["stat", "-c", "%n %F %a", "/etc", "/etc/os-release"],
    ),
    case("env from the image", &["sh", "-c", "echo $HOME"]),
    case(
        "pwd and cd",
        &["sh", "-c", "cd /usr/bin && pwd && cd .. && pwd"],
    ),
    case(
        "trap on exit",
        &["bash", "-c", "trap 'echo bye' EXIT; echo hi"],
    ),
    case(
        "kill and wait status",
        &[
            "bash",
            "-c",
            "sleep 5 & kill -TERM $!; wait $!; echo status $?",
        ],
    ),
    case(
        "signal handler",
        &[
            "bash",
            "-c",
            "trap 'echo got USR1' USR1; kill -USR1 $$; echo after",
        ],
    ),
    case("killed by signal", &["sh", "-c", "kill -9 $$"]),
    case("busybox", &["busybox", "echo", "from busybox"]),
    case(
        "timeout kills a sleeper",
        &["sh", "-c", "timeout 0.3 sleep 5; echo status $?"],
    ),
    case(
        "seq and expr",
        &["sh", "-c", "seq 3 | while read n; do expr $n \\* 2; done"],
    ),
    case(
        "head of /dev/zero",
        &["sh", "-c", "head -c 4 /dev/zero | od -An -tx1"],
    ),
    case(
        "date is sane",
        &["sh", "-c", "test $(date +%Y) -ge 2024 && echo ok"],
    ),
    case("uname", &["uname", "-sm"]),
    case("id", &["id", "-u"]),
    case("/proc/self/exe", &["readlink", "/proc/self/exe"]),
    case("/proc/self/status", &["head", "-1", "/proc/self/status"]),
    case(
        "/proc/self/cmdline",
        &["sh", "-c", "tr '\\0' ' ' < /proc/self/cmdline; echo"],
    ),
    case(
        "/proc/self/fd",
        &["sh", "-c", "test -e /proc/self/fd/1 && echo ok"],
    ),
    case(
        "process substitution",
        &["bash", "-c", "cat <(echo procsub); wc -c < <(echo four)"],
    ),
    with_stdin("stdin to cat", &["cat"], "from stdin\n"),
    with_stdin(
        "read in a loop",
        &["sh", "-c", "while read l; do echo \"<$l>\"; done"],
        "a\nb\n",
    ),
];

fn output(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(input) = stdin {
        use std::io::Write;
        let mut w = child.stdin.take().expect("piped stdin");
        w.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait")
}

/// The status as a shell (and `docker run`) reports it: 128+N for a
/// process killed by signal N.
fn status(s: ExitStatus) -> Option<i32> {
    s.code().or_else(|| s.signal().map(|n| 128 + n))
}

/// The oracle's root needs the device nodes a container runtime would
/// give it (a rootless unpack cannot create them).
fn add_devices(rootfs: &Path) {
    for (name, minor) in [
        ("null", 3),
        ("zero", 5),
        ("full", 7),
        ("random", 8),
        ("urandom", 9),
    ] {
        let path = rootfs.join("dev").join(name);
        if !path.exists() {
            let ok = Command::new("mknod")
                .arg(&path)
                .args(["c", "1", &minor.to_string()])
                .status()
                .expect("mknod runs");
            assert!(ok.success(), "mknod {}", path.display());
            Command::new("chmod")
                .arg("666")
                .arg(&path)
                .status()
                .expect("chmod runs");
        }
    }
    // POSIX shared memory and semaphores live in /dev/shm (a tmpfs)
    let shm = rootfs.join("dev/shm");
    if !shm.exists() {
        std::fs::create_dir(&shm).expect("mkdir /dev/shm in the oracle");
        Command::new("chmod")
            .arg("1777")
            .arg(&shm)
            .status()
            .expect("chmod runs");
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let path = rootfs.join("dev").join(name);
        if std::fs::symlink_metadata(&path).is_err() {
            std::os::unix::fs::symlink(target, &path).expect("symlink in the oracle's /dev");
        }
    }
}

fn oracle(rootfs: &Path, c: &Case) -> Output {
    let mut cmd = Command::new("chroot");
    cmd.arg(rootfs)
        .arg("/usr/bin/env")
        .arg("-i")
        .args(ENV)
        .args(c.argv);
    output(cmd, c.stdin)
}

fn friscy(image: &str, c: &Case) -> Output {
    if let Some(oci) = image.strip_prefix("wasm+oci:") {
        // friscy's wasm32 build under node (the image's Env applies)
        let mut cmd = Command::new("node");
        cmd.arg(friscy_tests::workspace_root().join("runtime/web/node/run.mjs"))
            .args(["--oci", oci])
            .args(c.argv);
        return output(cmd, c.stdin);
    }
    let mut cmd = Command::new(bin("friscy"));
    cmd.arg("run");
    for e in ENV {
        cmd.args(["-e", e]);
    }
    cmd.arg(image).args(c.argv);
    output(cmd, c.stdin)
}

/// /proc mounted in the oracle's root for as long as it lives.
struct ProcMount(std::path::PathBuf);

impl ProcMount {
    fn new(rootfs: &Path) -> ProcMount {
        let at = rootfs.join("proc");
        let ok = Command::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(&at)
            .status()
            .expect("mount runs");
        assert!(ok.success(), "mount -t proc on {}", at.display());
        ProcMount(at)
    }
}

impl Drop for ProcMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A private devpts instance on the oracle's /dev/pts (as a container
/// runtime mounts it), with /dev/ptmx pointing into it.
struct DevPtsMount(std::path::PathBuf);

impl DevPtsMount {
    fn new(rootfs: &Path) -> DevPtsMount {
        let at = rootfs.join("dev/pts");
        std::fs::create_dir_all(&at).expect("mkdir /dev/pts in the oracle");
        let ok = Command::new("mount")
            .args([
                "-t",
                "devpts",
                "-o",
                "newinstance,ptmxmode=0666,mode=0620,gid=5",
            ])
            .arg("devpts")
            .arg(&at)
            .status()
            .expect("mount runs");
        assert!(ok.success(), "mount -t devpts on {}", at.display());
        let ptmx = rootfs.join("dev/ptmx");
        if std::fs::symlink_metadata(&ptmx).is_err() {
            std::os::unix::fs::symlink("pts/ptmx", &ptmx).expect("symlink /dev/ptmx");
        }
        DevPtsMount(at)
    }
}

impl Drop for DevPtsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Runs every case on `image` (for friscy) and `rootfs` (for the oracle,
/// a separate copy: the oracle's writes land in it).
fn suite(image: &str, rootfs: &Path, cases: &[Case]) -> Vec<String> {
    add_devices(rootfs);
    let _proc = ProcMount::new(rootfs);
    let _pts = DevPtsMount::new(rootfs);
    let mut failures = Vec::new();
    for c in cases {
        let want = oracle(rootfs, c);
        let got = friscy(image, c);
        let (ws, gs) = (status(want.status), status(got.status));
        if want.stdout != got.stdout || ws != gs {
            failures.push(format!(
                "{}: {:?}\n  oracle: status {ws:?} stdout {:?}\n  friscy: status {gs:?} stdout {:?}\n  friscy stderr: {}",
                c.name,
                c.argv,
                String::from_utf8_lossy(&want.stdout),
                String::from_utf8_lossy(&got.stdout),
                String::from_utf8_lossy(&got.stderr).trim_end(),
            ));
        }
    }
    println!(
        "linux suite on {image}: {} of {} cases pass",
        cases.len() - failures.len(),
        cases.len()
    );
    failures
}

#[test]
fn debian_programs_behave_as_under_a_real_kernel() {
    let tmp = TempDir::new("linux");
    let image_root = unpack_fixture("base", &tmp.path().join("image"));
    let oracle_root = unpack_fixture("base", &tmp.path().join("oracle"));
    let image = format!("dir:{}", image_root.display());
    let failures = suite(&image, &oracle_root, CASES);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Debian's tools, perl, lua and python3 (the `tools` fixture).
const TOOL_CASES: &[Case] = &[
    case(
        "find",
        &["sh", "-c", "find /etc -maxdepth 1 -name '*.conf' | sort"],
    ),
    case(
        "grep and sed",
        &[
            "sh",
            "-c",
            "grep -c root /etc/passwd; sed -n '1s/:.*//p' /etc/passwd",
        ],
    ),
    case(
        "gawk",
        &["sh", "-c", "gawk -F: '{n++} END {print n > 0}' /etc/passwd"],
    ),
    case(
        "tar, gzip and xz",
        &[
            "sh",
            "-c",
            "cd /tmp && mkdir d && echo hi > d/f && tar czf d.tgz d && rm -r d && tar xzf d.tgz && cat d/f && xz -k d.tgz && xz -dc d.tgz.xz | tar tz && rm -r d d.tgz d.tgz.xz",
        ],
    ),
    case(
        "diff of process substitutions",
        &["bash", "-c", "diff <(echo a) <(echo b); echo $?"],
    ),
    case(
        "diff",
        &[
            "sh",
            "-c",
            "printf 'a\nb\n' > /tmp/x; printf 'a\nc\n' > /tmp/y; diff /tmp/x /tmp/y; echo $?; rm /tmp/x /tmp/y",
        ],
    ),
    case(
        "perl",
        &[
            "perl",
            "-e",
            "my %h = map { $_ => $_ * $_ } 1..5; print join(',', map { $h{$_} } sort keys %h), \"\n\"",
        ],
    ),
    case(
        "perl fork and wait",
        &[
            "perl",
            "-e",
            "if (my $p = fork) { waitpid($p, 0); print $? >> 8, \"\n\" } else { exit 4 }",
        ],
    ),
    case(
        "lua",
        &[
            "lua5.4",
            "-e",
            "local t = {} for i = 1, 5 do t[#t + 1] = i * i end print(table.concat(t, ' '))",
        ],
    ),
    case("python3", &["python3", "-c", "print(sum(range(10)))"]),
    case(
        "python3 threads",
        &[
            "python3",
            "-c",
            "import threading\nout = []\nts = [threading.Thread(target=lambda i=i: out.append(i * i)) for i in range(8)]\n[t.start() for t in ts]\n[t.join() for t in ts]\nprint(sorted(out))",
        ],
    ),
    case(
        "python3 subprocess",
        &[
            "python3",
            "-c",
            "import subprocess\nprint(subprocess.run(['echo', 'sub'], capture_output=True).stdout)\nprint(subprocess.check_output('echo a | tr a b', shell=True))",
        ],
    ),
    case(
        "python3 signals and fork",
        &[
            "python3",
            "-c",
            "import os, signal\nsignal.signal(signal.SIGUSR1, lambda s, f: print('handler', s))\nos.kill(os.getpid(), signal.SIGUSR1)\nr, w = os.pipe()\npid = os.fork()\nif pid == 0:\n    os.write(w, b'child'); os._exit(3)\nprint(os.read(r, 10), os.waitpid(pid, 0)[1] >> 8)",
        ],
    ),
    case(
        "python3 sockets, epoll, select, eventfd",
        &[
            "python3",
            "-c",
            "import socket, select, os\na, b = socket.socketpair()\na.send(b'xy')\nprint(b.recv(10))\nep = select.epoll()\nep.register(b.fileno(), select.EPOLLIN)\nprint(len(ep.poll(0.05)))\na.send(b'z')\nprint(len(ep.poll(1)))\nr, w = os.pipe()\nprint(select.select([r], [w], [], 0)[1] == [w])\ns = socket.socket(socket.AF_UNIX)\ns.bind('/tmp/sock')\ns.listen()\nc = socket.socket(socket.AF_UNIX)\nc.connect('/tmp/sock')\nconn, _ = s.accept()\nc.sendall(b'hello')\nprint(conn.recv(5))\npid = os.fork()\nif pid == 0:\n    c.sendall(b'from child'); os._exit(0)\nprint(conn.recv(20)); os.waitpid(pid, 0)\ne = os.eventfd(3)\nos.eventfd_write(e, 2)\nprint(os.eventfd_read(e))\nos.unlink('/tmp/sock')",
        ],
    ),
    case(
        "python3 flock and record locks across fork",
        &[
            "python3",
            "-c",
            "import fcntl, os, time, functools\nprint = functools.partial(print, flush=True)\nf=open(\"/tmp/lk\",\"w\")\nfcntl.flock(f, fcntl.LOCK_EX)\npid=os.fork()\nif pid==0:\n    g=open(\"/tmp/lk\",\"w\")\n    try: fcntl.flock(g, fcntl.LOCK_EX|fcntl.LOCK_NB); print(\"child got it?!\")\n    except BlockingIOError: print(\"child: busy\")\n    fcntl.flock(g, fcntl.LOCK_EX); print(\"child: got it after parent released\"); os._exit(0)\ntime.sleep(0.2); print(\"parent releases\"); fcntl.flock(f, fcntl.LOCK_UN); os.waitpid(pid,0)\nfcntl.lockf(f, fcntl.LOCK_EX, 10, 0)\npid=os.fork()\nif pid==0:\n    g=open(\"/tmp/lk\",\"r+\")\n    try: fcntl.lockf(g, fcntl.LOCK_EX|fcntl.LOCK_NB, 5, 0); print(\"bad\")\n    except OSError as e: print(\"child: record busy\", e.errno)\n    fcntl.lockf(g, fcntl.LOCK_EX|fcntl.LOCK_NB, 5, 20); print(\"child: other range ok\"); os._exit(0)\nos.waitpid(pid,0)\nos.unlink(\"/tmp/lk\")\n",
        ],
    ),
    case(
        "python3 interval timer",
        &[
            "python3",
            "-c",
            "import signal\nn = 0\ndef h(s, f):\n    global n\n    n += 1\nsignal.signal(signal.SIGALRM, h)\nsignal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)\nwhile n < 3:\n    signal.pause()\nsignal.setitimer(signal.ITIMER_REAL, 0)\nprint('ticks', n)",
        ],
    ),
    case(
        "python3 multiprocessing, mmap, asyncio, sqlite3",
        &[
            "python3",
            "-c",
            "import multiprocessing as mp, mmap, os, asyncio, sqlite3\ndef sq(x): return x * x\ndef inc(v):\n    with v.get_lock(): v.value += 10\nasync def echo_server():\n    async def handle(r, w):\n        w.write((await r.readline()).upper()); await w.drain(); w.close()\n    srv = await asyncio.start_unix_server(handle, path=\"/tmp/a.sock\")\n    r, w = await asyncio.open_unix_connection(\"/tmp/a.sock\")\n    w.write(b\"hello asyncio\\n\"); await w.drain()\n    line = await r.readline(); w.close(); srv.close(); await srv.wait_closed()\n    await asyncio.sleep(0.01)\n    return line\nif __name__ == \"__main__\":\n    with mp.Pool(2) as pool: print(pool.map(sq, range(5)))\n    v = mp.Value(\"i\", 0)\n    ps = [mp.Process(target=inc, args=(v,)) for _ in range(3)]\n    [p.start() for p in ps]; [p.join() for p in ps]\n    print(v.value)\n    m = mmap.mmap(-1, 8192)\n    pid = os.fork()\n    if pid == 0:\n        m[0:5] = b\"child\"; m[4096:4100] = b\"page\"; os._exit(0)\n    os.waitpid(pid, 0)\n    print(m[0:5], m[4096:4100])\n    with open(\"/tmp/m\", \"wb\") as f: f.write(b\"\\0\" * 4096)\n    with open(\"/tmp/m\", \"r+b\") as f:\n        fm = mmap.mmap(f.fileno(), 4096)\n        pid = os.fork()\n        if pid == 0:\n            fm[0:3] = b\"abc\"; fm.flush(); os._exit(0)\n        os.waitpid(pid, 0)\n        print(fm[0:3], open(\"/tmp/m\", \"rb\").read(3))\n    os.unlink(\"/tmp/m\")\n    print(asyncio.run(echo_server()))\n    db = sqlite3.connect(\"/tmp/t.db\")\n    db.execute(\"create table t(x)\")\n    db.executemany(\"insert into t values (?)\", [(i,) for i in range(100)])\n    db.commit()\n    print(db.execute(\"select sum(x), count(*) from t\").fetchone())\n    db.close(); os.unlink(\"/tmp/t.db\")\n",
        ],
    ),
    case(
        "python3 TCP, UDP and HTTP over the host's network",
        &[
            "python3",
            "-c",
            "import socket, threading, urllib.request, http.server, selectors\nsrv = socket.socket()\nsrv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\nsrv.bind((\"127.0.0.1\", 0))\nsrv.listen()\nport = srv.getsockname()[1]\ndef serve():\n    c, a = srv.accept()\n    data = c.recv(100)\n    c.sendall(data.upper())\n    c.close()\nt = threading.Thread(target=serve)\nt.start()\nc = socket.create_connection((\"127.0.0.1\", port))\nc.sendall(b\"ping over tcp\")\nprint(c.recv(100))\nc.close()\nt.join()\nu = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nu.bind((\"127.0.0.1\", 0))\nv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nv.sendto(b\"udp!\", u.getsockname())\nsel = selectors.DefaultSelector()\nsel.register(u, selectors.EVENT_READ)\nprint(len(sel.select(5)), u.recvfrom(10)[0])\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        self.send_response(200)\n        self.end_headers()\n        self.wfile.write(b\"hello http\")\n    def log_message(self, *a):\n        pass\nhs = http.server.HTTPServer((\"127.0.0.1\", 0), H)\nthreading.Thread(target=hs.handle_request).start()\nprint(urllib.request.urlopen(\"http://127.0.0.1:%d/\" % hs.server_port).read())\n",
        ],
    ),
    case(
        "python3 pseudo-terminals: openpty, echo and ONLCR, pty.fork, a controlling tty, window size",
        &[
            "python3",
            "-c",
            "import os, pty, sys, termios, struct, fcntl\nm, s = os.openpty()\nprint(os.ttyname(s), os.isatty(m), os.isatty(s))\nos.write(s, b\"hello\\n\")\nprint(os.read(m, 100))\nos.write(m, b\"typed\\n\")\nprint(os.read(s, 100), os.read(m, 100))\na = termios.tcgetattr(s)\na[3] &= ~termios.ECHO\ntermios.tcsetattr(s, termios.TCSANOW, a)\nos.write(m, b\"quiet\\n\")\nprint(os.read(s, 100))\nos.close(s)\nos.close(m)\nsys.stdout.flush()\npid, fd = pty.fork()\nif pid == 0:\n    print(\"child\", os.isatty(0), os.getsid(0) == os.getpid(), os.tcgetpgrp(0) == os.getpid())\n    sys.stdout.flush()\n    os._exit(3)\ndef drain(fd, until=None):\n    out = b\"\"\n    while until is None or until not in out:\n        try:\n            d = os.read(fd, 100)\n        except OSError as e:\n            out += b\"<errno %d>\" % e.errno\n            break\n        if not d:\n            break\n        out += d\n    return out\nprint(drain(fd), os.waitpid(pid, 0)[1] >> 8)\nm, s = os.openpty()\nfcntl.ioctl(m, termios.TIOCSWINSZ, struct.pack(\"HHHH\", 30, 100, 0, 0))\npid = os.fork()\nif pid == 0:\n    os.close(m)\n    os.setsid()\n    fcntl.ioctl(s, termios.TIOCSCTTY, 0)\n    for i in range(3):\n        os.dup2(s, i)\n    os.execvp(\"sh\", [\"sh\", \"-c\", \"tty; stty size; read x; echo got $x; exit 4\"])\nos.close(s)\nprint(drain(m, b\"30 100\\r\\n\"))\nos.write(m, b\"word\\n\")\nprint(drain(m), os.waitpid(pid, 0)[1] >> 8)\n",
        ],
    ),
    case(
        "python3 AF_UNIX datagram and seqpacket sockets, names, SCM_RIGHTS, SO_PEERCRED",
        &[
            "python3",
            "-c",
            "import socket, os, array, sys\n# datagram socketpair keeps boundaries\na, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\na.send(b\"one\"); a.send(b\"\"); a.send(b\"three\")\nprint(b.recv(100), b.recv(100), b.recv(2), b.recv(100, socket.MSG_DONTWAIT) if False else \"\")\n# seqpacket\ns, t = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)\ns.send(b\"abc\"); s.send(b\"defgh\")\nprint(t.recv(100), t.recv(100))\ns.close(); print(t.recv(100))\n# bound datagram sockets with names\nfor p in (\"/tmp/d1\", \"/tmp/d2\"):\n    try: os.unlink(p)\n    except FileNotFoundError: pass\nx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); x.bind(\"/tmp/d1\")\ny = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); y.bind(\"/tmp/d2\")\ny.sendto(b\"to x\", \"/tmp/d1\")\nprint(x.recvfrom(100))\nz = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\nz.sendto(b\"anon\", \"/tmp/d1\")\nprint(x.recvfrom(100))\nz.connect(\"/tmp/d2\"); z.send(b\"conn\")\nprint(y.recvfrom(100))\ndata, anc, flags, addr = (x.sendto(b\"x\" * 10, \"/tmp/d2\"), None, None, None)\nm = y.recvmsg(4)\nprint(m[0], m[2] & socket.MSG_TRUNC != 0)\ntry:\n    z.sendto(b\"q\", \"/tmp/nope\")\nexcept OSError as e:\n    print(\"err\", e.errno)\n# descriptor passing\np, q = socket.socketpair()\nr, w = os.pipe()\np.sendmsg([b\"fd!\"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array(\"i\", [w, r]))])\np.send(b\"more\")\nmsg, anc, flags, _ = q.recvmsg(100, socket.CMSG_SPACE(8))\nfds = array.array(\"i\"); fds.frombytes(anc[0][2])\nprint(msg, len(anc), anc[0][:2], len(fds))\nos.write(fds[0], b\"through the passed pipe\")\nprint(os.read(r, 100), q.recv(100))\nprint(socket.send_fds(p, [b\"x\"], [0]), len(socket.recv_fds(q, 10, 4)[1]))\n# peer credentials\nimport struct\ncred = struct.unpack(\"3i\", p.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))\nprint(cred[0] == os.getpid(), cred[1:])\n# passing fds between processes\npid = os.fork()\nif pid == 0:\n    f = open(\"/tmp/passed\", \"w+\"); f.write(\"written by the child\\n\"); f.flush()\n    socket.send_fds(p, [b\"file\"], [f.fileno()])\n    os._exit(0)\nos.waitpid(pid, 0)\nmsg, fds, _, _ = socket.recv_fds(q, 10, 1)\nos.lseek(fds[0], 0, 0)\nprint(msg, os.read(fds[0], 100))\nimport select\nprint(select.select([x], [x], [], 0)[0], x.fileno() in [s.fileno() for s in select.select([], [x], [], 0)[1]])\ny.sendto(b\"sel\", \"/tmp/d1\")\nprint(select.select([x], [], [], 5)[0] == [x], x.recv(10))\n",
        ],
    ),
    case(
        "python3 exception status",
        &["python3", "-c", "raise SystemExit(5)"],
    ),
];

#[test]
fn debian_tools_and_interpreters_behave_as_under_a_real_kernel() {
    let tmp = TempDir::new("linux-tools");
    let image_root = unpack_fixture("tools", &tmp.path().join("image"));
    let oracle_root = unpack_fixture("tools", &tmp.path().join("oracle"));
    let image = format!("dir:{}", image_root.display());
    let failures = suite(&image, &oracle_root, TOOL_CASES);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn oci_images_run_from_their_layers() {
    let tmp = TempDir::new("linux-oci");
    let rootfs = unpack_fixture("base", tmp.path());
    let image = format!("oci:{}:base", fixture("base").display());
    let cases = [
        case("os-release from the layers", &["cat", "/etc/os-release"]),
        case("bash", &["bash", "-c", "echo $((2**10)) | rev"]),
    ];
    let failures = suite(&image, &rootfs, &cases);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn friscy_images_behave_as_their_source() {
    // the base image converted to a friscy image: files read lazily from
    // the friscy layers
    let tmp = TempDir::new("linux-friscy");
    let rootfs = unpack_fixture("base", tmp.path());
    let layout = tmp.path().join("friscy");
    let src = format!("oci:{}:base", fixture("base").display());
    let dest = format!("oci:{}:base", layout.display());
    let ok = Command::new(bin("friscy"))
        .args(["convert", &src, &dest])
        .status()
        .expect("friscy convert runs");
    assert!(ok.success());
    let failures = suite(&dest, &rootfs, CASES);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_wasm_build_runs_image_programs_under_node() {
    let wasm = friscy_tests::workspace_root()
        .join("target/wasm32-unknown-unknown/release/friscy_web.wasm");
    assert!(
        wasm.exists(),
        "build it first: cargo build --release --target wasm32-unknown-unknown -p friscy-web"
    );
    let tmp = TempDir::new("linux-wasm");
    let oracle_root = unpack_fixture("base", tmp.path());
    let image = format!("wasm+oci:{}:base", fixture("base").display());
    let picked = [
        "echo",
        "sh pipeline",
        "bash pipeline and subshell",
        "write, read, remove a file",
        "heredoc",
        "sort and uniq",
        "trap on exit",
        "signal handler",
        "killed by signal",
        "stat",
    ];
    let cases: Vec<&Case> = CASES.iter().filter(|c| picked.contains(&c.name)).collect();
    assert_eq!(cases.len(), picked.len(), "every picked case exists");
    let owned: Vec<Case> = cases
        .iter()
        .map(|c| Case {
            name: c.name,
            argv: c.argv,
            stdin: c.stdin,
        })
        .collect();
    let failures = suite(&image, &oracle_root, &owned);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
