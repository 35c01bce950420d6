//! Forward error correction per chunk: RaptorQ (RFC 6330, the `raptorq`
//! crate) with each chunk's stored bytes as one source block (Z = 1, N =
//! 1, Al = 8). The code is systematic: ESIs below K are the chunk's own
//! bytes, cut in T-byte symbols (the last one zero-padded), so a receiver
//! that loses nothing decodes by concatenation. ESIs from K on are repair
//! symbols; any K of all the symbols rebuild the chunk with probability
//! about 99 %, and K + h with 1 - 1/256^(h+1) (RFC 6330 §5.1.2 and the
//! crate's figures). A receiver therefore completes a chunk from whatever
//! symbols of it arrive, in this cycle or the next.

use raptorq::{
    EncodingPacket, ObjectTransmissionInformation, PayloadId, SourceBlockDecoder,
    SourceBlockEncoder,
};

use super::wire::{source_symbols, ALIGNMENT};

fn oti(len: u32, t: u16) -> ObjectTransmissionInformation {
    ObjectTransmissionInformation::new(len as u64, t, 1, 1, ALIGNMENT)
}

/// Makes any symbol of one chunk. Source symbols are slices of the chunk;
/// the repair encoder (the intermediate symbols, RFC 6330 §5.3.3) is built
/// the first time a repair symbol is asked for.
pub struct ChunkEncoder {
    data: Vec<u8>,
    t: u16,
    k: u32,
    repair: Option<SourceBlockEncoder>,
}

impl ChunkEncoder {
    /// `data` is the chunk's stored bytes (at most
    /// [`super::wire::MAX_CHUNK_LEN`], checked by the caller) and `t` the
    /// symbol size, a multiple of 8.
    pub fn new(data: Vec<u8>, t: u16) -> ChunkEncoder {
        let k = source_symbols(data.len() as u32, t);
        ChunkEncoder {
            data,
            t,
            k,
            repair: None,
        }
    }

    /// K: the chunk's source symbols.
    pub fn source_symbols(&self) -> u32 {
        self.k
    }

    pub fn len(&self) -> u32 {
        self.data.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Writes symbol `esi` into `out` (T bytes).
    pub fn symbol(&mut self, esi: u32, out: &mut [u8]) {
        let t = self.t as usize;
        debug_assert_eq!(out.len(), t);
        if esi < self.k {
            let start = esi as usize * t;
            let end = (start + t).min(self.data.len());
            let n = end - start;
            out[..n].copy_from_slice(&self.data[start..end]);
            out[n..].fill(0);
            return;
        }
        let (data, t16, k) = (&self.data, self.t, self.k);
        let enc = self.repair.get_or_insert_with(|| {
            // The encoder takes whole symbols: the block is the chunk
            // zero-padded to K·T, as RFC 6330 §4.4.1.3 pads a source block.
            let mut block = data.clone();
            block.resize(k as usize * t16 as usize, 0);
            SourceBlockEncoder::new(0, &oti(block.len() as u32, t16), &block)
        });
        let packet = enc
            .repair_packets(esi - self.k, 1)
            .pop()
            .expect("one repair packet asked for");
        debug_assert_eq!(packet.payload_id().encoding_symbol_id(), esi);
        out.copy_from_slice(packet.data());
    }
}

/// Rebuilds a chunk of `len` stored bytes from `symbols` (ESI and T bytes
/// each, ESIs distinct), or `None` when they do not determine it (fewer
/// than K, or a rank-deficient set: wait for more).
pub fn decode(len: u32, t: u16, symbols: &[(u32, Vec<u8>)]) -> Option<Vec<u8>> {
    let k = source_symbols(len, t);
    if (symbols.len() as u32) < k {
        return None;
    }
    // All source symbols: the chunk is their concatenation.
    let mut sources: Vec<Option<&[u8]>> = vec![None; k as usize];
    for (esi, s) in symbols {
        if *esi < k {
            sources[*esi as usize] = Some(s);
        }
    }
    if sources.iter().all(Option::is_some) {
        let mut out = Vec::with_capacity(k as usize * t as usize);
        for s in sources.into_iter().flatten() {
            out.extend_from_slice(s);
        }
        out.truncate(len as usize);
        return Some(out);
    }
    let block = k as u64 * t as u64;
    let mut dec = SourceBlockDecoder::new(0, &oti(block as u32, t), block);
    let packets = symbols
        .iter()
        .map(|(esi, s)| EncodingPacket::new(PayloadId::new(0, *esi), s.clone()));
    let mut out = dec.decode(packets)?;
    out.truncate(len as usize);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multicast::wire::SYMBOL_SIZE;
    use marrow_test_support::noise;

    fn chunk(len: usize, seed: u64) -> Vec<u8> {
        noise(seed, len)
    }

    fn symbols(enc: &mut ChunkEncoder, esis: impl Iterator<Item = u32>) -> Vec<(u32, Vec<u8>)> {
        esis.map(|esi| {
            let mut s = vec![0u8; SYMBOL_SIZE as usize];
            enc.symbol(esi, &mut s);
            (esi, s)
        })
        .collect()
    }

    #[test]
    fn all_source_symbols_decode_by_concatenation() {
        let data = chunk(100_000, 1);
        let mut enc = ChunkEncoder::new(data.clone(), SYMBOL_SIZE);
        let k = enc.source_symbols();
        assert_eq!(k, 74);
        let s = symbols(&mut enc, 0..k);
        assert_eq!(decode(data.len() as u32, SYMBOL_SIZE, &s), Some(data));
    }

    #[test]
    fn lost_source_symbols_are_made_up_by_repair_symbols() {
        let data = chunk(70_001, 2);
        let mut enc = ChunkEncoder::new(data.clone(), SYMBOL_SIZE);
        let k = enc.source_symbols();
        // Every third source symbol lost; repair symbols from a later cycle
        // (ESIs well past K) stand in, with two to spare.
        let lost = (0..k).filter(|e| e % 3 == 0).count() as u32;
        let s = symbols(
            &mut enc,
            (0..k)
                .filter(|e| e % 3 != 0)
                .chain(k + 40..k + 40 + lost + 2),
        );
        assert_eq!(decode(data.len() as u32, SYMBOL_SIZE, &s), Some(data));
    }

    #[test]
    fn only_repair_symbols_decode_too() {
        let data = chunk(5000, 3);
        let mut enc = ChunkEncoder::new(data.clone(), SYMBOL_SIZE);
        let k = enc.source_symbols();
        let s = symbols(&mut enc, k..2 * k + 2);
        assert_eq!(decode(data.len() as u32, SYMBOL_SIZE, &s), Some(data));
    }

    #[test]
    fn fewer_than_k_symbols_do_not_decode() {
        let data = chunk(5000, 4);
        let mut enc = ChunkEncoder::new(data.clone(), SYMBOL_SIZE);
        let k = enc.source_symbols();
        let s = symbols(&mut enc, 1..k);
        assert_eq!(decode(data.len() as u32, SYMBOL_SIZE, &s), None);
    }

    #[test]
    fn a_one_byte_chunk_is_one_padded_symbol() {
        let mut enc = ChunkEncoder::new(vec![7], SYMBOL_SIZE);
        assert_eq!(enc.source_symbols(), 1);
        let s = symbols(&mut enc, 0..1);
        assert_eq!(s[0].1[0], 7);
        assert!(s[0].1[1..].iter().all(|&b| b == 0));
        assert_eq!(decode(1, SYMBOL_SIZE, &s), Some(vec![7]));
        let r = symbols(&mut enc, 1..2);
        assert_eq!(decode(1, SYMBOL_SIZE, &r), Some(vec![7]));
    }
}
