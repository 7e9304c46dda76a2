//! GitHub's `X-Hub-Signature-256`: `sha256=` and the hex HMAC-SHA256 of the body's exact
//! bytes, keyed with the webhook's secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header GitHub signs deliveries with.
pub const HEADER: &str = "x-hub-signature-256";

/// Whether `header` (the value of `X-Hub-Signature-256`) signs `body` with `secret`.
/// The comparison takes the same time wherever the first wrong byte is, so timing tells an
/// attacker nothing about the right signature.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let given = match header.strip_prefix("sha256=").and_then(|hex_digits| hex::decode(hex_digits).ok()) {
        Some(bytes) => bytes,
        None => return false,
    };
    let expected = sign(secret, body);
    // ct_eq is false for slices of different lengths, without looking at their bytes.
    expected.as_slice().ct_eq(given.as_slice()).into()
}

/// The HMAC-SHA256 of `body` keyed with `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any size");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example in GitHub's documentation ("Validating webhook deliveries").
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn accepts_githubs_own_example() {
        assert!(verify(SECRET, BODY, SIGNATURE));
        assert_eq!(format!("sha256={}", hex::encode(sign(SECRET, BODY))), SIGNATURE);
    }

    #[test]
    fn refuses_a_forged_or_malformed_signature() {
        assert!(!verify(SECRET, b"Hello, World?", SIGNATURE), "another body");
        assert!(!verify(b"another secret", BODY, SIGNATURE), "another secret");
        assert!(!verify(SECRET, BODY, &SIGNATURE.to_uppercase()), "SHA256= is not the prefix");
        assert!(!verify(SECRET, BODY, &SIGNATURE.replace("sha256=", "sha1=")));
        assert!(!verify(SECRET, BODY, &SIGNATURE[..SIGNATURE.len() - 2]), "a shorter one");
        assert!(!verify(SECRET, BODY, &format!("{}00", SIGNATURE)), "a longer one");
        assert!(!verify(SECRET, BODY, "sha256=zz"));
        assert!(!verify(SECRET, BODY, ""));
    }
}
