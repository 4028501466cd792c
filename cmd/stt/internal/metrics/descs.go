package metrics

import "github.com/prometheus/client_golang/prometheus"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// Node-level metrics; every one carries the node label.
var (
	descInfo     = desc("node_info", "Constant 1 with the node's full ID, preferred AEAD suite and bound UDP address.", "node", "id", "suite", "addr")
	descSessions = desc("sessions", "Sessions currently open.", "node")
	descStreams  = desc("active_streams", "Streams currently open, summed over open sessions.", "node")

	descHandshakes           = desc("handshakes_completed_total", "Handshakes that produced a session, by our role (initiator: Connect returned; responder: session installed).", "node", "role")
	descHandshakeFailures    = desc("handshake_failures_total", "Failed handshakes and rejected handshake packets, by cause: timeout, auth, seed_mismatch (a HELLO that does not open under our shared seed: the peer holds another seed, or the packet is forged), unreachable, no_state_proof, malformed, replay, stale, cookie_reject, queue_drop, half_open_evicted, half_open_expired, collision.", "node", "cause")
	descHandshakeRetransmits = desc("handshake_retransmits_total", "HELLO and AUTH_PROOF retransmissions.", "node")
	descCookiesSent          = desc("handshake_cookies_sent_total", "COOKIE_REPLY messages sent (the responder was under load).", "node")
	descRejectsSent          = desc("handshake_rejects_sent_total", "REJECT messages sent to peers holding another shared seed.", "node")
	descRejectHints          = desc("handshake_reject_hints_total", "REJECT messages received by dials (unauthenticated: reported only when the dial times out).", "node")
	descHandshakeRestarts    = desc("handshake_restarts_total", "Dials that started over with a fresh HELLO after an AUTH_PROOF went unconfirmed.", "node")
	descAmplification        = desc("handshake_amplification_limited_total", "Handshake sends suppressed by the 3x anti-amplification limit.", "node")
	descPoolMisses           = desc("handshake_keypair_pool_misses_total", "Ephemeral key pairs generated inline because the pool was empty.", "node")

	descBytes         = desc("bytes_total", "Stream payload bytes written by the application (sent) or delivered to it (received), over all sessions including closed ones.", "node", "direction")
	descMessages      = desc("messages_total", "Stream messages sent and received, over all sessions including closed ones.", "node", "direction")
	descPackets       = desc("packets_total", "TRANSPORT packets sent and received, over all sessions including closed ones.", "node", "direction")
	descLost          = desc("packets_lost_total", "Ack-eliciting packets declared lost by loss detection (their data is sent again), over all sessions including closed ones.", "node")
	descRetransmitted = desc("packets_retransmitted_total", "Probe timeouts that re-queued the oldest unacknowledged packet's data (RFC 9002 §6.2.4), over all sessions including closed ones.", "node")
	descRotations     = desc("key_rotations_total", "Key rotations initiated (sent) and followed (received), over all sessions including closed ones.", "node", "direction")

	descDrops        = desc("drops_total", "Received packets dropped, by cause: auth (AEAD open failed), replay, malformed (bad frames in an authentic packet), custom_unregistered (application frame type without a handler), unknown_session, malformed_datagram (too short or unknown kind), handoff (lost passing to the owner loop).", "node", "cause")
	descHandoffs     = desc("handoffs_total", "Datagrams passed from the receiving loop to the session's owner loop.", "node")
	descSocketErrors = desc("socket_errors_total", "UDP read and write errors reported to the data plane.", "node", "op")
	descSteering     = desc("steering_enabled", "1 when BPF steering of TRANSPORT packets to their owner socket is attached.", "node")

	descRTT = desc("smoothed_rtt_seconds", "Quantiles across the open sessions of their smoothed RTT at scrape time (one sample per session, not per packet; absent while no session has a sample). The label is not named quantile because this is a gauge, not a summary.", "node", "session_quantile")

	descGSO          = desc("socket_gso", "1 when the socket coalesces sends with UDP GSO.", "node", "socket")
	descGRO          = desc("socket_gro", "1 when the socket receives coalesced trains (UDP GRO).", "node", "socket")
	descRxOverflow   = desc("socket_rx_queue_overflow_total", "Datagrams the kernel dropped because the socket's receive queue was full (SO_RXQ_OVFL).", "node", "socket")
	descRxTruncated  = desc("socket_rx_truncated_total", "Received datagrams dropped because they did not fit the receive buffer.", "node", "socket")
	descTxLost       = desc("socket_tx_lost_total", "Datagrams the kernel refused (ENOBUFS, EPERM, unreachable); sending went on past them.", "node", "socket")
	descGSOFallbacks = desc("socket_gso_fallbacks_total", "Times the kernel refused GSO and it was turned off for the socket.", "node", "socket")
	descDatagrams    = desc("socket_datagrams_total", "Datagrams handed to or received from the kernel (each GSO/GRO segment counts once).", "node", "socket", "direction")
	descSyscalls     = desc("socket_syscalls_total", "Send and receive system calls that moved at least one datagram.", "node", "socket", "direction")
)

// allDescs lists the node-level descriptors for Describe.
var allDescs = []*prometheus.Desc{
	descInfo, descSessions, descStreams,
	descHandshakes, descHandshakeFailures, descHandshakeRetransmits, descCookiesSent, descRejectsSent, descRejectHints, descHandshakeRestarts, descAmplification, descPoolMisses,
	descBytes, descMessages, descPackets, descLost, descRetransmitted, descRotations,
	descDrops, descHandoffs, descSocketErrors, descSteering,
	descRTT,
	descGSO, descGRO, descRxOverflow, descRxTruncated, descTxLost, descGSOFallbacks, descDatagrams, descSyscalls,
}

// Per-session metrics (Options.PerSession), labelled node, session (the
// 16-hex-digit session ID) and peer (the peer node ID's first 8 hex digits).
var (
	descSessBytes         = desc("session_bytes_total", "Stream payload bytes of one open session.", "node", "session", "peer", "direction")
	descSessPackets       = desc("session_packets_total", "TRANSPORT packets of one open session.", "node", "session", "peer", "direction")
	descSessLost          = desc("session_packets_lost_total", "Ack-eliciting packets of one open session declared lost.", "node", "session", "peer")
	descSessRetransmitted = desc("session_packets_retransmitted_total", "Probe timeouts of one open session that re-queued unacknowledged data.", "node", "session", "peer")
	descSessRotations     = desc("session_key_rotations_total", "Key rotations of one open session.", "node", "session", "peer", "direction")
	descSessDrops         = desc("session_drops_total", "Packets of one open session dropped, by cause (auth, replay, malformed, custom_unregistered).", "node", "session", "peer", "cause")
	descSessSRTT          = desc("session_smoothed_rtt_seconds", "Smoothed RTT of one open session.", "node", "session", "peer")
	descSessMinRTT        = desc("session_min_rtt_seconds", "Minimum RTT seen on one open session.", "node", "session", "peer")
	descSessCwnd          = desc("session_congestion_window_bytes", "Congestion window of one open session.", "node", "session", "peer")
	descSessStreams       = desc("session_active_streams", "Streams open on one session.", "node", "session", "peer")
)

// sessionDescs lists the per-session descriptors for Describe.
var sessionDescs = []*prometheus.Desc{
	descSessBytes, descSessPackets, descSessLost, descSessRetransmitted, descSessRotations,
	descSessDrops, descSessSRTT, descSessMinRTT, descSessCwnd, descSessStreams,
}

// WebSocket fallback metrics (package transport/ws), present only for a
// relay or tunnel added with AddWSServer or AddWSTunnel. The node label
// names the node the relay feeds or whose datagrams the tunnel carries.
var (
	descWSServerActive            = desc("ws_server_connections_active", "TCP connections the WebSocket relay holds open now, in the HTTP upgrade or upgraded.", "node")
	descWSServerUpgrades          = desc("ws_server_upgrades_total", "WebSocket upgrades the relay completed.", "node")
	descWSServerRefused           = desc("ws_server_refused_total", "Upgrade requests the relay answered with an HTTP error (400, 404, 426, 431, 502, 503), over_limit ones included.", "node")
	descWSServerOverLimit         = desc("ws_server_over_limit_total", "Connections the relay answered 503 because its connection limit was reached (also in stt_ws_server_refused_total).", "node")
	descWSServerHandshakeTimeouts = desc("ws_server_handshake_timeouts_total", "Connections the relay closed for not completing the HTTP upgrade in time.", "node")
	descWSServerIdleTimeouts      = desc("ws_server_idle_timeouts_total", "Connections the relay dropped after three ping intervals of silence.", "node")
	descWSServerProtocolErrors    = desc("ws_server_protocol_errors_total", "Connections the relay failed for a frame breaking RFC 6455 or its message size limit.", "node")
	descWSServerMessages          = desc("ws_server_messages_total", "Binary messages the relay carried: in (from WebSocket clients, sent to the node as datagrams) and out (datagrams from the node, sent to clients).", "node", "direction")
	descWSServerBytes             = desc("ws_server_bytes_total", "Payload bytes of the messages the relay carried, by direction as in stt_ws_server_messages_total.", "node", "direction")
	descWSServerDrops             = desc("ws_server_drops_total", "Datagrams the relay dropped, by cause: queue_full (the connection's queue towards the client was full), backpressure (too many bytes unsent on its TCP connection), oversize (a datagram from the node above the message size limit), send_failed (the UDP socket refused a client's message).", "node", "cause")
	descWSServerUnreachable       = desc("ws_server_target_unreachable_total", "ICMP errors (connection refused) the relay's UDP sockets reported for the node's address.", "node")

	descWSTunnelMessages = desc("ws_tunnel_messages_total", "Messages through the WebSocket tunnel: sent (datagrams from the node, sent to the relay) and received (messages from the relay, delivered to the node).", "node", "direction")
	descWSTunnelBytes    = desc("ws_tunnel_bytes_total", "Payload bytes of the messages through the tunnel, by direction as in stt_ws_tunnel_messages_total.", "node", "direction")
	descWSTunnelDrops    = desc("ws_tunnel_drops_total", "Datagrams the tunnel dropped, by cause: queue_full (the queue towards the relay was full), foreign (from an address other than the node's), oversize (a datagram from the node above the message size limit), no_peer (a message from the relay before the node sent anything), send_failed (the UDP socket refused to deliver to the node).", "node", "cause")
)

// wsDescs lists the WebSocket descriptors for Describe.
var wsDescs = []*prometheus.Desc{
	descWSServerActive, descWSServerUpgrades, descWSServerRefused, descWSServerOverLimit,
	descWSServerHandshakeTimeouts, descWSServerIdleTimeouts, descWSServerProtocolErrors,
	descWSServerMessages, descWSServerBytes, descWSServerDrops, descWSServerUnreachable,
	descWSTunnelMessages, descWSTunnelBytes, descWSTunnelDrops,
}
