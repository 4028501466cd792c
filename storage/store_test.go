package storage

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stt-go/stt/stc"
)

// TestMain fails the package if any test leaves a goroutine running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testMaster = stc.SecretFrom(&[32]byte{9, 8, 7, 6, 5, 4, 3, 2, 1})

func testData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// backends returns one of each backend, fresh, for table tests.
func backends(tb testing.TB) map[string]Backend {
	tb.Helper()
	disk, err := NewDiskBackend(filepath.Join(tb.TempDir(), "objects"))
	if err != nil {
		tb.Fatal(err)
	}
	return map[string]Backend{"memory": &MemoryBackend{}, "disk": disk}
}

func newStore(tb testing.TB, b Backend, s stc.Suite) *Store {
	tb.Helper()
	st, err := New(b, testMaster, s, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name  string
		b     Backend
		suite stc.Suite
		opts  *Options
		ok    bool
	}{
		{"defaults", &MemoryBackend{}, stc.SuiteAES256GCM, nil, true},
		{"nil backend", nil, stc.SuiteAES256GCM, nil, false},
		{"invalid suite", &MemoryBackend{}, 0, nil, false},
		{"negative size", &MemoryBackend{}, stc.SuiteAES256GCM, &Options{MaxSize: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.b, testMaster, tt.suite, tt.opts)
			if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, ErrInvalidOptions)) {
				t.Fatalf("New = %v, %v", s, err)
			}
		})
	}
	if _, err := NewDiskBackend(""); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("NewDiskBackend(\"\") = %v", err)
	}
}

// TestRoundTrip stores and retrieves objects of several sizes, on every
// backend and suite, and checks addressing, deduplication and delete.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, suite := range []stc.Suite{stc.SuiteAES256GCM, stc.SuiteChaCha20Poly1305, stc.SuiteAES128GCM} {
		for name, b := range backends(t) {
			t.Run(suite.String()+"/"+name, func(t *testing.T) {
				s := newStore(t, b, suite)
				for _, n := range []int{0, 1, 1024 - 5, 100_000} {
					data := testData(n, uint64(n))
					orig := append([]byte(nil), data...)
					addr, err := s.Store(ctx, data)
					if err != nil {
						t.Fatal(err)
					}
					if addr != stc.Hash(orig) || !bytes.Equal(data, orig) {
						t.Fatalf("address is not SHA3-256 of the data, or data modified")
					}
					blob, err := b.Get(ctx, addr)
					if err != nil || len(blob) != n+Overhead || blob[0] != formatVersion || blob[1] != byte(suite) {
						t.Fatalf("at rest: %d bytes (want %d), header % x, %v", len(blob), n+Overhead, blob[:2], err)
					}
					if n >= 16 && bytes.Contains(blob, orig[:16]) {
						t.Fatal("plaintext visible at rest")
					}
					again, err := s.Store(ctx, append([]byte(nil), orig...))
					if err != nil || again != addr {
						t.Fatalf("second Store = %x, %v", again, err)
					}
					got, err := s.Retrieve(ctx, addr)
					if err != nil || !bytes.Equal(got, orig) {
						t.Fatalf("Retrieve: %d bytes, %v", len(got), err)
					}
					if ok, err := s.Has(ctx, addr); !ok || err != nil {
						t.Fatalf("Has = %v, %v", ok, err)
					}
				}
				if mb, ok := b.(*MemoryBackend); ok && mb.Len() != 4 {
					t.Fatalf("memory backend holds %d objects, want 4 (dedup)", mb.Len())
				}
				addr := stc.Hash(testData(1, 1))
				if err := s.Delete(ctx, addr); err != nil {
					t.Fatal(err)
				}
				if err := s.Delete(ctx, addr); err != nil {
					t.Fatalf("second Delete = %v", err)
				}
				if _, err := s.Retrieve(ctx, addr); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Retrieve after Delete = %v", err)
				}
				if ok, err := s.Has(ctx, addr); ok || err != nil {
					t.Fatalf("Has after Delete = %v, %v", ok, err)
				}
			})
		}
	}
}

// TestSuitesInteroperate checks that an object stays readable by a store
// configured with another suite (the suite is in the header).
func TestSuitesInteroperate(t *testing.T) {
	ctx := context.Background()
	b := &MemoryBackend{}
	addr, err := newStore(t, b, stc.SuiteChaCha20Poly1305).Store(ctx, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := newStore(t, b, stc.SuiteAES256GCM).Retrieve(ctx, addr)
	if err != nil || string(got) != "hello" {
		t.Fatalf("cross-suite Retrieve = %q, %v", got, err)
	}
	other, err := New(b, stc.SecretFrom(&[32]byte{1}), stc.SuiteChaCha20Poly1305, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Retrieve(ctx, addr); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Retrieve under another master = %v, want ErrCorrupt", err)
	}
}

// TestTamper modifies objects at rest in every way that matters; each must
// be reported as ErrCorrupt and never returned.
func TestTamper(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		modify func(blob, other []byte) []byte
	}{
		{"flip ciphertext", func(b, _ []byte) []byte { b[headerLen+3] ^= 1; return b }},
		{"flip tag", func(b, _ []byte) []byte { b[len(b)-1] ^= 0x80; return b }},
		{"version", func(b, _ []byte) []byte { b[0] = 2; return b }},
		{"suite swapped", func(b, _ []byte) []byte { b[1] = byte(stc.SuiteAES128GCM); return b }},
		{"suite invalid", func(b, _ []byte) []byte { b[1] = 0; return b }},
		{"truncated", func(b, _ []byte) []byte { return b[:len(b)-1] }},
		{"header only", func(b, _ []byte) []byte { return b[:headerLen] }},
		{"empty", func([]byte, []byte) []byte { return nil }},
		{"extended", func(b, _ []byte) []byte { return append(b, 0) }},
		{"other object moved here", func(_, o []byte) []byte { return o }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk, err := NewDiskBackend(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			s := newStore(t, disk, stc.SuiteAES256GCM)
			addr, err := s.Store(ctx, []byte("the object under attack"))
			if err != nil {
				t.Fatal(err)
			}
			otherAddr, err := s.Store(ctx, []byte("another, valid object"))
			if err != nil {
				t.Fatal(err)
			}
			_, file := disk.path(addr)
			_, otherFile := disk.path(otherAddr)
			blob, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			other, err := os.ReadFile(otherFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, tt.modify(blob, other), filePerm); err != nil {
				t.Fatal(err)
			}
			got, err := s.Retrieve(ctx, addr)
			if !errors.Is(err, ErrCorrupt) || got != nil {
				t.Fatalf("Retrieve = %q, %v; want ErrCorrupt", got, err)
			}
		})
	}
}

// TestHashCheck seals other bytes under an address's own key, as a holder
// of the master secret could: the object authenticates, and only the final
// hash check catches that it is not the content the address names.
func TestHashCheck(t *testing.T) {
	ctx := context.Background()
	b := &MemoryBackend{}
	s := newStore(t, b, stc.SuiteAES256GCM)
	// Seal "evil" under the key of addr("good") by hand.
	good := stc.Hash([]byte("good"))
	sc, err := s.context(&good, formatVersion, stc.SuiteAES256GCM)
	if err != nil {
		t.Fatal(err)
	}
	blob := sc.Seal([]byte{formatVersion, byte(stc.SuiteAES256GCM)}, 0, []byte("evil"))
	if _, err := b.Put(ctx, good, blob); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Retrieve(ctx, good); !errors.Is(err, ErrCorrupt) || got != nil {
		t.Fatalf("Retrieve = %q, %v; want ErrCorrupt from the hash check", got, err)
	}
}

func TestSizeLimit(t *testing.T) {
	ctx := context.Background()
	b := &MemoryBackend{}
	s, err := New(b, testMaster, stc.SuiteAES256GCM, &Options{MaxSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store(ctx, make([]byte, 10)); err != nil {
		t.Fatalf("at limit: %v", err)
	}
	if _, err := s.Store(ctx, make([]byte, 11)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over limit: %v", err)
	}
	if b.Len() != 1 {
		t.Fatalf("%d objects stored, want 1", b.Len())
	}
	big := newStore(t, b, stc.SuiteAES256GCM)
	addr, err := big.Store(ctx, make([]byte, 11))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Retrieve(ctx, addr); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Retrieve over limit: %v", err)
	}
}

func TestContextCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, b := range backends(t) {
		s := newStore(t, b, stc.SuiteAES256GCM)
		if _, err := s.Store(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Store = %v", name, err)
		}
		if _, err := s.Retrieve(ctx, Addr{}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Retrieve = %v", name, err)
		}
	}
}

// TestConcurrentSameContent stores the same bytes from many goroutines at
// once (and different bytes alongside): every call succeeds with the same
// address, one object results, and it reads back intact.
func TestConcurrentSameContent(t *testing.T) {
	ctx := context.Background()
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := newStore(t, b, stc.SuiteAES256GCM)
			data := testData(50_000, 3)
			want := stc.Hash(data)
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Go(func() {
					addr, err := s.Store(ctx, data)
					if err != nil || addr != want {
						t.Errorf("Store = %x, %v", addr, err)
					}
					if _, err := s.Store(ctx, []byte(strconv.Itoa(i%4))); err != nil {
						t.Error(err)
					}
					if got, err := s.Retrieve(ctx, want); err != nil && !errors.Is(err, ErrNotFound) {
						t.Errorf("concurrent Retrieve: %v", err)
					} else if err == nil && !bytes.Equal(got, data) {
						t.Error("concurrent Retrieve returned other bytes")
					}
				})
			}
			wg.Wait()
			if got, err := s.Retrieve(ctx, want); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Retrieve: %v", err)
			}
			if d, ok := b.(*DiskBackend); ok {
				assertObjects(t, d, 5)
			}
		})
	}
}

// assertObjects checks the disk layout: n object files in fan-out
// directories named by their first byte, and no temporary files.
func assertObjects(t *testing.T, d *DiskBackend, n int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(d.Dir(), "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name, parent := filepath.Base(f), filepath.Base(filepath.Dir(f))
		if len(name) != 64 || name[:2] != parent {
			t.Errorf("unexpected file %s", f)
		}
	}
	if len(files) != n {
		t.Fatalf("%d files on disk, want %d: %v", len(files), n, files)
	}
}

// TestStaleTemps checks that NewDiskBackend removes old temporary files
// left by an interrupted Put (the crash before rename), keeps recent ones
// (a write in progress elsewhere), and that neither is ever read as an
// object.
func TestStaleTemps(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := NewDiskBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, d, stc.SuiteAES256GCM)
	addr, err := s.Store(ctx, []byte("committed"))
	if err != nil {
		t.Fatal(err)
	}
	fan, _ := d.path(addr)
	old := filepath.Join(fan, tempPrefix+"crashed")
	fresh := filepath.Join(fan, tempPrefix+"inprogress")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("partial"), filePerm); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * staleTempAge)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	d2, err := NewDiskBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temp survives: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("recent temp removed: %v", err)
	}
	got, err := newStore(t, d2, stc.SuiteAES256GCM).Retrieve(ctx, addr)
	if err != nil || string(got) != "committed" {
		t.Fatalf("Retrieve = %q, %v", got, err)
	}
	if err := os.Remove(fresh); err != nil {
		t.Fatal(err)
	}
	assertObjects(t, d2, 1)
}

// TestPutFailureCleansUp makes the rename fail (a directory sits at the
// object's name) and checks that no temporary file is left behind.
func TestPutFailureCleansUp(t *testing.T) {
	ctx := context.Background()
	d, err := NewDiskBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addr := Addr{0xab}
	_, file := d.path(addr)
	if err := os.MkdirAll(filepath.Join(file, "x"), dirPerm); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put(ctx, addr, []byte("blob")); err == nil {
		t.Fatal("Put over a directory succeeded")
	}
	temps, _ := filepath.Glob(filepath.Join(filepath.Dir(file), tempPrefix+"*"))
	if len(temps) != 0 {
		t.Fatalf("temporary files left: %v", temps)
	}
}

var sinkAddr Addr

// BenchmarkStore measures sealing and storing new objects in memory, per
// plaintext byte (each iteration stores distinct content, so nothing is
// deduplicated).
func BenchmarkStore(b *testing.B) {
	for _, n := range []int{1024 - 5, 64 << 10, 1 << 20} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s := newStore(b, &MemoryBackend{}, stc.PreferredSuite())
			data := testData(n, 1)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				i++
				data[0], data[1], data[2], data[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
				a, err := s.Store(context.Background(), data)
				if err != nil {
					b.Fatal(err)
				}
				sinkAddr = a
				b.StopTimer()
				if err := s.Delete(context.Background(), a); err != nil { // keep memory flat
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRetrieve measures reading, opening and hash-checking one object
// from memory, per plaintext byte.
func BenchmarkRetrieve(b *testing.B) {
	for _, n := range []int{1024 - 5, 64 << 10, 1 << 20} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s := newStore(b, &MemoryBackend{}, stc.PreferredSuite())
			addr, err := s.Store(context.Background(), testData(n, 1))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Retrieve(context.Background(), addr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDiskStore measures Store on the disk backend, fsyncs included.
func BenchmarkDiskStore(b *testing.B) {
	d, err := NewDiskBackend(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s := newStore(b, d, stc.PreferredSuite())
	data := testData(64<<10, 1)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i++
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
		if _, err := s.Store(context.Background(), data); err != nil {
			b.Fatal(err)
		}
	}
}
