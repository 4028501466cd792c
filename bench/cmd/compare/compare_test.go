package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// tableRow returns the Markdown row of transport name in table, split into
// its cells (name first), or nil.
func tableRow(table, name string) []string {
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, "| "+name+" |") {
			cells := strings.Split(strings.Trim(l, "|"), " | ")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			return cells
		}
	}
	return nil
}

// columnIndex returns the cell index (the name is 0) of the column headed head.
func columnIndex(t *testing.T, head string) int {
	t.Helper()
	i := slices.IndexFunc(columns, func(c column) bool { return c.head == head })
	if i < 0 {
		t.Fatalf("no column %q", head)
	}
	return i + 1
}

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
	bulk1 := columnIndex(t, "bulk 1 stream Gbit/s")
	bulk4 := columnIndex(t, "bulk 4 streams Gbit/s")
	msgs := columnIndex(t, "64 B msgs/s")
	resumed := columnIndex(t, "resumed handshakes/s")
	for _, tr := range transports() {
		row := tableRow(table, tr.name)
		if row == nil {
			t.Errorf("no row for %s:\n%s", tr.name, table)
			continue
		}
		if strings.Contains(strings.Join(row, "|"), "error:") {
			t.Errorf("%s failed: %v", tr.name, row)
			continue
		}
		if len(row) != len(columns)+1 {
			t.Errorf("%s: %d cells, want %d: %v", tr.name, len(row), len(columns)+1, row)
			continue
		}
		for _, i := range []int{bulk1, bulk4, msgs} {
			if row[i] == "–" || strings.HasPrefix(row[i], "0.00") {
				t.Errorf("%s: %s is %q", tr.name, columns[i-1].head, row[i])
			}
		}
		if tr.raw && !strings.Contains(row[bulk1], "lost") {
			t.Errorf("%s: bulk cell %q does not report loss", tr.name, row[bulk1])
		}
		if tr.name == "STT" && (row[resumed] == "–" || strings.HasPrefix(row[resumed], "0 ")) {
			t.Errorf("STT resumed handshakes = %q, want a rate", row[resumed])
		}
	}
	if !strings.Contains(table, "Machine: ") || !strings.Contains(table, "STT suite") || !strings.Contains(table, "Load average") {
		t.Errorf("machine or load line missing:\n%s", table)
	}
	if runtime.GOOS == "linux" && !strings.Contains(rawGSODetail(), "GSO on, GRO on") {
		t.Errorf("raw UDP + GSO/GRO ran without its offloads (%q): the row is not the ceiling", rawGSODetail())
	}
}

// TestResumedColumn checks the resumed-handshake plumbing with a stand-in:
// TLS/TCP's full dial as the "resume" dial (TLS session tickets are not
// wired here, so its row otherwise prints "–").
func TestResumedColumn(t *testing.T) {
	tr := transports()[slices.IndexFunc(transports(), func(t transport) bool { return t.name == "TLS 1.3/TCP" })]
	start := tr.start
	tr.start = func() (server, error) {
		s, err := start()
		s.resume = s.dial
		return s, err
	}
	var out bytes.Buffer
	if err := run(&out, []transport{tr}, 1<<20, 1, 100, 3, 10); err != nil {
		t.Fatal(err)
	}
	row := tableRow(out.String(), tr.name)
	if row == nil {
		t.Fatalf("no row:\n%s", out.String())
	}
	if c := row[columnIndex(t, "resumed handshakes/s")]; c == "–" || c == "0" {
		t.Errorf("resumed handshakes/s = %q with a resume dial set", c)
	}
}

func TestCell(t *testing.T) {
	for _, tc := range []struct {
		s    sample
		f    string
		want string
	}{
		{nil, "%.2f", "–"},
		{sample{9.5}, "%.2f", "9.50"},
		{sample{3, 1, 2}, "%.0f", "2 (1–3)"},
		{sample{11.67, 16.53, 15.70}, "%.2f", "15.70 (11.67–16.53)"},
		{sample{0.2, 0, 1.1}, "%.1f%%", "0.2% (0.0%–1.1%)"},
	} {
		if got := cell(tc.s, tc.f); got != tc.want {
			t.Errorf("cell(%v, %q) = %q, want %q", tc.s, tc.f, got, tc.want)
		}
	}
}

func TestModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    sample
		want string // describeModes, or "" for not bimodal
	}{
		{"one round", sample{10}, ""},
		{"tight", sample{15.7, 16.5, 15.9}, ""},
		{"exactly the ratio", sample{10, 12.5}, ""},
		{"issue 11 slow mode", sample{15.70, 11.67, 16.53}, "1 of 3 rounds at 11.67, 2 at 15.70–16.53"},
		{"two slow", sample{9.5, 15, 9.7}, "2 of 3 rounds at 9.50–9.70, 1 at 15.00"},
		{"widest gap wins", sample{10, 11, 20, 21, 22}, "2 of 5 rounds at 10.00–11.00, 3 at 20.00–22.00"},
		{"equal values in a mode", sample{5, 5, 9}, "2 of 3 rounds at 5.00, 1 at 9.00"},
		{"equal once formatted", sample{5.001, 5.004, 9}, "2 of 3 rounds at 5.00, 1 at 9.00"},
		{"zero has no ratio", sample{0, 3}, ""},
		{"negative has no ratio", sample{-1, 3}, ""},
	} {
		lo, hi, ok := modes(tc.s)
		if ok != (tc.want != "") {
			t.Errorf("%s: modes(%v) ok = %v", tc.name, tc.s, ok)
			continue
		}
		if !ok {
			continue
		}
		if got := describeModes(lo, hi, "%.2f"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if len(lo)+len(hi) != len(tc.s) || slices.Max(lo) >= slices.Min(hi) {
			t.Errorf("%s: split %v | %v is not a partition at a gap", tc.name, lo, hi)
		}
	}
}

func TestBimodalNote(t *testing.T) {
	ts := []transport{{name: "A", note: "a"}, {name: "B", note: "b"}}
	res := []results{
		{bulk1: sample{15.7, 11.67, 16.53}, p50: sample{18, 18, 18}},
		{bulk1: sample{10, 10.2, 10.1}},
	}
	var out bytes.Buffer
	printTable(&out, ts, res, params{size: 1 << 30, messages: 1, handshakes: 1, rtt: 1}, 3, "1, 2, 3", "4, 5, 6")
	table := out.String()
	if !strings.Contains(table, "- A: bulk 1 stream 1 of 3 rounds at 11.67, 2 at 15.70–16.53\n") {
		t.Errorf("bimodal note missing:\n%s", table)
	}
	if strings.Contains(table, "- B: bulk") || strings.Contains(table, "; RTT p50") {
		t.Errorf("tight cells noted as bimodal:\n%s", table)
	}
	if !strings.Contains(table, "| 15.70 (11.67–16.53) |") || !strings.Contains(table, "median (min–max)") {
		t.Errorf("median (min–max) cell missing:\n%s", table)
	}
	out.Reset()
	printTable(&out, ts[1:], res[1:], params{size: 1 << 30, messages: 1, handshakes: 1, rtt: 1}, 3, "", "")
	if !strings.Contains(out.String(), "No cell is bimodal") {
		t.Errorf("no-bimodal line missing:\n%s", out.String())
	}
}

// TestRatios: STT's bulk rates over another transport's are listed round
// by round, with the lowest; a transport that failed, the raw rows, and a
// single round print nothing.
func TestRatios(t *testing.T) {
	ts := []transport{{name: "TLS 1.3/TCP"}, {name: "STT"}, {name: "raw UDP + GSO/GRO", raw: true}, {name: "quic-go v0.65"}}
	res := []results{
		{bulk1: sample{10, 12, 14}, bulk4: sample{20, 20, 20}},
		{bulk1: sample{12, 12, 14}, bulk4: sample{19, 21, 20}},
		{bulk1: sample{30, 30, 30}, bulk4: sample{30, 30, 30}},
		{err: errors.New("down")},
	}
	var out bytes.Buffer
	printRatios(&out, ts, res, 3)
	want := "- over TLS 1.3/TCP: bulk 1 stream 1.20x, 1.00x, 1.00x (lowest 1.00x); bulk 4 streams 0.95x, 1.05x, 1.00x (lowest 0.95x)\n"
	if got := out.String(); !strings.Contains(got, want) || strings.Contains(got, "raw") || strings.Contains(got, "quic") {
		t.Errorf("ratios:\n%s\nwant the line\n%s", got, want)
	}
	out.Reset()
	printRatios(&out, ts, res, 1)
	if out.Len() != 0 {
		t.Errorf("one round printed ratios:\n%s", out.String())
	}
}

func TestSelectTransports(t *testing.T) {
	all := transports()
	names := func(ts []transport) []string {
		var n []string
		for _, t := range ts {
			n = append(n, t.name)
		}
		return n
	}
	for _, tc := range []struct {
		only string
		want []string
	}{
		{"STT,quic-go v0.65,TLS 1.3/TCP", []string{"STT", "quic-go v0.65", "TLS 1.3/TCP"}},
		{"raw UDP, one datagram per syscall,raw UDP + GSO/GRO", []string{"raw UDP, one datagram per syscall", "raw UDP + GSO/GRO"}},
		{"raw UDP + GSO/GRO,STT", []string{"STT", "raw UDP + GSO/GRO"}},
	} {
		got, err := selectTransports(all, tc.only)
		if err != nil || !slices.Equal(names(got), tc.want) {
			t.Errorf("-only %q: %v, %v; want %v", tc.only, names(got), err, tc.want)
		}
	}
	if got, _ := selectTransports(all, ""); len(got) != len(all) {
		t.Errorf("empty -only selected %d of %d", len(got), len(all))
	}
	for _, bad := range []string{"raw UDP", "stt", "nothing"} {
		if _, err := selectTransports(all, bad); err == nil {
			t.Errorf("-only %q: no error", bad)
		}
	}
}

func rawDatagramOf(kind byte, id uint64, n int) []byte {
	b := make([]byte, n)
	b[0] = kind
	if n >= rawHeader {
		binary.BigEndian.PutUint64(b[1:rawHeader], id)
	}
	return b
}

func TestRawCounter(t *testing.T) {
	c := rawCounter{counts: map[uint64]uint64{}}
	var out [rawCountLen]byte
	countOf := func(id uint64) uint64 {
		t.Helper()
		r := c.handle(rawDatagramOf(rawFin, id, rawHeader), &out)
		if len(r) != rawCountLen || r[0] != rawCount || binary.BigEndian.Uint64(r[1:rawHeader]) != id {
			t.Fatalf("FIN %d: answer %x", id, r)
		}
		return binary.BigEndian.Uint64(r[rawHeader:])
	}
	for _, tc := range []struct {
		name  string
		d     []byte
		reply bool
	}{
		{"empty", nil, false},
		{"data", rawDatagramOf(rawData, 1, 1452), false},
		{"data again", rawDatagramOf(rawData, 1, 64), false},
		{"other run", rawDatagramOf(rawData, 2, 100), false},
		{"data too short for an ID", rawDatagramOf(rawData, 0, rawHeader-1), false},
		{"FIN too short", rawDatagramOf(rawFin, 0, rawHeader-1), false},
		{"unknown kind", rawDatagramOf('X', 1, 1452), false},
		{"ping", rawDatagramOf(rawPing, 7, msgLen), true},
	} {
		r := c.handle(tc.d, &out)
		if (r != nil) != tc.reply {
			t.Errorf("%s: reply %x", tc.name, r)
		}
		if tc.reply && !bytes.Equal(r, tc.d) {
			t.Errorf("%s: echo %x, want %x", tc.name, r, tc.d)
		}
	}
	if got := countOf(1); got != 1452+64 {
		t.Errorf("run 1 count %d, want %d", got, 1452+64)
	}
	if got := countOf(2); got != 100 {
		t.Errorf("run 2 count %d, want 100", got)
	}
	if got := countOf(3); got != 0 {
		t.Errorf("unknown run count %d, want 0", got)
	}
	if len(c.counts) != 2 {
		t.Errorf("%d counters after 2 runs and a FIN for a third", len(c.counts))
	}
	// The counters are bounded: data of run IDs beyond rawMaxRuns is
	// ignored, known runs keep counting.
	for id := range uint64(2 * rawMaxRuns) {
		c.handle(rawDatagramOf(rawData, 100+id, 10), &out)
	}
	c.handle(rawDatagramOf(rawData, 1, 10), &out)
	if len(c.counts) != rawMaxRuns {
		t.Errorf("%d counters, want the bound %d", len(c.counts), rawMaxRuns)
	}
	if got := countOf(1); got != 1452+64+10 {
		t.Errorf("run 1 count %d after the bound, want %d", got, 1452+64+10)
	}
}

// FuzzRawCounter feeds arbitrary datagrams to the raw receiver: it must
// not panic, answer only FINs (with their ID) and pings (with themselves),
// and keep its counters bounded.
func FuzzRawCounter(f *testing.F) {
	for _, d := range [][]byte{
		rawDatagramOf(rawData, 1, 1452), rawDatagramOf(rawFin, 1, rawHeader), rawDatagramOf(rawPing, 1, msgLen),
		{rawData}, {rawFin, 1}, {}, {'X', 0, 0},
	} {
		f.Add(d)
	}
	c := rawCounter{counts: map[uint64]uint64{}}
	f.Fuzz(func(t *testing.T, d []byte) {
		var out [rawCountLen]byte
		r := c.handle(d, &out)
		switch {
		case r == nil:
		case d[0] == rawPing:
			if !bytes.Equal(r, d) {
				t.Fatalf("ping answer %x for %x", r, d)
			}
		case d[0] == rawFin && len(d) >= rawHeader:
			if len(r) != rawCountLen || r[0] != rawCount || !bytes.Equal(r[1:rawHeader], d[1:rawHeader]) {
				t.Fatalf("FIN answer %x for %x", r, d)
			}
		default:
			t.Fatalf("answer %x to %x", r, d)
		}
		if len(c.counts) > rawMaxRuns {
			t.Fatalf("%d counters, bound %d", len(c.counts), rawMaxRuns)
		}
	})
}

// TestRawBlast sends a few MiB both ways a raw row does and checks the
// accounting: nothing counted that was not sent, some of it arrived.
func TestRawBlast(t *testing.T) {
	for _, gso := range []bool{false, true} {
		srv, err := startRawServer(gso)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for _, sz := range []int{rawDatagram, msgLen} {
			r, err := rawBlast(ctx, gso, srv.addr, 4<<20, sz)
			if err != nil {
				t.Fatalf("gso %v, %d B: %v", gso, sz, err)
			}
			if want := uint64((4<<20 + sz - 1) / sz * sz); r.sent != want {
				t.Errorf("gso %v, %d B: sent %d, want %d", gso, sz, r.sent, want)
			}
			if r.got == 0 || r.got > r.sent || r.got%uint64(sz) != 0 {
				t.Errorf("gso %v, %d B: got %d of %d", gso, sz, r.got, r.sent)
			}
			if gso && r.tx.TxMessages+r.tx.TxLost != r.sent/uint64(sz) {
				t.Errorf("gso %v, %d B: kernel took %d and refused %d datagrams, want %d in all", gso, sz, r.tx.TxMessages, r.tx.TxLost, r.sent/uint64(sz))
			}
		}
		cancel()
		srv.stop()
	}
}
