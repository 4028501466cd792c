package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progressMode selects how transfers report progress.
type progressMode int

const (
	progressAuto  progressMode = iota // bars on a terminal, plain lines otherwise
	progressBar                       // redraw one bar per task in place (ANSI)
	progressPlain                     // one plain line per running task every interval
	progressOff                       // nothing
)

func parseProgressMode(s string) (progressMode, error) {
	switch s {
	case "auto", "":
		return progressAuto, nil
	case "bar":
		return progressBar, nil
	case "plain":
		return progressPlain, nil
	case "off", "none":
		return progressOff, nil
	}
	return 0, usagef("--progress must be auto, bar, plain or off, not %q", s)
}

// resolve turns progressAuto into bar or plain depending on whether f is a
// terminal.
func (m progressMode) resolve(f *os.File) progressMode {
	if m != progressAuto {
		return m
	}
	if isTerminal(f) {
		return progressBar
	}
	return progressPlain
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Intervals between progress updates.
const (
	barInterval   = 100 * time.Millisecond // smooth enough for the eye, cheap
	plainInterval = 2 * time.Second        // a log line every 2 s per task
	barWidth      = 28                     // characters inside the brackets
)

// task is one tracked transfer. Add may be called from any goroutine.
type task struct {
	name    string
	total   int64
	unit    string       // "" for bytes, else the plural noun of counted items
	start   atomic.Int64 // UnixNano of the start; Restart moves it
	done    atomic.Int64
	endNano atomic.Int64 // UnixNano when finished, 0 while running
	failed  atomic.Bool
	printed bool // plain mode: final line printed (progress.mu)
}

// Restart sets the task's start time to now (a queued task that begins
// later than it was added).
func (t *task) Restart(now time.Time) { t.start.Store(now.UnixNano()) }

// Add records n more bytes (or items) done.
func (t *task) Add(n int64) { t.done.Add(n) }

// Finish marks the task finished at now, failed or not.
func (t *task) Finish(now time.Time, failed bool) {
	t.failed.Store(failed)
	t.endNano.CompareAndSwap(0, now.UnixNano())
}

// line renders the task's status at now.
func (t *task) line(now time.Time, nameWidth int, bar bool) string {
	done := t.done.Load()
	end := now
	state := ""
	if e := t.endNano.Load(); e != 0 {
		end = time.Unix(0, e)
		state = "  done"
		if t.failed.Load() {
			state = "  FAILED"
		}
	}
	elapsed := end.Sub(time.Unix(0, t.start.Load()))
	pct := 100
	if t.total > 0 {
		pct = int(min(done, t.total) * 100 / t.total)
	}
	var amount, rate string
	if t.unit == "" {
		amount = formatBytes(done) + " / " + formatBytes(t.total)
		rate = formatRate(done, elapsed)
	} else {
		amount = formatCount(done) + " / " + formatCount(t.total) + " " + t.unit
		rate = "-"
		if elapsed > 0 {
			rate = formatCount(int64(float64(done)/elapsed.Seconds())) + " " + t.unit + "/s"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s ", nameWidth, t.name)
	if bar {
		filled := barWidth
		if t.total > 0 {
			filled = int(min(done, t.total) * barWidth / t.total)
		}
		b.WriteByte('[')
		b.WriteString(strings.Repeat("=", filled))
		if filled < barWidth {
			b.WriteByte('>')
			b.WriteString(strings.Repeat(" ", barWidth-filled-1))
		}
		b.WriteString("] ")
	}
	fmt.Fprintf(&b, "%3d%%  %s  %s%s", pct, amount, rate, state)
	return b.String()
}

// progress draws the tasks of one command, either as bars redrawn in
// place or as periodic plain lines. Its methods are safe for concurrent
// use.
type progress struct {
	mu        sync.Mutex
	w         io.Writer
	mode      progressMode
	tasks     []*task
	drawn     int // bar mode: lines drawn by the last redraw
	lastPlain time.Time
}

func newProgress(w io.Writer, mode progressMode) *progress {
	return &progress{w: w, mode: mode}
}

// Add registers a task of total bytes (unit "") or items (unit names them).
func (p *progress) Add(name string, total int64, unit string, now time.Time) *task {
	t := &task{name: name, total: total, unit: unit}
	t.start.Store(now.UnixNano())
	p.mu.Lock()
	p.tasks = append(p.tasks, t)
	p.mu.Unlock()
	return t
}

// render returns what to write at now: in bar mode the whole block of
// lines, moved over the previous one; in plain mode a line per running
// task when the interval has passed (or force), and one final line per
// task that finished since.
func (p *progress) render(now time.Time, force bool) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	width := 0
	for _, t := range p.tasks {
		width = max(width, len(t.name))
	}
	var b strings.Builder
	switch p.mode {
	case progressBar:
		if p.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
		}
		for _, t := range p.tasks {
			b.WriteString("\r\x1b[2K")
			b.WriteString(t.line(now, width, true))
			b.WriteByte('\n')
		}
		p.drawn = len(p.tasks)
	case progressPlain:
		periodic := force || now.Sub(p.lastPlain) >= plainInterval
		if periodic {
			p.lastPlain = now
		}
		for _, t := range p.tasks {
			finished := t.endNano.Load() != 0
			switch {
			case finished && !t.printed:
				t.printed = true
			case !finished && periodic:
			default:
				continue
			}
			b.WriteString(t.line(now, width, false))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// draw writes the current state.
func (p *progress) draw(now time.Time, force bool) {
	if s := p.render(now, force); s != "" {
		io.WriteString(p.w, s)
	}
}

// Run redraws until ctx ends, then draws a final state. It returns when
// the final state is written.
func (p *progress) Run(ctx context.Context) {
	if p.mode == progressOff {
		<-ctx.Done()
		return
	}
	interval := barInterval
	if p.mode == progressPlain {
		interval = barInterval * 5 // check finished tasks often, print periodic lines every plainInterval
		p.mu.Lock()
		p.lastPlain = time.Now()
		p.mu.Unlock()
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			p.draw(time.Now(), false)
			return
		case now := <-tick.C:
			p.draw(now, false)
		}
	}
}

// errStalled is the cause a watchdog cancels with when no task moved.
var errStalled = errors.New("transfer stalled")

// stallState tracks whether any running task made progress.
type stallState struct {
	last     int64     // sum of done counters at the last change
	lastMove time.Time // when it last changed
}

// check reports, at now, whether the running tasks have made no progress
// for at least d. Finished tasks count as progress when they finish.
func (s *stallState) check(p *progress, now time.Time, d time.Duration) bool {
	p.mu.Lock()
	var sum int64
	running := false
	for _, t := range p.tasks {
		sum += t.done.Load()
		if t.endNano.Load() == 0 {
			running = true
		} else {
			sum++ // a task finishing is progress
		}
	}
	p.mu.Unlock()
	if s.lastMove.IsZero() || sum != s.last || !running {
		s.last, s.lastMove = sum, now
		return false
	}
	return now.Sub(s.lastMove) >= d
}

// Watch calls onStall once if no running task progressed for d, checking
// a few times per d, until ctx ends. A d ≤ 0 disables it.
func (p *progress) Watch(ctx context.Context, d time.Duration, onStall func()) {
	if d <= 0 {
		return
	}
	tick := time.NewTicker(min(d/4, time.Second))
	defer tick.Stop()
	var s stallState
	s.check(p, time.Now(), d)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if s.check(p, now, d) {
				onStall()
				return
			}
		}
	}
}
