package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stt-go/stt/stc"
)

// fuzzSecret is the fixed traffic secret of the stc fuzz targets.
var fuzzSecret = stc.SecretFrom(&[32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32})

// fuzzSuite maps a fuzz byte onto a valid suite.
func fuzzSuite(b byte) stc.Suite {
	return []stc.Suite{stc.SuiteAES256GCM, stc.SuiteChaCha20Poly1305, stc.SuiteAES128GCM}[int(b)%3]
}

// FuzzOpen feeds arbitrary packets to PacketAEAD.Open, which must return
// ErrAuth (a forgery cannot succeed), clear the would-be plaintext, count
// the failure and never panic; then it seals the same bytes as plaintext
// and checks that they open back unchanged, and that flipping one bit of
// the sealed packet is rejected.
func FuzzOpen(f *testing.F) {
	f.Add([]byte{}, uint8(0), uint64(0), byte(0))
	f.Add([]byte("\x01\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x05payload and tag bytes..."), uint8(16), uint64(5), byte(1))
	f.Add(bytes.Repeat([]byte{0xff}, 1400), uint8(16), uint64(1<<47), byte(2))
	f.Add(make([]byte, 15), uint8(0), uint64(1), byte(0))
	f.Add(make([]byte, 40), uint8(200), uint64(2), byte(1))
	f.Fuzz(func(t *testing.T, data []byte, hdrLen uint8, pn uint64, suite byte) {
		s := fuzzSuite(suite)
		rx, err := stc.NewPacketAEAD(s, fuzzSecret)
		if err != nil {
			t.Fatal(err)
		}
		pkt := append([]byte(nil), data...)
		h := int(hdrLen)
		pt, err := rx.Open(pkt, h, pn)
		if !errors.Is(err, stc.ErrAuth) || pt != nil {
			t.Fatalf("random packet opened: %q, %v", pt, err)
		}
		if rx.Failed() != 1 || rx.Opened() != 0 {
			t.Fatalf("counters %d/%d after one failure", rx.Opened(), rx.Failed())
		}
		if h <= len(pkt) && len(pkt)-h >= stc.Overhead {
			for _, c := range pkt[h : len(pkt)-stc.Overhead] {
				if c != 0 {
					t.Fatal("failed open left plaintext bytes")
				}
			}
		}

		// Round trip: data as payload behind a header of hdrLen bytes.
		if h > len(data) {
			h = len(data)
		}
		tx, _ := stc.NewPacketAEAD(s, fuzzSecret)
		buf := make([]byte, len(data), len(data)+stc.Overhead)
		copy(buf, data)
		sealed := tx.Seal(buf, h, pn)
		if len(sealed) != len(data)+stc.Overhead || !bytes.Equal(sealed[:h], data[:h]) {
			t.Fatalf("Seal: len %d, header changed %v", len(sealed), !bytes.Equal(sealed[:h], data[:h]))
		}
		tampered := append([]byte(nil), sealed...)
		tampered[int(pn%uint64(len(tampered)))] ^= 1 << (pn % 8)
		if _, err := rx.Open(tampered, h, pn); !errors.Is(err, stc.ErrAuth) {
			t.Fatalf("tampered packet: %v", err)
		}
		got, err := rx.Open(sealed, h, pn)
		if err != nil || !bytes.Equal(got, data[h:]) {
			t.Fatalf("round trip: %v", err)
		}
		if rx.Opened() != 1 || rx.Failed() != 2 {
			t.Fatalf("counters %d/%d, want 1/2", rx.Opened(), rx.Failed())
		}
	})
}

// replayModel is the slow reference for stc.ReplayWindow: the set of
// recorded numbers and the highest.
type replayModel struct {
	seen map[uint64]bool
	max  uint64
}

func (m *replayModel) check(pn uint64) bool {
	if pn < m.max && m.max-pn >= stc.ReplayWindowSize {
		return false
	}
	return !m.seen[pn]
}

// FuzzReplayWindow decodes data as a sequence of operations (9 bytes each:
// a control byte, then a 64-bit operand) that move a cursor forward or
// back, jump, or use an absolute packet number, and checks every Check
// and Update answer of the window against the model. Bit 7 of the
// control byte makes the step a Check only (a packet that failed to open).
func FuzzReplayWindow(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeReplayOps(op(0, 1), op(0, 1), op(0, 1), op(1, 3), op(1, 1), op(0, 2)))
	f.Add(encodeReplayOps(op(2, 0), op(0, 1<<40), op(1, stc.ReplayWindowSize), op(1, 1), op(0x80, 1)))
	f.Add(encodeReplayOps(op(2, ^uint64(0)), op(1, stc.ReplayWindowSize-1), op(1, 1), op(2, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var w stc.ReplayWindow
		m := replayModel{seen: map[uint64]bool{}}
		var cursor uint64
		for len(data) >= 9 && len(m.seen) < 1<<16 {
			ctl, arg := data[0], binary.BigEndian.Uint64(data[1:9])
			data = data[9:]
			switch ctl & 3 {
			case 0:
				cursor += arg % (4 * stc.ReplayWindowSize)
			case 1:
				cursor -= arg % (4 * stc.ReplayWindowSize)
			case 2:
				cursor = arg
			case 3:
				cursor += arg
			}
			pn := cursor
			if got, want := w.Check(pn), m.check(pn); got != want {
				t.Fatalf("Check(%d) = %v, model %v (max %d)", pn, got, want, m.max)
			}
			if ctl&0x80 != 0 {
				continue
			}
			want := m.check(pn)
			if want {
				m.seen[pn] = true
				m.max = max(m.max, pn)
			}
			if got := w.Update(pn); got != want {
				t.Fatalf("Update(%d) = %v, model %v (max %d)", pn, got, want, m.max)
			}
			if w.Check(pn) {
				t.Fatalf("Check(%d) true right after Update", pn)
			}
		}
	})
}

type replayOp struct {
	ctl byte
	arg uint64
}

func op(ctl byte, arg uint64) replayOp { return replayOp{ctl, arg} }

func encodeReplayOps(ops ...replayOp) []byte {
	var b []byte
	for _, op := range ops {
		b = append(b, op.ctl)
		b = binary.BigEndian.AppendUint64(b, op.arg)
	}
	return b
}
