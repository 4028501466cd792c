// Package recovery holds the reliability and congestion-control machinery of
// STT's data plane, following RFC 9002's structure: the RTT estimator, the
// sent-packet history with ACK processing and loss detection (packet and time
// thresholds, probe timeout), tracking of received packet numbers and the ACK
// policy, CUBIC congestion control with HyStart++ and a token-bucket pacer, and
// the hashed timer wheel each loop uses for every session timer. Everything is
// a pure, deterministic data structure: time is passed in as `now
// monotime.Time`, nothing reads the clock, starts goroutines, does I/O or knows
// about frames, keys or sockets (the data plane decides what a lost packet
// means and builds the ACK frames). Each value is owned by one event loop and
// is not safe for concurrent use. After warm-up (rings and range lists grown to
// their working size) no operation allocates; TestNoAllocs guards the hot
// paths, and every structure a peer can influence has a documented hard bound.
package recovery
