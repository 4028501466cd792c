// Package monotime is the compact monotonic clock STT's fast path passes
// around as an argument ("time is an argument", docs/STYLE): a Time is
// nanoseconds on the process's monotonic clock since an arbitrary epoch fixed
// at start-up. It is an int64, so comparing, subtracting and storing it never
// allocates, and inner functions take it from the caller instead of calling
// time.Now per packet. Safe for concurrent use; Now does not allocate.
package monotime

import "time"

// epoch anchors Time values; time.Since reads the monotonic clock.
var epoch = time.Now()

// Time is a monotonic instant: nanoseconds since the process epoch.
// The zero Time is the epoch itself and is used as "unset" by callers.
type Time int64

// Now returns the current monotonic time. It does not allocate.
func Now() Time { return Time(time.Since(epoch)) }

// FromTime converts a wall-clock time.Time that carries a monotonic reading.
func FromTime(t time.Time) Time { return Time(t.Sub(epoch)) }

// Add returns t+d.
func (t Time) Add(d time.Duration) Time { return t + Time(d) }

// Sub returns the duration t-u.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t - u) }

// Before reports whether t is before u.
func (t Time) Before(u Time) bool { return t < u }

// After reports whether t is after u.
func (t Time) After(u Time) bool { return t > u }

// IsZero reports whether t is the zero (unset) Time.
func (t Time) IsZero() bool { return t == 0 }

// Time converts t back to a time.Time (with a monotonic reading).
func (t Time) Time() time.Time { return epoch.Add(time.Duration(t)) }
