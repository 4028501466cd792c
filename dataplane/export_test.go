package dataplane

// StartPacketNumbersAt makes the session p installs send its first packet
// with number pn (tests of packet-number exhaustion).
func StartPacketNumbersAt(p *SessionParams, pn uint64) { p.firstPN = pn }

// KeysWiped reports whether a closed session's traffic secrets are zero.
// Call it after <-s.Done(): finish wipes them before it closes done.
func KeysWiped(s *Session) bool { return s.sendSecret.IsZero() && s.recvSecret.IsZero() }
