package control

import "time"

// Defaults for Config fields left at zero (docs/HANDSHAKE.md "Anti-DoS").
const (
	// DefaultHandshakeTimeout bounds a Dial and the life of half-open state.
	DefaultHandshakeTimeout = 10 * time.Second
	// defaultFreshnessWindow is how far a HELLO timestamp may be from the
	// responder's clock, either way (clock skew plus retransmission delay).
	defaultFreshnessWindow = 90 * time.Second
	// defaultMaxHalfOpen caps responder half-open handshakes per node.
	defaultMaxHalfOpen = 1024
	// defaultMaxHalfOpenPerAddr caps half-open handshakes per source IP.
	defaultMaxHalfOpenPerAddr = 16
	// defaultCookieThreshold is the queue length that turns cookie mode on:
	// a quarter of the queue, so legitimate HELLOs still fit when it trips.
	defaultCookieThreshold = queueLen / 4
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

// Resumption policy (docs/HANDSHAKE.md "Resumption"): numbers of this
// implementation, not protocol.
const (
	// ticketRotation is how often a responder draws a new ticket key; the
	// previous key still opens tickets, so two are live and a key lives
	// twice this long.
	ticketRotation = time.Hour
	// ticketLifetime is the lifetime a responder gives its tickets. It is
	// at most ticketRotation, so every unexpired ticket's key is live.
	ticketLifetime = ticketRotation
	// maxTicketLifetime caps the lifetime an initiator accepts from a
	// NEW_TICKET blob (a peer's longer value is cut to it).
	maxTicketLifetime = 24 * time.Hour
	// maxResumeChain bounds a chain of resumptions: a ticket issued in a
	// resumed session carries the time of the full handshake the chain
	// began with, and a responder refuses a ticket whose chain is older,
	// so peers re-authenticate their static keys (and refresh the ML-KEM
	// secret) at least this often.
	maxResumeChain = 24 * time.Hour
	// resumeWindow is the freshness window of a RESUME: the responder
	// expects it at the ticket's issue time plus the ticket age the
	// initiator reports, both on one clock each, so only delays and clock
	// rates count, not clock offsets (a RESUME accepted within it is
	// remembered for 2 × resumeWindow, see resumeReplay).
	resumeWindow = 10 * time.Second
	// resumeReplayMax bounds each of the two generations of the RESUME
	// replay memory (32-byte keys). When the current one is full the
	// responder refuses resumption (the initiator falls back to a full
	// handshake) rather than forget an accepted RESUME early: at most
	// resumeReplayMax resumptions per 2 × resumeWindow (3276/s sustained).
	resumeReplayMax = 1 << 16
	// ticketCacheSize bounds the initiator's tickets (one per address).
	ticketCacheSize = 1024
	// pendingTicketsMax bounds the initiator's sessions waiting for their
	// NEW_TICKET, each kept at most pendingTicketLife.
	pendingTicketsMax = 4096
	pendingTicketLife = time.Minute
	// resumeRejectRate is the REJECT(ticket) token bucket (per second,
	// burst the same): a refused ticket gets a fast fallback, a flood of
	// them no reflection.
	resumeRejectRate = 100
)
