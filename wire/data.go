package wire

// StreamID identifies a stream within a session: 0 is the control stream,
// initiator-opened streams are odd, responder-opened ones even, and IDs are
// never reused. Valid IDs are at most MaxStreamID.
type StreamID uint64

// DATA frame flag bits (docs/PROTOCOL.md §DATA). Other bits are reserved
// and must be zero.
const (
	dataFlagFin  = 0x01 // last bytes of the stream: Offset+len(Data) is its final size
	dataFlagEOM  = 0x02 // Data ends a message
	dataFlagsAll = dataFlagFin | dataFlagEOM
)

// DataFrame carries bytes of one stream (type 0x02):
//
//	offset size    field
//	0      1       type 0x02
//	1      1       flags: 0x01 FIN, 0x02 END_OF_MESSAGE, other bits zero
//	2      varint  stream ID    <= MaxStreamID
//	.      varint  offset       offset+length <= MaxStreamOffset
//	.      varint  length
//	.      length  data
type DataFrame struct {
	StreamID StreamID
	// Offset is the stream offset of Data[0].
	Offset uint64
	// Fin marks the end of the stream; EndOfMessage marks a message boundary
	// after the last byte of Data.
	Fin, EndOfMessage bool
	// Data is borrowed: after ParseFrame it is a view into the parsed buffer
	// (capacity limited to the frame, so appending to it never overwrites the
	// next frame), valid until that buffer is reused; copy to keep.
	Data []byte
}

// Len returns the encoded length of d. It does not allocate.
func (d DataFrame) Len() int {
	return DataFrameOverhead(d.StreamID, d.Offset, len(d.Data)) + len(d.Data)
}

// AppendTo appends the encoded frame, copying Data, and returns the extended
// slice. It does not validate limits. It does not allocate when
// cap(b)-len(b) >= d.Len().
func (d DataFrame) AppendTo(b []byte) []byte {
	b = AppendDataHeader(b, d.StreamID, d.Offset, len(d.Data), d.Fin, d.EndOfMessage)
	return append(b, d.Data...)
}

// DataFrameOverhead returns the length of a DATA frame's header (everything
// but the data) for a frame carrying dataLen >= 0 bytes of stream id at
// offset. It does not allocate.
func DataFrameOverhead(id StreamID, offset uint64, dataLen int) int {
	return 2 + VarintLen(uint64(id)) + VarintLen(offset) + VarintLen(uint64(dataLen))
}

// MaxDataFit returns the largest n such that a DATA frame carrying n bytes
// of stream id at offset fits in room bytes, i.e.
// DataFrameOverhead(id, offset, n)+n <= room. It returns 0 when no data
// fits; whether an empty frame (a bare FIN) fits is
// DataFrameOverhead(id, offset, 0) <= room. It does not allocate.
func MaxDataFit(id StreamID, offset uint64, room int) int {
	avail := room - 2 - VarintLen(uint64(id)) - VarintLen(offset)
	// Take the shortest length field L that can describe avail-L bytes:
	// a shorter field leaves more room for data.
	// The loop ends by l = MaxVarintLen, as VarintLen never exceeds it.
	for l := 1; ; l++ {
		n := avail - l
		if n <= 0 {
			return 0
		}
		if VarintLen(uint64(n)) <= l {
			return n
		}
	}
}

// AppendDataHeader appends the header of a DATA frame carrying n >= 0 bytes
// of stream id at offset, and nothing else: the caller then copies (or
// reads) exactly n data bytes after it, which is how the packetizer fills a
// packet without an intermediate copy. It does not allocate when b has
// DataFrameOverhead(id, offset, n) bytes of spare capacity.
func AppendDataHeader(b []byte, id StreamID, offset uint64, n int, fin, eom bool) []byte {
	var flags byte
	if fin {
		flags |= dataFlagFin
	}
	if eom {
		flags |= dataFlagEOM
	}
	b = append(b, byte(FrameData), flags)
	b = AppendVarint(b, uint64(id))
	b = AppendVarint(b, offset)
	return AppendVarint(b, uint64(n))
}

// parseData decodes a DATA frame; b[0] is FrameData.
func parseData(b []byte, d *DataFrame) (int, error) {
	if len(b) < 2 {
		return 0, errTruncated("data flags", 1, 2, len(b))
	}
	fl := b[1]
	if fl&^dataFlagsAll != 0 {
		return 0, errMalformed("data flags", 1, 0, int(fl&^dataFlagsAll))
	}
	id, p, err := readBounded(b, 2, "stream ID", MaxStreamID)
	if err != nil {
		return 0, err
	}
	off, p, err := readBounded(b, p, "offset", MaxStreamOffset)
	if err != nil {
		return 0, err
	}
	n, p, err := readBounded(b, p, "length", MaxStreamOffset-off)
	if err != nil {
		return 0, err
	}
	if n > uint64(len(b)-p) {
		return 0, errTruncated("data", p, clampInt(uint64(p)+n), len(b))
	}
	end := p + int(n)
	d.StreamID = StreamID(id)
	d.Offset = off
	d.Fin = fl&dataFlagFin != 0
	d.EndOfMessage = fl&dataFlagEOM != 0
	d.Data = b[p:end:end]
	return end, nil
}
