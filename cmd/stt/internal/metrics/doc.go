// Package metrics exposes STT node and session counters, and those of the
// WebSocket fallback's relay and tunnel (transport/ws) when a command runs
// one, to Prometheus for the stt command's --metrics flag: a Collector reads
// Node.Stats(), every open Session.Stats() and the relay's or tunnel's
// Stats() when scraped and turns them into const metrics, and a
// Server serves them over HTTP at /metrics on the address the user names. It
// lives under cmd/stt so that github.com/prometheus/client_golang never enters
// the library's import graph (internal/deps_test.go guards the library
// packages); it does no per-packet work, keeps no samples between scrapes
// (RTT is exported as gauges per quantile over the open sessions, not as a
// histogram), and allocates only at scrape time. Session counters are summed
// into totals that stay monotonic as sessions close: a session the Collector
// has seen (through Track or an earlier scrape) is folded in with its final
// counters when it closes, while one that opens and closes between two scrapes
// without being tracked is not counted. Collector and Server methods are safe
// for concurrent use; a Server's goroutine ends with Close.
package metrics
