//! The checksum on-disk records are framed with (the durable helpers, the reference
//! workloads, production frames): FNV-1a (64-bit).
//! Not cryptographic, but it catches what a simulated disk does to unsynced data (torn
//! sectors, zeros where a write was lost) with overwhelming probability, and its non-zero
//! starting basis means an all-zero record never carries a matching all-zero checksum.

/// FNV-1a over `parts`, in order, as if they were one byte string.
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    const BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    parts
        .iter()
        .flat_map(|part| part.iter())
        .fold(BASIS, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    // Proves the published FNV-1a test vectors, and that splitting the input changes nothing.
    #[test]
    fn matches_the_reference_vectors() {
        assert_eq!(super::fnv1a64(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a64(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::fnv1a64(&[b"foobar"]), 0x8594_4171_f739_67e8);
        assert_eq!(super::fnv1a64(&[b"foo", b"bar"]), super::fnv1a64(&[b"foobar"]));
    }
}
