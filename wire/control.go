package wire

import "encoding/binary"

// CONTROL subtypes: the byte after FrameControl (docs/PROTOCOL.md §CONTROL).
// Any other value is rejected with ErrUnknownFrame.
const (
	ControlAck           uint8 = 0x01 // AckFrame
	ControlPing          uint8 = 0x02 // PingFrame
	ControlClose         uint8 = 0x03 // CloseFrame
	ControlMaxData       uint8 = 0x04 // MaxDataFrame
	ControlFinal         uint8 = 0x05 // FinalFrame
	ControlPathChallenge uint8 = 0x06 // PathChallengeFrame
	ControlPathResponse  uint8 = 0x07 // PathResponseFrame
	ControlResetToken    uint8 = 0x08 // ResetTokenFrame
	ControlNewTicket     uint8 = 0x09 // NewTicketFrame
)

// Fixed sizes of CONTROL bodies.
const (
	finalLen    = 2 + 1 + 8 // type, subtype, status, session ID
	pathDataLen = 8         // PATH_CHALLENGE / PATH_RESPONSE data
	pathLen     = 2 + pathDataLen
	// ResetTokenLen is the length of a stateless reset token.
	ResetTokenLen      = 16
	resetTokenFrameLen = 2 + ResetTokenLen
	// maxNewTicket bounds the blob of a NEW_TICKET frame (today's is
	// NewTicketLen bytes; the bound leaves room for later ticket formats).
	maxNewTicket = 1024
)

// parseControl decodes a CONTROL frame; b[0] is FrameControl.
func parseControl(b []byte, f *Frame) (int, error) {
	if len(b) < 2 {
		return 0, errTruncated("control subtype", 1, 2, len(b))
	}
	sub := b[1]
	f.Sub = sub
	switch sub {
	case ControlAck:
		return parseACK(b, &f.Ack)
	case ControlPing:
		return 2, nil
	case ControlClose:
		return parseClose(b, &f.Close)
	case ControlMaxData:
		v, p, err := readBounded(b, 2, "max data", MaxStreamOffset)
		if err != nil {
			return 0, err
		}
		f.MaxData.Max = v
		return p, nil
	case ControlFinal:
		if len(b) < finalLen {
			return 0, errTruncated("final", 2, finalLen, len(b))
		}
		f.Final.Status = b[2]
		f.Final.SessionID = SessionID(binary.BigEndian.Uint64(b[3:finalLen]))
		return finalLen, nil
	case ControlPathChallenge, ControlPathResponse:
		if len(b) < pathLen {
			return 0, errTruncated("path data", 2, pathLen, len(b))
		}
		if sub == ControlPathChallenge {
			copy(f.PathChallenge.Data[:], b[2:pathLen])
		} else {
			copy(f.PathResponse.Data[:], b[2:pathLen])
		}
		return pathLen, nil
	case ControlResetToken:
		if len(b) < resetTokenFrameLen {
			return 0, errTruncated("reset token", 2, resetTokenFrameLen, len(b))
		}
		copy(f.ResetToken.Token[:], b[2:resetTokenFrameLen])
		return resetTokenFrameLen, nil
	case ControlNewTicket:
		n, p, err := readBounded(b, 2, "ticket length", maxNewTicket)
		if err != nil {
			return 0, err
		}
		if n > uint64(len(b)-p) {
			return 0, errTruncated("ticket", p, p+int(n), len(b)) // n <= maxNewTicket
		}
		f.NewTicket.Blob = b[p : p+int(n) : p+int(n)]
		return p + int(n), nil
	}
	return 0, &ParseError{What: "control subtype", Offset: 1, Got: int(sub), Err: ErrUnknownFrame}
}

// AckRange is an inclusive range of acknowledged packet numbers,
// Smallest <= Largest.
type AckRange struct {
	Smallest, Largest uint64
}

// AckFrame acknowledges packets (CONTROL subtype 0x01), encoded as in
// RFC 9000 §19.3 without ECN counts:
//
//	offset size    field
//	0      1       type 0x03
//	1      1       subtype 0x01
//	2      varint  largest acknowledged  <= MaxPacketNumber
//	.      varint  ack delay             microseconds
//	.      varint  range count           additional ranges, <= MaxAckRanges
//	.      varint  first range           packets below largest: smallest = largest - first
//	then range count times:
//	.      varint  gap                   largest_i = smallest_{i-1} - gap - 2
//	.      varint  range length          smallest_i = largest_i - length
//
// Ranges[:N] hold the decoded ranges in descending order, separated by at
// least one unacknowledged packet. The zero AckFrame is empty and ready for
// AppendRange; an empty AckFrame is not encodable. It is a fixed-size value
// so parsing never allocates; pass it by pointer.
type AckFrame struct {
	// Delay is the time in microseconds between receiving the largest
	// acknowledged packet and sending this ACK (RFC 9002 §5.3).
	Delay  uint64
	Ranges [MaxAckRanges + 1]AckRange
	N      int
}

// Largest returns the largest acknowledged packet number, 0 when empty.
func (a *AckFrame) Largest() uint64 {
	if a.N <= 0 {
		return 0
	}
	return a.Ranges[0].Largest
}

// Acks reports whether packet number pn lies in one of the ranges. It
// does not allocate.
func (a *AckFrame) Acks(pn uint64) bool {
	for i := 0; i < a.N && i < len(a.Ranges); i++ {
		r := &a.Ranges[i]
		if pn > r.Largest {
			return false // ranges descend: pn falls in the gap above r
		}
		if pn >= r.Smallest {
			return true
		}
	}
	return false
}

// AppendRange adds the range [smallest, largest] below the ranges already
// present, which is how an ACK is built: newest range first. It returns
// ErrTooLarge, leaving a unchanged, when a already holds MaxAckRanges+1
// ranges (the caller stops there: older ranges are dropped), and
// ErrMalformed when smallest > largest, largest > MaxPacketNumber, or the
// range does not lie below the previous one with at least one packet
// between them (adjacent ranges must be merged by the caller). It does not
// allocate.
func (a *AckFrame) AppendRange(smallest, largest uint64) error {
	if a.N < 0 || a.N >= len(a.Ranges) {
		return ErrTooLarge
	}
	if smallest > largest || largest > MaxPacketNumber {
		return ErrMalformed
	}
	if a.N > 0 {
		prev := a.Ranges[a.N-1].Smallest
		if prev < 2 || largest > prev-2 {
			return ErrMalformed
		}
	}
	a.Ranges[a.N] = AckRange{Smallest: smallest, Largest: largest}
	a.N++
	return nil
}

// Reset empties a for reuse.
func (a *AckFrame) Reset() {
	a.Delay = 0
	a.N = 0
}

// valid reports whether a.N selects an encodable range list.
func (a *AckFrame) valid() bool { return a.N > 0 && a.N <= len(a.Ranges) }

// Len returns the encoded length, 0 for an empty AckFrame. It does not
// allocate.
func (a *AckFrame) Len() int {
	if !a.valid() {
		return 0
	}
	r := a.Ranges[:a.N]
	n := 2 + VarintLen(r[0].Largest) + VarintLen(a.Delay) + VarintLen(uint64(a.N-1)) +
		VarintLen(r[0].Largest-r[0].Smallest)
	for i := 1; i < len(r); i++ {
		n += VarintLen(r[i-1].Smallest-r[i].Largest-2) + VarintLen(r[i].Largest-r[i].Smallest)
	}
	return n
}

// AppendTo appends the encoded ACK and returns the extended slice; an empty
// AckFrame appends nothing. Ranges must satisfy AppendRange's rules. It does
// not allocate when cap(b)-len(b) >= a.Len().
func (a *AckFrame) AppendTo(b []byte) []byte {
	if !a.valid() {
		return b
	}
	r := a.Ranges[:a.N]
	b = appendTypeSub(b, FrameControl, ControlAck)
	b = AppendVarint(b, r[0].Largest)
	b = AppendVarint(b, a.Delay)
	b = AppendVarint(b, uint64(a.N-1))
	b = AppendVarint(b, r[0].Largest-r[0].Smallest)
	for i := 1; i < len(r); i++ {
		b = AppendVarint(b, r[i-1].Smallest-r[i].Largest-2)
		b = AppendVarint(b, r[i].Largest-r[i].Smallest)
	}
	return b
}

// parseAck decodes an ACK; b[:2] is FrameControl, ControlAck.
func parseACK(b []byte, a *AckFrame) (int, error) {
	a.N = 0
	largest, p, err := readBounded(b, 2, "largest acknowledged", MaxPacketNumber)
	if err != nil {
		return 0, err
	}
	delay, p, err := readVarint(b, p, "ack delay")
	if err != nil {
		return 0, err
	}
	count, p, err := readBounded(b, p, "ack range count", MaxAckRanges)
	if err != nil {
		return 0, err
	}
	at := p
	first, p, err := readVarint(b, p, "first ack range")
	if err != nil {
		return 0, err
	}
	if first > largest {
		return 0, errMalformed("first ack range", at, clampInt(largest), clampInt(first))
	}
	smallest := largest - first
	a.Delay = delay
	a.Ranges[0] = AckRange{Smallest: smallest, Largest: largest}
	for i := 1; i <= int(count); i++ {
		var gap, length uint64
		at = p
		gap, p, err = readVarint(b, p, "ack gap")
		if err != nil {
			return 0, err
		}
		// The next range's largest is smallest-gap-2; it must not go below 0.
		if smallest < 2 || gap > smallest-2 {
			return 0, errMalformed("ack gap", at, clampInt(max(smallest, 2)-2), clampInt(gap))
		}
		hi := smallest - gap - 2
		at = p
		length, p, err = readVarint(b, p, "ack range")
		if err != nil {
			return 0, err
		}
		if length > hi {
			return 0, errMalformed("ack range", at, clampInt(hi), clampInt(length))
		}
		smallest = hi - length
		a.Ranges[i] = AckRange{Smallest: smallest, Largest: hi}
	}
	a.N = int(count) + 1
	return p, nil
}

// PingFrame (CONTROL subtype 0x02) has no body; it elicits an ACK, which
// keeps a path alive and probes for loss.
//
//	offset size field
//	0      1    type 0x03
//	1      1    subtype 0x02
type PingFrame struct{}

// Len returns 2.
func (PingFrame) Len() int { return 2 }

// AppendTo appends the encoded PING.
func (PingFrame) AppendTo(b []byte) []byte { return appendTypeSub(b, FrameControl, ControlPing) }

// CloseFrame (CONTROL subtype 0x03) closes the session:
//
//	offset size    field
//	0      1       type 0x03
//	1      1       subtype 0x03
//	2      varint  error code (0: no error)
//	.      varint  reason length  <= MaxCloseReason
//	.      length  reason phrase (UTF-8 by convention, not checked)
type CloseFrame struct {
	Code uint64
	// Reason is borrowed: after ParseFrame it is a view into the parsed
	// buffer; copy to keep.
	Reason []byte
}

// Len returns the encoded length.
func (c CloseFrame) Len() int {
	return 2 + VarintLen(c.Code) + VarintLen(uint64(len(c.Reason))) + len(c.Reason)
}

// AppendTo appends the encoded CLOSE, copying Reason. It does not check
// MaxCloseReason.
func (c CloseFrame) AppendTo(b []byte) []byte {
	b = appendTypeSub(b, FrameControl, ControlClose)
	b = AppendVarint(b, c.Code)
	b = AppendVarint(b, uint64(len(c.Reason)))
	return append(b, c.Reason...)
}

// parseClose decodes a CLOSE; b[:2] is FrameControl, ControlClose.
func parseClose(b []byte, c *CloseFrame) (int, error) {
	code, p, err := readVarint(b, 2, "close code")
	if err != nil {
		return 0, err
	}
	n, p, err := readBounded(b, p, "reason length", MaxCloseReason)
	if err != nil {
		return 0, err
	}
	if n > uint64(len(b)-p) {
		return 0, errTruncated("reason", p, p+int(n), len(b)) // n <= MaxCloseReason
	}
	end := p + int(n)
	c.Code = code
	c.Reason = b[p:end:end]
	return end, nil
}

// MaxDataFrame (CONTROL subtype 0x04) grants session-level flow-control
// credit: the peer may send stream data up to Max bytes in total.
//
//	offset size    field
//	0      1       type 0x03
//	1      1       subtype 0x04
//	2      varint  maximum data  <= MaxStreamOffset
type MaxDataFrame struct {
	Max uint64
}

// Len returns the encoded length.
func (m MaxDataFrame) Len() int { return 2 + VarintLen(m.Max) }

// AppendTo appends the encoded MAX_DATA.
func (m MaxDataFrame) AppendTo(b []byte) []byte {
	return AppendVarint(appendTypeSub(b, FrameControl, ControlMaxData), m.Max)
}

// FinalFrame (CONTROL subtype 0x05) completes the handshake: it is the
// first packet the responder seals with its traffic key (docs/HANDSHAKE.md).
//
//	offset size field
//	0      1    type 0x03
//	1      1    subtype 0x05
//	2      1    status (interpreted by the control plane, not by wire)
//	3      8    session ID, big-endian
type FinalFrame struct {
	Status    uint8
	SessionID SessionID
}

// Len returns 11.
func (FinalFrame) Len() int { return finalLen }

// AppendTo appends the encoded FINAL.
func (x FinalFrame) AppendTo(b []byte) []byte {
	b = append(appendTypeSub(b, FrameControl, ControlFinal), x.Status)
	return binary.BigEndian.AppendUint64(b, uint64(x.SessionID))
}

// PathChallengeFrame (CONTROL subtype 0x06) asks the peer to echo Data in
// a PATH_RESPONSE, validating a new path (RFC 9000 §8.2).
//
//	offset size field
//	0      1    type 0x03
//	1      1    subtype 0x06
//	2      8    data (unpredictable)
type PathChallengeFrame struct {
	Data [pathDataLen]byte
}

// Len returns 10.
func (PathChallengeFrame) Len() int { return pathLen }

// AppendTo appends the encoded PATH_CHALLENGE.
func (p PathChallengeFrame) AppendTo(b []byte) []byte {
	return append(appendTypeSub(b, FrameControl, ControlPathChallenge), p.Data[:]...)
}

// PathResponseFrame (CONTROL subtype 0x07) echoes a PATH_CHALLENGE's Data.
//
//	offset size field
//	0      1    type 0x03
//	1      1    subtype 0x07
//	2      8    data copied from the challenge
type PathResponseFrame struct {
	Data [pathDataLen]byte
}

// Len returns 10.
func (PathResponseFrame) Len() int { return pathLen }

// AppendTo appends the encoded PATH_RESPONSE.
func (p PathResponseFrame) AppendTo(b []byte) []byte {
	return append(appendTypeSub(b, FrameControl, ControlPathResponse), p.Data[:]...)
}

// ResetTokenFrame (CONTROL subtype 0x08) gives the peer the stateless reset
// token of this session: 16 bytes a node derives from a secret of its own
// and the session ID, so that after losing the session's state (a restart)
// it can still end the session at once by answering the peer's packets with
// a stateless reset (docs/PROTOCOL.md §Stateless reset).
//
//	offset size field
//	0      1    type 0x03
//	1      1    subtype 0x08
//	2      16   token
type ResetTokenFrame struct {
	Token [ResetTokenLen]byte
}

// Len returns 18.
func (ResetTokenFrame) Len() int { return resetTokenFrameLen }

// AppendTo appends the encoded RESET_TOKEN.
func (r ResetTokenFrame) AppendTo(b []byte) []byte {
	return append(appendTypeSub(b, FrameControl, ControlResetToken), r.Token[:]...)
}

// NewTicketFrame (CONTROL subtype 0x09) hands the initiator a resumption
// ticket (docs/HANDSHAKE.md "Resumption"): the responder sends one per
// session, and repeats it until it is acknowledged. The blob is opaque to
// the data plane; today it is the NEW_TICKET blob of docs/HANDSHAKE.md
// (lifetime ‖ ticket, NewTicketLen bytes), and a receiver that cannot use
// a blob ignores it.
//
//	offset size    field
//	0      1       type 0x03
//	1      1       subtype 0x09
//	2      varint  blob length  <= maxNewTicket
//	.      length  blob
type NewTicketFrame struct {
	// Blob is borrowed: after ParseFrame it is a view into the parsed
	// buffer; copy to keep.
	Blob []byte
}

// Len returns the encoded length.
func (t NewTicketFrame) Len() int { return 2 + VarintLen(uint64(len(t.Blob))) + len(t.Blob) }

// AppendTo appends the encoded NEW_TICKET.
func (t NewTicketFrame) AppendTo(b []byte) []byte {
	b = appendTypeSub(b, FrameControl, ControlNewTicket)
	b = AppendVarint(b, uint64(len(t.Blob)))
	return append(b, t.Blob...)
}
