package recovery

import (
	"slices"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// TestReorderingPacketThreshold: four packets overtaken by six are declared
// lost, then acknowledged; the packet threshold rises to cover a distance of
// nine, so the same pattern later declares nothing lost.
func TestReorderingPacketThreshold(t *testing.T) {
	s := NewSent(0, 0)
	var rtt RTT
	rtt.Update(10*time.Millisecond, 0, true)
	var rec recorder
	for pn := range uint64(10) {
		mustAdd(t, s, pkt(pn, 0))
	}
	if _, err := s.OnAck(1*ms, []AckRange{{4, 9}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.lost, []uint64{0, 1, 2, 3}) {
		t.Fatalf("lost %v, want 0-3", rec.lost)
	}
	if _, err := s.OnAck(2*ms, []AckRange{{0, 9}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	if s.SpuriousLosses() != 4 {
		t.Fatalf("spurious %d, want 4", s.SpuriousLosses())
	}
	if at := s.SpuriousInLastAck(); !slices.Equal(at, []monotime.Time{1 * ms, 1 * ms, 1 * ms, 1 * ms}) {
		t.Fatalf("SpuriousInLastAck %v, want four losses declared at 1ms", at)
	}
	if p, _ := s.ReorderingTolerance(); p != 10 {
		t.Fatalf("packet threshold %d, want 10 (distance 9 + 1)", p)
	}
	rec = recorder{}
	for pn := uint64(10); pn < 20; pn++ {
		mustAdd(t, s, pkt(pn, 2*ms))
	}
	if _, err := s.OnAck(3*ms, []AckRange{{14, 19}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	if len(rec.lost) != 0 {
		t.Fatalf("after adapting, the same reordering declared %v lost", rec.lost)
	}
	if s.LossTime() == 0 {
		t.Fatal("the time threshold must still be armed for 10-13")
	}
}

// TestReorderingTimeWindow: a packet declared lost by the time threshold
// whose ACK comes 40 ms after it was sent widens the time threshold by what
// it lacked, capped at one PTO.
func TestReorderingTimeWindow(t *testing.T) {
	s := NewSent(0, 0)
	var rtt RTT
	rtt.Update(10*time.Millisecond, 0, true) // loss delay 11.25 ms
	var rec recorder
	mustAdd(t, s, pkt(0, 0))
	mustAdd(t, s, pkt(1, 20*ms))
	if _, err := s.OnAck(30*ms, []AckRange{{1, 1}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.lost, []uint64{0}) {
		t.Fatalf("lost %v, want [0]", rec.lost)
	}
	if _, err := s.OnAck(40*ms, []AckRange{{0, 1}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	_, w := s.ReorderingTolerance()
	base := rtt.lossDelay()
	want := 40*time.Millisecond - base + 5*time.Millisecond // took - base + took/8
	if w != min(want, rtt.PTO(rtt.MaxAckDelay())) {
		t.Fatalf("window %v, want %v", w, want)
	}
	// A packet as late as the last one is no longer declared lost.
	rec = recorder{}
	mustAdd(t, s, pkt(2, 50*ms))
	mustAdd(t, s, pkt(3, 70*ms))
	if _, err := s.OnAck(80*ms, []AckRange{{3, 3}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	if len(rec.lost) != 0 {
		t.Fatalf("declared %v lost inside the widened window", rec.lost)
	}
	if lt := s.LossTime(); lt != monotime.Time(50*ms).Add(base+w) {
		t.Fatalf("loss timer %v, want %v", lt, monotime.Time(50*ms).Add(base+w))
	}
}

// TestReorderingCap: one absurdly late ACK widens the window only up to a
// PTO, and reordering deeper than MaxPacketThreshold switches the packet
// threshold off (time alone declares losses) until decay brings it back.
func TestReorderingCap(t *testing.T) {
	s := NewSent(0, 0)
	var rtt RTT
	rtt.Update(time.Millisecond, 0, true)
	var rec recorder
	for pn := range uint64(500) {
		mustAdd(t, s, pkt(pn, 0))
	}
	// 10-299 are declared lost; the last 64 (236-299) are remembered, 236
	// at a distance of 263 from the largest acknowledged.
	if _, err := s.OnAck(2*ms, []AckRange{{300, 499}, {0, 9}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	if len(rec.lost) != 290 {
		t.Fatalf("%d lost, want 290", len(rec.lost))
	}
	if _, err := s.OnAck(10*monotime.Time(time.Second), []AckRange{{236, 236}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	p, w := s.ReorderingTolerance()
	if p != 0 || w != rtt.PTO(rtt.MaxAckDelay()) {
		t.Fatalf("tolerance %d packets %v, want 0 (off) and one PTO (%v)", p, w, rtt.PTO(rtt.MaxAckDelay()))
	}
	// With the packet threshold off, a packet overtaken by 1000 others is
	// not lost until the time threshold says so.
	rec = recorder{}
	base := monotime.Time(11 * time.Second)
	for pn := uint64(500); pn < 1500; pn++ {
		mustAdd(t, s, pkt(pn, base))
	}
	if _, err := s.OnAck(base.Add(time.Millisecond), []AckRange{{501, 1499}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	if len(rec.lost) != 0 {
		t.Fatalf("declared %v lost by packet count with the threshold off", rec.lost)
	}
	// Decay: losses that stay unacknowledged bring the threshold back.
	for i := range recentLostN + decayAfter {
		s.reo.recordLost(uint64(10_000+i), 0, 0, uint64(10_003+i))
	}
	if p, _ := s.ReorderingTolerance(); p == 0 {
		t.Fatal("packet threshold still off after decay")
	}
}

// TestReorderingDecay: once reordering stops, losses that are never
// acknowledged halve the tolerance every decayAfter of them.
func TestReorderingDecay(t *testing.T) {
	var r reordering
	r.extraPackets, r.window = 100, 8*time.Millisecond
	for pn := range uint64(recentLostN) {
		r.recordLost(pn, 0, 0, pn+3) // fills the memory: nothing expires yet
	}
	if r.extraPackets != 100 {
		t.Fatal("decayed before any loss expired")
	}
	for pn := uint64(recentLostN); pn < recentLostN+decayAfter; pn++ {
		r.recordLost(pn, 0, 0, pn+3)
	}
	if r.extraPackets != 50 || r.window != 4*time.Millisecond {
		t.Fatalf("after %d expired losses: %d packets %v, want 50 and 4ms", decayAfter, r.extraPackets, r.window)
	}
	// A spurious loss resets the count.
	var rtt RTT
	rtt.Update(time.Millisecond, 0, true)
	r.onAck(0, []AckRange{{recentLostN + decayAfter - 1, recentLostN + decayAfter - 1}}, &rtt)
	if r.expired != 0 || r.spurious != 1 {
		t.Fatalf("expired %d spurious %d", r.expired, r.spurious)
	}
}
