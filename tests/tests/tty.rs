//! `friscy run -t`: the container gets a terminal. Driven through a real
//! pseudo-terminal by `tests/tools/pty-session`, as a person would.

use friscy_tests::{TempDir, bin, unpack_fixture, workspace_root};
use std::process::Command;

fn session(steps: &[&str], command: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(workspace_root().join("tests/tools/pty-session"));
    for s in steps {
        cmd.args(["--step", s]);
    }
    cmd.arg("--").args(command);
    let out = cmd.output().expect("pty-session runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("pty-session prints JSON")
}

#[test]
fn an_interactive_shell_gets_a_real_terminal() {
    let tmp = TempDir::new("tty");
    let rootfs = unpack_fixture("base", tmp.path());
    let image = format!("dir:{}", rootfs.display());
    let friscy = bin("friscy");
    let result = session(
        &[
            "send:echo $((6*7)); tty; stty size\\r",
            "resize:30x100",
            "send:stty size\\r",
            "send:sleep 100\\r",
            "wait:0.5",
            "send:\\x03",
            "wait:0.5",
            "send:read -p 'name? ' n; echo hello-$n\\r",
            "send:friscy\\r",
            "send:sleep 100\\r",
            "wait:0.5",
            "send:\\x1a",
            "wait:0.5",
            "send:jobs\\r",
            "send:fg\\r",
            "wait:0.3",
            "send:\\x03",
            "wait:0.3",
            "send:echo back-$?\\r",
            "send:exit 3\\r",
        ],
        &[
            friscy.to_str().unwrap(),
            "run",
            "-t",
            &image,
            "bash",
            "--norc",
            "-i",
        ],
    );
    let t = result["transcript"].as_str().unwrap_or_default();
    // output processing turns \n into \r\n
    assert!(t.contains("\r\n42\r\n"), "{t}");
    assert!(t.contains("/dev/pts/0"), "{t}");
    assert!(t.contains("24 80"), "{t}");
    assert!(t.contains("30 100"), "the resize reached the guest: {t}");
    // Ctrl-C killed the foreground job, not the shell
    let after_ctrl_c = t.split("^C").nth(1).unwrap_or_default();
    assert!(after_ctrl_c.contains("bash-"), "the prompt came back: {t}");
    assert!(t.contains("hello-friscy"), "{t}");
    // job control: Ctrl-Z stops the job, fg resumes it, Ctrl-C ends it
    assert!(t.contains("Stopped"), "{t}");
    assert!(t.contains("back-130"), "{t}");
    assert_eq!(result["status"], 3, "{t}");
    assert_eq!(result["restored"], true, "the host terminal was restored");
}

#[test]
fn dash_t_needs_a_terminal() {
    let out = Command::new(bin("friscy"))
        .args(["run", "-t", "dir:/nonexistent-but-checked-later", "sh"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("friscy runs");
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a TTY"), "{err}");
}
