package recovery

import (
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// Delivery-rate estimation, draft-cheng-iccrg-delivery-rate-estimation as
// folded into draft-ietf-ccwg-bbr §4.1 ("Delivery Rate Samples"). Sent keeps
// the connection state (C.delivered, C.delivered_time, C.first_send_time,
// C.lost, C.app_limited), stamps every InFlight packet it records with a
// snapshot of it (SentPacket.Delivered ... AppLimited), and turns each ACK
// frame into one RateSample: the rate at which the network delivered data
// between the send of the newest acknowledged packet and its
// acknowledgement, capped by the rate at which that flight was sent (ACK
// compression cannot inflate it), and marked application-limited when the
// sender ran out of data during the interval. Only InFlight packets count:
// ACK-only packets are neither delivered nor lost data.

// RateSample describes one ACK frame (draft-ietf-ccwg-bbr §2.3 and §4.1.2.3,
// the RS.* variables). Byte counts cover InFlight packets only.
type RateSample struct {
	// DeliveryRate is RS.delivery_rate in bytes per second:
	// Delivered / Interval, or 0 when the frame gives no valid sample
	// (nothing newly acknowledged, or Interval below the minimum RTT).
	DeliveryRate float64
	// Interval is RS.interval, the longer of SendElapsed and AckElapsed.
	Interval time.Duration
	// SendElapsed and AckElapsed are RS.send_elapsed and RS.ack_elapsed of
	// the newest acknowledged packet.
	SendElapsed, AckElapsed time.Duration
	// Delivered is RS.delivered: bytes delivered over Interval.
	Delivered uint64
	// PriorDelivered is RS.prior_delivered: the history's delivered count
	// when the newest acknowledged packet was sent (P.delivered).
	PriorDelivered uint64
	// PriorTime is RS.prior_time (P.delivered_time of that packet).
	PriorTime monotime.Time
	// RTT is RS.rtt: now minus the send time of the newest acknowledged
	// packet, without ACK-delay adjustment; negative when nothing InFlight
	// was newly acknowledged.
	RTT time.Duration
	// IsAppLimited is RS.is_app_limited: the newest acknowledged packet was
	// sent while the sender was marked application-limited (MarkAppLimited).
	IsAppLimited bool
	// NewlyAcked and NewlyLost are RS.newly_acked and RS.newly_lost: bytes
	// acknowledged and declared lost by this frame.
	NewlyAcked, NewlyLost uint64
	// Lost is RS.lost: bytes declared lost from the send of the newest
	// acknowledged packet up to this frame, this frame's losses included.
	Lost uint64
	// TxInFlight is RS.tx_in_flight: bytes in flight right after the newest
	// acknowledged packet was sent, itself included.
	TxInFlight uint64
	// LastAckedPN is RS.last_acked_packet_id, valid when RTT >= 0.
	LastAckedPN uint64
	// TotalDelivered and TotalLost are the history's C.delivered and C.lost
	// after this frame.
	TotalDelivered, TotalLost uint64
}

// HasData reports whether the frame newly acknowledged an InFlight packet
// (RS.has_data): RTT, PriorDelivered, TxInFlight and the elapsed times are
// valid only then.
func (rs *RateSample) HasData() bool { return rs.RTT >= 0 }

// deliveryState is the per-connection (C.*) state of the estimator.
type deliveryState struct {
	delivered     uint64        // C.delivered
	deliveredTime monotime.Time // C.delivered_time
	firstSentTime monotime.Time // C.first_send_time, on the paced clock (sendStamp)
	newestSent    monotime.Time // the send time (SentPacket.Time) of the newest delivered packet: IsNewestPacket's order
	lost          uint64        // C.lost
	appLimited    uint64        // C.app_limited: 0, or the delivered count the bubble ends at

	rs         RateSample
	lostAtSend uint64 // P.lost of the newest acknowledged packet

	// marks are the delivery state after recent ACK frames, a ring of
	// markSlots slots each covering at least markSpacing (the newest state
	// in it); see anchor.
	marks     [markSlots]deliveryMark
	markHead  int // index of the newest mark
	markCount int
}

// deliveryMark is C.delivered, C.delivered_time and C.first_send_time after
// an ACK frame.
type deliveryMark struct {
	slotStart     monotime.Time // when this slot was first written
	deliveredTime monotime.Time
	delivered     uint64
	firstSentTime monotime.Time
}

const (
	// ackBurstGuard: a packet's delivery snapshot (P.delivered,
	// P.delivered_time, P.first_send_time) is the state as of the last ACK
	// frame handled at least this long before the packet was sent, not the
	// very latest. ACKs that reach the sender in a burst — the peer or this
	// host was descheduled for a few milliseconds and the kernel queued
	// what arrived, and both then catch up at once — are handled within
	// microseconds of each other, with packets sent in between. A packet
	// sent after the first of them would otherwise start its sample interval
	// at that late instant while the rest of the burst, delivered during the
	// stall, is counted inside the interval: delivery rates 5-10% above the
	// bottleneck's, which BBR's max filter keeps for two probe cycles and
	// paces at, filling a deep buffer up to its window. Measured on the
	// shared 2-core test machine (make wan, 100 Mbit/s) and reproduced by
	// sim_test.go's stalls. An anchor a few milliseconds older only
	// lengthens the interval and the bytes counted alike, so samples stay
	// unbiased where ACKs come steadily. 1 ms was too short: on the quiet
	// machine, the sample that set BBR's estimate at the end of Startup
	// (100 Mbit/s, 40 ms, 4 BDP queue) came from an anchor ACK handled late —
	// 103.8 Mbit/s of datagrams against the link's 98.1 — and the max filter
	// held it for two cycles, pacing cruise above the link (sender RTT p50
	// 46-70 ms in three runs); with 2 ms the p50 was 45-48 ms in three runs.
	// 4 ms did as well on the emulated path but retransmitted more where
	// hosts stall (sim_test.go's stall rows at the -race scale: 1.00% and
	// 2.01% against 0.69% and 1.61% with 2 ms).
	ackBurstGuard = 2 * time.Millisecond
	// markSpacing and markSlots size the ring of recent delivery states the
	// anchor is chosen from: slots at least 125 µs apart, 16 of them, two
	// guards' worth.
	markSpacing = ackBurstGuard / 8
	markSlots   = 16
)

// onSent is OnPacketSent of draft-ietf-ccwg-bbr §4.1.2.4: p was just recorded
// with inflight bytes already outstanding (p excluded).
func (d *deliveryState) onSent(p *SentPacket, inflight int) {
	if inflight == 0 {
		// Nothing in flight: the sample interval can start now, and older
		// marks would stretch it over the idle time.
		d.firstSentTime, d.deliveredTime = sendStamp(p), p.Time
		d.markCount = 0
		d.mark(p.Time)
	}
	m := d.anchor(p.Time.Add(-ackBurstGuard))
	p.Delivered = m.delivered
	p.DeliveredTime = m.deliveredTime
	p.FirstSentTime = m.firstSentTime
	p.Lost = d.lost
	p.AppLimited = d.appLimited != 0
	p.TxInFlight = uint32(min(uint64(inflight)+uint64(p.Size), 1<<32-1))
}

// mark records the current delivery state at now.
func (d *deliveryState) mark(now monotime.Time) {
	if d.markCount == 0 || now.Sub(d.marks[d.markHead].slotStart) >= markSpacing {
		d.markHead = (d.markHead + 1) % markSlots
		d.marks[d.markHead].slotStart = now
		d.markCount = min(d.markCount+1, markSlots)
	}
	m := &d.marks[d.markHead]
	m.deliveredTime, m.delivered, m.firstSentTime = d.deliveredTime, d.delivered, d.firstSentTime
}

// anchor returns the newest mark whose delivery time is at or before
// cutoff, else the oldest mark kept, else the current state.
func (d *deliveryState) anchor(cutoff monotime.Time) deliveryMark {
	if d.markCount == 0 {
		return deliveryMark{deliveredTime: d.deliveredTime, delivered: d.delivered, firstSentTime: d.firstSentTime}
	}
	i := d.markHead
	for k := 1; k < d.markCount && d.marks[i].deliveredTime > cutoff; k++ {
		i = (i + markSlots - 1) % markSlots
	}
	return d.marks[i]
}

// startAck is InitRateSample: a fresh sample for the frame being processed
// (the totals stay valid if the frame acknowledges nothing new).
func (d *deliveryState) startAck() {
	d.rs = RateSample{RTT: -1, TotalDelivered: d.delivered, TotalLost: d.lost}
	d.lostAtSend = 0
}

// onAcked is UpdateRateSample for one newly acknowledged InFlight packet;
// packets arrive in increasing packet-number order.
func (d *deliveryState) onAcked(now monotime.Time, p *SentPacket) {
	rs := &d.rs
	d.delivered += uint64(p.Size)
	d.deliveredTime = now
	rs.NewlyAcked += uint64(p.Size)
	// IsNewestPacket: the most recently sent packet delivered so far
	// (send time, then packet number, breaks ties).
	if rs.RTT < 0 || p.Time > d.newestSent || (p.Time == d.newestSent && p.PN > rs.LastAckedPN) {
		rs.PriorDelivered = p.Delivered
		rs.PriorTime = p.DeliveredTime
		rs.IsAppLimited = p.AppLimited
		rs.SendElapsed = max(sendStamp(p).Sub(p.FirstSentTime), 0)
		rs.AckElapsed = now.Sub(p.DeliveredTime)
		rs.LastAckedPN = p.PN
		rs.TxInFlight = uint64(p.TxInFlight)
		rs.RTT = max(now.Sub(p.Time), 0)
		d.lostAtSend = p.Lost
		d.firstSentTime = sendStamp(p)
		d.newestSent = p.Time
	}
}

// sendStamp is the send time of p for delivery-rate samples: its paced
// departure time if the sender recorded one, else when it was sent.
func sendStamp(p *SentPacket) monotime.Time {
	if p.PacedTime != 0 {
		return p.PacedTime
	}
	return p.Time
}

// finishAck is GenerateRateSample, after the frame's acknowledgements and
// the losses they revealed (newlyLost bytes). rtt.Min() is C.min_rtt.
func (d *deliveryState) finishAck(rtt *RTT, newlyLost uint64) {
	rs := &d.rs
	// The application-limited bubble has left the pipe once delivery passed it.
	if d.appLimited != 0 && d.delivered > d.appLimited {
		d.appLimited = 0
	}
	rs.NewlyLost = newlyLost
	rs.TotalDelivered, rs.TotalLost = d.delivered, d.lost
	if rs.RTT < 0 {
		return // nothing delivered on this ACK
	}
	d.mark(d.deliveredTime)
	rs.Lost = d.lost - d.lostAtSend
	rs.Interval = max(rs.SendElapsed, rs.AckElapsed)
	rs.Delivered = d.delivered - rs.PriorDelivered
	// An interval shorter than the minimum RTT cannot be a full flight: no
	// reliable rate (the draft's guard against spurious retransmissions and
	// ACK compression).
	if rs.Interval < rtt.Min() || rs.Interval <= 0 {
		return
	}
	rs.DeliveryRate = float64(rs.Delivered) / rs.Interval.Seconds()
}

// MarkAppLimited records that the sender has run out of data to send while
// congestion control and pacing would have let it send
// (MarkConnectionAppLimited, draft-ietf-ccwg-bbr §4.1.2.6): every packet sent
// until the data in flight now has been delivered carries AppLimited, so the
// rate samples it produces do not lower the bandwidth estimate. Call it
// whenever a send opportunity finds nothing to send. It does not allocate.
func (s *Sent) MarkAppLimited() {
	s.rate.appLimited = max(s.rate.delivered+uint64(s.bytesInFlight), 1)
}

// AppLimited reports whether the sender is marked application-limited:
// packets sent now carry AppLimited.
func (s *Sent) AppLimited() bool { return s.rate.appLimited != 0 }

// RateSample returns the sample of the last OnAck (an empty one, RTT < 0,
// before the first). The pointer stays valid, and the sample unchanged, until
// the next OnAck.
func (s *Sent) RateSample() *RateSample {
	if s.rate.rs == (RateSample{}) {
		s.rate.rs.RTT = -1
	}
	return &s.rate.rs
}

// Delivered returns the bytes of InFlight packets acknowledged so far
// (C.delivered).
func (s *Sent) Delivered() uint64 { return s.rate.delivered }

// Lost returns the bytes of InFlight packets declared lost so far (C.lost).
func (s *Sent) Lost() uint64 { return s.rate.lost }
