package ring

// cacheLineSize separates fields written by different goroutines. 128 rather
// than the 64-byte line of amd64 and most arm64 cores because Intel's
// adjacent-line prefetcher pulls lines in 128-byte pairs, and Apple M-series
// and some Neoverse cores use 128-byte lines (the same choice as
// crossbeam-utils' CachePadded and Go's internal/cpu for arm64).
const cacheLineSize = 128

// pad fills out a cache line after a field of up to 8 bytes.
type pad [cacheLineSize - 8]byte
