// crc-32 ships types for its CRC-32 entry only; its CRC-32C entry has the same shape.
declare module 'crc-32/crc32c.js' {
  const CRC32C: {
    buf(data: Uint8Array | number[], seed?: number): number
    str(data: string, seed?: number): number
  }
  export default CRC32C
}
