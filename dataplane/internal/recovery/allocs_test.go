package recovery

import (
	"fmt"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

var (
	sinkInt  int
	sinkBool bool
	sinkTime monotime.Time
)

// steadySent returns a history with 256 outstanding packets, grown to its
// working size, and the next packet number.
func steadySent(tb testing.TB) (*Sent, uint64) {
	tb.Helper()
	s := NewSent(512, 1024)
	for pn := range uint64(256) {
		if !s.Add(pkt(pn, monotime.Time(pn))) {
			tb.Fatal("Add refused")
		}
	}
	return s, 256
}

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	noop := func(*SentPacket) {}
	var rtt RTT
	rtt.Update(10*time.Millisecond, 0, true)

	s, next := steadySent(t)
	w := NewWheel(time.Millisecond, 1024, 0)
	timers := make([]Timer, 64)
	for i := range timers {
		timers[i].Fire = func(monotime.Time) {}
	}
	now := monotime.Time(0)
	var rx Received
	for pn := range uint64(200) {
		rx.Add(pn*2, 0, true) // 64 ranges: the list has grown to its cap
	}
	ranges := make([]AckRange, MaxReceivedRanges)
	c := NewCubic(mss)
	pacer := NewPacer(mss)
	lostPkt := &SentPacket{Time: 1, Size: mss, InFlight: true}

	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Sent.Add+OnAck", func() {
			now += monotime.Time(time.Millisecond)
			s.Add(pkt(next, now))
			_, err := s.OnAck(now, []AckRange{{next - 255, next}}, 0, &rtt, noop, noop)
			sinkBool = err != nil
			next++
			// Keep 256 outstanding: send another without acking.
			s.Add(pkt(next, now))
			next++
		}},
		{"Sent.DetectLost", func() { s.DetectLost(now, &rtt, noop); sinkTime = s.LossTime() }},
		{"Received.Add+FillAck", func() {
			sinkBool = rx.Add(uint64(next)*2, now, true)
			next++
			n, d := rx.FillAck(now, ranges)
			sinkInt = n + int(d)
			rx.OnAckSent()
		}},
		{"Cubic.OnAck", func() {
			now += monotime.Time(time.Millisecond)
			c.OnPacketSent(now, mss, c.Window())
			c.OnAck(now, &SentPacket{Time: now, Size: mss, InFlight: true}, &rtt, c.Window())
			sinkInt = c.Window()
		}},
		{"Cubic.OnLoss", func() {
			lostPkt.Time = now
			now += monotime.Time(time.Millisecond)
			c.OnLoss(now, lostPkt, 0)
			sinkInt = c.Window()
		}},
		{"Pacer.Budget+NextSend", func() {
			now += monotime.Time(time.Microsecond)
			sinkInt = pacer.Budget(now, 100*mss, 10*time.Millisecond)
			pacer.OnSent(mss)
			sinkTime = pacer.NextSend(now, 100*mss, 10*time.Millisecond, mss)
		}},
		{"Wheel.Schedule+Cancel+Advance+Next", func() {
			now += monotime.Time(time.Millisecond)
			for i := range timers {
				w.Schedule(&timers[i], now.Add(time.Duration(i)*3*time.Millisecond))
			}
			w.Cancel(&timers[1])
			w.Schedule(&timers[2], now.Add(5*time.Second)) // overflow
			w.Advance(now.Add(20 * time.Millisecond))
			sinkTime, sinkBool = w.Next()
		}},
	} {
		if got := testing.AllocsPerRun(200, tc.fn); got != 0 {
			t.Errorf("%s: %v allocs/op, want 0", tc.name, got)
		}
	}
}

// BenchmarkSentOnAck measures one ACK frame acknowledging 64 new packets
// spread over rangesN ranges (every gap packet is lost by threshold).
func BenchmarkSentOnAck(b *testing.B) {
	for _, rangesN := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("ranges=%d", rangesN), func(b *testing.B) {
			b.ReportAllocs()
			s := NewSent(1024, 4096)
			var rtt RTT
			noop := func(*SentPacket) {}
			ranges := make([]AckRange, rangesN)
			pn := uint64(0)
			now := monotime.Time(0)
			per := 128 / rangesN // packets per range incl. one gap
			for b.Loop() {
				now += monotime.Time(time.Millisecond)
				first := pn
				for range 128 {
					s.Add(&SentPacket{PN: pn, Time: now, Size: mss, AckEliciting: true, InFlight: true})
					pn++
				}
				// Descending ranges, each leaving its lowest packet unacked.
				for i := range rangesN {
					lo := first + uint64((rangesN-1-i)*per)
					ranges[i] = AckRange{lo + 1, lo + uint64(per) - 1}
				}
				if _, err := s.OnAck(now, ranges, 0, &rtt, noop, noop); err != nil {
					b.Fatal(err)
				}
				s.DrainAll(noop)
			}
		})
	}
}

func BenchmarkWheel(b *testing.B) {
	for _, n := range []int{64, 10_000} {
		b.Run(fmt.Sprintf("timers=%d/Schedule", n), func(b *testing.B) {
			b.ReportAllocs()
			w := NewWheel(time.Millisecond, 1024, 0)
			timers := make([]Timer, n)
			i := 0
			for b.Loop() {
				w.Schedule(&timers[i%n], monotime.Time(i%2000)*ms)
				i++
			}
		})
		b.Run(fmt.Sprintf("timers=%d/ScheduleAdvance", n), func(b *testing.B) {
			b.ReportAllocs()
			w := NewWheel(time.Millisecond, 1024, 0)
			timers := make([]Timer, n)
			now := monotime.Time(0)
			for i := range timers {
				// Each timer re-arms itself 500 ms ahead: n/500 fire per 1 ms tick.
				timers[i].Fire = func(at monotime.Time) { w.Schedule(&timers[i], at.Add(500*time.Millisecond)) }
				w.Schedule(&timers[i], monotime.Time(i%500+1)*ms)
			}
			for b.Loop() {
				now += ms
				w.Advance(now)
			}
			b.ReportMetric(float64(n)/500, "fired/op")
		})
	}
}

func BenchmarkReceivedAdd(b *testing.B) {
	b.ReportAllocs()
	var r Received
	ranges := make([]AckRange, MaxReceivedRanges)
	pn := uint64(0)
	for b.Loop() {
		r.Add(pn, 0, true)
		pn++
		if pn%2 == 0 {
			n, _ := r.FillAck(0, ranges)
			sinkInt = n
			r.OnAckSent()
		}
	}
}
