package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Binary size units accepted by parseSize and printed by formatBytes.
const (
	kiB = 1 << 10
	miB = 1 << 20
	giB = 1 << 30
)

// formatBytes renders n with a binary unit: "512 B", "1.5 KiB", "256.0 MiB".
func formatBytes(n int64) string {
	switch {
	case n < kiB:
		return strconv.FormatInt(n, 10) + " B"
	case n < miB:
		return fmt.Sprintf("%.1f KiB", float64(n)/kiB)
	case n < giB:
		return fmt.Sprintf("%.1f MiB", float64(n)/miB)
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/giB)
}

// formatRate renders n bytes over d as bits per second: "2.15 Gbit/s".
func formatRate(n int64, d time.Duration) string {
	if d <= 0 {
		return "- bit/s"
	}
	bps := float64(n) * 8 / d.Seconds()
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.1f Mbit/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.1f kbit/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}

// formatCount renders a count with thousands separators: 100000 → "100 000".
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + formatCount(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// parseSize parses a byte count with an optional unit: "1048576", "64KiB",
// "256MiB", "1GiB", also "k", "M", "G" (binary) and a trailing "B".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{
		{"kib", kiB}, {"mib", miB}, {"gib", giB},
		{"kb", kiB}, {"mb", miB}, {"gb", giB},
		{"k", kiB}, {"m", miB}, {"g", giB}, {"b", 1},
	} {
		if strings.HasSuffix(lower, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 1048576, 64KiB, 256MiB, 1GiB)", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return n * mult, nil
}
