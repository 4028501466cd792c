package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stt-go/stt/transport/ws"
)

// WSServerSource is a WebSocket relay's counters; *ws.Server implements it.
// Stats must not block: Collect calls it with the Collector's lock held.
type WSServerSource interface {
	Stats() ws.ServerStats
}

// WSTunnelSource is a WebSocket tunnel's counters; *ws.Tunnel implements
// it. Stats must not block: Collect calls it with the Collector's lock
// held.
type WSTunnelSource interface {
	Stats() ws.TunnelStats
}

// ErrDuplicateWS reports a second WebSocket server, or a second tunnel,
// added under one node name: their series would collide.
var ErrDuplicateWS = errors.New("metrics: WebSocket server or tunnel already added for this node")

// wsEntry is one relay's or tunnel's registration; guarded by
// Collector.mu.
type wsEntry[S any] struct {
	node string
	src  S
}

// wsServerState and wsTunnelState are the relay's and the tunnel's entries.
type (
	wsServerState = wsEntry[WSServerSource]
	wsTunnelState = wsEntry[WSTunnelSource]
)

// addWS appends src to list under node, refusing an empty name and a
// second entry of the same kind (what: "server" or "tunnel") for node.
func addWS[S any](c *Collector, list *[]wsEntry[S], what, node string, src S) error {
	if node == "" {
		return ErrNodeName
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range *list {
		if e.node == node {
			return fmt.Errorf("%w: %s of %q", ErrDuplicateWS, what, node)
		}
	}
	*list = append(*list, wsEntry[S]{node: node, src: src})
	return nil
}

// AddWSServer exports the counters of s, the WebSocket relay (stt listen
// --ws) that feeds the node named node, as the stt_ws_server_* series
// labelled node=node. The node need not have been added. It returns
// ErrNodeName for an empty name and ErrDuplicateWS when a server was
// added under node before. s stays exported, final counters included,
// after it shuts down.
func (c *Collector) AddWSServer(node string, s WSServerSource) error {
	return addWS(c, &c.wsServers, "server", node, s)
}

// AddWSTunnel exports the counters of t, the WebSocket tunnel (stt send or
// bench --via) that carries the datagrams of the node named node, as the
// stt_ws_tunnel_* series labelled node=node. The node need not have been
// added. It returns ErrNodeName for an empty name and ErrDuplicateWS when
// a tunnel was added under node before. t stays exported, final counters
// included, after it closes.
func (c *Collector) AddWSTunnel(node string, t WSTunnelSource) error {
	return addWS(c, &c.wsTunnels, "tunnel", node, t)
}

// Label values of the ws_server direction label (the field names of
// ws.ServerStats); the tunnel uses dirSent and dirReceived like the node.
const (
	dirIn  = "in"  // from WebSocket clients towards the node
	dirOut = "out" // from the node towards WebSocket clients
)

// collectWSServer sends one relay's series: one per ws.ServerStats field
// (or label value).
func collectWSServer(ch chan<- prometheus.Metric, st *wsServerState) {
	s, name := st.src.Stats(), st.node
	gauge(ch, descWSServerActive, float64(s.Active), name)
	counter(ch, descWSServerUpgrades, s.Upgrades, name)
	counter(ch, descWSServerRefused, s.Refused, name)
	counter(ch, descWSServerOverLimit, s.OverLimit, name)
	counter(ch, descWSServerHandshakeTimeouts, s.HandshakeTimeouts, name)
	counter(ch, descWSServerIdleTimeouts, s.IdleTimeouts, name)
	counter(ch, descWSServerProtocolErrors, s.ProtocolErrors, name)
	counter(ch, descWSServerMessages, s.MessagesIn, name, dirIn)
	counter(ch, descWSServerMessages, s.MessagesOut, name, dirOut)
	counter(ch, descWSServerBytes, s.BytesIn, name, dirIn)
	counter(ch, descWSServerBytes, s.BytesOut, name, dirOut)
	counter(ch, descWSServerDrops, s.DropQueueFull, name, "queue_full")
	counter(ch, descWSServerDrops, s.DropBackpressure, name, "backpressure")
	counter(ch, descWSServerDrops, s.DropOversize, name, "oversize")
	counter(ch, descWSServerDrops, s.DropSendFailed, name, "send_failed")
	counter(ch, descWSServerUnreachable, s.TargetUnreachable, name)
}

// collectWSTunnel sends one tunnel's series: one per ws.TunnelStats field
// (or label value).
func collectWSTunnel(ch chan<- prometheus.Metric, st *wsTunnelState) {
	t, name := st.src.Stats(), st.node
	counter(ch, descWSTunnelMessages, t.MessagesSent, name, dirSent)
	counter(ch, descWSTunnelMessages, t.MessagesReceived, name, dirReceived)
	counter(ch, descWSTunnelBytes, t.BytesSent, name, dirSent)
	counter(ch, descWSTunnelBytes, t.BytesReceived, name, dirReceived)
	counter(ch, descWSTunnelDrops, t.DropQueueFull, name, "queue_full")
	counter(ch, descWSTunnelDrops, t.DropForeign, name, "foreign")
	counter(ch, descWSTunnelDrops, t.DropOversize, name, "oversize")
	counter(ch, descWSTunnelDrops, t.DropNoPeer, name, "no_peer")
	counter(ch, descWSTunnelDrops, t.DropSendFailed, name, "send_failed")
}
