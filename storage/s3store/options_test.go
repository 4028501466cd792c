package s3store

import (
	"errors"
	"strings"
	"testing"

	"github.com/stt-go/stt/storage"
)

func TestNewOptions(t *testing.T) {
	valid := func() Options {
		return Options{Endpoint: "127.0.0.1:7070", Bucket: "bucket", AccessKey: "a", SecretKey: "s"}
	}
	tests := []struct {
		name   string
		modify func(*Options)
		env    map[string]string
		want   string // substring of the error; "" for success
	}{
		{"valid", func(*Options) {}, nil, ""},
		{"no endpoint", func(o *Options) { o.Endpoint = "" }, nil, "Endpoint is empty"},
		{"endpoint with scheme", func(o *Options) { o.Endpoint = "http://h" }, nil, "has a scheme"},
		{"no bucket", func(o *Options) { o.Bucket = "" }, nil, "Bucket is empty"},
		{"bad bucket", func(o *Options) { o.Bucket = "Bad_Bucket" }, nil, "Bucket"},
		{"prefix with leading slash", func(o *Options) { o.Prefix = "/p" }, nil, "starts with /"},
		{"part too small", func(o *Options) { o.PartSize = MinPartSize - 1 }, nil, "PartSize"},
		{"part too large", func(o *Options) { o.PartSize = MaxPartSize + 1 }, nil, "PartSize"},
		{"negative concurrency", func(o *Options) { o.Concurrency = -1 }, nil, "Concurrency"},
		{"negative max size", func(o *Options) { o.MaxObjectSize = -1 }, nil, "MaxObjectSize"},
		{"secret without access key", func(o *Options) { o.SecretKey = "" }, nil, "SecretKey is empty"},
		{"no credentials anywhere", func(o *Options) { o.AccessKey, o.SecretKey = "", "" }, nil, "AWS_ACCESS_KEY_ID"},
		{"credentials from the environment", func(o *Options) { o.AccessKey, o.SecretKey = "", "" },
			map[string]string{EnvAccessKey: "ak", EnvSecretKey: "sk"}, ""},
		{"half the credentials in the environment", func(o *Options) { o.AccessKey, o.SecretKey = "", "" },
			map[string]string{EnvAccessKey: "ak"}, "AWS_SECRET_ACCESS_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{EnvAccessKey, EnvSecretKey, EnvSessionToken, EnvRegion, EnvDefaultRegion} {
				t.Setenv(k, tt.env[k])
			}
			o := valid()
			tt.modify(&o)
			orig := o
			b, err := New(&o)
			if o != orig {
				t.Fatal("New modified the caller's Options")
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New = %v", err)
				}
				b.Close()
				return
			}
			if !errors.Is(err, storage.ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v; want ErrInvalidOptions mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := New(nil); !errors.Is(err, storage.ErrInvalidOptions) {
		t.Fatalf("New(nil) = %v", err)
	}
}

func TestDefaults(t *testing.T) {
	t.Setenv(EnvRegion, "")
	t.Setenv(EnvDefaultRegion, "eu-north-1")
	b, err := New(&Options{Endpoint: "h", Bucket: "bucket", Prefix: "a/b", AccessKey: "a", SecretKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.partSize != DefaultPartSize || b.concurrency != DefaultConcurrency || b.retries != DefaultRetries ||
		b.maxObject != storage.DefaultMaxSize+storage.Overhead || b.prefix != "a/b/" {
		t.Fatalf("defaults: part %d, concurrency %d, retries %d, max %d, prefix %q", b.partSize, b.concurrency, b.retries, b.maxObject, b.prefix)
	}
	if r := b.region; r != "eu-north-1" {
		t.Fatalf("region %q; want $AWS_DEFAULT_REGION", r)
	}
	if k := b.Key(storage.Addr{0xab}); k != "a/b/ab"+strings.Repeat("00", 31) {
		t.Fatalf("Key = %q", k)
	}
}

func TestParseKey(t *testing.T) {
	b := &Backend{prefix: "p/"}
	a := storage.Addr{0x01, 0xfe}
	tests := []struct {
		key string
		ok  bool
	}{
		{b.Key(a), true},
		{"p/" + strings.Repeat("AB", 32), false},
		{"p/" + strings.Repeat("ab", 31), false},
		{"p/" + strings.Repeat("ab", 33), false},
		{"p/" + strings.Repeat("zz", 32), false},
		{"q/" + strings.Repeat("ab", 32), false},
		{"p/sub/" + strings.Repeat("ab", 32)[6:], false},
	}
	for _, tt := range tests {
		got, ok := b.parseKey(tt.key)
		if ok != tt.ok || (ok && got != a) {
			t.Errorf("parseKey(%q) = %x, %v; want ok=%v", tt.key, got[:2], ok, tt.ok)
		}
	}
}
