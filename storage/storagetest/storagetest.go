// Package storagetest is test support, not library code: the conformance
// suite every storage.Backend must pass (the memory, disk and S3 backends
// run the same table), so that a Store behaves the same on each. Run it
// from a backend's tests with a constructor for empty backends. It
// starts goroutines only inside the concurrency case and waits for them;
// it allocates freely.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/storage"
)

// Options tunes the suite for a backend. A nil *Options means the
// defaults.
type Options struct {
	// LargeSize is the size in bytes of the "large" blob, meant to cross
	// the backend's own thresholds (an S3 backend's multipart part size).
	// Zero means 1 MiB + 3 bytes.
	LargeSize int
}

// Run runs every conformance case as a subtest of t, each on a fresh,
// empty backend from newBackend (which should register its own cleanup
// with t.Cleanup and fail t if it cannot build one).
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend, opts *Options) {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.LargeSize == 0 {
		o.LargeSize = 1<<20 + 3
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newBackend(t), &o) })
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, b storage.Backend, o *Options)
}{
	{"PutGet", testPutGet},
	{"PutIfAbsent", testPutIfAbsent},
	{"Missing", testMissing},
	{"Delete", testDelete},
	{"EmptyBlob", testEmptyBlob},
	{"Large", testLarge},
	{"ListEmpty", testListEmpty},
	{"ListPages", testListPages},
	{"All", testAll},
	{"ConcurrentPutSameAddr", testConcurrentPut},
	{"CanceledContext", testCanceled},
	{"StoreRoundTrip", testStoreRoundTrip},
	{"StoreTampered", testStoreTampered},
}

// Data returns n deterministic pseudo-random bytes for seed.
func Data(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5707))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// addr returns a pseudo-random address for seed (backends do not check
// that an address is the hash of its blob; Store does).
func addr(seed uint64) storage.Addr {
	var a storage.Addr
	copy(a[:], Data(len(a), seed))
	return a
}

func mustPut(t *testing.T, b storage.Backend, a storage.Addr, blob []byte) {
	t.Helper()
	stored, err := b.Put(context.Background(), a, blob)
	if err != nil || !stored {
		t.Fatalf("Put(%x) = %v, %v; want true, nil", a[:4], stored, err)
	}
}

func mustGet(t *testing.T, b storage.Backend, a storage.Addr, want []byte) {
	t.Helper()
	got, err := b.Get(context.Background(), a)
	if err != nil {
		t.Fatalf("Get(%x): %v", a[:4], err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%x) = %d bytes, want %d bytes (equal: false)", a[:4], len(got), len(want))
	}
}

func testPutGet(t *testing.T, b storage.Backend, _ *Options) {
	ctx := context.Background()
	a := addr(1)
	blob := Data(1000, 1)
	orig := slices.Clone(blob)
	mustPut(t, b, a, blob)
	blob[0] ^= 0xff // Put must not retain the caller's slice
	mustGet(t, b, a, orig)
	got, err := b.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	got[1] ^= 0xff // Get must return a copy the caller owns
	mustGet(t, b, a, orig)
	info, err := b.Stat(ctx, a)
	if err != nil || info.Size != int64(len(orig)) {
		t.Fatalf("Stat = %+v, %v; want size %d", info, err, len(orig))
	}
}

func testPutIfAbsent(t *testing.T, b storage.Backend, _ *Options) {
	ctx := context.Background()
	a := addr(2)
	first, second := Data(300, 2), Data(500, 3)
	mustPut(t, b, a, first)
	stored, err := b.Put(ctx, a, second)
	if err != nil || stored {
		t.Fatalf("second Put = %v, %v; want false, nil", stored, err)
	}
	mustGet(t, b, a, first)
	if info, err := b.Stat(ctx, a); err != nil || info.Size != int64(len(first)) {
		t.Fatalf("Stat after second Put = %+v, %v", info, err)
	}
}

func testMissing(t *testing.T, b storage.Backend, _ *Options) {
	ctx := context.Background()
	a := addr(3)
	if got, err := b.Get(ctx, a); !errors.Is(err, storage.ErrNotFound) || got != nil {
		t.Fatalf("Get(missing) = %d bytes, %v; want ErrNotFound", len(got), err)
	}
	if _, err := b.Stat(ctx, a); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat(missing) = %v; want ErrNotFound", err)
	}
	if err := b.Delete(ctx, a); err != nil {
		t.Fatalf("Delete(missing) = %v", err)
	}
}

func testDelete(t *testing.T, b storage.Backend, _ *Options) {
	ctx := context.Background()
	a, keep := addr(4), addr(5)
	mustPut(t, b, a, []byte("doomed"))
	mustPut(t, b, keep, []byte("kept"))
	if err := b.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, a); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if _, err := b.Stat(ctx, a); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after Delete = %v", err)
	}
	if err := b.Delete(ctx, a); err != nil {
		t.Fatalf("second Delete = %v", err)
	}
	mustGet(t, b, keep, []byte("kept"))
	mustPut(t, b, a, []byte("reborn")) // a deleted address is free again
	mustGet(t, b, a, []byte("reborn"))
}

func testEmptyBlob(t *testing.T, b storage.Backend, _ *Options) {
	a := addr(6)
	mustPut(t, b, a, nil)
	mustGet(t, b, a, nil)
	if info, err := b.Stat(context.Background(), a); err != nil || info.Size != 0 {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
}

func testLarge(t *testing.T, b storage.Backend, o *Options) {
	a := addr(7)
	blob := Data(o.LargeSize, 7)
	mustPut(t, b, a, blob)
	mustGet(t, b, a, blob)
	if info, err := b.Stat(context.Background(), a); err != nil || info.Size != int64(len(blob)) {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
}

func testListEmpty(t *testing.T, b storage.Backend, _ *Options) {
	got, more, err := b.List(context.Background(), nil, 10)
	if err != nil || more || len(got) != 0 {
		t.Fatalf("List on empty backend = %x, %v, %v", got, more, err)
	}
}

// listSet stores a set of addresses chosen to probe ordering: the
// extremes, neighbours that differ in the last byte, and random ones. It
// returns them sorted.
func listSet(t *testing.T, b storage.Backend) []storage.Addr {
	t.Helper()
	var lo, hi storage.Addr
	for i := range hi {
		hi[i] = 0xff
	}
	set := []storage.Addr{lo, hi}
	n1, n2 := addr(100), addr(100)
	n1[len(n1)-1], n2[len(n2)-1] = 0x10, 0x11
	set = append(set, n1, n2)
	for i := range uint64(21) {
		set = append(set, addr(200+i))
	}
	for i, a := range set {
		mustPut(t, b, a, []byte{byte(i)})
	}
	slices.SortFunc(set, func(x, y storage.Addr) int { return bytes.Compare(x[:], y[:]) })
	return set
}

func testListPages(t *testing.T, b storage.Backend, _ *Options) {
	ctx := context.Background()
	want := listSet(t, b)
	for _, limit := range []int{1, 7, len(want) - 1, len(want), len(want) + 1, 0} {
		var got []storage.Addr
		var after *storage.Addr
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatalf("limit %d: more than %d pages", limit, pages)
			}
			page, more, err := b.List(ctx, after, limit)
			if err != nil {
				t.Fatalf("limit %d: %v", limit, err)
			}
			if limit > 0 && len(page) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page))
			}
			if more && limit > 0 && len(page) < limit {
				t.Fatalf("limit %d: short page of %d with more", limit, len(page))
			}
			got = append(got, page...)
			if !more {
				break
			}
			if len(page) == 0 {
				t.Fatalf("limit %d: empty page with more", limit)
			}
			after = &page[len(page)-1]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: listed %d addresses, want %d in order\ngot  %x\nwant %x", limit, len(got), len(want), got, want)
		}
	}
	// after need not be stored: start just past a stored address, in
	// the gap before the next one.
	for i := 1; i+4 < len(want); i++ {
		between := want[i]
		if between[len(between)-1] == 0xff {
			continue
		}
		between[len(between)-1]++
		if between == want[i+1] {
			continue
		}
		page, more, err := b.List(ctx, &between, 3)
		if err != nil || !more || !slices.Equal(page, want[i+1:i+4]) {
			t.Fatalf("List after an unstored address = %x, %v, %v; want %x", page, more, err, want[i+1:i+4])
		}
		break
	}
	last := want[len(want)-1]
	if page, more, err := b.List(ctx, &last, 5); err != nil || more || len(page) != 0 {
		t.Fatalf("List after the last = %x, %v, %v", page, more, err)
	}
}

func testAll(t *testing.T, b storage.Backend, _ *Options) {
	want := listSet(t, b)
	var got []storage.Addr
	for a, err := range storage.All(context.Background(), b, 4) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("All = %d addresses, want %d in order", len(got), len(want))
	}
	n := 0
	for range storage.All(context.Background(), b, 4) {
		if n++; n == 3 {
			break // stopping early must be fine
		}
	}
}

func testConcurrentPut(t *testing.T, b storage.Backend, _ *Options) {
	ctx := context.Background()
	a := addr(8)
	const n = 8
	var winners atomic.Int32
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			stored, err := b.Put(ctx, a, Data(2000+i, uint64(i)))
			if err != nil {
				t.Errorf("Put %d: %v", i, err)
			}
			if stored {
				winners.Add(1)
				won.Store(int32(i))
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if w := winners.Load(); w != 1 {
		t.Fatalf("%d concurrent Puts of one address reported stored; want exactly 1", w)
	}
	i := int(won.Load())
	mustGet(t, b, a, Data(2000+i, uint64(i)))
}

func testCanceled(t *testing.T, b storage.Backend, _ *Options) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a, present := addr(9), addr(10)
	mustPut(t, b, present, []byte("here"))
	if stored, err := b.Put(ctx, a, []byte("x")); !errors.Is(err, context.Canceled) || stored {
		t.Errorf("Put = %v, %v; want context.Canceled", stored, err)
	}
	if _, err := b.Get(ctx, present); !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v", err)
	}
	if _, err := b.Stat(ctx, present); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat = %v", err)
	}
	if err := b.Delete(ctx, present); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete = %v", err)
	}
	if _, _, err := b.List(ctx, nil, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("List = %v", err)
	}
	if _, err := b.Stat(context.Background(), a); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("canceled Put stored an object: Stat = %v", err)
	}
	mustGet(t, b, present, []byte("here")) // canceled Delete removed nothing
}

// counting wraps a Backend and counts Puts, to check deduplication.
type counting struct {
	storage.Backend
	puts atomic.Int64
}

func (c *counting) Put(ctx context.Context, a storage.Addr, blob []byte) (bool, error) {
	c.puts.Add(1)
	return c.Backend.Put(ctx, a, blob)
}

var master = func() stc.Secret {
	b := [32]byte{'s', 't', 'o', 'r', 'a', 'g', 'e', 't', 'e', 's', 't'}
	return stc.SecretFrom(&b)
}()

func testStoreRoundTrip(t *testing.T, b storage.Backend, o *Options) {
	ctx := context.Background()
	cb := &counting{Backend: b}
	s, err := storage.New(cb, master, stc.SuiteAES256GCM, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 1024 - 5, o.LargeSize} {
		data := Data(n, uint64(n)+11)
		a, err := s.Store(ctx, data)
		if err != nil {
			t.Fatalf("Store(%d bytes): %v", n, err)
		}
		if a != stc.Hash(data) {
			t.Fatalf("Store(%d bytes) address is not the SHA3-256 of the data", n)
		}
		blob, err := b.Get(ctx, a)
		if err != nil || len(blob) != n+storage.Overhead {
			t.Fatalf("at rest: %d bytes, %v; want %d", len(blob), err, n+storage.Overhead)
		}
		if n >= 16 && bytes.Contains(blob, data[:16]) {
			t.Fatalf("plaintext visible at rest")
		}
		puts := cb.puts.Load()
		if again, err := s.Store(ctx, data); err != nil || again != a {
			t.Fatalf("second Store = %x, %v", again[:4], err)
		}
		if cb.puts.Load() != puts {
			t.Fatalf("second Store of the same %d bytes wrote again (dedup)", n)
		}
		got, err := s.Retrieve(ctx, a)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Retrieve(%d bytes) = %d bytes, %v", n, len(got), err)
		}
		if size, err := s.Stat(ctx, a); err != nil || size != int64(n) {
			t.Fatalf("Stat = %d, %v; want %d", size, err, n)
		}
	}
}

func testStoreTampered(t *testing.T, b storage.Backend, _ *Options) {
	ctx := context.Background()
	s, err := storage.New(b, master, stc.SuiteChaCha20Poly1305, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Store(ctx, []byte("integrity matters at rest"))
	if err != nil {
		t.Fatal(err)
	}
	blob, err := b.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	blob[len(blob)/2] ^= 0x01
	if err := b.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	mustPut(t, b, a, blob)
	if got, err := s.Retrieve(ctx, a); !errors.Is(err, storage.ErrCorrupt) || got != nil {
		t.Fatalf("Retrieve of a tampered object = %q, %v; want ErrCorrupt", got, err)
	}
}
