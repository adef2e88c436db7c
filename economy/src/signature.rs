//! The swarm's one signature predicate, with a single and a batched path that
//! give the same verdict on every input.
//!
//! # The predicate
//! A signature `(R, S)` by key `A` on message `M` is accepted iff
//! 1. `S` is a canonical scalar (`S < ℓ`): rejects the `S + ℓ` malleation;
//! 2. `A` and `R` are canonical encodings of curve points (re-encoding the
//!    decoded point gives the same 32 bytes);
//! 3. neither `A` nor `R` is of small order: rejects weak keys and the
//!    "valid for every message" signatures they allow;
//! 4. `[8](S·B − k·A − R) = 0` where `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
//!
//! Rules 1–3 are exactly what ed25519-dalek's `verify_strict` rejects beyond
//! plain verification. Rule 4 is the *cofactored* equation, where
//! `verify_strict` uses the cofactorless one. The two agree on every
//! signature whose `R` and `A` have no small-order component — every signature
//! an Ed25519 implementation produces. They differ only on signatures that a
//! key holder deliberately crafts with a torsion component; the cofactored
//! equation is the one that can be batch-verified with the *same* verdict
//! (ZIP-215; Chalkias, Garillot, Nikolaenko: "Taming the many EdDSAs", 2020),
//! while an exact batch check of the cofactorless equation needs a scalar
//! multiplication per signature and is slower than verifying one by one
//! (measured: ARCHITECTURE.md). ed25519-dalek's own `verify_batch` is not used:
//! it accepts weak keys, small-order `R` and non-canonical `R`, so it can
//! disagree with single verification.

use std::collections::HashMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

/// Why a signature was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key is not a canonical point encoding.
    #[error("public key is not a canonical curve point")]
    KeyEncoding,
    /// The public key has small order (a weak key).
    #[error("public key is a weak (small-order) point")]
    WeakKey,
    /// `S` is not below the group order (malleable).
    #[error("signature scalar S is not canonical (malleable signature)")]
    NonCanonicalS,
    /// `R` is not a canonical point encoding.
    #[error("signature point R is not a canonical curve point")]
    REncoding,
    /// `R` has small order.
    #[error("signature point R is a small-order point")]
    SmallOrderR,
    /// The verification equation does not hold.
    #[error("signature does not verify")]
    Equation,
}

/// A public key that passed the key rules (canonical, not small order).
#[derive(Clone, Copy, Debug)]
pub struct PublicKey {
    bytes: [u8; 32],
    point: EdwardsPoint,
}

impl PublicKey {
    /// Checks key rules 2 and 3.
    pub fn parse(bytes: &[u8; 32]) -> Result<PublicKey, SignatureError> {
        let point = decompress_canonical(bytes).ok_or(SignatureError::KeyEncoding)?;
        if point.is_small_order() {
            return Err(SignatureError::WeakKey);
        }
        Ok(PublicKey { bytes: *bytes, point })
    }
    /// The encoded key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

fn decompress_canonical(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let point = CompressedEdwardsY(*bytes).decompress()?;
    (point.compress().as_bytes() == bytes).then_some(point)
}

struct ParsedSignature {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

fn parse(key: &PublicKey, message: &[u8], signature: &[u8; 64]) -> Result<ParsedSignature, SignatureError> {
    let r_bytes: [u8; 32] = signature[..32].try_into().expect("32 bytes");
    let s_bytes: [u8; 32] = signature[32..].try_into().expect("32 bytes");
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).ok_or(SignatureError::NonCanonicalS)?;
    let r = decompress_canonical(&r_bytes).ok_or(SignatureError::REncoding)?;
    if r.is_small_order() {
        return Err(SignatureError::SmallOrderR);
    }
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(key.bytes);
    h.update(message);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    Ok(ParsedSignature { r, s, k })
}

/// Verifies one signature with the swarm predicate.
pub fn verify(key: &PublicKey, message: &[u8], signature: &[u8; 64]) -> Result<(), SignatureError> {
    let p = parse(key, message, signature)?;
    // (−k)·A + S·B − R
    let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-p.k), &key.point, &p.s) - p.r;
    if check.mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(SignatureError::Equation)
    }
}

/// One item of a batch: key, message, signature.
pub type BatchItem<'a> = (&'a PublicKey, &'a [u8], &'a [u8; 64]);

/// Verifies many signatures at once with the same verdict as [`verify`].
///
/// On failure returns the index of the first item [`verify`] rejects (the
/// batch equation only says that *some* item is bad; single verification
/// then names it).
pub fn verify_batch(items: &[BatchItem<'_>]) -> Result<(), (usize, SignatureError)> {
    let mut parsed = Vec::with_capacity(items.len());
    for (i, (key, message, signature)) in items.iter().enumerate() {
        parsed.push(parse(key, message, signature).map_err(|e| (i, e))?);
    }
    // Random 128-bit weights from the OS: an attacker cannot choose signatures
    // whose errors cancel out, except with probability 2^-128.
    let mut seed = vec![0u8; 16 * parsed.len()];
    getrandom::fill(&mut seed).expect("the operating system's random source is unavailable");
    let zs: Vec<Scalar> = seed
        .chunks_exact(16)
        .map(|c| Scalar::from(u128::from_le_bytes(c.try_into().expect("16 bytes"))))
        .collect();
    let b_coefficient: Scalar = parsed.iter().zip(&zs).map(|(p, z)| z * p.s).sum();
    // Σ z·(R + k·A − S·B) = 0, cofactored.
    let scalars = std::iter::once(-b_coefficient)
        .chain(zs.iter().copied())
        .chain(parsed.iter().zip(&zs).map(|(p, z)| z * p.k));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(parsed.iter().map(|p| p.r))
        .chain(items.iter().map(|(key, _, _)| key.point));
    if EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
    {
        return Ok(());
    }
    for (i, (key, message, signature)) in items.iter().enumerate() {
        verify(key, message, signature).map_err(|e| (i, e))?;
    }
    unreachable!("the batch equation failed, so at least one signature fails alone")
}

/// Parsed keys, so that a chain's key is decoded and checked once per batch.
#[derive(Default)]
pub struct KeyCache {
    keys: HashMap<[u8; 32], Result<PublicKey, SignatureError>>,
}

impl KeyCache {
    /// The parsed key for `bytes`.
    pub fn get(&mut self, bytes: &[u8; 32]) -> Result<PublicKey, SignatureError> {
        *self.keys.entry(*bytes).or_insert_with(|| PublicKey::parse(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

    fn scalar(seed: u8) -> Scalar {
        Scalar::from_bytes_mod_order_wide(&[seed; 64])
    }

    /// Signs with raw scalars so that tests can plant torsion components.
    fn sign_raw(
        a: Scalar,
        a_point: EdwardsPoint,
        r: Scalar,
        r_extra: EdwardsPoint,
        message: &[u8],
    ) -> ([u8; 32], [u8; 64]) {
        let big_r = r * ED25519_BASEPOINT_POINT + r_extra;
        let a_bytes = a_point.compress().to_bytes();
        let r_bytes = big_r.compress().to_bytes();
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(a_bytes);
        h.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = r + k * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice(s.as_bytes());
        (a_bytes, sig)
    }

    fn ours(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> (bool, bool) {
        let single = PublicKey::parse(key).and_then(|k| verify(&k, msg, sig)).is_ok();
        let batch = match PublicKey::parse(key) {
            Ok(k) => {
                // A good signature alongside, so the batch path really batches.
                let honest = SigningKey::from_bytes(&[9; 32]);
                let hk = PublicKey::parse(&honest.verifying_key().to_bytes()).unwrap();
                let hs = honest.sign(b"other").to_bytes();
                verify_batch(&[(&hk, b"other", &hs), (&k, msg, sig)]).is_ok()
            }
            Err(_) => false,
        };
        (single, batch)
    }

    fn dalek_strict(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        VerifyingKey::from_bytes(key)
            .map(|k| k.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig)).is_ok())
            .unwrap_or(false)
    }

    #[test]
    fn honest_signatures_verify_on_both_paths_exactly_like_verify_strict() {
        for seed in 0..32u8 {
            let key = SigningKey::from_bytes(&[seed; 32]);
            let msg = [seed; 100];
            let sig = key.sign(&msg).to_bytes();
            let pk = key.verifying_key().to_bytes();
            assert!(key.verifying_key().verify(&msg, &key.sign(&msg)).is_ok());
            assert_eq!(ours(&pk, &msg, &sig), (true, true));
            assert!(dalek_strict(&pk, &msg, &sig));
            let mut tampered = sig;
            tampered[40] ^= 1;
            assert_eq!(ours(&pk, &msg, &tampered), (false, false));
            assert!(!dalek_strict(&pk, &msg, &tampered));
        }
    }

    #[test]
    fn weak_keys_are_rejected_by_both_paths_though_dalek_verify_batch_accepts_them() {
        // A = identity (order 1), R = identity, S = 0 "verifies" any message
        // under the batch equation without small-order checks.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&identity);
        for msg in [&b"pay me"[..], b"anything"] {
            assert_eq!(ours(&identity, msg, &sig), (false, false));
            assert!(!dalek_strict(&identity, msg, &sig));
            let weak = VerifyingKey::from_bytes(&identity).unwrap();
            let dalek_batch =
                ed25519_dalek::verify_batch(&[msg], &[ed25519_dalek::Signature::from_bytes(&sig)], &[weak]);
            assert!(dalek_batch.is_ok(), "documents why dalek's batch path is not used");
        }
        for torsion in EIGHT_TORSION {
            let key = torsion.compress().to_bytes();
            assert_eq!(PublicKey::parse(&key).unwrap_err(), SignatureError::WeakKey);
        }
    }

    #[test]
    fn malleated_s_is_rejected_by_both_paths_like_verify_strict() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let msg = b"transfer 10";
        let sig = key.sign(msg).to_bytes();
        // S + ℓ verifies under a lax check; it must not here.
        // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let ell: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let s = Scalar::from_canonical_bytes(sig[32..].try_into().unwrap()).unwrap();
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(s.as_bytes()[i]) + u16::from(ell[i]) + carry;
            sum[i] = v as u8;
            carry = v >> 8;
        }
        let mut malleated = sig;
        malleated[32..].copy_from_slice(&sum);
        let pk = key.verifying_key().to_bytes();
        assert_eq!(ours(&pk, msg, &malleated), (false, false));
        assert!(!dalek_strict(&pk, msg, &malleated));
        let parsed = PublicKey::parse(&pk).unwrap();
        assert_eq!(verify(&parsed, msg, &malleated), Err(SignatureError::NonCanonicalS));
    }

    #[test]
    fn small_order_and_non_canonical_r_are_rejected_by_both_paths() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let pk = key.verifying_key().to_bytes();
        let parsed = PublicKey::parse(&pk).unwrap();
        let msg = b"m";
        let mut sig = key.sign(msg).to_bytes();
        sig[..32].copy_from_slice(&EIGHT_TORSION[1].compress().to_bytes());
        assert_eq!(verify(&parsed, msg, &sig), Err(SignatureError::SmallOrderR));
        assert_eq!(ours(&pk, msg, &sig), (false, false));
        assert!(!dalek_strict(&pk, msg, &sig));
        // y = p + 1 encodes y = 1 (the identity) non-canonically.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        sig[..32].copy_from_slice(&non_canonical);
        assert_eq!(verify(&parsed, msg, &sig), Err(SignatureError::REncoding));
        assert_eq!(ours(&pk, msg, &sig), (false, false));
    }

    #[test]
    fn crafted_mixed_order_r_is_where_the_cofactored_predicate_differs_from_verify_strict() {
        // Only the key holder can make this: R = r·B + T with T of order 8.
        let a = scalar(5);
        let a_point = a * ED25519_BASEPOINT_POINT;
        let (pk, sig) = sign_raw(a, a_point, scalar(6), EIGHT_TORSION[1], b"crafted");
        assert_eq!(ours(&pk, b"crafted", &sig), (true, true), "both of our paths agree");
        assert!(
            !dalek_strict(&pk, b"crafted", &sig),
            "cofactorless verify_strict rejects it"
        );
        // Without the torsion component all three accept.
        let (pk, sig) = sign_raw(a, a_point, scalar(6), EdwardsPoint::default(), b"plain");
        assert_eq!(ours(&pk, b"plain", &sig), (true, true));
        assert!(dalek_strict(&pk, b"plain", &sig));
    }

    #[test]
    fn batch_names_the_first_bad_signature() {
        let keys: Vec<SigningKey> = (0..10u8).map(|i| SigningKey::from_bytes(&[i + 1; 32])).collect();
        let pks: Vec<PublicKey> = keys
            .iter()
            .map(|k| PublicKey::parse(&k.verifying_key().to_bytes()).unwrap())
            .collect();
        let msgs: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 10]).collect();
        let mut sigs: Vec<[u8; 64]> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m).to_bytes()).collect();
        let items = |sigs: &Vec<[u8; 64]>| -> Result<(), (usize, SignatureError)> {
            let items: Vec<BatchItem<'_>> = (0..10).map(|i| (&pks[i], msgs[i].as_slice(), &sigs[i])).collect();
            verify_batch(&items)
        };
        assert_eq!(items(&sigs), Ok(()));
        sigs[6][5] ^= 0x10;
        sigs[8][50] ^= 0x01;
        assert_eq!(items(&sigs).unwrap_err().0, 6);
    }
}
