package recovery

import (
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

func TestRTTInitial(t *testing.T) {
	var r RTT
	if r.HasSample() || r.Smoothed() != 333*time.Millisecond || r.Var() != 333*time.Millisecond/2 || r.Latest() != 0 || r.Min() != 0 {
		t.Fatalf("zero RTT: smoothed %v var %v latest %v min %v", r.Smoothed(), r.Var(), r.Latest(), r.Min())
	}
	// RFC 9002 §6.2.2: 333 + 4*166.5 + 25 = 1024 ms.
	if got := r.PTO(MaxAckDelay); got != 1024*time.Millisecond {
		t.Fatalf("initial PTO %v, want 1.024s", got)
	}
	if r.MaxAckDelay() != MaxAckDelay {
		t.Fatalf("default MaxAckDelay %v", r.MaxAckDelay())
	}
}

// TestRTTEstimator checks RFC 9002 §5.3's formulas against values worked out
// by hand (ms).
func TestRTTEstimator(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	type step struct {
		sample, ackDelay float64
		confirmed        bool
		latest, min      float64
		smoothed, rttvar float64
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first sample", []step{{100, 40, true, 100, 100, 100, 50}}},
		{"ack delay subtracted", []step{
			{100, 0, true, 100, 100, 100, 50},
			// adjusted 190: var (150+90)/4 = 60, smoothed (700+190)/8
			{200, 10, true, 200, 100, 111.25, 60},
		}},
		{"ack delay clamped to max_ack_delay", []step{
			{100, 0, true, 100, 100, 100, 50},
			{200, 10, true, 200, 100, 111.25, 60},
			// delay 50 -> 25; 120 < 100+25 so not subtracted: adjusted 120
			{120, 50, true, 120, 100, 112.34375, 47.1875},
			// new minimum, adjusted 80
			{80, 0, true, 80, 80, 108.30078125, 43.4765625},
		}},
		{"unconfirmed: delay not clamped", []step{
			{100, 0, false, 100, 100, 100, 50},
			// delay 50 unclamped: 200 >= 150, adjusted 150: var (150+50)/4, smoothed (700+150)/8
			{200, 50, false, 200, 100, 106.25, 50},
		}},
		{"delay would undercut min: ignored", []step{
			{100, 0, true, 100, 100, 100, 50},
			// 110 < 100+20: adjusted stays 110
			{110, 20, true, 110, 100, 101.25, 40},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r RTT
			for i, s := range tc.steps {
				r.Update(ms(s.sample), ms(s.ackDelay), s.confirmed)
				near := func(got time.Duration, want float64) bool {
					d := got - ms(want)
					return d < time.Microsecond && d > -time.Microsecond
				}
				if !near(r.Latest(), s.latest) || !near(r.Min(), s.min) || !near(r.Smoothed(), s.smoothed) || !near(r.Var(), s.rttvar) {
					t.Fatalf("step %d: latest %v min %v smoothed %v var %v, want %v %v %v %v ms",
						i, r.Latest(), r.Min(), r.Smoothed(), r.Var(), s.latest, s.min, s.smoothed, s.rttvar)
				}
			}
		})
	}
}

func TestRTTNegativeSampleIgnored(t *testing.T) {
	var r RTT
	r.Update(-time.Millisecond, 0, true)
	if r.HasSample() {
		t.Fatal("negative sample taken")
	}
}

func TestPTOBackoff(t *testing.T) {
	var r RTT
	r.Update(10*time.Millisecond, 0, true) // smoothed 10, var 5: PTO 10+20+25 = 55 ms
	base := monotime.Time(time.Second)
	pto := 55 * time.Millisecond
	if r.PTO(MaxAckDelay) != pto {
		t.Fatalf("PTO %v, want %v", r.PTO(MaxAckDelay), pto)
	}
	for _, tc := range []struct {
		count int
		want  time.Duration
	}{
		{0, pto}, {1, 2 * pto}, {2, 4 * pto}, {3, 8 * pto}, {6, 64 * pto},
		{7, 64 * pto}, {100, 64 * pto}, {-1, pto},
	} {
		if got := PTODeadline(base, &r, MaxAckDelay, tc.count); got.Sub(base) != tc.want {
			t.Errorf("ptoCount %d: deadline +%v, want +%v", tc.count, got.Sub(base), tc.want)
		}
	}
	if PTODeadline(0, &r, MaxAckDelay, 0) != 0 {
		t.Error("PTO armed with nothing sent")
	}
	// Granularity floor: zero variance still adds 1 ms.
	var z RTT
	z.Update(0, 0, true)
	if got := z.PTO(0); got != Granularity {
		t.Errorf("PTO with zero RTT %v, want %v", got, Granularity)
	}
}
