package main

import (
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1048576", 1 << 20, true},
		{"64KiB", 64 << 10, true},
		{"256MiB", 256 << 20, true},
		{"1GiB", 1 << 30, true},
		{"2g", 2 << 30, true},
		{"10 M", 10 << 20, true},
		{"512B", 512, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5GiB", 0, false},
		{"lots", 0, false},
		{"9999999999999GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct{ got, want string }{
		{formatBytes(0), "0 B"},
		{formatBytes(1023), "1023 B"},
		{formatBytes(1536), "1.5 KiB"},
		{formatBytes(256 << 20), "256.0 MiB"},
		{formatBytes(3 << 30), "3.00 GiB"},
		{formatRate(1<<30, time.Second), "8.59 Gbit/s"},
		{formatRate(1e6/8, time.Second), "1.0 Mbit/s"},
		{formatRate(100, time.Second), "800 bit/s"},
		{formatRate(1, 0), "- bit/s"},
		{formatCount(0), "0"},
		{formatCount(999), "999"},
		{formatCount(100000), "100 000"},
		{formatCount(1234567), "1 234 567"},
		{formatCount(-1234), "-1 234"},
		{fmtDur(45 * time.Microsecond), "45 µs"},
		{fmtDur(1500 * time.Microsecond), "1.50 ms"},
		{fmtDur(2 * time.Second), "2.00 s"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := percentile(d, tt.q); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing should be 0")
	}
}

func TestParseDemoSize(t *testing.T) {
	if got, err := parseDemoSize("full"); err != nil || got != demoPresets["full"] {
		t.Errorf("full = %+v, %v", got, err)
	}
	got, err := parseDemoSize("64MiB")
	if err != nil || got.bulk1 != 64<<20 || got.bulk2 != 16<<20 || got.messages != 25_000 {
		t.Errorf("64MiB = %+v, %v", got, err)
	}
	if _, err := parseDemoSize("huge"); err == nil {
		t.Error("accepted an unknown preset")
	}
}
