//! Content digests: validation (they become file names) and computation.

use sha2::{Digest as _, Sha256};

use super::error::SourceError;

/// The only digest algorithm accepted, with its separator.
pub const SHA256_PREFIX: &str = "sha256:";
/// The number of hex digits in a sha256 digest.
pub const SHA256_HEX_LEN: usize = 64;

/// Checks that `digest` is `sha256:` followed by exactly 64 lowercase hex
/// digits and returns the hex part. Anything else is refused, which also keeps
/// a hostile digest such as `sha256:../../etc/passwd` from naming a path.
/// `context` says where the digest was found, for the error.
pub fn sha256_hex<'a>(digest: &'a str, context: &str) -> Result<&'a str, SourceError> {
    match digest.strip_prefix(SHA256_PREFIX) {
        Some(hex) if is_sha256_hex(hex) => Ok(hex),
        _ => Err(SourceError::InvalidDigest {
            digest: digest.to_owned(),
            context: context.to_owned(),
        }),
    }
}

/// Whether `hex` is exactly 64 lowercase hex digits.
pub fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == SHA256_HEX_LEN
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The `sha256:<hex>` digest of `bytes`.
pub fn sha256_of(bytes: &[u8]) -> String {
    format_digest(Sha256::digest(bytes).as_slice())
}

/// Formats a raw sha256 hash as `sha256:<hex>`.
pub fn format_digest(hash: &[u8]) -> String {
    let mut out = String::with_capacity(SHA256_PREFIX.len() + SHA256_HEX_LEN);
    out.push_str(SHA256_PREFIX);
    for byte in hash {
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(byte & 0x0f));
    }
    out
}

/// The lowercase hex digit for a nibble (only the low four bits are used).
fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_lowercase_sha256() {
        let good = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(sha256_hex(&good, "t").ok(), Some(&good[7..]));
        for bad in [
            format!("sha256:{}", "AB".repeat(32)),
            format!("sha512:{}", "ab".repeat(32)),
            format!("sha256:{}", "ab".repeat(31)),
            format!("sha256:{}0", "ab".repeat(32)),
            "sha256:../../../../etc/passwd".to_owned(),
            format!("sha256:{}/x", "ab".repeat(31)),
            String::new(),
        ] {
            let err = sha256_hex(&bad, "the test").unwrap_err();
            assert!(err.to_string().contains("the test"), "{err}");
        }
    }

    #[test]
    fn computes_known_digest() {
        assert_eq!(
            sha256_of(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
