//! `-m/--memory`: the container's memory limit, as `docker run` takes it.
//!
//! The limit covers what the container holds in friscy's memory: its
//! processes' pages and the files it has in memory (the image's, when they
//! are read whole, and everything it writes). Past it a process that
//! needs a page is killed (SIGKILL, exit status 137, as the OOM killer
//! does in a container with a limit), a system call that needs one gets
//! ENOMEM, a write ENOSPC, and an image whose files do not fit is
//! refused, each with a message naming the limit.

use anyhow::{Result, bail};

/// The smallest limit taken (docker's is 6 MiB).
const MIN_LIMIT: u64 = 6 << 20;
/// The limit when the host's memory cannot be read.
const FALLBACK_LIMIT: u64 = 2 << 30;

/// A memory limit as given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(pub Option<u64>);

/// Parses `-m`: bytes with an optional unit (`b`, `k`, `m`, `g`, `t`,
/// powers of 1024, as docker reads them; `512m`, `1.5g`), or `0` for no
/// limit.
pub fn parse(s: &str) -> Result<Limit, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let (num, shift) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 10),
        Some('m') => (&t[..t.len() - 1], 20),
        Some('g') => (&t[..t.len() - 1], 30),
        Some('t') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let bad = || format!("{s:?} is not a size (e.g. 512m, 2g; 0 for no limit)");
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    let bytes = bytes as u64;
    if bytes == 0 {
        return Ok(Limit(None));
    }
    if bytes < MIN_LIMIT {
        return Err(format!("{s:?} is below the smallest memory limit, 6m"));
    }
    Ok(Limit(Some(bytes)))
}

/// The limit when none is given: half of the host's memory (so that a
/// runaway container leaves the host usable), or 2 GiB when that cannot
/// be read.
pub fn default_limit() -> u64 {
    host_memory().map_or(FALLBACK_LIMIT, |m| (m / 2).max(MIN_LIMIT))
}

/// The host's memory in bytes, from /proc/meminfo.
fn host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

/// The limit to run with: the one given, else the default.
pub fn resolve(given: Option<Limit>) -> Option<u64> {
    match given {
        Some(Limit(l)) => l,
        None => Some(default_limit()),
    }
}

/// Sets this thread's limit (the thread that builds the file system and
/// runs the container).
pub fn apply(limit: Option<u64>) -> Result<()> {
    if let Some(l) = limit
        && friscy_kernel::budget::used() > l
    {
        bail!("friscy already holds more memory than the limit");
    }
    friscy_kernel::budget::set_limit(limit);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_reads_them() {
        assert_eq!(parse("512m"), Ok(Limit(Some(512 << 20))));
        assert_eq!(parse("512M"), Ok(Limit(Some(512 << 20))));
        assert_eq!(parse("2g"), Ok(Limit(Some(2 << 30))));
        assert_eq!(parse("2GiB"), Ok(Limit(Some(2 << 30))));
        assert_eq!(parse("1.5g"), Ok(Limit(Some(3 << 29))));
        assert_eq!(parse("8388608"), Ok(Limit(Some(8 << 20))));
        assert_eq!(parse("10240k"), Ok(Limit(Some(10 << 20))));
        assert_eq!(parse("0"), Ok(Limit(None)));
        for bad in [
            "",
            "m",
            "-1g",
            "1x",
            "1..2m",
            "5m",
            "1e9",
            "99999999999999t",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(default_limit() >= MIN_LIMIT);
    }
}
