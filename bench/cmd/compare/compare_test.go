package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSmoke runs every transport once with tiny sizes so the harness never
// rots: each row must have numbers, none an error.
func TestSmoke(t *testing.T) {
	// No goleak here: kcp-go starts package-level workers (TimedSched,
	// post-process workers) that never stop; STT's own packages check
	// for leaks in their tests.
	var out bytes.Buffer
	if err := run(&out, transports(), 2<<20, 1, 2000, 3, 50); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	for _, tr := range transports() {
		row := ""
		for _, l := range strings.Split(table, "\n") {
			if strings.HasPrefix(l, "| "+tr.name+" |") {
				row = l
			}
		}
		if row == "" {
			t.Errorf("no row for %s:\n%s", tr.name, table)
			continue
		}
		if strings.Contains(row, "error:") {
			t.Errorf("%s failed: %s", tr.name, row)
		}
	}
	if !strings.Contains(table, "Machine: ") || !strings.Contains(table, "STT suite") {
		t.Errorf("machine line missing:\n%s", table)
	}
}
