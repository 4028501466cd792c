package recovery

import "github.com/stt-go/stt/internal/monotime"

// Controller is a congestion controller: it decides how much data may be in
// flight (Window, CanSend) and how fast it may leave (PacingRate), from the
// events of one session's sent-packet history. BBR (the default) and Cubic
// implement it. Units are bytes and bytes per second; time is an argument.
//
// The session drives it like this (one ACK frame or timer at a time, on the
// loop goroutine; no method is safe for concurrent use, none allocates):
//
//   - before each send decision: CanSend(Sent.BytesInFlight()) and
//     PacingRate(rtt) for the pacer (Pacer.BudgetRate, Pacer.NextSendRate);
//   - after each ack-eliciting packet: OnPacketSent with the bytes in flight
//     before it;
//   - at the end of each send pass: SetAppLimited(true) if the pass ran out
//     of data while CanSend still allowed sending (also call
//     Sent.MarkAppLimited then), SetAppLimited(false) otherwise;
//   - for an ACK frame, Sent.OnAck's callbacks call OnAck per newly
//     acknowledged InFlight packet and OnLoss per InFlight packet declared
//     lost, then, once per frame: OnSpuriousLoss per entry of
//     Sent.SpuriousInLastAck, OnPersistentCongestion if
//     Sent.PersistentCongestion, and OnAckEvent with Sent.RateSample;
//   - for the loss timer, Sent.DetectLost's callback calls OnLoss, then
//     OnPersistentCongestion if Sent.PersistentCongestion.
//
// A Controller and the Sent it listens to are built together: the rate
// samples and the per-packet delivery fields come from that Sent.
type Controller interface {
	// Name identifies the algorithm in stats: "bbr" or "cubic".
	Name() string

	// Window returns the congestion window in bytes.
	Window() int

	// CanSend reports whether another packet may be sent with
	// bytesInFlight outstanding (the window may be overshot by at most one
	// packet).
	CanSend(bytesInFlight int) bool

	// PacingRate returns the rate the pacer should release bytes at, in
	// bytes per second; +Inf disables pacing. rtt is the session's
	// estimator (the initial rate before any bandwidth sample comes from
	// it).
	PacingRate(rtt *RTT) float64

	// SetAppLimited tells the controller whether the sender is
	// application-limited: it had nothing to send while the window and the
	// pacer allowed it.
	SetAppLimited(limited bool)

	// OnPacketSent records an ack-eliciting (InFlight) packet of the given
	// size just sent; bytesInFlight is the count before it was added.
	OnPacketSent(now monotime.Time, bytes, bytesInFlight int)

	// OnAck reacts to one newly acknowledged packet; bytesInFlight still
	// includes it and rtt has taken the frame's sample. Packets that are not
	// InFlight are ignored.
	OnAck(now monotime.Time, p *SentPacket, rtt *RTT, bytesInFlight int)

	// OnLoss reacts to one packet declared lost; bytesInFlight still
	// includes it. Packets that are not InFlight are ignored.
	OnLoss(now monotime.Time, p *SentPacket, bytesInFlight int)

	// OnAckEvent runs once per ACK frame, after its OnAck and OnLoss calls,
	// with the frame's rate sample and the bytes in flight after it.
	OnAckEvent(now monotime.Time, rs *RateSample, rtt *RTT, bytesInFlight int)

	// OnPersistentCongestion reacts to RFC 9002 §7.6 persistent congestion
	// (Sent.PersistentCongestion after the losses were reported).
	OnPersistentCongestion()

	// OnSpuriousLoss reports that a packet declared lost at lostAt was
	// acknowledged after all; once every loss of a congestion episode has
	// proved spurious, its reduction is undone.
	OnSpuriousLoss(lostAt monotime.Time)
}

// Both controllers satisfy the interface without boxing on the hot path (the
// session holds the interface value; method calls do not allocate).
var (
	_ Controller = (*Cubic)(nil)
	_ Controller = (*BBR)(nil)
)
