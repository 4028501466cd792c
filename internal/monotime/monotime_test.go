package monotime

import (
	"testing"
	"time"
)

func TestOrderingAndConversion(t *testing.T) {
	a := Now()
	b := a.Add(5 * time.Millisecond)
	if !a.Before(b) || !b.After(a) || b.Sub(a) != 5*time.Millisecond {
		t.Fatalf("ordering broken: a=%d b=%d", a, b)
	}
	if got := FromTime(a.Time()); got != a {
		t.Fatalf("round trip: got %d want %d", got, a)
	}
	if Time(0).IsZero() != true || a.IsZero() && a != 0 {
		t.Fatal("IsZero")
	}
}

func TestNowDoesNotAllocate(t *testing.T) {
	var sink Time
	if n := testing.AllocsPerRun(100, func() { sink += Now() }); n != 0 {
		t.Fatalf("Now allocates %v times", n)
	}
	_ = sink
}
