package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
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

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, _, ok := termSize(f)
	return ok
}

// Terminal size when it cannot be read (output redirected with
// --progress bar): $COLUMNS and $LINES as shells export them, else the
// classic 80 x 24.
const (
	defaultCols = 80
	defaultRows = 24
)

// envSize returns $COLUMNS x $LINES, or the defaults.
func envSize() (cols, rows int) {
	cols, rows = defaultCols, defaultRows
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		cols = n
	}
	if n, err := strconv.Atoi(os.Getenv("LINES")); err == nil && n > 0 {
		rows = n
	}
	return cols, rows
}

// sizeOf returns a function that reads f's terminal size at each call
// (the terminal may be resized while a transfer runs), falling back to
// envSize.
func sizeOf(f *os.File) func() (cols, rows int) {
	return func() (int, int) {
		if c, r, ok := termSize(f); ok && c > 0 && r > 0 {
			return c, r
		}
		return envSize()
	}
}

// Intervals between progress updates.
const (
	barInterval   = 100 * time.Millisecond // smooth enough for the eye, cheap
	plainInterval = 2 * time.Second        // a log line every 2 s per task
	barWidth      = 28                     // characters inside the brackets, when the line has room
	minBarWidth   = 10                     // a narrower bar is dropped instead
	minNameWidth  = 12                     // names are cut to no less before the bar goes
	minLineWidth  = 20                     // lines are never laid out narrower than this
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
	started atomic.Bool // Restart was called: the task left the queue
	printed bool        // plain mode: final line printed (progress.mu)
}

// Restart sets the task's start time to now (a queued task that begins
// later than it was added).
func (t *task) Restart(now time.Time) {
	t.start.Store(now.UnixNano())
	t.started.Store(true)
}

// Add records n more bytes (or items) done.
func (t *task) Add(n int64) { t.done.Add(n) }

// Finish marks the task finished at now, failed or not.
func (t *task) Finish(now time.Time, failed bool) {
	t.failed.Store(failed)
	t.endNano.CompareAndSwap(0, now.UnixNano())
}

// line renders the task's status at now: the name padded to nameWidth,
// with bar a progress bar, then percentage, amount, rate and state. It
// fits the line into width display columns (0: no limit) by narrowing the
// bar, cutting the name (with "…") and dropping the bar, in that order,
// then cutting the end.
func (t *task) line(now time.Time, nameWidth int, bar bool, width int) string {
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
	var doneS, totalS, rate string
	if t.unit == "" {
		doneS, totalS = formatBytes(done), formatBytes(t.total)
		rate = formatRate(done, elapsed)
	} else {
		doneS, totalS = formatCount(done), formatCount(t.total)+" "+t.unit
		rate = "-"
		if elapsed > 0 {
			rate = formatCount(int64(float64(done)/elapsed.Seconds())) + " " + t.unit + "/s"
		}
	}
	tail := fmt.Sprintf("%3d%%  %s / %s  %s%s", pct, doneS, totalS, rate, state)
	if bar {
		// Fixed widths for the parts that change as the task runs, so that
		// the bar keeps its width from one redraw to the next.
		tail = fmt.Sprintf("%3d%%  %*s / %s  %12s%-8s", pct, len(totalS), doneS, totalS, rate, state)
	}
	name := printable(t.name)
	bw := 0
	if bar {
		bw = barWidth
	}
	if width > 0 {
		// Columns: name, a space, "[" bar "] " when there is a bar, tail.
		room := width - displayWidth(tail) - 1
		nameWidth = min(nameWidth, displayWidth(name))
		if bw > 0 && nameWidth+bw+3 > room {
			bw = max(room-3-nameWidth, minBarWidth)
		}
		if bw > 0 && nameWidth+bw+3 > room {
			nameWidth = max(room-3-bw, minNameWidth)
		}
		if bw > 0 && nameWidth+bw+3 > room {
			bw = 0
		}
		if bw == 0 {
			nameWidth = max(min(nameWidth, room), 1)
		}
	}
	var b strings.Builder
	b.WriteString(padTo(cutTo(name, nameWidth), nameWidth))
	b.WriteByte(' ')
	if bw > 0 {
		filled := bw
		if t.total > 0 {
			filled = int(min(done, t.total) * int64(bw) / t.total)
		}
		b.WriteByte('[')
		b.WriteString(strings.Repeat("=", filled))
		if filled < bw {
			b.WriteByte('>')
			b.WriteString(strings.Repeat(" ", bw-filled-1))
		}
		b.WriteString("] ")
	}
	b.WriteString(tail)
	if width > 0 {
		return cutTo(b.String(), width)
	}
	return b.String()
}

// printable replaces control characters in s (a local file name may hold
// any byte but '/' and NUL) so that it cannot move the cursor or change
// the terminal, and invalid UTF-8 so that widths can be counted.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// runeWidth is the number of terminal columns r takes: 0 for combining
// marks and zero-width characters, 2 for East Asian wide and fullwidth
// characters and emoji (the ranges of Unicode's EastAsianWidth W and F
// that matter in file names), 1 otherwise.
func runeWidth(r rune) int {
	switch {
	case unicode.Is(unicode.Mn, r), unicode.Is(unicode.Me, r), r == 0x200B, r == 0x200C, r == 0x200D, r == 0xFEFF:
		return 0
	case r >= 0x1100 && r <= 0x115F, // Hangul Jamo
		r >= 0x2E80 && r <= 0x303E, // CJK radicals, punctuation
		r >= 0x3041 && r <= 0x33FF, // kana, CJK symbols
		r >= 0x3400 && r <= 0x4DBF, // CJK extension A
		r >= 0x4E00 && r <= 0x9FFF, // CJK unified ideographs
		r >= 0xA000 && r <= 0xA4CF, // Yi
		r >= 0xAC00 && r <= 0xD7A3, // Hangul syllables
		r >= 0xF900 && r <= 0xFAFF, // CJK compatibility ideographs
		r >= 0xFE30 && r <= 0xFE4F, // CJK compatibility forms
		r >= 0xFF00 && r <= 0xFF60, // fullwidth forms
		r >= 0xFFE0 && r <= 0xFFE6,
		r >= 0x1F300 && r <= 0x1F64F, // emoji
		r >= 0x1F900 && r <= 0x1F9FF,
		r >= 0x20000 && r <= 0x3FFFD: // CJK extensions B and later
		return 2
	}
	return 1
}

// displayWidth is the number of terminal columns s takes.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// cutTo returns s cut to at most w columns, ending in "…" when cut.
func cutTo(s string, w int) string {
	if displayWidth(s) <= w {
		return s
	}
	if w <= 0 {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		rw := runeWidth(r)
		if n+rw > w-1 {
			break
		}
		b.WriteRune(r)
		n += rw
	}
	b.WriteString("…")
	return b.String()
}

// padTo pads s with spaces to w columns.
func padTo(s string, w int) string {
	if d := w - displayWidth(s); d > 0 {
		return s + strings.Repeat(" ", d)
	}
	return s
}

// progress draws the tasks of one command, either as bars redrawn in
// place or as periodic plain lines. Its methods are safe for concurrent
// use.
type progress struct {
	mu        sync.Mutex
	w         io.Writer
	mode      progressMode
	size      func() (cols, rows int) // bar mode: the terminal's size, read at each redraw
	tasks     []*task
	drawn     int // bar mode: lines drawn by the last redraw
	lastPlain time.Time
}

// newProgress draws on w; bar mode fits the lines to the terminal size
// size returns (nil: $COLUMNS x $LINES or 80 x 24).
func newProgress(w io.Writer, mode progressMode, size func() (cols, rows int)) *progress {
	if size == nil {
		size = envSize
	}
	return &progress{w: w, mode: mode, size: size}
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

// render returns what to write at now. In bar mode: the block of one line
// per task, each at most one column narrower than the terminal (writing
// the last column makes some terminals wrap), drawn over the previous
// block; when there are more tasks than the terminal has rows, the running
// ones and a summary line "… N more: …". In plain mode: a line per
// running task when the interval has passed (or force), and one final
// line per task that finished since.
func (p *progress) render(now time.Time, force bool) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	switch p.mode {
	case progressBar:
		cols, rows := p.size()
		width := max(cols-1, minLineWidth)
		shown, summary := p.visible(max(rows-1, 2))
		nameWidth := 0
		for _, t := range shown {
			nameWidth = max(nameWidth, displayWidth(printable(t.name)))
		}
		if p.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
		}
		lines := 0
		for _, t := range shown {
			b.WriteString("\r\x1b[2K")
			b.WriteString(t.line(now, nameWidth, true, width))
			b.WriteByte('\n')
			lines++
		}
		if summary != "" {
			b.WriteString("\r\x1b[2K")
			b.WriteString(cutTo(summary, width))
			b.WriteByte('\n')
			lines++
		}
		if lines < p.drawn {
			b.WriteString("\x1b[J") // a shorter block: clear what the last one left below
		}
		p.drawn = lines
	case progressPlain:
		width := 0
		for _, t := range p.tasks {
			width = max(width, displayWidth(printable(t.name)))
		}
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
			b.WriteString(t.line(now, width, false, 0))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// visible picks the tasks a bar block of at most maxLines lines shows: all
// of them when they fit, else the running ones first, then the queued,
// then the finished, in maxLines-1 lines and a summary of the rest.
// p.mu is held.
func (p *progress) visible(maxLines int) (shown []*task, summary string) {
	if len(p.tasks) <= maxLines {
		return p.tasks, ""
	}
	var running, queued, finished []*task
	for _, t := range p.tasks {
		switch {
		case t.endNano.Load() != 0:
			finished = append(finished, t)
		case t.done.Load() > 0 || t.started.Load():
			running = append(running, t)
		default:
			queued = append(queued, t)
		}
	}
	order := append(append(append([]*task(nil), running...), queued...), finished...)
	shown = order[:maxLines-1]
	var nr, nq, nd, nf int
	for _, t := range order[maxLines-1:] {
		switch {
		case t.endNano.Load() != 0 && t.failed.Load():
			nf++
		case t.endNano.Load() != 0:
			nd++
		case t.done.Load() > 0 || t.started.Load():
			nr++
		default:
			nq++
		}
	}
	summary = fmt.Sprintf("… %d more: %d running, %d queued, %d done, %d failed", len(order)-len(shown), nr, nq, nd, nf)
	return shown, summary
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
