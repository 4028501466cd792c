// Command stt is STT's command-line tool and the first thing a newcomer
// runs: `stt keygen` writes a 32-byte seed file (mode 0600; a weak seed
// from a broken random source is refused), `stt listen` accepts sessions
// and stores every file peers send into a directory (created when missing;
// atomically, names sanitised, an existing name refused unless
// --overwrite, files 0666 less the umask, written with O_DIRECT on local
// file systems unless --direct-io says off or on, partial files of an interrupted
// run removed at start when no other listener uses the directory, a UDP
// port another process holds refused), `stt send` pushes files over
// several concurrent streams and checks the peer's digest of each
// (XXH128 unless --digest says blake3, sha256 or none; computed beside the
// stream on both ends; progress bars fit the terminal's width), `stt
// bench` measures throughput, 64-byte message rate
// and round-trip time (on loopback with two in-process nodes, or against a
// listening node), and `stt demo` runs two nodes in one process and moves
// 256 MiB, a second 64 MiB bulk stream and 100 000 small messages at once,
// verifying every byte. `stt live --serve` is a live origin: it streams a
// file or a test pattern as frames, sealed end to end, to every viewer
// that connects (`stt live --watch ADDR`), each on a latency-bounded stream
// with its own bounded queue at the origin, and can store every frame;
// viewers verify every frame and print glass-to-glass latency and the
// frames skipped or dropped; `stt live --demo` runs an origin and viewers
// in one process through emulated lossy paths (internal/netem), with
// latency-bounded then reliable streams, and compares them. `stt
// --version` prints the build's version. Seeds
// come from files (--node-seed, --shared-seed) or, as hex, from the
// STT_NODE_SEED and STT_SHARED_SEED environment variables; a seed file
// that is missing, unreadable, shorter than 32 bytes or readable by group
// or others is refused, and a seed that looks weak is used with a warning.
// It is a thin client of the root package and holds no protocol logic
// beyond its own small file-transfer protocol (file.go, specified in
// docs/FILE-TRANSFER.md). With --metrics HOST:PORT, listen, send, bench
// and demo serve Prometheus metrics at /metrics, the WebSocket relay's or
// tunnel's among them with --ws or --via (package internal/metrics, which
// keeps the Prometheus client out of the library's import graph). For
// networks that block UDP, `listen --ws HOST:PORT` also serves the
// WebSocket fallback of package transport/ws (path --ws-path, default
// /stt), relaying to the node's own UDP address, and `send` and `bench`
// reach it with --via ws://HOST:PORT/stt (or wss://) instead of --to.
// Every failure is one line on stderr starting "stt: ", in the user's
// terms rather than the library's. Exit codes: 0 success, 1 runtime
// failure (network, seed, file or verification error), 2 usage error
// (unknown subcommand, bad or missing flag), 130 interrupted (SIGINT or
// SIGTERM before the command finished; listen exits 0, its normal stop).
package main
