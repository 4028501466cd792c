package recovery

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// FuzzController drives BBR and CUBIC through a Sent with a peer-chosen
// sequence of sends, ACK frames (any ranges, any timing), loss timers,
// idle periods and app-limited marks. Invariants after every step: no
// panic; the window stays within [the controller's minimum, MaxWindowPackets
// datagrams]; the pacing rate is positive and not NaN; rate samples are
// finite and non-negative; BBR's model (bandwidth, bounds) is never NaN or
// negative; the delivered and lost totals match the bytes reported.
func FuzzController(f *testing.F) {
	f.Add([]byte{0, 7, 1, 0, 3, 0, 7, 1, 2, 5, 3, 9, 1, 0, 0})
	f.Add([]byte{0, 255, 0, 255, 1, 10, 1, 4, 2, 2, 3, 200, 4, 1, 0, 9, 1, 0, 0, 5, 0})
	f.Add([]byte{0, 40, 3, 255, 3, 255, 3, 255, 1, 2, 0, 8, 1, 0, 0, 2, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, cc := range []Controller{NewBBR(&BBRConfig{Seed: 1}), NewCubic(mss)} {
			fuzzController(t, cc, data)
		}
	})
}

func fuzzController(t *testing.T, cc Controller, data []byte) {
	s := NewSent(8, 1024)
	var rtt RTT
	now := monotime.Time(time.Second)
	pn := uint64(0)
	var acked, lost uint64
	onAcked := func(p *SentPacket) {
		acked += uint64(p.Size)
		cc.OnAck(now, p, &rtt, s.BytesInFlight())
	}
	onLost := func(p *SentPacket) {
		lost += uint64(p.Size)
		cc.OnLoss(now, p, s.BytesInFlight())
	}
	minWindow := 2 * mss
	if cc.Name() == "bbr" {
		minWindow = 4 * mss
	}
	var ranges []AckRange
	for len(data) >= 2 {
		op, arg := data[0]%6, data[1]
		data = data[2:]
		switch op {
		case 0: // send up to arg packets, as the window allows
			for range int(arg%64) + 1 {
				if !cc.CanSend(s.BytesInFlight()) {
					break
				}
				before := s.BytesInFlight()
				size := uint32(mss - int(arg%7))
				if !s.Add(&SentPacket{PN: pn, Time: now, Size: size, AckEliciting: true, InFlight: true}) {
					break
				}
				cc.OnPacketSent(now, int(size), before)
				pn++
				now += monotime.Time(arg%5) * monotime.Time(100*time.Microsecond)
			}
		case 1: // an ACK frame: arg ranges from the following bytes, below the largest sent
			ranges = ranges[:0]
			hi := pn
			for i := 0; i < int(arg%8)+1 && len(data) >= 2 && hi > 0; i++ {
				gap, n := uint64(data[0]%16), uint64(data[1]%32)
				data = data[2:]
				if gap+1 > hi {
					break
				}
				top := hi - 1 - gap
				lo := top - min(n, top)
				ranges = append(ranges, AckRange{lo, top})
				if lo == 0 {
					break
				}
				hi = lo - 1
			}
			_, err := s.OnAck(now, ranges, time.Duration(arg)*time.Millisecond, &rtt, onAcked, onLost)
			if err != nil {
				if !errors.Is(err, ErrAckRanges) && !errors.Is(err, ErrAckUnsent) {
					t.Fatalf("OnAck: %v", err)
				}
				continue
			}
			if s.PersistentCongestion() {
				cc.OnPersistentCongestion()
			}
			for _, at := range s.SpuriousInLastAck() {
				cc.OnSpuriousLoss(at)
			}
			rs := s.RateSample()
			if math.IsNaN(rs.DeliveryRate) || math.IsInf(rs.DeliveryRate, 0) || rs.DeliveryRate < 0 || rs.Interval < 0 {
				t.Fatalf("rate sample %+v", *rs)
			}
			cc.OnAckEvent(now, rs, &rtt, s.BytesInFlight())
		case 2: // the loss timer
			if lt := s.LossTime(); lt != 0 {
				now = max(now, lt)
				s.DetectLost(now, &rtt, onLost)
				if s.PersistentCongestion() {
					cc.OnPersistentCongestion()
				}
			}
		case 3: // time passes (up to ~26 s)
			now += monotime.Time(arg) * monotime.Time(arg) * monotime.Time(400*time.Microsecond)
		case 4: // the application runs dry, or not
			limited := arg%2 == 0
			cc.SetAppLimited(limited)
			if limited {
				s.MarkAppLimited()
			}
		case 5: // a burst of time in tiny steps with ACKs of everything
			now += monotime.Time(arg) * monotime.Time(time.Millisecond)
			if pn > 0 {
				if _, err := s.OnAck(now, []AckRange{{0, pn - 1}}, 0, &rtt, onAcked, onLost); err == nil {
					cc.OnAckEvent(now, s.RateSample(), &rtt, s.BytesInFlight())
				}
			}
		}
		w := cc.Window()
		if w < minWindow || w > MaxWindowPackets*mss {
			t.Fatalf("%s: window %d outside [%d, %d]", cc.Name(), w, minWindow, MaxWindowPackets*mss)
		}
		if r := cc.PacingRate(&rtt); !(r > 0) {
			t.Fatalf("%s: pacing rate %v", cc.Name(), r)
		}
		if b, ok := cc.(*BBR); ok {
			for _, v := range []float64{b.bw, b.maxBw, b.bwShort, b.inflightLong, b.inflightShort, b.extraAcked, b.cwnd} {
				if math.IsNaN(v) || v < 0 {
					t.Fatalf("bbr: model value %v (bw %v max %v short %v il %v is %v extra %v)", v, b.bw, b.maxBw, b.bwShort, b.inflightLong, b.inflightShort, b.extraAcked)
				}
			}
		}
		if s.Delivered() != acked || s.Lost() != lost {
			t.Fatalf("totals %d/%d, reported %d/%d", s.Delivered(), s.Lost(), acked, lost)
		}
	}
}
