package streaming

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Record layout. To carry segments over a byte stream (an STT stream, a
// file, a TCP connection) or a message carrier, each segment is framed as
// a record that states its sequence number and length:
//
//	offset  size   field
//	0       1-10   seq: the segment's sequence number, unsigned LEB128 varint
//	s       1-3    n: len(Data), unsigned LEB128 varint, n ≤ MaxSegmentSize
//	s+l     n      Data: the sealed segment, as Segment.Data
//
// Both varints are minimal (no redundant 0x80 continuation bytes), so a
// record has exactly one encoding. The record adds no protection of its
// own: a changed seq or Data fails the segment's authentication in the
// Decoder, and Last travels sealed inside Data.
const (
	// MaxRecordHeaderLen is the longest record header: a 10-byte seq and a
	// 3-byte length.
	MaxRecordHeaderLen = binary.MaxVarintLen64 + 3
	// MaxRecordLen is the longest record: header plus MaxSegmentSize.
	MaxRecordLen = MaxRecordHeaderLen + MaxSegmentSize
)

// RecordLen returns the length of s's record: what AppendRecord appends.
func (s Segment) RecordLen() int {
	return uvarintLen(s.Seq) + uvarintLen(uint64(len(s.Data))) + len(s.Data)
}

// AppendRecord appends s's record (see MaxRecordHeaderLen for the layout)
// to b and returns the extended slice. It does not allocate when b has
// RecordLen bytes of spare capacity. Data longer than MaxSegmentSize
// returns an error wrapping ErrTooLarge and b unchanged.
func (s Segment) AppendRecord(b []byte) ([]byte, error) {
	if len(s.Data) > MaxSegmentSize {
		return b, fmt.Errorf("%w: segment %d is %d bytes, max %d", ErrTooLarge, s.Seq, len(s.Data), MaxSegmentSize)
	}
	b = binary.AppendUvarint(b, s.Seq)
	b = binary.AppendUvarint(b, uint64(len(s.Data)))
	return append(b, s.Data...), nil
}

// ParseRecord parses the record at the start of b and returns its segment
// and the bytes consumed. Segment.Data is a view into b (borrowed: copy to
// keep it past b's reuse); Segment.Last is false, since the flag is sealed
// in Data and only the Decoder learns it. Errors: a b that ends inside the
// record wraps io.ErrUnexpectedEOF (more bytes may complete it); a length
// above MaxSegmentSize wraps ErrTooLarge; a varint that overflows 64 bits
// or is not minimal wraps ErrMalformedRecord. It does not allocate, except
// for the error.
func ParseRecord(b []byte) (Segment, int, error) {
	seq, n, err := parseUvarint(b, "seq", 0)
	if err != nil {
		return Segment{}, 0, err
	}
	size, m, err := parseUvarint(b[n:], "length", n)
	if err != nil {
		return Segment{}, 0, err
	}
	off := n + m
	switch {
	case size > MaxSegmentSize:
		return Segment{}, 0, fmt.Errorf("%w: record at offset %d: length %d, max %d", ErrTooLarge, n, size, MaxSegmentSize)
	case uint64(len(b)-off) < size:
		return Segment{}, 0, fmt.Errorf("streaming: record data at offset %d: want %d bytes, have %d: %w", off, size, len(b)-off, io.ErrUnexpectedEOF)
	}
	end := off + int(size)
	return Segment{Seq: seq, Data: b[off:end:end]}, end, nil
}

// parseUvarint reads one minimal unsigned LEB128 varint from b, naming the
// field and its offset in errors.
func parseUvarint(b []byte, what string, at int) (uint64, int, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, 0, fmt.Errorf("streaming: record %s at offset %d: %w", what, at, io.ErrUnexpectedEOF)
	case n < 0:
		return 0, 0, fmt.Errorf("%w: %s at offset %d overflows 64 bits", ErrMalformedRecord, what, at)
	case n != uvarintLen(v):
		return 0, 0, fmt.Errorf("%w: %s at offset %d is a non-minimal varint", ErrMalformedRecord, what, at)
	}
	return v, n, nil
}

// uvarintLen is the length of v as a minimal unsigned LEB128 varint.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// readRecordHeader reads a record header from br, one byte at a time (br
// buffers), and checks it as ParseRecord does. A clean io.EOF before the
// first byte is returned as is; an EOF inside the header becomes
// io.ErrUnexpectedEOF. hdrLen is the number of bytes consumed.
func readRecordHeader(br io.ByteReader) (seq uint64, size int, hdrLen int, err error) {
	var hdr [MaxRecordHeaderLen]byte
	for ends := 0; ends < 2; {
		if hdrLen == len(hdr) {
			return 0, 0, hdrLen, fmt.Errorf("%w: header longer than %d bytes", ErrMalformedRecord, len(hdr))
		}
		c, err := br.ReadByte()
		if err != nil {
			if err == io.EOF && hdrLen > 0 {
				err = fmt.Errorf("streaming: record header: %w", io.ErrUnexpectedEOF)
			}
			return 0, 0, hdrLen, err
		}
		hdr[hdrLen] = c
		hdrLen++
		if c < 0x80 {
			ends++
		}
	}
	seq, n, err := parseUvarint(hdr[:hdrLen], "seq", 0)
	if err != nil {
		return 0, 0, hdrLen, err
	}
	length, _, err := parseUvarint(hdr[n:hdrLen], "length", n)
	if err != nil {
		return 0, 0, hdrLen, err
	}
	if length > MaxSegmentSize {
		return 0, 0, hdrLen, fmt.Errorf("%w: record at offset %d: length %d, max %d", ErrTooLarge, n, length, MaxSegmentSize)
	}
	return seq, int(length), hdrLen, nil
}
