// Package tfevent writes TensorBoard event files: scalar summaries, one Event protocol buffer per
// record of a TFRecord file, encoded by hand (no protobuf dependency). TensorBoard (and readers of
// its format such as wandb's) read a folder of such files as one run.
//
// A record is framed as
//
//	uint64 length (little-endian)
//	uint32 masked CRC-32C of the 8 length bytes
//	length bytes of data
//	uint32 masked CRC-32C of the data
//
// where the mask of a CRC c is ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2^32), so that a CRC
// stored in data does not check itself.
package tfevent

import (
	"encoding/binary"
	"hash/crc32"
)

// castagnoli is the CRC-32C table (the Castagnoli polynomial, as iSCSI and TFRecord use it).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskDelta is added to the rotated CRC by the mask.
const maskDelta = 0xa282ead8

// CRC32C is the CRC-32C of b.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// MaskedCRC is the masked CRC-32C of b that TFRecord framing stores.
func MaskedCRC(b []byte) uint32 {
	c := CRC32C(b)
	return (c>>15 | c<<17) + maskDelta
}

// appendRecord appends data to dst framed as one TFRecord.
func appendRecord(dst, data []byte) []byte {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(data)))
	dst = append(dst, n[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, MaskedCRC(n[:]))
	dst = append(dst, data...)
	return binary.LittleEndian.AppendUint32(dst, MaskedCRC(data))
}
