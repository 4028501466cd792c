package s3store

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stt-go/stt/internal/s3test"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/storage"
	"github.com/stt-go/stt/storage/storagetest"
)

// BenchmarkBackends measures a Store on the disk backend and on S3 (Versity
// Gateway on loopback, default part size, so 32 MiB goes up in two
// parallel parts), per plaintext byte:
//
//   - Store: sealing and writing new content (each iteration differs, so
//     nothing is deduplicated; the object is deleted outside the timer);
//   - Retrieve: reading, opening and hash-checking one object;
//   - DedupHit: storing content that is already there, which is hashing
//     plus one Stat (an fstatat on disk, a HEAD on S3).
//
// The S3 numbers include HTTP on loopback and the gateway writing to the
// same disk; they show the protocol's cost next to the disk's, not what a
// remote store would do.
func BenchmarkBackends(b *testing.B) {
	srv := s3test.Start(b)
	backends := []struct {
		name string
		new  func(b *testing.B) storage.Backend
	}{
		{"disk", func(b *testing.B) storage.Backend {
			d, err := storage.NewDiskBackend(filepath.Join(b.TempDir(), "objects"))
			if err != nil {
				b.Fatal(err)
			}
			return d
		}},
		{"s3", func(b *testing.B) storage.Backend {
			o := testOptions(b, srv)
			o.PartSize = 0
			return newBackend(b, o)
		}},
	}
	ctx := context.Background()
	for _, be := range backends {
		for _, n := range []int{1024 - 5, 1 << 20, 32 << 20} {
			size := strconv.Itoa(n)
			b.Run(be.name+"/Store/"+size, func(b *testing.B) {
				s := benchStore(b, be.new(b))
				data := storagetest.Data(n, 1)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				var i uint32
				for b.Loop() {
					i++
					binary.LittleEndian.PutUint32(data, i)
					a, err := s.Store(ctx, data)
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := s.Delete(ctx, a); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
			b.Run(be.name+"/Retrieve/"+size, func(b *testing.B) {
				s := benchStore(b, be.new(b))
				a, err := s.Store(ctx, storagetest.Data(n, 2))
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Retrieve(ctx, a); err != nil {
						b.Fatal(err)
					}
				}
			})
			if n > 1<<20 {
				continue // a dedup hit costs the hash plus one Stat: the small sizes show both
			}
			b.Run(be.name+"/DedupHit/"+size, func(b *testing.B) {
				s := benchStore(b, be.new(b))
				data := storagetest.Data(n, 3)
				if _, err := s.Store(ctx, data); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Store(ctx, data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func benchStore(b *testing.B, be storage.Backend) *storage.Store {
	b.Helper()
	s, err := storage.New(be, testMaster, stc.PreferredSuite(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
