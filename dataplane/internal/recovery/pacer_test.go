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

// TestPacerExplicitRate checks pacing at a controller's rate: the bucket
// depth is max(10 datagrams, 1 ms at the rate) — the largest burst, so the
// largest GSO batch — refills at the rate, and a sender as fast as the pacer
// allows sends the rate plus one bucket per second.
func TestPacerExplicitRate(t *testing.T) {
	now := monotime.Time(time.Second)
	for _, tc := range []struct {
		name  string
		rate  float64 // bytes per second
		depth int
	}{
		{"10 Mbit/s: 10 datagrams", 1.25e6, 10 * mss},
		{"100 Mbit/s: 10 datagrams (12.5 kB per ms)", 12.5e6, 10 * mss},
		{"1 Gbit/s: 1 ms", 125e6, 125000},
		{"40 Gbit/s: 1 ms", 5e9, 5000000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPacer(mss)
			if got := p.BudgetRate(now, tc.rate); got < tc.depth-1 || got > tc.depth {
				t.Fatalf("depth %d, want %d", got, tc.depth)
			}
			p.OnSent(tc.depth + mss) // a batch one datagram over budget: debt
			if p.BudgetRate(now, tc.rate) != 0 {
				t.Fatal("budget while in debt")
			}
			next := p.NextSendRate(now, tc.rate, mss)
			want := time.Duration(math.Ceil(2 * mss / tc.rate * 1e9))
			if d := next.Sub(now); d < want-time.Microsecond || d > want+time.Microsecond {
				t.Fatalf("NextSendRate +%v, want +%v", d, want)
			}
			if p.BudgetRate(next, tc.rate) < mss {
				t.Fatal("at NextSendRate the budget does not cover the datagram")
			}
			// Up to a simulated second (at most 100k datagrams) at full speed.
			dur := min(time.Second, time.Duration(100000*mss/tc.rate*1e9))
			q := NewPacer(mss)
			at, end, sent := now, now.Add(dur), 0
			for at < end {
				if n := q.NextSendRate(at, tc.rate, mss); n > at {
					at = n
					continue
				}
				q.OnSent(mss)
				sent += mss
			}
			if want := tc.rate*dur.Seconds() + float64(tc.depth); math.Abs(float64(sent)-want)/want > 0.01 {
				t.Fatalf("sent %d bytes in %v, want %.0f", sent, dur, want)
			}
		})
	}
}

func TestPacerRateEdges(t *testing.T) {
	now := monotime.Time(time.Second)
	// +Inf: unpaced, the full depth always there.
	p := NewPacer(mss)
	p.OnSent(1000 * mss)
	if p.BudgetRate(now, math.Inf(1)) != 10*mss || p.NextSendRate(now, math.Inf(1), mss) != now {
		t.Fatal("an infinite rate paces")
	}
	// 0, negative, NaN: nothing refills; ask again after BurstInterval.
	for _, r := range []float64{0, -5, math.NaN()} {
		q := NewPacer(mss)
		q.BudgetRate(now, r) // starts full
		q.OnSent(10 * mss)
		if q.BudgetRate(now.Add(time.Second), r) != 0 || q.NextSendRate(now.Add(time.Second), r, mss) != now.Add(time.Second+BurstInterval) {
			t.Fatalf("rate %v released data", r)
		}
	}
	// The window-based API is the explicit one at 1.25 * cwnd / srtt.
	a, b := NewPacer(mss), NewPacer(mss)
	for i := range 100 {
		at := now.Add(time.Duration(i) * 300 * time.Microsecond)
		if a.Budget(at, 50*mss, 20*time.Millisecond) != b.BudgetRate(at, 1.25*50*mss/0.02) {
			t.Fatal("Budget and BudgetRate differ")
		}
		a.OnSent(mss)
		b.OnSent(mss)
	}
	if c := NewCubic(mss); c.PacingRate(&RTT{}) != 1.25*float64(c.Window())/InitialRTT.Seconds() {
		t.Fatal("Cubic's pacing rate is not 1.25 * cwnd / srtt")
	}
}

// TestPacerCatchUp: a sender told to wait (NextSendRate) that wakes late
// keeps the tokens of its lateness beyond the bucket depth, up to
// MaxCatchUp; an idle sender does not.
func TestPacerCatchUp(t *testing.T) {
	const rate = 1e6 // bytes per second: 1 byte per µs; the depth is 10 datagrams
	depth := 10 * mss
	for _, tc := range []struct {
		name   string
		wait   bool          // the sender asked NextSendRate before sleeping
		late   time.Duration // how long after the promised time it woke
		tokens int
	}{
		{"on time", true, 0, mss},
		{"2 ms late", true, 2 * time.Millisecond, mss + 2000},
		{"30 ms late: capped", true, 30 * time.Millisecond, depth + 5000},
		{"idle: the depth", false, 30 * time.Millisecond, depth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPacer(mss)
			now := monotime.Time(time.Second)
			p.BudgetRate(now, rate)
			p.OnSent(depth)
			due := now.Add(time.Duration(mss) * time.Microsecond)
			if tc.wait {
				if got := p.NextSendRate(now, rate, mss); got != due {
					t.Fatalf("NextSendRate %v, want %v", got.Sub(now), due.Sub(now))
				}
			}
			if got := p.BudgetRate(due.Add(tc.late), rate); got != tc.tokens {
				t.Fatalf("budget %d, want %d", got, tc.tokens)
			}
			// The promise is kept once: a later refill is capped again.
			p.OnSent(p.BudgetRate(due.Add(tc.late), rate))
			if got := p.BudgetRate(due.Add(tc.late+time.Second), rate); got != depth {
				t.Fatalf("after catching up: budget %d, want %d", got, depth)
			}
		})
	}
}

// TestPacerDeparture: a packet's departure on the pacing schedule is now
// less the time its tokens took to accrue, never before the previous one,
// and now when unpaced or in debt.
func TestPacerDeparture(t *testing.T) {
	const rate = 1e6 // 1 byte per µs
	p := NewPacer(mss)
	now := monotime.Time(time.Second)
	p.BudgetRate(now, rate) // full: 14520 tokens
	us := func(n int) monotime.Time { return monotime.Time(n) * monotime.Time(time.Microsecond) }
	if got, want := p.Departure(now), now-us(10*mss); got != want {
		t.Fatalf("first departure %v, want %v", now-got, now-want)
	}
	p.OnSent(mss)
	if got, want := p.Departure(now), now-us(9*mss); got != want {
		t.Fatalf("second departure %v, want %v", now-got, now-want)
	}
	// A slower rate would put the next departure before the last one.
	p.BudgetRate(now, rate/100)
	if got, want := p.Departure(now), now-us(9*mss); got != want {
		t.Fatalf("slower rate: departure %v, want %v", now-got, now-want)
	}
	p.OnSent(10 * mss) // in debt
	if got := p.Departure(now); got != now {
		t.Fatalf("in debt: departure %v before now", now-got)
	}
	var q Pacer // unpaced
	q.BudgetRate(now, math.Inf(1))
	if got := q.Departure(now); got != now {
		t.Fatalf("unpaced departure %v", now-got)
	}
}
