package control

import "time"

// Defaults for Config fields left at zero (docs/HANDSHAKE.md "Anti-DoS").
const (
	// DefaultHandshakeTimeout bounds a Dial and the life of half-open state.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultFreshnessWindow is how far a HELLO timestamp may be from the
	// responder's clock, either way (clock skew plus retransmission delay).
	DefaultFreshnessWindow = 90 * time.Second
	// DefaultMaxHalfOpen caps responder half-open handshakes per node.
	DefaultMaxHalfOpen = 1024
	// DefaultMaxHalfOpenPerAddr caps half-open handshakes per source IP.
	DefaultMaxHalfOpenPerAddr = 16
	// DefaultCookieThreshold is the queue length that turns cookie mode on:
	// a quarter of the queue, so legitimate HELLOs still fit when it trips.
	DefaultCookieThreshold = queueLen / 4
)

// Implementation constants (not protocol): sizes of bounded structures.
const (
	// queueLen bounds handshake packets waiting for a worker; HandlePacket
	// drops beyond it rather than block a loop (Invariant 4).
	queueLen = 1024
	// poolSize is how many precomputed ephemeral key pairs wait in each pool:
	// enough for a burst of dials while the refiller catches up.
	poolSize = 32
	// replayCacheSize bounds the HELLO replay cache (entries of 32 B keys);
	// at 2000 HELLOs/s it covers ~16 s of a 90 s window, the rest is caught
	// by the half-open table and costs the attacker a captured HELLO each.
	replayCacheSize = 1 << 15
	// ledgerSize bounds the per-address amplification ledger.
	ledgerSize = 4096
	// amplificationFactor: before AUTH_PROOF a responder sends at most this
	// many bytes per byte received from an address (RFC 9000 §8.1).
	amplificationFactor = 3
	// cookieRotation is how often the cookie secret changes; the previous
	// secret stays valid, so a cookie lives 2-4 minutes.
	cookieRotation = 2 * time.Minute
	// cookieLifetime is how long an initiator keeps using a received cookie.
	cookieLifetime = cookieRotation
	// initialRTO is the first handshake retransmission timeout; it doubles
	// up to maxRTO (loopback and LAN answer in well under it). The 2 s cap
	// keeps five or more attempts inside the default 10 s handshake
	// timeout, so 1/3 random loss both ways rarely exhausts it.
	initialRTO = 500 * time.Millisecond
	maxRTO     = 2 * time.Second
	// authProofSends is how many times an initiator sends one AUTH_PROOF
	// (at 0 and initialRTO after the RESPONSE) before it concludes the
	// responder has no state for it and starts over with a fresh HELLO at
	// the next timer (3*initialRTO after the RESPONSE). The responder
	// answers nothing to an AUTH_PROOF without half-open state (it could
	// not authenticate a reply), so silence is all the initiator sees;
	// two sends cover one loss, and a FINAL that is merely late still
	// completes the dial (that session stays installed and watched until
	// the dial ends or gives up on a newer one).
	authProofSends = 2
	// seedLogInterval spaces the Warn lines for HELLOs that do not open
	// under our shared seed: a misconfigured peer retries every few
	// seconds and a flood may send millions; one line per interval, with
	// the count of those not logged, is enough to find it.
	seedLogInterval = 10 * time.Second
	// rejectRate is the REJECT token bucket: at most this many per second
	// (burst the same), so RejectWrongSeed cannot be used for reflection.
	rejectRate = 10
	// janitorInterval is how often expired half-open and cookie state is swept.
	janitorInterval = time.Second
	// dialInbox is how many packets may wait for one Dial goroutine.
	dialInbox = 4
)
