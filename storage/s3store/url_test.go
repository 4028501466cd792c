package s3store

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want Options
		err  string // substring of the error; "" for success
	}{
		{in: "s3://bucket", want: Options{Bucket: "bucket", Endpoint: DefaultEndpoint}},
		{in: "s3://bucket/", want: Options{Bucket: "bucket", Endpoint: DefaultEndpoint}},
		{in: "s3://bucket/live/ch1", want: Options{Bucket: "bucket", Prefix: "live/ch1", Endpoint: DefaultEndpoint}},
		{in: "s3://bucket/p?endpoint=127.0.0.1:7070&insecure=true&path-style=true",
			want: Options{Bucket: "bucket", Prefix: "p", Endpoint: "127.0.0.1:7070", Insecure: true, PathStyle: true}},
		{in: "s3://bucket?endpoint=http://127.0.0.1:7070/", want: Options{Bucket: "bucket", Endpoint: "127.0.0.1:7070", Insecure: true}},
		{in: "s3://bucket?endpoint=https://minio.example:9000&region=eu-west-1",
			want: Options{Bucket: "bucket", Endpoint: "minio.example:9000", Region: "eu-west-1"}},
		{in: "s3://b.with.dots/p%20q", want: Options{Bucket: "b.with.dots", Prefix: "p q", Endpoint: DefaultEndpoint}},
		{in: "http://bucket", err: "scheme must be s3://"},
		{in: "s3:bucket", err: "s3://BUCKET"},
		{in: "bucket/prefix", err: "scheme must be s3://"},
		{in: "s3://", err: "bucket name is empty"},
		{in: "s3:///prefix", err: "bucket name is empty"},
		{in: "s3://AKIA:secret@bucket/p", err: "credentials do not belong"},
		{in: "s3://bucket:9000/p", err: "?endpoint="},
		{in: "s3://bucket#frag", err: "fragment"},
		{in: "s3://bucket?endpoint=", err: "endpoint must be"},
		{in: "s3://bucket?endpoint=ftp://h", err: "endpoint must be"},
		{in: "s3://bucket?endpoint=h/path", err: "endpoint must be"},
		{in: "s3://bucket?endpoint=a&endpoint=b", err: "given 2 times"},
		{in: "s3://bucket?insecure=maybe", err: "true or false"},
		{in: "s3://bucket?secret=hunter2", err: "unknown parameter"},
		{in: "s3://bucket?region=", err: "region is empty"},
		{in: "s3://bucket?endpoint=http://h&insecure=false", err: "insecure=false"},
		{in: "s3://bucket?endpoint=https://h&insecure=true", err: "insecure=true"},
		{in: "s3://bucket?%zz", err: "query"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseURL(tt.in)
			if tt.err != "" {
				if !errors.Is(err, ErrBadURL) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseURL = %+v, %v; want ErrBadURL mentioning %q", got, err, tt.err)
				}
				if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "secret@") {
					t.Fatalf("error repeats a secret: %v", err)
				}
				return
			}
			if err != nil || *got != tt.want {
				t.Fatalf("ParseURL = %+v, %v; want %+v", got, err, tt.want)
			}
			again, err := ParseURL(got.URL())
			if err != nil || *again != *got {
				t.Fatalf("ParseURL(%q) = %+v, %v; want %+v", got.URL(), again, err, got)
			}
		})
	}
}

// FuzzParseURL checks that ParseURL never panics, fails only with
// ErrBadURL, and that what it accepts survives URL and back.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"s3://bucket", "s3://bucket/a/b?endpoint=http://127.0.0.1:7070&path-style=true",
		"s3://b?endpoint=https://h:1&region=r&insecure=false", "s3://u:p@b", "s3://b:1", "s3://b?x=1&x=2",
		"s3://b/%zz", "s3://[::1]/p", "s3://b?endpoint=%00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseURL(s)
		if err != nil {
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("ParseURL(%q) = %v; want ErrBadURL", s, err)
			}
			return
		}
		if o.Bucket == "" || o.Endpoint == "" {
			t.Fatalf("ParseURL(%q) = %+v: empty bucket or endpoint", s, o)
		}
		again, err := ParseURL(o.URL())
		if err != nil || *again != *o {
			t.Fatalf("ParseURL(%q).URL() = %q reads back as %+v, %v; want %+v", s, o.URL(), again, err, o)
		}
	})
}
