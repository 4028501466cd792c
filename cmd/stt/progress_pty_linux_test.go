package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal of cols x rows and returns its master
// and slave ends.
func openPTY(t *testing.T, cols, rows uint16) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatalf("ptsname: %v", err)
	}
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows}); err != nil {
		m.Close()
		t.Fatalf("set window size: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open the slave: %v", err)
	}
	return m, s
}

// screen is just enough of a terminal to check progress output: printable
// characters (wrapping at the right margin, as terminals do), CR, LF,
// ESC[nA (up), ESC[2K (erase line) and ESC[J (erase below); other CSI
// sequences are skipped.
type screen struct {
	cols  int
	rows  [][]rune
	row   int
	col   int
	wraps int // lines that ran past the right margin
}

func (s *screen) line() []rune {
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, nil)
	}
	return s.rows[s.row]
}

func (s *screen) put(r rune) {
	if s.col >= s.cols {
		s.wraps++
		s.row, s.col = s.row+1, 0
	}
	l := s.line()
	for len(l) <= s.col {
		l = append(l, ' ')
	}
	l[s.col] = r
	s.rows[s.row] = l
	s.col += runeWidth(r)
}

func (s *screen) write(out string) {
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\r':
			s.col = 0
		case r == '\n':
			s.row++
			s.line()
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == ';') {
				j++
			}
			if j == len(rs) {
				return
			}
			n, err := strconv.Atoi(string(rs[i+2 : j]))
			if err != nil {
				n = 1
			}
			switch rs[j] {
			case 'A':
				s.row = max(s.row-n, 0)
			case 'K':
				s.line()
				s.rows[s.row] = nil
			case 'J':
				s.line()
				s.rows = s.rows[:s.row+1]
				s.rows[s.row] = s.rows[s.row][:min(len(s.rows[s.row]), s.col)]
			}
			i = j
		default:
			s.put(r)
		}
	}
}

func (s *screen) text() []string {
	var out []string
	for _, l := range s.rows {
		out = append(out, strings.TrimRight(string(l), " "))
	}
	return out
}

// TestProgressInTerminal runs `stt send` with its output on an 80-column
// pseudo-terminal, as a user sees it: auto mode picks bars, no line ever
// reaches the right margin (so nothing wraps and scrolls a new copy), and
// the screen ends with one line per transfer, above the result lines.
func TestProgressInTerminal(t *testing.T) {
	tmp := t.TempDir()
	ns, ss, other := keygen(t, tmp, "n"), keygen(t, tmp, "s"), keygen(t, tmp, "o")
	in := filepath.Join(tmp, "in")
	os.Mkdir(in, 0o755)
	out := filepath.Join(tmp, "out")
	l, addr := listenProc(t, ns, ss, out)
	// The case: a 200 MiB file, whose bar line was 81 columns,
	// with a name long enough to need cutting, and a small one beside it.
	long := sparseFile(t, in, "ubuntu-26.04-desktop-amd64-with-a-long-descriptive-suffix.iso", 200*miB)
	small := randomFile(t, in, "notes.txt", 300_000)

	master, slave := openPTY(t, 80, 24)
	defer master.Close()
	cmd := exec.Command(sttBin, "send", "--to", addr, "--node-seed", other, "--shared-seed", ss, long, small)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = slave, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	output := make(chan string, 1)
	go func() {
		b, err := io.ReadAll(master) // ends with EIO once the child is gone
		var pe *os.PathError
		if err != nil && !(errors.As(err, &pe) && errors.Is(pe.Err, syscall.EIO)) {
			b = append(b, fmt.Sprintf("\n(read error %v)", err)...)
		}
		output <- string(b)
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("send: %v\n%s", err, stderr.String())
		}
	case <-time.After(cmdTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatal("send did not finish")
	}
	var got string
	select {
	case got = <-output:
	case <-time.After(cmdTimeout):
		t.Fatal("the terminal output did not end")
	}
	waitLines(t, l, `received "ubuntu-26.04`, `received "notes.txt"`)

	if !strings.Contains(got, "\x1b[2K") {
		t.Fatalf("auto mode did not draw bars on a terminal:\n%q", got)
	}
	// The progress block ends where the result lines ("sent …", one per
	// file, with the full digest: log lines that may wrap) begin.
	cut := strings.Index(got, "sent \"")
	if cut < 0 {
		t.Fatalf("no result lines:\n%q", got)
	}
	sc := &screen{cols: 80}
	sc.write(got[:cut])
	lines := sc.text()
	if sc.wraps > 0 {
		t.Errorf("%d line(s) wrapped at 80 columns; screen:\n%s", sc.wraps, strings.Join(lines, "\n"))
	}
	for _, want := range []string{"ubuntu-26.04", "notes.txt"} {
		n := 0
		for _, line := range lines {
			if strings.Contains(line, "[") && strings.Contains(line, want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d progress lines for %s on the final screen, want 1:\n%s", n, want, strings.Join(lines, "\n"))
		}
	}
	for _, line := range lines {
		if w := displayWidth(line); w > 79 {
			t.Errorf("a line of %d columns: %q", w, line)
		}
	}
	if code := l.interrupt(t); code != 0 {
		t.Fatalf("listener exit %d", code)
	}
}
