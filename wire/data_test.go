package wire

import (
	"bytes"
	"testing"
)

// slowMaxDataFit is the reference: try every length.
func slowMaxDataFit(id StreamID, offset uint64, room int) int {
	best := 0
	for n := 0; n <= room; n++ {
		if DataFrameOverhead(id, offset, n)+n <= room {
			best = n
		}
	}
	return best
}

func TestMaxDataFit(t *testing.T) {
	ids := []StreamID{0, 1, 127, 128, MaxStreamID}
	offsets := []uint64{0, 300, 1 << 40, MaxStreamOffset - 1}
	for _, id := range ids {
		for _, off := range offsets {
			for room := -1; room <= 17000; room++ {
				if room > 300 && room%97 != 0 && (room < 16370 || room > 16400) {
					continue // dense near the 1- and 2-byte length boundaries
				}
				got, want := MaxDataFit(id, off, room), slowMaxDataFit(id, off, room)
				if got != want {
					t.Fatalf("MaxDataFit(%d, %d, %d) = %d, want %d", id, off, room, got, want)
				}
			}
		}
	}
}

func TestAppendDataHeaderThenCopy(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 200)
	for _, tt := range []struct {
		name     string
		fin, eom bool
	}{{"plain", false, false}, {"fin", true, false}, {"eom", false, true}, {"both", true, true}} {
		t.Run(tt.name, func(t *testing.T) {
			d := DataFrame{StreamID: 129, Offset: 1 << 30, Fin: tt.fin, EndOfMessage: tt.eom, Data: data}
			hdr := AppendDataHeader(nil, d.StreamID, d.Offset, len(data), tt.fin, tt.eom)
			if len(hdr) != DataFrameOverhead(d.StreamID, d.Offset, len(data)) {
				t.Fatalf("header %d bytes, DataFrameOverhead %d", len(hdr), DataFrameOverhead(d.StreamID, d.Offset, len(data)))
			}
			if got, want := append(hdr, data...), d.AppendTo(nil); !bytes.Equal(got, want) {
				t.Fatalf("header+data %x, AppendTo %x", got, want)
			}
		})
	}
}
