package recovery

import (
	"math"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

func TestPacerBudget(t *testing.T) {
	const cwnd = 100 * mss // rate 1.25*145200 B / 100 ms = 1815 B/ms
	const srtt = 100 * time.Millisecond
	for _, tc := range []struct {
		name    string
		sent    int
		elapsed time.Duration
		want    int
	}{
		{"starts full", 0, 0, 10 * mss},
		{"empty stays empty", 10 * mss, 0, 0},
		{"5 ms refills 9075", 10 * mss, 5 * time.Millisecond, 9075},
		{"refill capped at the burst", 10 * mss, time.Second, 10 * mss},
		{"debt repaid first", 12 * mss, 2 * time.Millisecond, 726}, // -2904 + 3630
		{"debt then credit", 12 * mss, 4 * time.Millisecond, 4356},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPacer(mss)
			now := monotime.Time(time.Second)
			p.Budget(now, cwnd, srtt)
			p.OnSent(tc.sent)
			got := p.Budget(now.Add(tc.elapsed), cwnd, srtt)
			if got != tc.want {
				t.Fatalf("Budget %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPacerNextSend(t *testing.T) {
	p := NewPacer(mss)
	now := monotime.Time(time.Second)
	const cwnd, srtt = 100 * mss, 100 * time.Millisecond
	if p.NextSend(now, cwnd, srtt, mss) != now {
		t.Fatal("full bucket must send now")
	}
	p.OnSent(10 * mss)
	// 1452 bytes at 1815 B/ms = 0.8 ms.
	got := p.NextSend(now, cwnd, srtt, mss)
	if d := got.Sub(now); d < 799*time.Microsecond || d > 801*time.Microsecond {
		t.Fatalf("NextSend +%v, want +800µs", d)
	}
	if p.Budget(got, cwnd, srtt) < mss {
		t.Fatal("at NextSend the budget does not cover the packet")
	}
	// srtt <= 0 disables pacing.
	q := NewPacer(0)
	q.OnSent(100 * mss)
	if q.NextSend(now, cwnd, 0, mss) != now || q.Budget(now, cwnd, 0) != 10*mss {
		t.Fatal("srtt 0 must not pace")
	}
	var z Pacer
	z.SetBurst(64)
	if z.Budget(now, cwnd, srtt) != 64*mss {
		t.Fatalf("SetBurst(64): budget %d", z.Budget(now, cwnd, srtt))
	}
}

// TestPacerRate sends as fast as the pacer allows for one simulated second
// and checks the bytes sent against 1.25*cwnd/srtt plus the initial burst.
func TestPacerRate(t *testing.T) {
	for _, tc := range []struct {
		cwnd int
		srtt time.Duration
	}{
		{100 * mss, 100 * time.Millisecond},
		{20 * mss, 10 * time.Millisecond},
		{1000 * mss, 50 * time.Millisecond},
	} {
		p := NewPacer(mss)
		start := monotime.Time(time.Second)
		now := start
		end := start.Add(time.Second)
		sent := 0
		for now < end {
			next := p.NextSend(now, tc.cwnd, tc.srtt, mss)
			if next > now {
				now = next
				continue
			}
			p.OnSent(mss)
			sent += mss
		}
		want := 1.25*float64(tc.cwnd)/tc.srtt.Seconds() + 10*mss
		if math.Abs(float64(sent)-want)/want > 0.01 {
			t.Errorf("cwnd %d srtt %v: sent %d bytes in 1s, want %.0f", tc.cwnd, tc.srtt, sent, want)
		}
	}
}

// TestPacerDepthFollowsRate checks the bucket depth: DefaultBurstPackets on
// slow paths, BurstInterval's worth of data on fast ones.
func TestPacerDepthFollowsRate(t *testing.T) {
	now := monotime.Time(time.Second)
	for _, tc := range []struct {
		cwnd int
		srtt time.Duration
		want int
	}{
		{100 * mss, 100 * time.Millisecond, 10 * mss},           // 1815 B per ms
		{1000 * mss, time.Millisecond, 1815000},                 // 1.25 * cwnd per ms
		{8 << 20, 200 * time.Microsecond, 1.25 * (8 << 20) * 5}, // loopback: 5 RTTs per ms
	} {
		p := NewPacer(mss)
		if got := p.Budget(now, tc.cwnd, tc.srtt); got < tc.want-1 || got > tc.want+1 {
			t.Errorf("cwnd %d srtt %v: depth %d, want %d", tc.cwnd, tc.srtt, got, tc.want)
		}
	}
}
