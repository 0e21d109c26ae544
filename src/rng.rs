//! Deterministic randomness (MODEL.md §8): the per-fit RNG key, the per-chain ChaCha20 streams,
//! and the cohort-wide fold assignment. Every random quantity in the crate derives from these
//! functions and depends only on the item (seed, gene, model, fold, chain, sample id), never on
//! the worker, thread, rank or processing order. This module owns no state and touches no files.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const RNG_CONTEXT: &str = "bsbslmm rng v1";
const FOLDS_CONTEXT: &str = "bsbslmm folds v1";

/// The 32-byte RNG key of one fit:
/// `blake3::derive_key("bsbslmm rng v1", seed_u64le ‖ len_u32le(gene_id) ‖ gene_id_utf8 ‖ model_id_u8 ‖ fold_id_u16le)`.
///
/// # Panics
/// If `gene_id` is longer than `u32::MAX` bytes.
pub fn fit_key(seed: u64, gene_id: &str, model_id: u8, fold_id: u16) -> [u8; 32] {
    let id = gene_id.as_bytes();
    let len = u32::try_from(id.len()).expect("gene id longer than u32::MAX bytes");
    let mut msg = Vec::with_capacity(8 + 4 + id.len() + 1 + 2);
    msg.extend_from_slice(&seed.to_le_bytes());
    msg.extend_from_slice(&len.to_le_bytes());
    msg.extend_from_slice(id);
    msg.push(model_id);
    msg.extend_from_slice(&fold_id.to_le_bytes());
    blake3::derive_key(RNG_CONTEXT, &msg)
}

/// The generator of MCMC chain `chain` of the fit keyed by `key`: ChaCha20 seeded with `key`,
/// on stream `chain + 1` (stream 0 belongs to [`aux_rng`]).
pub fn chain_rng(key: &[u8; 32], chain: u32) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::from_seed(*key);
    rng.set_stream(u64::from(chain) + 1);
    rng
}

/// The generator for per-fit randomness outside the chains (stream 0 of `key`).
pub fn aux_rng(key: &[u8; 32]) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::from_seed(*key);
    rng.set_stream(0);
    rng
}

/// Sample indices sorted by `(h_i, id_i)`, where `h_i` is the first 8 bytes (little-endian) of
/// `blake3::keyed_hash(derive_key("bsbslmm folds v1", seed_u64le), id_i)`.
fn hash_order(seed: u64, sample_ids: &[String]) -> Vec<usize> {
    let fkey = blake3::derive_key(FOLDS_CONTEXT, &seed.to_le_bytes());
    let h: Vec<u64> = sample_ids
        .iter()
        .map(|id| {
            let digest = blake3::keyed_hash(&fkey, id.as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest.as_bytes()[..8]);
            u64::from_le_bytes(first)
        })
        .collect();
    let mut order: Vec<usize> = (0..sample_ids.len()).collect();
    order.sort_by(|&a, &b| {
        h[a].cmp(&h[b])
            .then_with(|| sample_ids[a].cmp(&sample_ids[b]))
    });
    order
}

/// Cross-validation fold of every sample (MODEL.md §8 "Folds"), in input order: samples are
/// sorted by their keyed hash (ties by id) and the sample of rank `r` gets fold `r mod k + 1`,
/// so folds are in `1..=k` and their sizes differ by at most one.
///
/// # Panics
/// If `k` is 0 or larger than 255.
pub fn assign_folds(seed: u64, sample_ids: &[String], k: usize) -> Vec<u8> {
    assert!(
        (1..=255).contains(&k),
        "fold count must be in 1..=255, got {k}"
    );
    let mut folds = vec![0u8; sample_ids.len()];
    for (rank, &i) in hash_order(seed, sample_ids).iter().enumerate() {
        folds[i] = (rank % k + 1) as u8;
    }
    folds
}

/// A fixed train/test split in input order (1 = test, 0 = train): the first
/// `round(n · test_fraction)` samples of the hash order used by [`assign_folds`] are the test set.
///
/// # Panics
/// If `test_fraction` is not in `[0, 1]`.
pub fn split_fold(seed: u64, sample_ids: &[String], test_fraction: f64) -> Vec<u8> {
    assert!(
        (0.0..=1.0).contains(&test_fraction),
        "test fraction must be in [0, 1], got {test_fraction}"
    );
    let n_test = (sample_ids.len() as f64 * test_fraction).round() as usize;
    let mut split = vec![0u8; sample_ids.len()];
    for &i in hash_order(seed, sample_ids).iter().take(n_test) {
        split[i] = 1;
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn ids12() -> Vec<String> {
        (1..=12).map(|i| format!("S{i:02}")).collect()
    }

    // Reference keys from python `blake3` 1.0.11:
    // blake3.blake3(struct.pack('<Q',seed)+struct.pack('<I',len(b))+b+struct.pack('<B',m)+struct.pack('<H',f),
    //               derive_key_context="bsbslmm rng v1").digest().hex(), b = gene_id.encode()
    #[test]
    fn fit_key_matches_python_blake3() {
        assert_eq!(
            hex(&fit_key(42, "ENSG00000123456", 2, 3)),
            "6e0e8a7a22509fee45954b5a3f91f87dbdad7ed82c13f11b49e814b194ccae7e"
        );
        assert_eq!(
            hex(&fit_key(0, "", 0, 0)),
            "64369c713a5ca62fbcf4949598c48eb3a09ad5222477c7698b1a9cdc2a09c59b"
        );
        assert_eq!(
            hex(&fit_key(u64::MAX, "gène-β", 255, 65535)),
            "b8d3ba39caf2ddb6279e8e4b186de6abd83235b96f398de320b51aa86d36e5ae"
        );
    }

    #[test]
    fn fit_key_separates_every_field() {
        let base = fit_key(1, "G", 1, 1);
        assert_ne!(base, fit_key(2, "G", 1, 1));
        assert_ne!(base, fit_key(1, "H", 1, 1));
        assert_ne!(base, fit_key(1, "G", 2, 1));
        assert_ne!(base, fit_key(1, "G", 1, 2));
    }

    // Reference keystreams from python `cryptography` 48.0.0 ChaCha20 (20 rounds), key = fit_key(42,
    // "ENSG00000123456", 2, 3), 16-byte nonce = counter_u64le(0) ‖ stream_u64le, encrypting zero
    // bytes; each value is 8 keystream bytes read little-endian.
    #[test]
    fn streams_match_reference_chacha20() {
        let key = fit_key(42, "ENSG00000123456", 2, 3);
        let mut aux = aux_rng(&key);
        let aux4: Vec<u64> = (0..4).map(|_| aux.next_u64()).collect();
        assert_eq!(
            aux4,
            [
                0x4ec218b6fd6e16a1,
                0xd7e16173b60f8a6d,
                0x9e8b9d5728e3f1f1,
                0x889ad6218acc31bc
            ]
        );
        let mut c0 = chain_rng(&key, 0);
        let c0_4: Vec<u64> = (0..4).map(|_| c0.next_u64()).collect();
        assert_eq!(
            c0_4,
            [
                0x11ca225f36e2e7b1,
                0x257762a01c6ae16d,
                0x88b80f2857d823d0,
                0xfc0d49db41f4b03d
            ]
        );
        let mut c3 = chain_rng(&key, 3);
        let c3_4: Vec<u64> = (0..4).map(|_| c3.next_u64()).collect();
        assert_eq!(
            c3_4,
            [
                0x6caa6a40c26553c0,
                0xe8e8fbfe43d54fe4,
                0xb4e701377d27d86a,
                0xbfdb624d5ebd3989
            ]
        );
    }

    // Reference from python `blake3` 1.0.11: fkey = blake3(pack('<Q',7), derive_key_context=
    // "bsbslmm folds v1").digest(); h = first 8 bytes LE of blake3(id.encode(), key=fkey);
    // sorted by (h, id); fold = rank % 5 + 1. h("S01") = 0xd482be980fa8f4b2.
    #[test]
    fn folds_match_python_reference() {
        assert_eq!(
            assign_folds(7, &ids12(), 5),
            [2, 2, 4, 5, 1, 5, 3, 1, 1, 4, 2, 3]
        );
    }

    #[test]
    fn folds_are_balanced_and_order_free() {
        let ids: Vec<String> = (0..103).map(|i| format!("sample_{i}")).collect();
        let folds = assign_folds(11, &ids, 5);
        let mut counts = [0usize; 6];
        for &f in &folds {
            counts[f as usize] += 1;
        }
        assert_eq!(counts, [0, 21, 21, 21, 20, 20]);
        let reversed: Vec<String> = ids.iter().rev().cloned().collect();
        let folds_rev = assign_folds(11, &reversed, 5);
        for (i, f) in folds.iter().enumerate() {
            assert_eq!(*f, folds_rev[ids.len() - 1 - i]);
        }
        assert_eq!(assign_folds(11, &ids, 1), vec![1u8; 103]);
        assert!(assign_folds(11, &[], 5).is_empty());
    }

    // Same python reference as `folds_match_python_reference`: round(12 * 0.25) = 3 test samples,
    // the first three of the hash order (input indices 8, 10, 6).
    #[test]
    fn split_matches_python_reference() {
        assert_eq!(
            split_fold(7, &ids12(), 0.25),
            [0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0]
        );
        assert_eq!(split_fold(7, &ids12(), 0.0), vec![0u8; 12]);
        assert_eq!(split_fold(7, &ids12(), 1.0), vec![1u8; 12]);
    }

    #[test]
    #[should_panic]
    fn zero_folds_panics() {
        assign_folds(1, &ids12(), 0);
    }
}
