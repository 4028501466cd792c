package dataplane

// StartPacketNumbersAt makes the session p installs send its first packet
// with number pn (tests of packet-number exhaustion).
func StartPacketNumbersAt(p *SessionParams, pn uint64) { p.firstPN = pn }
