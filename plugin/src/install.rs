//! `friscy install-plugin`: put `docker-friscy` where the docker CLI finds it.

use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};

/// The docker CLI's per-user plugin folder: `$DOCKER_CONFIG/cli-plugins`,
/// or `~/.docker/cli-plugins`.
pub fn default_plugin_dir() -> Result<PathBuf> {
    if let Some(cfg) = std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(cfg).join("cli-plugins"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("HOME is not set; pass --dir to say where docker's cli-plugins folder is")?;
    Ok(PathBuf::from(home).join(".docker").join("cli-plugins"))
}

/// The `docker-friscy` binary built beside the running `friscy` binary.
pub fn sibling_plugin_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running friscy binary")?;
    let dir = exe
        .parent()
        .context("the friscy binary has no parent folder")?;
    let plugin = dir.join("docker-friscy");
    if !plugin.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release` (it is built beside friscy)",
            plugin.display()
        );
    }
    Ok(plugin)
}

/// Copies `source` into `dir` as `docker-friscy`, atomically (a partial copy
/// is never visible under the final name), and makes it executable.
pub fn install(source: &Path, dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dest = dir.join("docker-friscy");
    let tmp = dir.join(format!(".docker-friscy.{}.tmp", std::process::id()));
    let result = (|| -> Result<()> {
        fs::copy(source, &tmp)
            .with_context(|| format!("cannot copy {} to {}", source.display(), tmp.display()))?;
        set_executable(&tmp)?;
        fs::rename(&tmp, &dest)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), dest.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| dest)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_copies_atomically_and_sets_mode() {
        let tmp = std::env::temp_dir().join(format!("friscy-install-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).unwrap();
        let src = tmp.join("src-bin");
        fs::write(&src, b"#!/bin/sh\necho hi\n").unwrap();
        let dir = tmp.join("plugins");
        let dest = install(&src, &dir).unwrap();
        assert_eq!(dest, dir.join("docker-friscy"));
        assert_eq!(fs::read(&dest).unwrap(), b"#!/bin/sh\necho hi\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&dest).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o755);
        }
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("docker-friscy")]);
        // A missing source is an error and leaves the installed copy alone.
        assert!(install(&tmp.join("missing"), &dir).is_err());
        assert!(dest.is_file());
        fs::remove_dir_all(&tmp).unwrap();
    }
}
