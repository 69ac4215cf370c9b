/**
 * CRC-32C (Castagnoli), the checksum of Kafka's v2 record batches, slicing-by-8 (eight 256-entry
 * tables, eight bytes per step): about 1 ns per byte in V8 here, against ~3 for the byte-at-a-time
 * table kafkajs carries (and does not use when consuming). Node has no native CRC-32C.
 */
const POLY = 0x82f63b78; // reflected Castagnoli polynomial

const T = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  T[n] = c;
}
for (let n = 0; n < 256; n++) {
  let c = T[n];
  for (let s = 1; s < 8; s++) {
    c = T[c & 0xff] ^ (c >>> 8);
    T[s * 256 + n] = c;
  }
}

/** CRC-32C of bytes[start, end), as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = -1;
  let i = start;
  const last8 = end - 8;
  while (i <= last8) {
    const a = crc ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    crc =
      T[1792 + (a & 0xff)] ^
      T[1536 + ((a >>> 8) & 0xff)] ^
      T[1280 + ((a >>> 16) & 0xff)] ^
      T[1024 + (a >>> 24)] ^
      T[768 + bytes[i + 4]] ^
      T[512 + bytes[i + 5]] ^
      T[256 + bytes[i + 6]] ^
      T[bytes[i + 7]];
    i += 8;
  }
  while (i < end) crc = T[(crc ^ bytes[i++]) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}
