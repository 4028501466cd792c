package streambuf

import (
	"errors"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

func TestSendWindow(t *testing.T) {
	var w SendWindow // zero value: no credit
	if w.Available() != 0 {
		t.Fatal("zero SendWindow has credit")
	}
	steps := []struct {
		name         string
		do           func()
		avail        uint64
		blockedLimit uint64
		blocked      bool
	}{
		{"zero value is blocked at 0", func() {}, 0, 0, true},
		{"reported once per limit", func() {}, 0, 0, false},
		{"SetLimit raises", func() { w.SetLimit(100) }, 100, 0, false},
		{"SetLimit never lowers", func() { w.SetLimit(50) }, 100, 0, false},
		{"Consume", func() { w.Consume(60) }, 40, 0, false},
		{"negative Consume ignored", func() { w.Consume(-5) }, 40, 0, false},
		{"exhausted", func() { w.Consume(40) }, 0, 100, true},
		{"not again", func() {}, 0, 0, false},
		{"new limit unblocks", func() { w.SetLimit(150) }, 50, 0, false},
		{"blocked at the new limit", func() { w.Consume(50) }, 0, 150, true},
	}
	for _, s := range steps {
		s.do()
		lim, ok := w.Blocked()
		if w.Available() != s.avail || ok != s.blocked || lim != s.blockedLimit {
			t.Fatalf("%s: available %d blocked %d,%v; want %d %d,%v", s.name, w.Available(), lim, ok, s.avail, s.blockedLimit, s.blocked)
		}
	}
	if w.Limit() != 150 || w.Used() != 150 {
		t.Fatalf("Limit %d Used %d", w.Limit(), w.Used())
	}
}

func TestRecvWindow(t *testing.T) {
	const rtt = 10 * time.Millisecond
	w := NewRecvWindow(1000, 4000)
	if err := w.OnReceived(1001); !errors.Is(err, ErrFlowControl) {
		t.Fatalf("beyond limit: %v", err)
	}
	if w.Received() != 0 {
		t.Fatal("failed OnReceived counted bytes")
	}
	if err := w.OnReceived(1000); err != nil {
		t.Fatal(err)
	}
	if err := w.OnReceived(1); !errors.Is(err, ErrFlowControl) {
		t.Fatalf("one past: %v", err)
	}
	now := monotime.Now()
	if _, ok := w.MaybeGrowLimit(now, rtt); ok || w.UpdateDue() {
		t.Fatal("update with nothing consumed")
	}
	w.OnConsumed(600)
	w.OnConsumed(-1)
	if !w.UpdateDue() {
		t.Fatal("UpdateDue false")
	}
	if l, ok := w.MaybeGrowLimit(now, rtt); !ok || l != 1600 || w.Window() != 1000 {
		t.Fatalf("first update %d,%v window %d", l, ok, w.Window())
	}
	w.OnReceived(600)
	w.OnConsumed(600)
	if l, ok := w.MaybeGrowLimit(now.Add(rtt), rtt); !ok || l != 1200+2000 || w.Window() != 2000 {
		t.Fatalf("fast update %d,%v window %d", l, ok, w.Window())
	}
	w.EnsureWindow(3000)
	if w.Window() != 3000 {
		t.Fatalf("EnsureWindow: %d", w.Window())
	}
	w.EnsureWindow(1 << 30)
	w.EnsureWindow(-1)
	if w.Window() != 4000 {
		t.Fatalf("EnsureWindow not capped: %d", w.Window())
	}
	if w.Limit() != 3200 || w.Consumed() != 1200 || w.Received() != 1600 {
		t.Fatalf("limit %d consumed %d received %d", w.Limit(), w.Consumed(), w.Received())
	}
	d := NewRecvWindow(0, 0)
	if d.Limit() != DefaultRecvWindow || d.Window() != DefaultRecvWindow {
		t.Fatal("defaults")
	}
}
