package netem

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Header overheads: a datagram of n payload bytes is an IP packet of
// n + overhead bytes on the emulated wire. The rate, the queue limit and
// the MTU are all counted in IP-packet bytes, as a router counts them;
// the byte counters in Counters are UDP payload bytes.
const (
	// IPv4Overhead is the IPv4 (20) plus UDP (8) header.
	IPv4Overhead = 28
	// IPv6Overhead is the IPv6 (40) plus UDP (8) header.
	IPv6Overhead = 48
)

// Limits and defaults.
const (
	// MaxMTU is the largest MTU a link accepts: the IPv4 total-length field
	// (16 bits) bounds every IP packet.
	MaxMTU = 65535
	// minHeldDefault is the floor of the default hard cap on buffered
	// bytes (LinkConfig.MaxHeld): room for a few dozen 64 KiB datagrams.
	minHeldDefault = 4 << 20
	// unlimitedHeldDefault is the default hard cap of a link without a
	// rate, where nothing bounds the delay line but the arrival rate:
	// at loopback rates (~10 Gbit/s) 64 MiB is ~50 ms of traffic.
	unlimitedHeldDefault = 64 << 20
)

// LinkConfig describes one direction of a path: a bottleneck of Rate
// bits/s with a drop-tail queue of QueueBytes, then Delay of propagation
// with optional Jitter and reordering, with random loss and an MTU checked
// on arrival. The zero value is a perfect wire: no rate limit, no delay,
// no loss, no MTU.
//
// Order on arrival (Link doc): MTU check, random draws (loss, jitter,
// reordering — drawn for every arriving datagram, so the draws depend only
// on the arrival index), random loss, drop-tail queue, hard cap, then the
// datagram is scheduled for release.
type LinkConfig struct {
	// Rate is the bottleneck rate in bits/s, counted over IP packets
	// (payload plus IPv4Overhead or IPv6Overhead). Zero means no
	// bottleneck: datagrams are not serialised and never queue. Negative,
	// NaN or infinite is an error.
	Rate float64
	// QueueBytes is the drop-tail limit in IP-packet bytes, including the
	// datagram being serialised: a datagram arriving when the backlog plus
	// its size exceeds it is dropped (an idle link always takes one
	// datagram, whatever its size). Use BDP to express it in multiples of
	// the bandwidth-delay product. Required (> 0) when Rate is set;
	// ignored without a rate.
	QueueBytes int
	// Delay is the one-way propagation delay added after the bottleneck.
	// Default 0; negative is an error.
	Delay time.Duration
	// Jitter adds a uniform random delay in [0, Jitter] to each datagram.
	// Jitter never reorders: a datagram is never released before the one
	// that arrived before it (unless Reorder picks it), so under load the
	// spread is smaller than Jitter. Default 0; negative is an error.
	Jitter time.Duration
	// Loss is the Bernoulli drop probability in [0, 1], applied on arrival
	// before the queue (a lost datagram takes no queue space or link time,
	// as with Linux netem). Ignored when Burst is set.
	Loss float64
	// Burst, when non-nil, replaces Loss with a Gilbert–Elliott model
	// (bursty loss). See GilbertElliott.
	Burst *GilbertElliott
	// Reorder is the probability in [0, 1] that a datagram is held back by
	// ReorderDelay more than its normal release time, so datagrams behind
	// it overtake it. Reordered datagrams keep their order among
	// themselves. Default 0.
	Reorder float64
	// ReorderDelay is the extra delay of a reordered datagram; it must be
	// > 0 when Reorder is set.
	ReorderDelay time.Duration
	// MTU is the largest IP packet (payload plus header overhead) the link
	// carries; larger datagrams are dropped on arrival and counted in
	// Counters.DroppedMTU, as a router drops them (no ICMP is sent: a
	// black hole). Zero means no limit; valid range [0, MaxMTU]. It can be
	// changed while the link runs with Link.SetMTU.
	MTU int
	// Seed seeds the link's random source (math/rand/v2 PCG). The same
	// seed, configuration and arrival sequence give the same decisions;
	// links sharing a seed make the same draws, so give each direction its
	// own. Zero is a valid seed like any other.
	Seed uint64
	// MaxHeld is the hard cap on bytes of datagram buffers the link holds
	// (queue plus delay line, counted by buffer size class, see Link);
	// datagrams beyond it are dropped and counted in
	// Counters.DroppedOverflow. Default (zero): twice QueueBytes plus
	// Rate × (Delay + Jitter + ReorderDelay), at least 4 MiB, or 64 MiB
	// when there is no Rate. Negative is an error.
	MaxHeld int
}

// GilbertElliott is a two-state Markov loss model (Gilbert 1960, Elliott
// 1963), as in Linux netem's "loss gemodel": the link is in a Good or a
// Bad state; each arriving datagram first moves the state (Good→Bad with
// probability PGoodToBad, Bad→Good with probability PBadToGood), then is
// lost with probability LossGood or LossBad of the new state. The
// stationary probability of Bad is PGoodToBad / (PGoodToBad + PBadToGood),
// a Bad period lasts 1/PBadToGood datagrams on average, and the mean loss
// rate is given by MeanLoss. The link starts in Good. With LossGood = 0 and
// LossBad = 1 it is the simple Gilbert model; BurstLoss builds one from a
// mean loss rate and a mean burst length.
type GilbertElliott struct {
	PGoodToBad, PBadToGood float64 // transition probabilities per datagram, in [0, 1]
	LossGood, LossBad      float64 // loss probability in each state, in [0, 1]
}

// BurstLoss returns the simple Gilbert model (no loss in Good, all loss in
// Bad) whose mean loss rate is loss and whose loss bursts last burst
// datagrams on average: PBadToGood = 1/burst and PGoodToBad =
// loss·PBadToGood/(1−loss). loss must be in [0, 1) and burst ≥ 1.
func BurstLoss(loss, burst float64) (*GilbertElliott, error) {
	if !(loss >= 0 && loss < 1) {
		return nil, fmt.Errorf("netem: BurstLoss loss must be in [0, 1), got %v", loss)
	}
	if !(burst >= 1) || math.IsInf(burst, 0) {
		return nil, fmt.Errorf("netem: BurstLoss burst must be a finite length ≥ 1, got %v", burst)
	}
	r := 1 / burst
	return &GilbertElliott{PGoodToBad: loss * r / (1 - loss), PBadToGood: r, LossBad: 1}, nil
}

// MeanLoss returns the model's stationary loss rate.
func (g *GilbertElliott) MeanLoss() float64 {
	if g.PGoodToBad+g.PBadToGood == 0 {
		return g.LossGood // never leaves Good
	}
	bad := g.PGoodToBad / (g.PGoodToBad + g.PBadToGood)
	return (1-bad)*g.LossGood + bad*g.LossBad
}

// BDP returns multiples × the bandwidth-delay product of rate (bits/s) and
// rtt in bytes, rounded to the nearest byte: the usual way to size a
// bottleneck queue (1 BDP is the classic "one RTT of buffering").
func BDP(rate float64, rtt time.Duration, multiples float64) int {
	return int(math.Round(rate / 8 * rtt.Seconds() * multiples))
}

// ErrConfig is wrapped by every configuration error, which names the field.
var ErrConfig = errors.New("netem: invalid configuration")

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
}

func probability(name string, p float64) error {
	if !(p >= 0 && p <= 1) {
		return configError("%s must be a probability in [0, 1], got %v", name, p)
	}
	return nil
}

// validate checks every field and returns the first error.
func (c *LinkConfig) validate() error {
	switch {
	case !(c.Rate >= 0) || math.IsInf(c.Rate, 0):
		return configError("LinkConfig.Rate must be a finite rate ≥ 0 bits/s, got %v", c.Rate)
	case c.Rate > 0 && c.QueueBytes <= 0:
		return configError("LinkConfig.QueueBytes must be > 0 when Rate is set (got %d); see BDP", c.QueueBytes)
	case c.QueueBytes < 0:
		return configError("LinkConfig.QueueBytes must be ≥ 0, got %d", c.QueueBytes)
	case c.Delay < 0:
		return configError("LinkConfig.Delay must be ≥ 0, got %v", c.Delay)
	case c.Jitter < 0:
		return configError("LinkConfig.Jitter must be ≥ 0, got %v", c.Jitter)
	case c.ReorderDelay < 0:
		return configError("LinkConfig.ReorderDelay must be ≥ 0, got %v", c.ReorderDelay)
	case c.Reorder > 0 && c.ReorderDelay == 0:
		return configError("LinkConfig.ReorderDelay must be > 0 when Reorder is set")
	case c.MTU < 0 || c.MTU > MaxMTU:
		return configError("LinkConfig.MTU must be in [0, %d], got %d", MaxMTU, c.MTU)
	case c.MaxHeld < 0:
		return configError("LinkConfig.MaxHeld must be ≥ 0, got %d", c.MaxHeld)
	}
	if err := probability("LinkConfig.Loss", c.Loss); err != nil {
		return err
	}
	if err := probability("LinkConfig.Reorder", c.Reorder); err != nil {
		return err
	}
	if g := c.Burst; g != nil {
		for _, f := range []struct {
			name string
			p    float64
		}{
			{"PGoodToBad", g.PGoodToBad}, {"PBadToGood", g.PBadToGood},
			{"LossGood", g.LossGood}, {"LossBad", g.LossBad},
		} {
			if err := probability("LinkConfig.Burst."+f.name, f.p); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxHeld returns MaxHeld or its default.
func (c *LinkConfig) maxHeld() int {
	if c.MaxHeld > 0 {
		return c.MaxHeld
	}
	if c.Rate == 0 {
		return unlimitedHeldDefault
	}
	line := c.Rate / 8 * (c.Delay + c.Jitter + c.ReorderDelay).Seconds()
	return max(minHeldDefault, int(2*(float64(c.QueueBytes)+line)))
}
