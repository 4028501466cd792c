package metrics

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stt-go/stt"
)

// namespace prefixes every metric name.
const namespace = "stt"

// minSweep is the number of tracked sessions below which Track never sweeps
// closed sessions out: a sweep lists the node's sessions, so it is amortised
// over at least this many Track calls (and over a doubling of the tracked
// set beyond it), keeping memory bounded when nobody scrapes.
const minSweep = 64

// rttQuantiles are the quantiles of the open sessions' smoothed RTT
// exported on every scrape: min, median, the two usual tail points, max.
var rttQuantiles = []float64{0, 0.5, 0.9, 0.99, 1}

// Label values.
const (
	dirSent     = "sent"
	dirReceived = "received"
)

// Options tunes a Collector. A nil *Options means all defaults.
type Options struct {
	// PerSession adds series labelled by session (node, session, peer) for
	// every open session. Default false: on a busy listener one series set
	// per session can overwhelm a Prometheus server, so the totals come
	// without a session label unless asked for.
	PerSession bool
}

// Errors returned by Collector.Add.
var (
	// ErrDuplicateNode reports a node name or a *stt.Node added twice.
	ErrDuplicateNode = errors.New("metrics: node already added")
	// ErrNodeName reports an empty node name.
	ErrNodeName = errors.New("metrics: node name must not be empty")
)

// Collector is a prometheus.Collector over one or more STT nodes, each
// labelled node="<name>", and the WebSocket relays and tunnels serving them
// (AddWSServer, AddWSTunnel). It reads Node.Stats(), Node.Sessions(), each
// Session.Stats() and the relays' and tunnels' Stats() when Prometheus
// collects; nothing runs between scrapes.
// Session counters are exported as totals over the node's sessions, past
// ones included (see Track). Safe for concurrent use; concurrent scrapes
// are serialised.
type Collector struct {
	perSession bool
	minSweep   int // minSweep, lowered by tests

	mu        sync.Mutex // protects nodes, every nodeState, wsServers and wsTunnels
	nodes     []*nodeState
	wsServers []wsServerState
	wsTunnels []wsTunnelState
}

// nodeState is one node's bookkeeping; guarded by Collector.mu.
type nodeState struct {
	name string
	node *stt.Node
	// live holds sessions seen open (by Track or a scrape) and not yet
	// folded into retired.
	live map[*stt.Session]struct{}
	// gone holds sessions folded into retired that the node still listed
	// at the last sweep (a closed session leaves the node's list just after
	// its Done channel closes), so they are not counted twice.
	gone    map[*stt.Session]struct{}
	retired totals // final counters of closed sessions
	sweepAt int    // len(live) at which Track sweeps next
}

// totals are session counters summed over sessions.
type totals struct {
	bytesSent, bytesRecv     uint64
	msgsSent, msgsRecv       uint64
	pktsSent, pktsRecv       uint64
	lost, retx               uint64
	rotSent, rotRecv         uint64
	dropAuth, dropReplay     uint64
	dropMalformed, dropCustm uint64
}

func (t *totals) add(s *stt.SessionStats) {
	t.bytesSent += s.BytesSent
	t.bytesRecv += s.BytesReceived
	t.msgsSent += s.MessagesSent
	t.msgsRecv += s.MessagesReceived
	t.pktsSent += s.PacketsSent
	t.pktsRecv += s.PacketsReceived
	t.lost += s.PacketsLost
	t.retx += s.PacketsRetransmitted
	t.rotSent += s.KeyRotationsSent
	t.rotRecv += s.KeyRotationsReceived
	t.dropAuth += s.DropsAuth
	t.dropReplay += s.DropsReplay
	t.dropMalformed += s.DropsMalformed
	t.dropCustm += s.DropsCustomUnregistered
}

// NewCollector returns a Collector with no nodes; add them with Add.
func NewCollector(opts *Options) *Collector {
	c := &Collector{minSweep: minSweep}
	if opts != nil {
		c.perSession = opts.PerSession
	}
	return c
}

// Add exports n under the label node=name. It may be called before or
// after the Collector is registered. It returns ErrNodeName for an empty
// name and ErrDuplicateNode when name or n was added before.
func (c *Collector) Add(name string, n *stt.Node) error {
	if name == "" {
		return ErrNodeName
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.nodes {
		if st.name == name || st.node == n {
			return fmt.Errorf("%w: %q", ErrDuplicateNode, name)
		}
	}
	c.nodes = append(c.nodes, &nodeState{
		name:    name,
		node:    n,
		live:    make(map[*stt.Session]struct{}),
		gone:    make(map[*stt.Session]struct{}),
		sweepAt: c.minSweep,
	})
	return nil
}

// Track makes sure s, a session of n, is counted even if it closes before
// the next scrape: when it closes, its final counters join the totals.
// Call it as soon as Connect or Accept returns; a session already closed is
// not added. Sessions that are not tracked are picked up by scrapes while
// they are open. Track does nothing when n was not added. It does not block on the
// network; it occasionally lists n's sessions to forget closed ones.
func (c *Collector) Track(n *stt.Node, s *stt.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state(n)
	if st == nil {
		return
	}
	if _, ok := st.gone[s]; ok {
		return
	}
	if closed(s) {
		// Already closed: it may have been folded and forgotten, and
		// counting it twice would break the totals' monotonicity, so it
		// counts only if a scrape saw it open.
		return
	}
	st.live[s] = struct{}{}
	if len(st.live) >= st.sweepAt {
		st.sweep(n.Sessions())
		st.sweepAt = max(c.minSweep, 2*len(st.live))
	}
}

func (c *Collector) state(n *stt.Node) *nodeState {
	for _, st := range c.nodes {
		if st.node == n {
			return st
		}
	}
	return nil
}

// closed reports whether s has ended.
func closed(s *stt.Session) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

// sweep folds closed sessions into retired exactly once. listed is the
// node's current session list.
func (st *nodeState) sweep(listed []*stt.Session) {
	inList := make(map[*stt.Session]struct{}, len(listed))
	for _, s := range listed {
		inList[s] = struct{}{}
		if _, ok := st.gone[s]; ok {
			continue
		}
		if closed(s) {
			// Closed but still listed: fold it now and remember it until
			// the node drops it.
			st.fold(s)
			st.gone[s] = struct{}{}
			continue
		}
		st.live[s] = struct{}{}
	}
	for s := range st.live {
		if closed(s) {
			st.fold(s)
			if _, ok := inList[s]; ok {
				st.gone[s] = struct{}{}
			}
		}
	}
	for s := range st.gone {
		if _, ok := inList[s]; !ok {
			delete(st.gone, s)
		}
	}
}

// fold adds a closed session's final counters to retired and forgets it.
func (st *nodeState) fold(s *stt.Session) {
	ss := s.Stats()
	st.retired.add(&ss)
	delete(st.live, s)
}

// Describe sends the descriptor of every metric the Collector can export,
// the WebSocket ones included whether or not a relay or tunnel was added.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	for _, d := range wsDescs {
		ch <- d
	}
	if c.perSession {
		for _, d := range sessionDescs {
			ch <- d
		}
	}
}

// Collect reads every node's, relay's and tunnel's counters and sends them
// as const metrics. It allocates the metrics it sends and a few small
// slices; it takes each node's session lock briefly (Node.Sessions,
// Node.Stats), reads the relays' and tunnels' atomic counters, and never
// blocks on the network.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.nodes {
		c.collectNode(ch, st)
	}
	for i := range c.wsServers {
		collectWSServer(ch, &c.wsServers[i])
	}
	for i := range c.wsTunnels {
		collectWSTunnel(ch, &c.wsTunnels[i])
	}
}

func (c *Collector) collectNode(ch chan<- prometheus.Metric, st *nodeState) {
	n, name := st.node, st.name
	ns := n.Stats()
	st.sweep(n.Sessions())

	sum := st.retired
	var (
		streams int
		rtts    []float64
	)
	for s := range st.live {
		ss := s.Stats()
		sum.add(&ss)
		if closed(s) {
			continue // counted; folded with its final counters next sweep
		}
		streams += ss.ActiveStreams
		if ss.SmoothedRTT > 0 {
			rtts = append(rtts, ss.SmoothedRTT.Seconds())
		}
		if c.perSession {
			collectSession(ch, name, s, &ss)
		}
	}

	gauge(ch, descInfo, 1, name, n.ID().String(), n.Suite(), n.Addr().String())
	gauge(ch, descSessions, float64(ns.Sessions), name)
	gauge(ch, descStreams, float64(streams), name)

	// Handshakes (control.Stats).
	h := &ns.Handshake
	counter(ch, descHandshakes, h.HandshakesOK, name, "initiator")
	counter(ch, descHandshakes, h.Accepted, name, "responder")
	for _, f := range []struct {
		cause string
		v     uint64
	}{
		{"timeout", h.FailedTimeout},
		{"auth", h.FailedAuth},
		{"seed_mismatch", h.SeedMismatch},
		{"unreachable", h.FailedUnreachable},
		{"no_state_proof", h.NoStateProofs},
		{"malformed", h.Malformed},
		{"replay", h.Replays},
		{"stale", h.Stale},
		{"cookie_reject", h.CookieRejects},
		{"queue_drop", h.QueueDrops},
		{"half_open_evicted", h.HalfOpenEvicted},
		{"half_open_expired", h.HalfOpenExpired},
		{"collision", h.Collisions},
	} {
		counter(ch, descHandshakeFailures, f.v, name, f.cause)
	}
	counter(ch, descHandshakeRetransmits, h.Retransmits, name)
	counter(ch, descCookiesSent, h.CookiesSent, name)
	counter(ch, descRejectsSent, h.RejectsSent, name)
	counter(ch, descRejectHints, h.RejectHints, name)
	counter(ch, descHandshakeRestarts, h.Restarts, name)
	counter(ch, descAmplification, h.AmplificationCap, name)
	counter(ch, descPoolMisses, h.PoolMisses, name)

	// Session traffic, past sessions included.
	counter(ch, descBytes, sum.bytesSent, name, dirSent)
	counter(ch, descBytes, sum.bytesRecv, name, dirReceived)
	counter(ch, descMessages, sum.msgsSent, name, dirSent)
	counter(ch, descMessages, sum.msgsRecv, name, dirReceived)
	counter(ch, descPackets, sum.pktsSent, name, dirSent)
	counter(ch, descPackets, sum.pktsRecv, name, dirReceived)
	counter(ch, descLost, sum.lost, name)
	counter(ch, descRetransmitted, sum.retx, name)
	counter(ch, descRotations, sum.rotSent, name, dirSent)
	counter(ch, descRotations, sum.rotRecv, name, dirReceived)

	// Drops: per-session causes summed, then the engine's.
	d := &ns.Dataplane
	counter(ch, descDrops, sum.dropAuth, name, "auth")
	counter(ch, descDrops, sum.dropReplay, name, "replay")
	counter(ch, descDrops, sum.dropMalformed, name, "malformed")
	counter(ch, descDrops, sum.dropCustm, name, "custom_unregistered")
	counter(ch, descDrops, d.DropsUnknownSession, name, "unknown_session")
	counter(ch, descDrops, d.DropsMalformed, name, "malformed_datagram")
	counter(ch, descDrops, d.DropsHandoff, name, "handoff")
	counter(ch, descHandoffs, d.Handoffs, name)
	counter(ch, descSocketErrors, d.ReadErrors, name, "read")
	counter(ch, descSocketErrors, d.WriteErrors, name, "write")
	gauge(ch, descSteering, boolGauge(d.Steered), name)

	// RTT quantiles over the open sessions (no series without a sample).
	if len(rtts) > 0 {
		slices.Sort(rtts)
		for _, q := range rttQuantiles {
			gauge(ch, descRTT, quantile(rtts, q), name, strconv.FormatFloat(q, 'g', -1, 64))
		}
	}

	// Sockets (batch.Stats).
	for i, b := range ns.Batch {
		sock := strconv.Itoa(i)
		gauge(ch, descGSO, boolGauge(b.GSO), name, sock)
		gauge(ch, descGRO, boolGauge(b.GRO), name, sock)
		counter(ch, descRxOverflow, b.RxQueueOverflow, name, sock)
		counter(ch, descRxTruncated, b.RxTruncated, name, sock)
		counter(ch, descTxLost, b.TxLost, name, sock)
		counter(ch, descGSOFallbacks, b.GSOFallbacks, name, sock)
		counter(ch, descDatagrams, b.TxMessages, name, sock, dirSent)
		counter(ch, descDatagrams, b.RxMessages, name, sock, dirReceived)
		counter(ch, descSyscalls, b.TxBatches, name, sock, dirSent)
		counter(ch, descSyscalls, b.RxBatches, name, sock, dirReceived)
	}
}

// collectSession sends one open session's series.
func collectSession(ch chan<- prometheus.Metric, node string, s *stt.Session, ss *stt.SessionStats) {
	l := []string{node, s.ID().String(), s.PeerID().Short()}
	with := func(v string) []string { return append(slices.Clip(l), v) }
	counter(ch, descSessBytes, ss.BytesSent, with(dirSent)...)
	counter(ch, descSessBytes, ss.BytesReceived, with(dirReceived)...)
	counter(ch, descSessPackets, ss.PacketsSent, with(dirSent)...)
	counter(ch, descSessPackets, ss.PacketsReceived, with(dirReceived)...)
	counter(ch, descSessLost, ss.PacketsLost, l...)
	counter(ch, descSessRetransmitted, ss.PacketsRetransmitted, l...)
	counter(ch, descSessRotations, ss.KeyRotationsSent, with(dirSent)...)
	counter(ch, descSessRotations, ss.KeyRotationsReceived, with(dirReceived)...)
	counter(ch, descSessDrops, ss.DropsAuth, with("auth")...)
	counter(ch, descSessDrops, ss.DropsReplay, with("replay")...)
	counter(ch, descSessDrops, ss.DropsMalformed, with("malformed")...)
	counter(ch, descSessDrops, ss.DropsCustomUnregistered, with("custom_unregistered")...)
	gauge(ch, descSessSRTT, ss.SmoothedRTT.Seconds(), l...)
	gauge(ch, descSessMinRTT, ss.MinRTT.Seconds(), l...)
	gauge(ch, descSessCwnd, float64(ss.CongestionWindow), l...)
	gauge(ch, descSessStreams, float64(ss.ActiveStreams), l...)
}

// quantile returns the q-quantile (0..1) of sorted, non-empty v by nearest
// rank, the definition stt bench uses for its RTT percentiles.
func quantile(sorted []float64, q float64) float64 {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}
