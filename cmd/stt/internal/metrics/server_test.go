package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// get fetches url and returns the status and body.
func get(tb testing.TB, url string) (int, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	// No keep-alive: an idle pooled connection would outlive the test.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestServer scrapes a node over HTTP, checks the other paths, and closes
// the server (TestMain's goleak proves its goroutines end).
func TestServer(t *testing.T) {
	a, b := newNode(t, 1), newNode(t, 2)
	c := NewCollector(nil)
	if err := c.Add("a", a); err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(c)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen("127.0.0.1:0", reg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	if ap := srv.Addr().(*net.TCPAddr); !ap.IP.IsLoopback() || ap.Port == 0 {
		t.Fatalf("Addr() = %v, want 127.0.0.1 with a real port", ap)
	}
	sa, sb := connect(t, a, b)
	c.Track(a, sa)
	transfer(t, sa, sb, 4096)

	code, body := get(t, srv.URL())
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d", srv.URL(), code)
	}
	for _, want := range []string{
		`stt_sessions{node="a"} 1`,
		`stt_bytes_total{direction="sent",node="a"} 4096`,
		`stt_handshakes_completed_total{node="a",role="initiator"} 1`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if code, _ := get(t, "http://"+srv.Addr().String()+"/"); code != http.StatusNotFound {
		t.Errorf("GET /: status %d, want 404", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", srv.Addr().String(), time.Second); err == nil {
		t.Error("still accepting connections after Close")
	}
}

func TestListenErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	reg, err := NewRegistry(NewCollector(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, addr string
		check      func(error) bool
	}{
		{"no port", "127.0.0.1", func(err error) bool { var ae *net.AddrError; return errors.As(err, &ae) }},
		{"port taken", taken.Addr().String(), func(err error) bool { var oe *net.OpError; return errors.As(err, &oe) }},
		{"bad port", "127.0.0.1:http-nope", func(err error) bool { return err != nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := Listen(tc.addr, reg)
			if err == nil {
				srv.Close(context.Background())
				t.Fatalf("Listen(%q) succeeded", tc.addr)
			}
			if !tc.check(err) {
				t.Errorf("Listen(%q) = %T %v", tc.addr, err, err)
			}
		})
	}
}
