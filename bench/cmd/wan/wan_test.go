package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs one small row of every transport and both shared runs,
// so the harness never rots: every row must have numbers, none an error,
// and the table its header lines. The path (20 Mbit/s, 10 ms, 4 BDP, no
// loss) keeps the flows small and their losses few.
func TestSmoke(t *testing.T) {
	// No goleak here: quic-go keeps package-level goroutines; internal/netem
	// checks its own goroutines in its tests.
	if testing.Short() {
		t.Skip("runs real transfers for ~10 s")
	}
	ts := transports()
	grid := []cond{{rate: 20e6, rtt: 10 * time.Millisecond, queue: 4}}
	p := params{sizeFor: func(float64) int64 { return 1 << 20 }, cap: 10 * time.Second, sharedDur: 1500 * time.Millisecond, seed: 1}
	var out bytes.Buffer
	if err := run(&out, ts, grid, grid, []string{"pair", "four"}, p); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	rows := 0
	for _, l := range strings.Split(table, "\n") {
		if !strings.HasPrefix(l, "| 20 Mbit/s |") {
			continue
		}
		rows++
		if strings.Contains(l, "error:") {
			t.Errorf("row failed: %s", l)
		}
	}
	if want := len(ts) + 2*len(sttVariants); rows != want {
		t.Errorf("%d rows, want %d:\n%s", rows, want, table)
	}
	for _, s := range []string{"Machine: ", "STT suite", "Jain's index", "Emulator health: "} {
		if !strings.Contains(table, s) {
			t.Errorf("table lacks %q:\n%s", s, table)
		}
	}
}

func TestParse(t *testing.T) {
	g, err := parseGrid("20,100", "10,80", "0,1", "0.25")
	if err != nil || len(g) != 8 || g[7] != (cond{rate: 100e6, rtt: 80 * time.Millisecond, queue: 0.25, loss: 0.01}) {
		t.Errorf("parseGrid = %v, %v", g, err)
	}
	for _, bad := range [][4]string{{"x", "10", "0", "1"}, {"20", "-1", "0", "1"}, {"20", "10", "100", "1"}, {"20", "10", "0", "0"}} {
		if _, err := parseGrid(bad[0], bad[1], bad[2], bad[3]); err == nil {
			t.Errorf("parseGrid%v: no error", bad)
		}
	}
	if n, err := parseSize("64MiB"); err != nil || n != 64<<20 {
		t.Errorf("parseSize(64MiB) = %d, %v", n, err)
	}
	if _, err := parseSize("-3"); err == nil {
		t.Error("parseSize(-3): no error")
	}
	if defaultSize(20e6) != 23<<20 || defaultSize(100e6) != 64<<20 || defaultSize(400e6) != 96<<20 {
		t.Errorf("defaultSize: %d, %d, %d", defaultSize(20e6), defaultSize(100e6), defaultSize(400e6))
	}
}
