package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where a Server answers scrapes.
const Path = "/metrics"

// readHeaderTimeout bounds how long a client may take to send its request
// headers, so a slow or idle client cannot pin a connection (Slowloris); a
// scraper sends them at once.
const readHeaderTimeout = 10 * time.Second

// NewRegistry returns a registry holding c plus the Go runtime and process
// collectors (CPU seconds, resident memory, open file descriptors), so one
// scrape shows both the transport's counters and what they cost. It fails
// only if c's descriptors clash with those collectors'.
func NewRegistry(c *Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{
		c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// Server serves one Gatherer over HTTP at Path. Its methods are safe for
// concurrent use.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan error // receives Serve's result once

	wait sync.Once // drains done
	err  error     // Serve's failure; written inside wait
}

// Listen binds TCP addr (HOST:PORT; port 0 picks a free port; an empty host
// means every interface, so name one to stay private) and serves g at Path
// from a new goroutine until Close. Other paths answer 404. It returns the
// listen error, for instance when the port is taken.
func Listen(addr string, g prometheus.Gatherer) (*Server, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("metrics address %q: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	s := &Server{
		ln:   ln,
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr returns the bound address (with the real port when addr said 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL returns the scrape URL, http://ADDR/metrics.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + Path }

// Close stops accepting scrapes, waits for those in flight until ctx ends
// (then closes their connections), and returns once the serving goroutine
// has exited. It returns ctx's error when it had to cut scrapes short, or
// the server's failure. Calling it again is harmless.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	s.wait.Do(func() {
		if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
			s.err = serr
		}
	})
	if err != nil {
		return err
	}
	return s.err
}
