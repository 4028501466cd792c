package recovery

import (
	"testing"
	"time"
)

func TestDbg(t *testing.T) {
	const rttD = 100 * time.Millisecond
	c := NewCubic(mss)
	c.cwnd = 1000 * mss
	s := &ccSim{c: c, now: 1000 * ms}
	s.rtt.Update(rttD, 0, true)
	c.OnLoss(s.now, &SentPacket{Time: s.now - ms, Size: mss, InFlight: true}, 0)
	s.now += ms
	for i := range 5 {
		s.round(rttD)
		t.Logf("round %d cwnd %.1f k %.2f wmax %.1f epoch %v west %.1f ss %v", i, c.cwnd/mss, c.k, c.wMax/mss, c.tEpoch, c.wEst/mss, c.InSlowStart())
	}
}
