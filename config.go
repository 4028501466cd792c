package stt

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/stt-go/stt/dataplane"
	"github.com/stt-go/stt/stc"
)

// Config configures a Node. Only the two seeds are required; every other
// field has a documented default at its zero value. NewNode copies the
// Config, so the caller may reuse it.
type Config struct {
	// NodeSeed is this node's secret identity seed (≥ 32 bytes, from
	// `stt keygen`). The node's static X25519 key and its node ID — the
	// seed's "fingerprint from DNA" — are derived from it deterministically.
	NodeSeed []byte
	// SharedSeed is the pre-shared secret (≥ 32 bytes) every peer of this
	// node holds; handshakes with nodes holding another seed fail.
	SharedSeed []byte
	// ListenAddr is the UDP address to listen on, "host:port". Default
	// ":0" (every interface, a free port).
	ListenAddr string

	// Loops is the number of event loops (one UDP socket each, with
	// SO_REUSEPORT). Default GOMAXPROCS, clamped to [1, 64].
	Loops int
	// Suite forces the traffic AEAD: "aes256gcm", "chacha20poly1305" or
	// "aes128gcm" is then the only suite this node offers and accepts (a
	// peer that does not offer it is refused). Default: every available
	// suite, AES-256-GCM first when the CPU has AES and carry-less multiply
	// instructions, ChaCha20-Poly1305 otherwise (the STT_SUITE environment
	// variable also overrides). An unknown name is an error.
	Suite string
	// DisableHybrid turns off the ML-KEM-768 part of the handshake (hybrid
	// post-quantum is on by default). A responder accepts both modes.
	DisableHybrid bool
	// AllowPeers, when non-empty, is the only set of peer node IDs this node
	// accepts, in either role.
	AllowPeers []NodeID
	// HandshakeTimeout bounds Connect (together with its context). Default
	// 10 s.
	HandshakeTimeout time.Duration
	// DisableResumption turns off session resumption (docs/HANDSHAKE.md
	// "Resumption"), on by default: in every session this node accepts it
	// hands the peer a ticket, and a Connect to an address it holds a valid
	// ticket for runs the one-round-trip resumed handshake — fresh
	// ephemeral keys on both sides (forward secrecy), no 0-RTT data — and
	// falls back to the full handshake within the same Connect when the
	// peer refuses the ticket. Tickets live in memory only, one per peer
	// address, for at most the peer's ticket lifetime (an hour here).
	// Disabled, the node issues no tickets, refuses RESUMEs and always
	// runs the full handshake.
	DisableResumption bool
	// ForceCookies makes this node answer every HELLO without a valid
	// cookie with a COOKIE_REPLY, as it does under load: a testing aid for
	// other implementations' cookie path (docs/HANDSHAKE.md §COOKIE_REPLY;
	// `stt listen --force-cookies`). It costs every peer one extra round
	// trip. Off by default.
	ForceCookies bool
	// RejectWrongSeed answers HELLOs that do not open under our shared seed
	// with a rate-limited REJECT, so a misconfigured peer's Connect ends
	// with ErrAuthentication ("rejected") instead of ErrHandshakeTimeout
	// ("no answer") — at its handshake timeout, since a REJECT cannot be
	// authenticated and is only a hint. Off by default: it reveals that a
	// node listens here.
	RejectWrongSeed bool

	// CongestionControl picks the congestion controller: "bbr" (default)
	// or "cubic". BBR (v3: startup, drain, bandwidth probing, loss bounds,
	// ProbeRTT) models the path's bandwidth and round-trip time and paces
	// at the model's rate: it keeps queues short and holds its rate under
	// random loss, where CUBIC, which backs off on every loss, collapses
	// (docs/TRANSPORT.md §Congestion control). CUBIC is kept for paths
	// where loss-based control is wanted. Another value is an error.
	CongestionControl string

	// MaxDatagram is the ceiling of path MTU discovery, in bytes of UDP
	// payload: sessions start sending 1452-byte datagrams (less if this or
	// the peer's ceiling is lower), probe upward with padded packets whose
	// loss is not taken as congestion, and use the largest size the path
	// carries up to this ceiling — 1472 on an Ethernet path, 8972 with
	// jumbo frames, 65 000 on loopback — falling back when large packets
	// stop getting through (RFC 8899; docs/TRANSPORT.md §Path MTU). It is
	// also the largest datagram this node accepts (the peer's senders see
	// it as MaxDatagram). Default 65 000; clamped to [1232, 65000]. Set
	// 1452 to keep the fixed size of earlier versions.
	MaxDatagram int
	// MaxStreams is how many streams the peer may have open towards us at
	// once. Default 256.
	MaxStreams int
	// StreamWindow and MaxStreamWindow are the initial and maximum
	// per-stream receive credit in bytes (auto-tuned between them). Defaults
	// 512 KiB and 16 MiB.
	StreamWindow, MaxStreamWindow int
	// SessionWindow and MaxSessionWindow are the same for a whole session.
	// Defaults 1 MiB and 24 MiB.
	SessionWindow, MaxSessionWindow int
	// SendBuffer is the most unacknowledged bytes a stream buffers before
	// Write blocks. A stream starts with 1 MiB (or SendBuffer if smaller)
	// and, while its writer finds the buffer full, grows toward SendBuffer
	// when the path needs it: to twice the congestion window net of
	// queueing (cwnd x min RTT / smoothed RTT), in steps of at least 2x.
	// Default 4 MiB.
	SendBuffer int
	// MaxMessageSize bounds SendMessage/ReceiveMessage. Default 2 MiB (the
	// seed's frame limit).
	MaxMessageSize int
	// IdleTimeout closes a session that heard nothing authenticated for this
	// long. Default 30 s.
	IdleTimeout time.Duration
	// MaxProbes is how many consecutive probe timeouts (each twice the
	// previous, starting near the round-trip time) may pass without any
	// acknowledgement, while data is in flight, before the peer is declared
	// unresponsive and the session ends with CodeUnresponsive. Default 6:
	// ~2-3 s on loopback, ~10-15 s at 100 ms RTT. Negative disables (the
	// idle timeout still applies).
	MaxProbes int
	// KeepAlive is the PING interval of an otherwise idle session. Default
	// 10 s; negative disables.
	KeepAlive time.Duration
	// HibernateAfter is how long a session with nothing in flight or
	// queued stays quiet before it releases its cipher contexts, replay
	// bitmap and loss-recovery state, keeping only its secrets and
	// counters (about 1.4 KiB per idle session instead of 5.6). The next
	// packet, stream operation or keepalive rebuilds them in a few
	// microseconds, and congestion control restarts from the initial
	// window as after any idle period. Default 1 s; negative disables.
	HibernateAfter time.Duration
	// RotateBytes, RotateAfter and RotateMessages are the key-rotation
	// thresholds per direction: bytes (default 1 GiB), age (default 1 h)
	// and packets (default 100 000). The AEAD's usage limit always applies,
	// and every session rotates once early (after ~100 packets).
	RotateBytes    uint64
	RotateAfter    time.Duration
	RotateMessages uint64

	// DisableGSO, DisableGRO and DisableSteering turn off UDP segmentation
	// offload, receive offload and the reuseport BPF steering program (the
	// STT_DISABLE_GSO/GRO/STEERING environment variables do the same).
	DisableGSO, DisableGRO, DisableSteering bool

	// Logger receives rare events (warnings about socket buffers, session
	// closes at Debug). Nil means silent. Drops are counted, never logged.
	Logger *slog.Logger
}

// MinSeedLen is the minimum length of NodeSeed and SharedSeed.
const MinSeedLen = stc.MinSeedLen

func (c *Config) validate() error {
	if len(c.NodeSeed) < MinSeedLen {
		return fmt.Errorf("stt: Config.NodeSeed must be at least %d bytes (got %d)", MinSeedLen, len(c.NodeSeed))
	}
	if len(c.SharedSeed) < MinSeedLen {
		return fmt.Errorf("stt: Config.SharedSeed must be at least %d bytes (got %d)", MinSeedLen, len(c.SharedSeed))
	}
	switch c.CongestionControl {
	case "", dataplane.CongestionBBR, dataplane.CongestionCubic:
	default:
		return fmt.Errorf("stt: Config.CongestionControl %q: want %q or %q", c.CongestionControl, dataplane.CongestionBBR, dataplane.CongestionCubic)
	}
	if c.Suite != "" {
		if _, err := stc.ParseSuite(c.Suite); err != nil {
			return fmt.Errorf("stt: Config.Suite: %w", err)
		}
	}
	return nil
}

func (c *Config) dataplaneConfig() *dataplane.Config {
	return &dataplane.Config{
		MaxDatagram:      c.MaxDatagram,
		MaxStreams:       c.MaxStreams,
		StreamWindow:     c.StreamWindow,
		MaxStreamWindow:  c.MaxStreamWindow,
		SessionWindow:    c.SessionWindow,
		MaxSessionWindow: c.MaxSessionWindow,
		SendBuffer:       c.SendBuffer,
		MaxMessageSize:   c.MaxMessageSize,
		IdleTimeout:      c.IdleTimeout,
		MaxProbes:        c.MaxProbes,
		KeepAlive:        c.KeepAlive,
		HibernateAfter:   c.HibernateAfter,
		RotateBytes:      c.RotateBytes,
		RotateAfter:      c.RotateAfter,
		RotateMessages:   c.RotateMessages,
		Logger:           c.Logger,

		CongestionControl: c.CongestionControl,
	}
}
