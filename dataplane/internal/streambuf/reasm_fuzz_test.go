package streambuf

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// FuzzReassembly decodes the input as a configuration (window, ceiling, gap
// limit) and a sequence of operations — push (offset, length, FIN, content
// salt), read, window update, reset, CloseRead — and runs them against
// Recv and recvModel (model_test.go). Every return value, error, byte read and
// accounting getter must match the model, and storage must stay within the
// window and the gap count within its limit (bounded memory, whatever the
// peer sends).
func FuzzReassembly(f *testing.F) {
	f.Add([]byte{0, 0, 3, 0, 0, 0, 50, 0, 4, 10})
	f.Add([]byte{15, 1, 2, 0, 0, 100, 80, 0, 0, 0, 0, 90, 1, 4, 255, 6, 1, 1})
	f.Add([]byte{3, 3, 0, 2, 0, 0, 200, 3, 7, 0, 5, 0, 6, 10, 10, 4, 200, 7, 0, 5, 0})
	f.Fuzz(runReassembly)
}

// runReassembly is FuzzReassembly's body.
func runReassembly(t *testing.T, in []byte) {
	if len(in) < 3 {
		return
	}
	window := 16 + 16*int(in[0])
	maxWindow := window << (in[1] % 4)
	gaps := 1 + int(in[2]%16)
	r := NewRecv(window, maxWindow, gaps)
	m := newRecvModel(window, maxWindow, gaps)
	now := monotime.Time(1)
	p := make([]byte, 4096)
	arg := func(i int) byte { // operation argument bytes, zero past the end
		if i < len(in) {
			return in[i]
		}
		return 0
	}
	for i := 3; i < len(in); i += 5 {
		switch op := in[i] % 8; op {
		case 0, 1, 2, 3: // push
			base := m.consumed
			if op == 3 {
				base = 0 // absolute: old duplicates and far offsets
			}
			off := base + (uint64(arg(i+1))<<8|uint64(arg(i+2)))%(m.window+m.window/4+1)
			n := int(arg(i+3)) * int(m.window) / 256
			fin := arg(i+4)&1 == 1
			data := make([]byte, n)
			for k := range data {
				o := off + uint64(k)
				data[k] = byte(o*131+o>>8) ^ (arg(i+4) >> 1)
			}
			got, err := r.Push(off, data, fin)
			want, werr := m.push(off, data, fin)
			if got != want || !sameErr(err, werr) {
				t.Fatalf("op at %d: Push(%d, %d, %v) = %d, %v; model %d, %v", i, off, n, fin, got, err, want, werr)
			}
		case 4, 5: // read
			n := int(arg(i+1)) * 16
			got, err := r.Read(p[:n])
			want, werr := m.read(n)
			if !bytes.Equal(p[:got], want) || !sameErr(err, werr) {
				t.Fatalf("op at %d: Read(%d) = %d, %v; model %d, %v", i, n, got, err, len(want), werr)
			}
		case 6: // window update
			now = now.Add(time.Duration(arg(i+1)) * time.Millisecond)
			rtt := time.Duration(arg(i+2)) * time.Millisecond
			got, ok := r.MaybeGrowLimit(now, rtt)
			want, wok := m.grow(now, rtt)
			if got != want || ok != wok {
				t.Fatalf("op at %d: MaybeGrowLimit = %d, %v; model %d, %v", i, got, ok, want, wok)
			}
		default:
			switch arg(i+1) % 4 {
			case 0: // peer reset
				fs := m.highest + uint64(arg(i+2)%8)
				fs -= min(fs, uint64(arg(i+3)%8))
				if err, werr := r.Reset(fs), m.doReset(fs); !sameErr(err, werr) {
					t.Fatalf("op at %d: Reset(%d) = %v; model %v", i, fs, err, werr)
				}
			case 1:
				r.CloseRead()
				m.closeRead()
			default:
				r.Trim()
			}
		}
		fs, ok := r.FinalSize()
		if r.Received() != m.highest || r.Consumed() != m.consumed || r.Limit() != m.limit ||
			ok != m.finKnown || (ok && fs != m.final) {
			t.Fatalf("op at %d: received %d/%d consumed %d/%d limit %d/%d final %d,%v/%d,%v",
				i, r.Received(), m.highest, r.Consumed(), m.consumed, r.Limit(), m.limit, fs, ok, m.final, m.finKnown)
		}
		if r.Cap() > r.Window() || r.Window() > maxWindow || r.Gaps() > gaps || r.Buffered() > r.Window() {
			t.Fatalf("op at %d: memory bound broken: cap %d window %d/%d gaps %d/%d buffered %d",
				i, r.Cap(), r.Window(), maxWindow, r.Gaps(), gaps, r.Buffered())
		}
	}
}

// FuzzMessageHeader checks the message length prefix: whatever parses
// re-encodes to the same bytes (the varint is canonical), MessageHeaderLen
// agrees with the parsed length, and a prefix of the input never parses to
// a different value.
func FuzzMessageHeader(f *testing.F) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 2 << 20, 1<<63 - 1} {
		f.Add(AppendMessageHeader(nil, n))
	}
	f.Add([]byte{0x80, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		n, l, err := ParseMessageHeader(in)
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrVarint) {
				t.Fatalf("unexpected error type %v", err)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) && len(in) >= MaxMessageHeaderLen {
				t.Fatalf("ErrUnexpectedEOF with %d bytes", len(in))
			}
			return
		}
		if l < 1 || l > MaxMessageHeaderLen || l > len(in) {
			t.Fatalf("header length %d", l)
		}
		if n <= 1<<63-1 {
			if enc := AppendMessageHeader(nil, int(n)); !bytes.Equal(enc, in[:l]) || MessageHeaderLen(int(n)) != l {
				t.Fatalf("%x parsed to %d, re-encodes to %x", in[:l], n, enc)
			}
		}
		for k := range l {
			if _, _, err := ParseMessageHeader(in[:k]); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("prefix %x of a valid header: %v", in[:k], err)
			}
		}
	})
}
