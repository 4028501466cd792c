package s3store

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// DefaultEndpoint is the endpoint of an s3:// URL without one: AWS S3.
const DefaultEndpoint = "s3.amazonaws.com"

// ErrBadURL is returned, wrapped with the reason, by ParseURL.
var ErrBadURL = errors.New("s3store: bad s3:// URL")

// ParseURL reads a store URL of the form
//
//	s3://BUCKET[/PREFIX][?endpoint=[http://|https://]HOST[:PORT]][&region=REGION][&path-style=true][&insecure=true]
//
// into Options (credentials excluded: they come from the environment, see
// Options). endpoint defaults to DefaultEndpoint (AWS); a scheme on it
// chooses HTTP or HTTPS, as insecure=true does for a bare host (HTTPS is
// the default); path-style=true puts the bucket in the path, which most
// self-hosted servers need; region defaults as in Options. For example a
// local Versity Gateway or MinIO:
//
//	s3://segments/live/ch1?endpoint=http://127.0.0.1:7070&path-style=true
//
// Unknown parameters, repeated parameters, a port or credentials in the
// URL's authority, a fragment, and an empty bucket are errors wrapping
// ErrBadURL, which never repeat the URL (it may hold a secret pasted by
// mistake); a URL that parses may still be refused by New (bucket name
// rules, missing credentials).
func ParseURL(s string) (*Options, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadURL, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, bad("%v", unwrapParse(err))
	}
	switch {
	case u.Scheme != "s3":
		return nil, bad("the scheme must be s3://")
	case u.Opaque != "":
		return nil, bad("write s3://BUCKET/PREFIX")
	case u.User != nil:
		return nil, bad("credentials do not belong in the URL: set $%s and $%s", EnvAccessKey, EnvSecretKey)
	case u.Port() != "" || strings.HasSuffix(u.Host, ":"):
		return nil, bad("the part after s3:// is the bucket name; give the server's host:port as ?endpoint=")
	case u.Hostname() == "":
		return nil, bad("the bucket name is empty")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return nil, bad("unexpected #fragment")
	}
	if err := s3utils.CheckValidBucketName(u.Host); err != nil {
		return nil, bad("bucket name %q: %v", u.Host, err)
	}
	o := &Options{Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/"), Endpoint: DefaultEndpoint}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("query: %v", err)
	}
	scheme := ""
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, bad("parameter %s given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "endpoint":
			if rest, ok := strings.CutPrefix(v, "http://"); ok {
				scheme, v = "http", rest
			} else if rest, ok := strings.CutPrefix(v, "https://"); ok {
				scheme, v = "https", rest
			}
			v = strings.TrimSuffix(v, "/")
			if v == "" || strings.ContainsAny(v, "/?#@ ") || strings.Contains(v, "://") {
				return nil, bad("endpoint must be [http://|https://]HOST[:PORT], not %q", vs[0])
			}
			o.Endpoint = v
		case "region":
			if v == "" {
				return nil, bad("region is empty")
			}
			o.Region = v
		case "path-style", "insecure":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad("%s must be true or false, not %q", k, v)
			}
			if k == "insecure" {
				o.Insecure = b
			} else {
				o.PathStyle = b
			}
		default:
			return nil, bad("unknown parameter %q (known: endpoint, region, path-style, insecure)", k)
		}
	}
	switch {
	case scheme == "http" && q.Has("insecure") && !o.Insecure:
		return nil, bad("endpoint is http:// but insecure=false")
	case scheme == "https" && o.Insecure:
		return nil, bad("endpoint is https:// but insecure=true")
	case scheme == "http":
		o.Insecure = true
	}
	return o, nil
}

// URL returns the s3:// URL ParseURL reads back into the same Options,
// without credentials. The endpoint carries its scheme.
func (o *Options) URL() string {
	scheme := "https://"
	if o.Insecure {
		scheme = "http://"
	}
	q := url.Values{"endpoint": {scheme + o.Endpoint}}
	if o.Region != "" {
		q.Set("region", o.Region)
	}
	if o.PathStyle {
		q.Set("path-style", "true")
	}
	u := url.URL{Scheme: "s3", Host: o.Bucket, Path: "/" + o.Prefix, RawQuery: q.Encode()}
	return u.String()
}

// unwrapParse drops the `parse "URL":` prefix url.Parse adds.
func unwrapParse(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
