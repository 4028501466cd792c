package wire

// CustomFrame is an application frame, types 0x80-0xFF, handed to the
// FrameDispatcher; STT never interprets its payload.
//
//	offset size    field
//	0      1       type 0x80-0xFF
//	1      varint  payload length  <= MaxCustomPayload
//	.      length  payload
type CustomFrame struct {
	// Type must be at least FrameCustomMin.
	Type FrameType
	// Payload is borrowed: after ParseFrame it is a view into the parsed
	// buffer (capacity limited to the frame), valid until that buffer is
	// reused; copy to keep.
	Payload []byte
}

// Len returns the encoded length.
func (c CustomFrame) Len() int {
	return 1 + VarintLen(uint64(len(c.Payload))) + len(c.Payload)
}

// AppendTo appends the encoded frame, copying Payload. It checks neither
// Type nor MaxCustomPayload. It does not allocate when cap(b)-len(b) >=
// c.Len().
func (c CustomFrame) AppendTo(b []byte) []byte {
	b = append(b, byte(c.Type))
	b = AppendVarint(b, uint64(len(c.Payload)))
	return append(b, c.Payload...)
}

// parseCustom decodes an application frame; b[0] >= FrameCustomMin.
func parseCustom(b []byte, c *CustomFrame) (int, error) {
	n, p, err := readBounded(b, 1, "custom length", MaxCustomPayload)
	if err != nil {
		return 0, err
	}
	if n > uint64(len(b)-p) {
		return 0, errTruncated("custom payload", p, p+int(n), len(b)) // n <= MaxCustomPayload
	}
	end := p + int(n)
	c.Type = FrameType(b[0])
	c.Payload = b[p:end:end]
	return end, nil
}
