package ring

// Notify wakes a consumer that sleeps in a select. Signals coalesce: any
// number of Signals before the consumer receives leave one pending wake-up,
// so a producer never blocks and never allocates to signal.
//
// The protocol is free of lost wake-ups:
//
//   - Producer: Push to the ring, then Signal (also after a Push that found
//     the ring full and was retried, or on close).
//   - Consumer: loop { drain the ring until Pop reports empty; select on
//     n.C(), its other channels and its timer }.
//
// The consumer receives the token before it drains, so a Push that lands
// after the drain's last Pop is followed by a Signal that finds the channel
// empty and leaves a token: the next select returns at once. At worst the
// consumer wakes once to an empty ring, never sleeps on a non-empty one.
//
// Safe for concurrent use by any number of producers; C must be received
// from by one consumer. The zero Notify is not usable; create one with
// NewNotify.
type Notify struct {
	c chan struct{}
}

// NewNotify returns a Notify with no pending signal.
func NewNotify() *Notify {
	return &Notify{c: make(chan struct{}, 1)}
}

// Signal leaves a wake-up pending unless one already is. It never blocks and
// does not allocate.
func (n *Notify) Signal() {
	select {
	case n.c <- struct{}{}:
	default:
	}
}

// C returns the channel a consumer selects on; a receive consumes the pending
// wake-up. The channel is never closed.
func (n *Notify) C() <-chan struct{} { return n.c }
