// Package recovery holds the reliability and congestion-control machinery of
// STT's data plane, following RFC 9002's structure: the RTT estimator, the
// sent-packet history with ACK processing, loss detection (packet and time
// thresholds, probe timeout) and delivery-rate estimation
// (draft-ietf-ccwg-bbr §4.1: one RateSample per ACK frame, app-limited
// marks), tracking of received packet numbers and the ACK policy, the
// congestion controllers behind the Controller interface, a token-bucket
// pacer, and the hashed timer wheel each loop uses for every session timer.
// Two controllers implement Controller: BBR (BBRv3, draft-ietf-ccwg-bbr; the
// default), a model-based controller that paces at its estimate of the
// bottleneck bandwidth and bounds in-flight data by the estimated
// bandwidth-delay product and recent losses, so it keeps queues short and
// tolerates random loss (NewBBR; BBRConfig's hints let a session rebuilt
// after hibernation restart at its previous model), and CUBIC (RFC 9438 with
// HyStart++, NewCubic), loss-based, for paths or peers that need it. The
// session picks one per hot state and drives it as Controller's doc lists;
// both pace through Pacer.BudgetRate and NextSendRate at PacingRate, whose
// bucket depth (10 datagrams or 1 ms at the rate) also bounds a GSO batch.
//
// Who uses it: the data plane only (one set per session hot state, one
// timer wheel per loop); as dataplane/internal/recovery, Go's internal rule
// keeps every package outside dataplane from importing it. Its fuzz targets
// (FuzzController, FuzzRecoveryAck) live here, listed in the Makefile's
// FUZZ_PKG_TARGETS.
//
// Stability: an internal implementation package of dataplane with no
// compatibility promise.
//
// Determinism: everything is a pure data structure: time is passed in as
// `now monotime.Time`, nothing reads the clock, starts goroutines, does I/O
// or knows about frames, keys or sockets (the data plane decides what a lost
// packet means and builds the ACK frames), and the tests drive BBR and CUBIC
// over a simulated bottleneck in virtual time (sim_test.go).
//
// Concurrency: each value is owned by one event loop and is not safe for
// concurrent use.
//
// Allocation: after warm-up (rings and range lists grown to their working
// size) no operation allocates; TestNoAllocs and TestNoAllocsControllers
// guard the hot paths.
//
// Ownership: every structure a peer can influence has a documented hard
// bound; nothing keeps references to caller slices.
package recovery
