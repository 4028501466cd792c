package streambuf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// pattern returns n bytes of stream content starting at offset off, varied by
// salt so overlapping frames with different salts carry different bytes.
func pattern(off uint64, n int, salt byte) []byte {
	p := make([]byte, n)
	for i := range p {
		o := off + uint64(i)
		p[i] = byte(o*131+o>>8) ^ salt
	}
	return p
}

type pushOp struct {
	off  uint64
	n    int
	fin  bool
	want int   // readable
	err  error // nil or sentinel
}

func TestRecvPush(t *testing.T) {
	tests := []struct {
		name         string
		window, gaps int
		ops          []pushOp
		wantRead     int // bytes readable at the end
		wantBuffered int
		wantFinal    uint64
		wantFinKnown bool
		wantReceived uint64
	}{
		{"in order", 1000, 4, []pushOp{{0, 100, false, 100, nil}, {100, 50, false, 50, nil}}, 150, 150, 0, false, 150},
		{"out of order then fill", 1000, 4, []pushOp{{100, 50, false, 0, nil}, {0, 100, false, 150, nil}}, 150, 150, 0, false, 150},
		{"duplicate", 1000, 4, []pushOp{{0, 100, false, 100, nil}, {0, 100, false, 0, nil}, {50, 20, false, 0, nil}}, 100, 100, 0, false, 100},
		{"overlap extends", 1000, 4, []pushOp{{0, 100, false, 100, nil}, {50, 100, false, 50, nil}}, 150, 150, 0, false, 150},
		{"overlapping gaps merge", 1000, 4, []pushOp{{200, 50, false, 0, nil}, {100, 50, false, 0, nil}, {140, 70, false, 0, nil}, {0, 100, false, 250, nil}}, 250, 250, 0, false, 250},
		{"fin with data", 1000, 4, []pushOp{{0, 10, true, 10, nil}}, 10, 10, 10, true, 10},
		{"fin alone after data", 1000, 4, []pushOp{{0, 10, false, 10, nil}, {10, 0, true, 0, nil}}, 10, 10, 10, true, 10},
		{"fin before data", 1000, 4, []pushOp{{20, 0, true, 0, nil}, {0, 20, false, 20, nil}}, 20, 20, 20, true, 20},
		{"duplicate fin ok", 1000, 4, []pushOp{{0, 10, true, 10, nil}, {0, 10, true, 0, nil}}, 10, 10, 10, true, 10},
		{"fin size changed", 1000, 4, []pushOp{{0, 10, true, 10, nil}, {0, 11, true, 0, ErrFinalSize}}, 10, 10, 10, true, 10},
		{"fin size shrunk", 1000, 4, []pushOp{{0, 10, true, 10, nil}, {0, 5, true, 0, ErrFinalSize}}, 10, 10, 10, true, 10},
		{"data beyond fin", 1000, 4, []pushOp{{0, 10, true, 10, nil}, {10, 1, false, 0, ErrFinalSize}}, 10, 10, 10, true, 10},
		{"fin below received", 1000, 4, []pushOp{{0, 10, false, 10, nil}, {0, 5, true, 0, ErrFinalSize}}, 10, 10, 0, false, 10},
		{"at the credit limit", 1000, 4, []pushOp{{900, 100, false, 0, nil}}, 0, 100, 0, false, 1000},
		{"beyond credit", 1000, 4, []pushOp{{900, 101, false, 0, ErrFlowControl}}, 0, 0, 0, false, 0},
		{"offset overflow", 1000, 4, []pushOp{{1<<64 - 10, 20, false, 0, ErrFlowControl}}, 0, 0, 0, false, 0},
		{"offset at MaxOffset", 1000, 4, []pushOp{{MaxOffset, 0, false, 0, ErrFlowControl}}, 0, 0, 0, false, 0},
		{"too many gaps", 1000, 2, []pushOp{{10, 1, false, 0, nil}, {20, 1, false, 0, nil}, {30, 1, false, 0, ErrTooManyGaps}}, 0, 2, 0, false, 21},
		{"merge at gap bound ok", 1000, 2, []pushOp{{10, 1, false, 0, nil}, {20, 1, false, 0, nil}, {11, 9, false, 0, nil}, {30, 1, false, 0, nil}}, 0, 12, 0, false, 31},
		{"in order at gap bound ok", 1000, 1, []pushOp{{10, 1, false, 0, nil}, {0, 5, false, 5, nil}, {0, 10, false, 6, nil}}, 11, 11, 0, false, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecv(tt.window, tt.window, tt.gaps)
			for i, op := range tt.ops {
				got, err := r.Push(op.off, pattern(op.off, op.n, 0), op.fin)
				if !errors.Is(err, op.err) || (err == nil) != (op.err == nil) {
					t.Fatalf("op %d: err = %v, want %v", i, err, op.err)
				}
				if got != op.want {
					t.Fatalf("op %d: readable = %d, want %d", i, got, op.want)
				}
			}
			if got := r.Buffered(); got != tt.wantBuffered {
				t.Errorf("Buffered = %d, want %d", got, tt.wantBuffered)
			}
			if got := r.Received(); got != tt.wantReceived {
				t.Errorf("Received = %d, want %d", got, tt.wantReceived)
			}
			if fs, ok := r.FinalSize(); fs != tt.wantFinal || ok != tt.wantFinKnown {
				t.Errorf("FinalSize = %d,%v want %d,%v", fs, ok, tt.wantFinal, tt.wantFinKnown)
			}
			p := make([]byte, 2000)
			n, err := r.Read(p)
			if n != tt.wantRead || err != nil {
				t.Fatalf("Read = %d, %v; want %d", n, err, tt.wantRead)
			}
			if !bytes.Equal(p[:n], pattern(0, n, 0)) {
				t.Fatal("Read returned wrong bytes")
			}
			n, err = r.Read(p)
			wantErr := error(nil)
			if tt.wantFinKnown && uint64(tt.wantRead) == tt.wantFinal {
				wantErr = io.EOF
			}
			if n != 0 || err != wantErr {
				t.Fatalf("second Read = %d, %v; want 0, %v", n, err, wantErr)
			}
			if r.Cap() > r.Window() {
				t.Errorf("Cap %d > Window %d", r.Cap(), r.Window())
			}
		})
	}
}

func TestRecvKeepsFirstCopy(t *testing.T) {
	r := NewRecv(1000, 1000, 8)
	mustPush(t, r, 10, pattern(10, 10, 1), false)
	mustPush(t, r, 5, pattern(5, 20, 2), false) // overlaps [10,20) with other bytes
	mustPush(t, r, 0, pattern(0, 5, 3), false)
	want := append(append(pattern(0, 5, 3), pattern(5, 5, 2)...), append(pattern(10, 10, 1), pattern(20, 5, 2)...)...)
	got := readAll(t, r, 100)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
}

func mustPush(t testing.TB, r *Recv, off uint64, p []byte, fin bool) int {
	t.Helper()
	n, err := r.Push(off, p, fin)
	if err != nil {
		t.Fatalf("Push(%d, %d bytes, %v): %v", off, len(p), fin, err)
	}
	return n
}

func readAll(t testing.TB, r *Recv, chunk int) []byte {
	t.Helper()
	var out []byte
	p := make([]byte, chunk)
	for {
		n, err := r.Read(p)
		out = append(out, p[:n]...)
		if n == 0 || err != nil {
			return out
		}
	}
}

func TestRecvReadStates(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		r := NewRecv(0, 0, 0)
		if n, err := r.Read(make([]byte, 10)); n != 0 || err != nil {
			t.Fatalf("Read = %d, %v", n, err)
		}
		if r.Limit() != DefaultRecvWindow || r.Window() != DefaultRecvWindow || r.Cap() != 0 {
			t.Fatalf("defaults: limit %d window %d cap %d", r.Limit(), r.Window(), r.Cap())
		}
	})
	t.Run("EOF and release", func(t *testing.T) {
		r := NewRecv(1000, 1000, 4)
		mustPush(t, r, 0, pattern(0, 10, 0), true)
		if r.Cap() == 0 {
			t.Fatal("no storage after data")
		}
		select {
		case <-r.Readable():
		default:
			t.Fatal("Readable not signalled")
		}
		if got := readAll(t, r, 3); !bytes.Equal(got, pattern(0, 10, 0)) {
			t.Fatalf("got %x", got)
		}
		if _, err := r.Read(nil); err != io.EOF {
			t.Fatalf("after FIN: %v", err)
		}
		if r.Cap() != 0 {
			t.Fatal("storage kept after EOF")
		}
		if err := r.Reset(10); err != nil {
			t.Fatalf("Reset after complete read: %v", err)
		}
		if _, err := r.Read(nil); err != io.EOF {
			t.Fatalf("Reset after EOF must keep EOF, got %v", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		r := NewRecv(1000, 1000, 4)
		r.SetResetCode(42)
		mustPush(t, r, 0, pattern(0, 10, 0), false)
		mustPush(t, r, 20, pattern(20, 10, 0), false)
		<-r.Readable()
		if err := r.Reset(29); !errors.Is(err, ErrFinalSize) {
			t.Fatalf("Reset below received: %v", err)
		}
		if err := r.Reset(1001); !errors.Is(err, ErrFlowControl) {
			t.Fatalf("Reset beyond credit: %v", err)
		}
		if err := r.Reset(40); err != nil {
			t.Fatal(err)
		}
		r.SetResetCode(7) // too late, ignored
		select {
		case <-r.Readable():
		default:
			t.Fatal("Reset did not signal")
		}
		_, err := r.Read(make([]byte, 10))
		var re *ResetError
		if !errors.Is(err, ErrReset) || !errors.As(err, &re) || re.Code != 42 || !errors.Is(err, &ResetError{Code: 42}) || errors.Is(err, &ResetError{Code: 1}) {
			t.Fatalf("Read after reset: %v", err)
		}
		if err.Error() != "streambuf: stream reset by peer (code 42)" {
			t.Fatalf("Error() = %q", err)
		}
		if r.Consumed() != 40 || r.Received() != 40 || r.Buffered() != 0 || r.Cap() != 0 {
			t.Fatalf("after reset: consumed %d received %d buffered %d cap %d", r.Consumed(), r.Received(), r.Buffered(), r.Cap())
		}
		if err := r.Reset(41); !errors.Is(err, ErrFinalSize) {
			t.Fatalf("changed reset size: %v", err)
		}
		if err := r.Reset(40); err != nil {
			t.Fatalf("repeated reset: %v", err)
		}
		if _, err := r.Push(30, pattern(30, 10, 0), false); err != nil {
			t.Fatalf("late data after reset: %v", err)
		}
		if _, err := r.Push(35, pattern(35, 10, 0), false); !errors.Is(err, ErrFinalSize) {
			t.Fatalf("data past reset size: %v", err)
		}
		if _, ok := r.MaybeGrowLimit(0, time.Millisecond); ok {
			t.Fatal("window update after reset")
		}
	})
	t.Run("close read", func(t *testing.T) {
		r := NewRecv(1000, 1000, 4)
		mustPush(t, r, 0, pattern(0, 10, 0), false)
		mustPush(t, r, 50, pattern(50, 10, 0), false)
		r.CloseRead()
		r.CloseRead()
		if _, err := r.Read(make([]byte, 10)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after CloseRead: %v", err)
		}
		if r.Consumed() != 60 || r.Buffered() != 0 || r.Cap() != 0 {
			t.Fatalf("consumed %d buffered %d cap %d", r.Consumed(), r.Buffered(), r.Cap())
		}
		if n, err := r.Push(100, pattern(100, 20, 0), true); n != 0 || err != nil {
			t.Fatalf("Push after CloseRead: %d, %v", n, err)
		}
		if r.Consumed() != 120 || r.Received() != 120 || r.Cap() != 0 {
			t.Fatalf("after late push: consumed %d received %d", r.Consumed(), r.Received())
		}
		if _, err := r.Push(900, pattern(900, 200, 0), false); !errors.Is(err, ErrFinalSize) {
			t.Fatalf("still checked after CloseRead: %v", err)
		}
	})
	t.Run("trim", func(t *testing.T) {
		r := NewRecv(1000, 1000, 4)
		mustPush(t, r, 0, pattern(0, 10, 0), false)
		r.Trim()
		if r.Cap() == 0 {
			t.Fatal("Trim released unread bytes")
		}
		readAll(t, r, 100)
		r.Trim()
		if r.Cap() != 0 {
			t.Fatal("Trim kept an empty ring")
		}
		mustPush(t, r, 10, pattern(10, 10, 0), false)
		if got := readAll(t, r, 100); !bytes.Equal(got, pattern(10, 10, 0)) {
			t.Fatal("data after Trim")
		}
	})
}

func TestRecvStorageGrowsOnDemand(t *testing.T) {
	const window = 1 << 16
	r := NewRecv(window, window, 64)
	mustPush(t, r, 100, pattern(100, 10, 0), false)
	if r.Cap() != minStorage {
		t.Fatalf("first allocation %d, want %d", r.Cap(), minStorage)
	}
	// Out-of-order bytes must survive each relocation.
	mustPush(t, r, 5000, pattern(5000, 100, 0), false)
	mustPush(t, r, 30000, pattern(30000, 100, 0), false)
	mustPush(t, r, window-10, pattern(window-10, 10, 0), false)
	if r.Cap() != window {
		t.Fatalf("Cap = %d, want %d", r.Cap(), window)
	}
	mustPush(t, r, 0, pattern(0, window, 9), false)
	want := pattern(0, window, 9)
	for _, s := range [][2]int{{100, 110}, {5000, 5100}, {30000, 30100}, {window - 10, window}} {
		copy(want[s[0]:s[1]], pattern(uint64(s[0]), s[1]-s[0], 0))
	}
	if got := readAll(t, r, 1000); !bytes.Equal(got, want) {
		t.Fatal("bytes changed across ring growth")
	}
}

func TestRecvAutoTune(t *testing.T) {
	const rtt = 10 * time.Millisecond
	r := NewRecv(1000, 4000, 4)
	p := make([]byte, 4000)
	var off uint64
	feed := func(n int) {
		mustPush(t, r, off, pattern(off, n, 0), false)
		off += uint64(n)
		if m, _ := r.Read(p[:n]); m != n {
			t.Fatalf("read %d of %d", m, n)
		}
	}
	steps := []struct {
		consume int
		at      time.Duration
		ok      bool
		limit   uint64
		window  int
	}{
		{400, 0, false, 1000, 1000},                          // less than half consumed
		{100, 0, true, 1500, 1000},                           // half: first update, no reference time yet
		{500, 5 * time.Millisecond, true, 2000 + 1000, 2000}, // within 2 RTT: double
		{1000, 500 * time.Millisecond, true, 4000, 2000},     // slow: same window
		{1000, 505 * time.Millisecond, true, 3000 + 4000, 4000},
		{3000, 510 * time.Millisecond, true, 6000 + 4000, 4000}, // capped at maxWindow
	}
	start := monotime.Now()
	for i, s := range steps {
		feed(s.consume)
		lim, ok := r.MaybeGrowLimit(start.Add(s.at), rtt)
		if ok != s.ok || (ok && lim != s.limit) || r.Window() != s.window {
			t.Fatalf("step %d: MaybeGrowLimit = %d,%v window %d; want %d,%v window %d", i, lim, ok, r.Window(), s.limit, s.ok, s.window)
		}
		if ok && r.Limit() != lim {
			t.Fatalf("step %d: Limit %d", i, r.Limit())
		}
		if r.UpdateDue() {
			t.Fatalf("step %d: UpdateDue right after an update", i)
		}
	}
	if _, ok := r.MaybeGrowLimit(start, 0); ok {
		t.Fatal("update with nothing consumed")
	}
	feed(1000)
	feed(1000)
	if !r.UpdateDue() {
		t.Fatal("UpdateDue false after consuming the window")
	}
	mustPush(t, r, off, nil, true)
	if r.UpdateDue() {
		t.Fatal("UpdateDue after FIN")
	}
	if _, ok := r.MaybeGrowLimit(start, rtt); ok {
		t.Fatal("window update after final size known")
	}
}

// TestRecvModel drives Recv and recvModel with random frame sequences
// (in order, out of order, duplicate, overlapping with different bytes,
// FIN, reset, CloseRead, window updates) and requires identical output,
// errors and accounting.
func TestRecvModel(t *testing.T) {
	configs := []struct{ window, maxWindow, gaps int }{
		{64, 64, 1}, {100, 400, 3}, {1000, 8000, 8}, {5000, 5000, 256}, {4096, 1 << 16, 16},
	}
	seen := map[string]int{}
	for ci, cfg := range configs {
		for seed := range uint64(40) {
			t.Run(fmt.Sprintf("cfg%d/seed%d", ci, seed), func(t *testing.T) {
				runRecvModel(t, rand.New(rand.NewPCG(seed, uint64(ci))), cfg.window, cfg.maxWindow, cfg.gaps, 600, seen)
			})
		}
	}
	// The random walk must reach every outcome, or it tests too little.
	for _, k := range []string{"bytes", "EOF", "grow", "doubled", "reset", "closed", ErrFlowControl.Error(), ErrFinalSize.Error(), ErrTooManyGaps.Error()} {
		if seen[k] == 0 {
			t.Errorf("no step produced %q; outcomes: %v", k, seen)
		}
	}
}

func runRecvModel(t *testing.T, rng *rand.Rand, window, maxWindow, gaps, steps int, seen map[string]int) {
	r := NewRecv(window, maxWindow, gaps)
	m := newRecvModel(window, maxWindow, gaps)
	now := monotime.Time(1)
	var salt byte
	p := make([]byte, 4*maxWindow)
	for step := range steps {
		switch k := rng.IntN(100); {
		case k < 65:
			w := uint64(m.window)
			off := m.consumed + uint64(rng.IntN(int(w)+1))
			if rng.IntN(4) == 0 && m.consumed > 0 {
				off -= uint64(rng.IntN(int(min(m.consumed, w)) + 1))
			}
			n := rng.IntN(int(w)/2 + 2)
			if rng.IntN(30) == 0 {
				n += int(w) // likely a flow-control violation
			}
			fin := rng.IntN(15) == 0
			if rng.IntN(3) == 0 {
				salt++
			}
			data := pattern(off, n, salt)
			got, err := r.Push(off, data, fin)
			want, werr := m.push(off, data, fin)
			if got != want || !sameErr(err, werr) {
				t.Fatalf("step %d: Push(%d,%d,%v) = %d,%v; model %d,%v", step, off, n, fin, got, err, want, werr)
			}
			if err != nil {
				seen[err.Error()]++
			}
		case k < 85:
			n := rng.IntN(len(p))
			got, err := r.Read(p[:n])
			want, werr := m.read(n)
			if !bytes.Equal(p[:got], want) || !sameErr(err, werr) {
				t.Fatalf("step %d: Read(%d) = %d,%v; model %d,%v", step, n, got, err, len(want), werr)
			}
			seen["bytes"] += got
			switch {
			case err == io.EOF:
				seen["EOF"]++
			case errors.Is(err, ErrReset):
				seen["reset"]++
			case errors.Is(err, ErrClosed):
				seen["closed"]++
			}
		case k < 97:
			now = now.Add(time.Duration(rng.IntN(30)) * time.Millisecond)
			rtt := time.Duration(rng.IntN(20)) * time.Millisecond
			got, ok := r.MaybeGrowLimit(now, rtt)
			want, wok := m.grow(now, rtt)
			if got != want || ok != wok {
				t.Fatalf("step %d: MaybeGrowLimit = %d,%v; model %d,%v", step, got, ok, want, wok)
			}
			if ok {
				seen["grow"]++
			}
			if r.Window() > window {
				seen["doubled"]++
			}
		case k < 99:
			fs := m.highest + uint64(rng.IntN(20))
			if rng.IntN(2) == 0 && fs > 0 {
				fs -= uint64(rng.IntN(int(fs)))
			}
			if err, werr := r.Reset(fs), m.doReset(fs); !sameErr(err, werr) {
				t.Fatalf("step %d: Reset(%d) = %v; model %v", step, fs, err, werr)
			}
		default:
			r.CloseRead()
			m.closeRead()
		}
		fs, ok := r.FinalSize()
		if r.Received() != m.highest || r.Consumed() != m.consumed || r.Limit() != m.limit || r.Buffered() != m.buffered() ||
			ok != m.finKnown || (ok && fs != m.final) || r.Gaps() > gaps {
			t.Fatalf("step %d: state received %d/%d consumed %d/%d limit %d/%d buffered %d/%d final %d,%v/%d,%v gaps %d",
				step, r.Received(), m.highest, r.Consumed(), m.consumed, r.Limit(), m.limit, r.Buffered(), m.buffered(), fs, ok, m.final, m.finKnown, r.Gaps())
		}
		if r.Cap() > r.Window() {
			t.Fatalf("step %d: storage %d exceeds window %d", step, r.Cap(), r.Window())
		}
	}
}

// sameErr compares an implementation error with the model's sentinel.
func sameErr(got, want error) bool {
	if want == nil || got == nil {
		return got == want
	}
	return errors.Is(got, want)
}
