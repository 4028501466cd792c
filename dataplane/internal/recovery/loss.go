package recovery

import (
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

const (
	// PacketThreshold is RFC 9002 §6.1.1's kPacketThreshold: a packet is lost
	// once a packet sent 3 packet numbers later is acknowledged.
	PacketThreshold = 3

	// persistentCongestionThreshold is RFC 9002 §7.6.1's
	// kPersistentCongestionThreshold: losses spanning 3 PTOs collapse the
	// window.
	persistentCongestionThreshold = 3
)

// OnAck processes one ACK frame (RFC 9002 §A.7): ranges in descending order,
// as the frame carries them, and the ACK delay the peer reported. It first
// validates the whole frame; on error it changes nothing and returns an
// *AckError wrapping ErrAckRanges (ranges not descending and disjoint) or
// ErrAckUnsent (a packet number beyond the largest sent, or deliberately
// skipped), and the caller closes the session. Acknowledgements of packets
// already acknowledged, declared lost or forgotten are ignored.
//
// For a valid frame it updates the RTT from the largest acknowledged packet if
// that packet is newly acknowledged and any newly acknowledged packet is
// ack-eliciting (the handshake is confirmed before the data plane runs), then
// calls acked(p) for each newly acknowledged packet in increasing packet-number
// order, then runs loss detection (PacketThreshold, 9/8 RTT time threshold,
// Granularity floor, both widened after spurious losses: reorder.go) and
// calls lost(p) for each packet declared lost, also in increasing order.
// During either callback BytesInFlight still includes p. Once the callbacks
// are done, RateSample describes the frame (draft-ietf-ccwg-bbr §4.1: the
// delivery rate measured by its newest acknowledged packet, newly acked and
// lost bytes), for the congestion controller's OnAckEvent.
// largestNewlyAcked reports whether the frame's largest packet number was
// newly acknowledged (the caller then resets its PTO count). It does not
// allocate except to build the error.
func (s *Sent) OnAck(now monotime.Time, ranges []AckRange, ackDelay time.Duration, rtt *RTT,
	acked, lost func(p *SentPacket)) (largestNewlyAcked bool, err error) {
	if len(ranges) == 0 {
		return false, nil
	}
	// Validate before touching anything.
	for i, r := range ranges {
		if r.Smallest > r.Largest || (i > 0 && r.Largest >= ranges[i-1].Smallest) {
			return false, &AckError{PN: r.Largest, Err: ErrAckRanges}
		}
	}
	largest := ranges[0].Largest
	if largest >= s.end {
		return false, &AckError{PN: largest, Err: ErrAckUnsent}
	}
	for i := range min(s.nskipped, skipRecord) {
		if pn := s.skipped[i]; ackContains(ranges, pn) {
			return false, &AckError{PN: pn, Err: ErrAckUnsent}
		}
	}
	newly := 0
	ackEliciting := false
	for i := len(ranges) - 1; i >= 0; i-- {
		lo, hi := max(ranges[i].Smallest, s.base), ranges[i].Largest
		for pn := lo; pn <= hi && pn < s.end; pn++ {
			switch e := s.entry(pn); e.state {
			case stateGap:
				return false, &AckError{PN: pn, Err: ErrAckUnsent}
			case stateOutstanding:
				newly++
				ackEliciting = ackEliciting || e.p.AckEliciting
			}
		}
	}

	if !s.hasLargestAcked || largest > s.largestAcked {
		s.largestAcked, s.hasLargestAcked = largest, true
	}
	s.reo.onAck(now, ranges, rtt)
	s.rate.startAck()
	if newly == 0 {
		return false, nil
	}
	if largest >= s.base {
		if e := s.entry(largest); e.state == stateOutstanding {
			largestNewlyAcked = true
			if ackEliciting {
				rtt.Update(now.Sub(e.p.Time), ackDelay, true)
				if !s.hasRTTSample {
					s.firstRTTSample, s.hasRTTSample = now, true
				}
			}
		}
	}
	for i := len(ranges) - 1; i >= 0; i-- {
		lo, hi := max(ranges[i].Smallest, s.base), ranges[i].Largest
		for pn := lo; pn <= hi && pn < s.end; pn++ {
			if e := s.entry(pn); e.state == stateOutstanding {
				if e.p.InFlight {
					s.rate.onAcked(now, &e.p)
				}
				acked(&e.p)
				s.remove(e, stateAcked)
			}
		}
	}
	lostBefore := s.rate.lost
	s.detectLost(now, rtt, lost)
	s.rate.finishAck(rtt, s.rate.lost-lostBefore)
	s.advanceBase()
	return largestNewlyAcked, nil
}

// ackContains reports whether descending, disjoint ranges contain pn. It
// binary-searches for the first range starting at or below pn: the
// reordering check asks it for up to 64 remembered losses per ACK frame, and
// a lossy path's frames carry up to 64 ranges.
func ackContains(ranges []AckRange, pn uint64) bool {
	lo, hi := 0, len(ranges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ranges[m].Smallest > pn {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(ranges) && pn <= ranges[lo].Largest
}

// LossTime returns the earliest time-threshold loss deadline among packets
// sent before the largest acknowledged, or the zero Time if none: the loop
// arms its loss timer for it and calls DetectLost when it fires (RFC 9002
// §6.1.2, §A.8).
func (s *Sent) LossTime() monotime.Time { return s.lossTime }

// DetectLost runs loss detection (RFC 9002 §A.10) when the loss timer fires,
// calling lost(p) for each packet declared lost in increasing packet-number
// order (BytesInFlight still includes p during the call). It does not
// allocate.
func (s *Sent) DetectLost(now monotime.Time, rtt *RTT, lost func(p *SentPacket)) {
	s.detectLost(now, rtt, lost)
	s.advanceBase()
}

// PersistentCongestion reports whether the packets declared lost by the last
// OnAck or DetectLost establish persistent congestion (RFC 9002 §7.6): two
// ack-eliciting packets sent after the first RTT sample, both declared lost in
// that call, more than 3 PTOs apart (PTO with the RTT's MaxAckDelay, no
// backoff), with no packet between them acknowledged. Only losses declared in
// one call are compared. The caller then calls Cubic.OnPersistentCongestion.
func (s *Sent) PersistentCongestion() bool { return s.persistent }

func (s *Sent) detectLost(now monotime.Time, rtt *RTT, lost func(p *SentPacket)) {
	s.lossTime = 0
	s.persistent = false
	if !s.hasLargestAcked {
		return
	}
	delay := rtt.lossDelay() + s.reo.window
	threshold := s.reo.packetThreshold()
	lostSendTime := now.Add(-delay)
	pcDuration := rtt.PTO(rtt.MaxAckDelay()) * persistentCongestionThreshold
	var runStart monotime.Time
	inRun := false
	last := min(s.largestAcked, s.end-1)
	for pn := s.base; pn <= last && pn < s.end; pn++ {
		e := s.entry(pn)
		switch e.state {
		case stateAcked:
			inRun = false
		case stateOutstanding:
			if e.p.Time > lostSendTime && s.largestAcked < pn+threshold {
				if at := e.p.Time.Add(delay); s.lossTime == 0 || at < s.lossTime {
					s.lossTime = at
				}
				continue
			}
			if e.p.AckEliciting && s.hasRTTSample && e.p.Time > s.firstRTTSample {
				if !inRun {
					runStart, inRun = e.p.Time, true
				} else if e.p.Time.Sub(runStart) > pcDuration {
					s.persistent = true
				}
			}
			s.reo.recordLost(pn, e.p.Time, now, s.largestAcked)
			if e.p.InFlight && !e.p.Probe {
				s.rate.lost += uint64(e.p.Size)
			}
			lost(&e.p)
			s.remove(e, stateLost)
		}
	}
}
