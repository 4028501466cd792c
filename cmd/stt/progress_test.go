package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestProgressBar(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newProgress(nil, progressBar, func() (int, int) { return 200, 50 })
	a := p.Add("big", 100*miB, "", t0)
	m := p.Add("msgs", 1000, "msgs", t0)
	a.Add(50 * miB)
	m.Add(250)
	out := p.render(t0.Add(time.Second), false)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), out)
	}
	for _, want := range []string{"big ", " 50%", "50.0 MiB / 100.0 MiB", "419.4 Mbit/s", "[" + strings.Repeat("=", barWidth/2) + ">"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line %q lacks %q", lines[0], want)
		}
	}
	for _, want := range []string{"msgs", " 25%", "250 / 1 000 msgs", "250 msgs/s"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("line %q lacks %q", lines[1], want)
		}
	}
	if strings.HasPrefix(out, "\x1b[") {
		t.Error("first draw moved the cursor up")
	}
	a.Add(50 * miB)
	a.Finish(t0.Add(2*time.Second), false)
	out = p.render(t0.Add(3*time.Second), false)
	if !strings.HasPrefix(out, "\x1b[2A") {
		t.Errorf("redraw does not move up over the 2 previous lines: %q", out[:min(len(out), 10)])
	}
	if !strings.Contains(out, "100%") || !strings.Contains(out, "done") || !strings.Contains(out, "["+strings.Repeat("=", barWidth)+"]") {
		t.Errorf("finished task not shown complete:\n%s", out)
	}
	// The rate of a finished task is frozen at its end.
	if !strings.Contains(out, "419.4 Mbit/s  done") {
		t.Errorf("finished rate should use the finish time:\n%s", out)
	}
}

func TestProgressPlain(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newProgress(nil, progressPlain, nil)
	p.lastPlain = t0
	a := p.Add("a", 10, "", t0)
	b := p.Add("b", 10, "", t0)
	if out := p.render(t0.Add(plainInterval/2), false); out != "" {
		t.Fatalf("printed before the interval: %q", out)
	}
	out := p.render(t0.Add(plainInterval), false)
	if strings.Count(out, "\n") != 2 || strings.Contains(out, "\x1b") {
		t.Fatalf("periodic output = %q, want 2 plain lines", out)
	}
	a.Add(10)
	a.Finish(t0.Add(plainInterval+time.Second), false)
	out = p.render(t0.Add(plainInterval+time.Second), false)
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "a ") || !strings.Contains(out, "done") {
		t.Fatalf("finish output = %q, want one final line for a", out)
	}
	b.Finish(t0.Add(2*plainInterval), true)
	out = p.render(t0.Add(3*plainInterval), false)
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "FAILED") {
		t.Fatalf("output = %q, want one FAILED line for b only", out)
	}
	if out := p.render(t0.Add(9*plainInterval), false); out != "" {
		t.Fatalf("finished tasks printed again: %q", out)
	}
}

func TestProgressOff(t *testing.T) {
	p := newProgress(nil, progressOff, nil)
	p.Add("a", 1, "", time.Now())
	if out := p.render(time.Now(), true); out != "" {
		t.Fatalf("progress off printed %q", out)
	}
}

func TestStallCheck(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newProgress(nil, progressOff, nil)
	a := p.Add("a", 100, "", t0)
	var s stallState
	const d = 10 * time.Second
	steps := []struct {
		at      time.Duration
		add     int64
		finish  bool
		stalled bool
	}{
		{0, 0, false, false},
		{5 * time.Second, 0, false, false},
		{9 * time.Second, 1, false, false}, // moved: clock restarts
		{18 * time.Second, 0, false, false},
		{19 * time.Second, 0, false, true},
		{30 * time.Second, 99, true, false}, // finished: never stalled
		{60 * time.Second, 0, false, false},
	}
	for _, st := range steps {
		a.Add(st.add)
		if st.finish {
			a.Finish(t0.Add(st.at), false)
		}
		if got := s.check(p, t0.Add(st.at), d); got != st.stalled {
			t.Errorf("at %v: stalled = %v, want %v", st.at, got, st.stalled)
		}
	}
}

func TestParseProgressMode(t *testing.T) {
	for in, want := range map[string]progressMode{"": progressAuto, "auto": progressAuto, "bar": progressBar, "plain": progressPlain, "off": progressOff} {
		if got, err := parseProgressMode(in); err != nil || got != want {
			t.Errorf("%q = %v, %v", in, got, err)
		}
	}
	if _, err := parseProgressMode("fancy"); err == nil {
		t.Error("accepted an unknown mode")
	}
}

// TestProgressLineFits: a bar line never exceeds its width, whatever the
// name, the numbers and the state, and degrades in order: narrower bar,
// cut name, no bar.
func TestProgressLineFits(t *testing.T) {
	t0 := time.Unix(1000, 0)
	names := []string{
		"a.bin",
		"a-rather-long-file-name-that-would-push-the-bar-past-eighty-columns.iso",
		"日本語のファイル名と長い説明.txt",
		"evil\x1b[2J\nname\x07.txt",
		strings.Repeat("x", maxNameLen),
	}
	for _, width := range []int{200, 79, 60, 40, 20} {
		for _, name := range names {
			for _, state := range []string{"running", "done", "failed"} {
				tk := &task{name: name, total: 200 * miB}
				tk.start.Store(t0.UnixNano())
				tk.done.Store(77 * miB)
				switch state {
				case "done":
					tk.Finish(t0.Add(3*time.Second), false)
				case "failed":
					tk.Finish(t0.Add(3*time.Second), true)
				}
				l := tk.line(t0.Add(time.Second), displayWidth(printable(name)), true, width)
				if w := displayWidth(l); w > width {
					t.Errorf("width %d, %q (%s): line of %d columns: %q", width, name, state, w, l)
				}
				if strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
					t.Errorf("width %d: control character in %q", width, l)
				}
				if width >= 60 && !strings.Contains(l, "%") {
					t.Errorf("width %d: percentage lost: %q", width, l)
				}
			}
		}
	}
	// At 80 columns a short name keeps a bar, and the bar's width does
	// not change between redraws as the numbers grow.
	tk := &task{name: "file.iso", total: 200 * miB}
	tk.start.Store(t0.UnixNano())
	var widths []int
	for _, d := range []int64{0, 5 * miB, 77 * miB, 199 * miB, 200 * miB} {
		tk.done.Store(d)
		l := tk.line(t0.Add(2*time.Second), 8, true, 79)
		widths = append(widths, strings.Index(l, "]")-strings.Index(l, "["))
	}
	for _, w := range widths {
		if w != widths[0] || w < minBarWidth {
			t.Fatalf("bar widths across redraws %v: want one width of at least %d", widths, minBarWidth)
		}
	}
}

// TestProgressManyTasks: more tasks than the terminal has rows are shown
// as the running ones and a summary, within the rows.
func TestProgressManyTasks(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newProgress(nil, progressBar, func() (int, int) { return 80, 6 })
	var ts []*task
	for i := range 12 {
		ts = append(ts, p.Add(fmt.Sprintf("f%02d", i), 100, "", t0))
	}
	ts[10].Restart(t0)
	ts[10].Add(50)
	ts[0].Add(100)
	ts[0].Finish(t0.Add(time.Second), false)
	ts[1].Finish(t0.Add(time.Second), true)
	out := p.render(t0.Add(2*time.Second), false)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines for a 6-row terminal, want 5:\n%s", len(lines), out)
	}
	if !strings.Contains(lines[0], "f10") {
		t.Errorf("the running task is not first: %q", lines[0])
	}
	if !strings.Contains(lines[4], "… 8 more: 0 running, 6 queued, 1 done, 1 failed") {
		t.Errorf("summary line %q", lines[4])
	}
	// The block shrinks when tasks finish only if the terminal grows; a
	// shorter block clears what the previous one left below.
	p.size = func() (int, int) { return 80, 50 }
	out = p.render(t0.Add(3*time.Second), false)
	if !strings.HasPrefix(out, "\x1b[5A") || strings.Count(out, "\n") != 12 {
		t.Errorf("after the resize: want a move up 5 and 12 lines, got %q…", out[:min(len(out), 20)])
	}
	p.size = func() (int, int) { return 80, 4 }
	out = p.render(t0.Add(4*time.Second), false)
	if !strings.HasSuffix(out, "\x1b[J") {
		t.Errorf("a shorter block does not clear below: %q", out[max(0, len(out)-20):])
	}
}
