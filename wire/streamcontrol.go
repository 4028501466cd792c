package wire

// STREAM_CONTROL subtypes: the byte after FrameStreamControl
// (docs/PROTOCOL.md §STREAM_CONTROL). Any other value is rejected with
// ErrUnknownFrame.
const (
	StreamReset         uint8 = 0x01 // ResetStreamFrame
	StreamStopSending   uint8 = 0x02 // StopSendingFrame
	StreamMaxStreamData uint8 = 0x03 // MaxStreamDataFrame
	StreamMaxStreams    uint8 = 0x04 // MaxStreamsFrame
	StreamBlocked       uint8 = 0x05 // StreamBlockedFrame
	StreamDataBlocked   uint8 = 0x06 // DataBlockedFrame
	StreamSkip          uint8 = 0x07 // SkipFrame
)

// parseStreamControl decodes a STREAM_CONTROL frame; b[0] is
// FrameStreamControl.
func parseStreamControl(b []byte, f *Frame) (int, error) {
	if len(b) < 2 {
		return 0, errTruncated("stream control subtype", 1, 2, len(b))
	}
	sub := b[1]
	f.Sub = sub
	switch sub {
	case StreamReset:
		id, p, err := readBounded(b, 2, "stream ID", MaxStreamID)
		if err != nil {
			return 0, err
		}
		code, p, err := readVarint(b, p, "error code")
		if err != nil {
			return 0, err
		}
		size, p, err := readBounded(b, p, "final size", MaxStreamOffset)
		if err != nil {
			return 0, err
		}
		f.ResetStream = ResetStreamFrame{StreamID: StreamID(id), Code: code, FinalSize: size}
		return p, nil
	case StreamStopSending:
		id, p, err := readBounded(b, 2, "stream ID", MaxStreamID)
		if err != nil {
			return 0, err
		}
		code, p, err := readVarint(b, p, "error code")
		if err != nil {
			return 0, err
		}
		f.StopSending = StopSendingFrame{StreamID: StreamID(id), Code: code}
		return p, nil
	case StreamMaxStreamData, StreamBlocked:
		id, p, err := readBounded(b, 2, "stream ID", MaxStreamID)
		if err != nil {
			return 0, err
		}
		what := "max stream data"
		if sub == StreamBlocked {
			what = "limit"
		}
		v, p, err := readBounded(b, p, what, MaxStreamOffset)
		if err != nil {
			return 0, err
		}
		if sub == StreamBlocked {
			f.StreamBlocked = StreamBlockedFrame{StreamID: StreamID(id), Limit: v}
		} else {
			f.MaxStreamData = MaxStreamDataFrame{StreamID: StreamID(id), Max: v}
		}
		return p, nil
	case StreamMaxStreams:
		v, p, err := readBounded(b, 2, "max streams", MaxStreamCount)
		if err != nil {
			return 0, err
		}
		f.MaxStreams.Max = v
		return p, nil
	case StreamDataBlocked:
		v, p, err := readBounded(b, 2, "limit", MaxStreamOffset)
		if err != nil {
			return 0, err
		}
		f.DataBlocked.Limit = v
		return p, nil
	case StreamSkip:
		id, p, err := readBounded(b, 2, "stream ID", MaxStreamID)
		if err != nil {
			return 0, err
		}
		off, p, err := readBounded(b, p, "skip offset", MaxStreamOffset)
		if err != nil {
			return 0, err
		}
		n, p, err := readBounded(b, p, "skip length", MaxStreamOffset-off)
		if err != nil {
			return 0, err
		}
		seq, p, err := readVarint(b, p, "next message")
		if err != nil {
			return 0, err
		}
		f.Skip = SkipFrame{StreamID: StreamID(id), Offset: off, Length: n, NextMessage: seq}
		return p, nil
	}
	return 0, &ParseError{What: "stream control subtype", Offset: 1, Got: int(sub), Err: ErrUnknownFrame}
}

// ResetStreamFrame (STREAM_CONTROL subtype 0x01) abandons sending on a
// stream (RFC 9000 §19.4 RESET_STREAM):
//
//	offset size    field
//	0      1       type 0x04
//	1      1       subtype 0x01
//	2      varint  stream ID   <= MaxStreamID
//	.      varint  error code  application-defined
//	.      varint  final size  <= MaxStreamOffset
type ResetStreamFrame struct {
	StreamID  StreamID
	Code      uint64
	FinalSize uint64
}

// Len returns the encoded length.
func (r ResetStreamFrame) Len() int {
	return 2 + VarintLen(uint64(r.StreamID)) + VarintLen(r.Code) + VarintLen(r.FinalSize)
}

// AppendTo appends the encoded RESET.
func (r ResetStreamFrame) AppendTo(b []byte) []byte {
	b = appendTypeSub(b, FrameStreamControl, StreamReset)
	b = AppendVarint(b, uint64(r.StreamID))
	b = AppendVarint(b, r.Code)
	return AppendVarint(b, r.FinalSize)
}

// StopSendingFrame (STREAM_CONTROL subtype 0x02) asks the peer to stop
// sending on a stream (RFC 9000 §19.5):
//
//	offset size    field
//	0      1       type 0x04
//	1      1       subtype 0x02
//	2      varint  stream ID   <= MaxStreamID
//	.      varint  error code  application-defined
type StopSendingFrame struct {
	StreamID StreamID
	Code     uint64
}

// Len returns the encoded length.
func (s StopSendingFrame) Len() int {
	return 2 + VarintLen(uint64(s.StreamID)) + VarintLen(s.Code)
}

// AppendTo appends the encoded STOP_SENDING.
func (s StopSendingFrame) AppendTo(b []byte) []byte {
	b = appendTypeSub(b, FrameStreamControl, StreamStopSending)
	b = AppendVarint(b, uint64(s.StreamID))
	return AppendVarint(b, s.Code)
}

// MaxStreamDataFrame (STREAM_CONTROL subtype 0x03) grants stream-level
// flow-control credit: the peer may send up to offset Max on the stream.
//
//	offset size    field
//	0      1       type 0x04
//	1      1       subtype 0x03
//	2      varint  stream ID     <= MaxStreamID
//	.      varint  maximum data  <= MaxStreamOffset
type MaxStreamDataFrame struct {
	StreamID StreamID
	Max      uint64
}

// Len returns the encoded length.
func (m MaxStreamDataFrame) Len() int {
	return 2 + VarintLen(uint64(m.StreamID)) + VarintLen(m.Max)
}

// AppendTo appends the encoded MAX_STREAM_DATA.
func (m MaxStreamDataFrame) AppendTo(b []byte) []byte {
	b = appendTypeSub(b, FrameStreamControl, StreamMaxStreamData)
	b = AppendVarint(b, uint64(m.StreamID))
	return AppendVarint(b, m.Max)
}

// MaxStreamsFrame (STREAM_CONTROL subtype 0x04) raises the number of
// streams the peer may open in total over the session's life.
//
//	offset size    field
//	0      1       type 0x04
//	1      1       subtype 0x04
//	2      varint  maximum streams  <= MaxStreamCount
type MaxStreamsFrame struct {
	Max uint64
}

// Len returns the encoded length.
func (m MaxStreamsFrame) Len() int { return 2 + VarintLen(m.Max) }

// AppendTo appends the encoded MAX_STREAMS.
func (m MaxStreamsFrame) AppendTo(b []byte) []byte {
	return AppendVarint(appendTypeSub(b, FrameStreamControl, StreamMaxStreams), m.Max)
}

// StreamBlockedFrame (STREAM_CONTROL subtype 0x05) tells the peer the
// sender has data to send on a stream but is blocked at stream credit
// Limit.
//
//	offset size    field
//	0      1       type 0x04
//	1      1       subtype 0x05
//	2      varint  stream ID  <= MaxStreamID
//	.      varint  limit      <= MaxStreamOffset
type StreamBlockedFrame struct {
	StreamID StreamID
	Limit    uint64
}

// Len returns the encoded length.
func (s StreamBlockedFrame) Len() int {
	return 2 + VarintLen(uint64(s.StreamID)) + VarintLen(s.Limit)
}

// AppendTo appends the encoded STREAM_BLOCKED.
func (s StreamBlockedFrame) AppendTo(b []byte) []byte {
	b = appendTypeSub(b, FrameStreamControl, StreamBlocked)
	b = AppendVarint(b, uint64(s.StreamID))
	return AppendVarint(b, s.Limit)
}

// DataBlockedFrame (STREAM_CONTROL subtype 0x06) tells the peer the sender
// is blocked at session credit Limit.
//
//	offset size    field
//	0      1       type 0x04
//	1      1       subtype 0x06
//	2      varint  limit  <= MaxStreamOffset
type DataBlockedFrame struct {
	Limit uint64
}

// Len returns the encoded length.
func (d DataBlockedFrame) Len() int { return 2 + VarintLen(d.Limit) }

// AppendTo appends the encoded DATA_BLOCKED.
func (d DataBlockedFrame) AppendTo(b []byte) []byte {
	return AppendVarint(appendTypeSub(b, FrameStreamControl, StreamDataBlocked), d.Limit)
}

// SkipFrame (STREAM_CONTROL subtype 0x07) tells the receiver of a
// latency-bounded stream that the sender abandoned the bytes [Offset,
// Offset+Length): one or more consecutive messages whose deadline passed
// before they were delivered. The receiver reads up to Offset, reports the
// messages it will never see — those before the one numbered NextMessage
// (messages of a stream are numbered from 0 in the order written) — and
// continues at Offset+Length, the start of that message (docs/PROTOCOL.md
// §SKIP).
//
//	offset size    field
//	0      1       type 0x04
//	1      1       subtype 0x07
//	2      varint  stream ID     <= MaxStreamID
//	.      varint  offset        <= MaxStreamOffset
//	.      varint  length        offset+length <= MaxStreamOffset
//	.      varint  next message  number of the message at offset+length
type SkipFrame struct {
	StreamID    StreamID
	Offset      uint64
	Length      uint64
	NextMessage uint64
}

// Len returns the encoded length.
func (s SkipFrame) Len() int {
	return 2 + VarintLen(uint64(s.StreamID)) + VarintLen(s.Offset) + VarintLen(s.Length) + VarintLen(s.NextMessage)
}

// AppendTo appends the encoded SKIP.
func (s SkipFrame) AppendTo(b []byte) []byte {
	b = appendTypeSub(b, FrameStreamControl, StreamSkip)
	b = AppendVarint(b, uint64(s.StreamID))
	b = AppendVarint(b, s.Offset)
	b = AppendVarint(b, s.Length)
	return AppendVarint(b, s.NextMessage)
}
