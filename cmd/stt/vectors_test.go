package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fileTransferDoc is the specification whose vectors TestFileTransferVectors
// checks.
const fileTransferDoc = "../../docs/FILE-TRANSFER.md"

// docVector is one ```vector block of docs/FILE-TRANSFER.md.
type docVector struct {
	line   int // of the opening fence, for messages
	fields map[string]string
}

func (v docVector) String() string { return fmt.Sprintf("line %d (%s)", v.line, v.fields["name"]) }

// hex decodes the named field's hex digits, spaces ignored.
func (v docVector) hex(t *testing.T, key string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(v.fields[key], " ", ""))
	if err != nil {
		t.Fatalf("%v: %s: %v", v, key, err)
	}
	return b
}

// values parses the fields line "k=v k=v …"; the last value, text=, runs
// to the end of the line.
func (v docVector) values(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	rest := v.fields["fields"]
	for rest != "" {
		kv, tail, _ := strings.Cut(rest, " ")
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("%v: bad fields entry %q", v, kv)
		}
		if k == "text" {
			val = strings.TrimPrefix(rest, "text=")
			tail = ""
		}
		out[k] = val
		rest = tail
	}
	return out
}

func (v docVector) uint(t *testing.T, vals map[string]string, key string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(vals[key], 10, 64)
	if err != nil {
		t.Fatalf("%v: %s: %v", v, key, err)
	}
	return n
}

// readVectors returns the ```vector blocks of the document.
func readVectors(t *testing.T) []docVector {
	t.Helper()
	f, err := os.Open(fileTransferDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out []docVector
		cur *docVector
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && line == "```vector":
			cur = &docVector{line: n, fields: map[string]string{}}
		case cur != nil && line == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			k, val, _ := strings.Cut(line, " ")
			cur.fields[k] = strings.TrimSpace(val)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("vector at line %d is not closed", cur.line)
	}
	return out
}

// TestFileTransferVectors checks every vector of docs/FILE-TRANSFER.md
// against the Go code: decoding, encoding, refusals with their texts, the
// digest of a body, the generator, and the framing of a message on a real
// stream between two nodes.
func TestFileTransferVectors(t *testing.T) {
	vecs := readVectors(t)
	if len(vecs) < 20 {
		t.Fatalf("found %d vectors in %s, expected the full set", len(vecs), fileTransferDoc)
	}
	var streamed []docVector
	for _, v := range vecs {
		t.Run(v.fields["name"], func(t *testing.T) {
			b := v.hex(t, "hex")
			want, refused := v.fields["error"]
			switch v.fields["type"] {
			case "header":
				h, err := parseHeader(b)
				if refused {
					if !errors.Is(err, errBadHeader) || err.Error() != want {
						t.Fatalf("%v: parseHeader = %v, want the refusal %q", v, err, want)
					}
					return
				}
				if err != nil {
					t.Fatalf("%v: %v", v, err)
				}
				vals := v.values(t)
				wantH := header{Kind: kind(v.uint(t, vals, "kind")), Digest: digest(v.uint(t, vals, "digest")), Size: v.uint(t, vals, "size"), Seed: v.uint(t, vals, "seed"), Name: vals["name"]}
				if h != wantH {
					t.Fatalf("%v: decoded %+v, fields say %+v", v, h, wantH)
				}
				if out, err := wantH.append(nil); err != nil || string(out) != string(b) {
					t.Fatalf("%v: encoding the fields gives %x (%v)", v, out, err)
				}
			case "reply":
				r, err := parseReply(b)
				if refused {
					if !errors.Is(err, errBadReply) || err.Error() != want {
						t.Fatalf("%v: parseReply = %v, want the refusal %q", v, err, want)
					}
					return
				}
				if err != nil {
					t.Fatalf("%v: %v", v, err)
				}
				vals := v.values(t)
				var wantR reply
				wantR.OK = vals["status"] == "0"
				wantR.Size = v.uint(t, vals, "size")
				d, err := hex.DecodeString(vals["digest"])
				if err != nil || len(d) != digestLen {
					t.Fatalf("%v: digest %q", v, vals["digest"])
				}
				copy(wantR.Sum[:], d)
				wantR.Err = vals["text"]
				if r != wantR {
					t.Fatalf("%v: decoded %+v, fields say %+v", v, r, wantR)
				}
				if out := wantR.append(nil); string(out) != string(b) {
					t.Fatalf("%v: encoding the fields gives %x", v, out)
				}
				if _, ok := v.fields["body"]; ok {
					id, err := strconv.ParseUint(v.fields["digest"], 10, 8)
					h := digest(id).newHash()
					if err != nil || h == nil {
						t.Fatalf("%v: a reply with a body needs a digest line naming digest 1, 2 or 3, not %q", v, v.fields["digest"])
					}
					h.Write(v.hex(t, "body"))
					var sum [digestLen]byte // a shorter digest, then zeros
					if h.Sum(sum[:0]); sum != r.Sum {
						t.Fatalf("%v: digest is not the %s of the body (%x)", v, digest(id), sum)
					}
				}
			case "generator":
				vals := v.values(t)
				got := make([]byte, len(b))
				patternAt(got, v.uint(t, vals, "seed"), v.uint(t, vals, "offset"))
				if string(got) != string(b) {
					t.Fatalf("%v: generator gives %x", v, got)
				}
				return
			default:
				t.Fatalf("%v: unknown type %q", v, v.fields["type"])
			}
			if _, ok := v.fields["stream"]; ok {
				streamed = append(streamed, v)
			}
		})
	}
	if len(streamed) == 0 {
		t.Fatal("no vector shows the bytes on the stream")
	}
	t.Run("framing on a stream", func(t *testing.T) { checkStreamFraming(t, streamed) })
}

// checkStreamFraming sends each vector's message with SendMessage between
// two in-process nodes and checks the raw bytes the other end reads.
func checkStreamFraming(t *testing.T, vecs []docVector) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	a, b, sa := testPair(t, ctx, log)
	defer func() {
		stopNode(a)
		stopNode(b)
	}()
	sb, err := b.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vecs {
		st, err := sa.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SendMessage(ctx, v.hex(t, "hex")); err != nil {
			t.Fatal(err)
		}
		if err := st.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		peer, err := sb.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(peer)
		if err != nil {
			t.Fatalf("%v: reading the stream: %v", v, err)
		}
		if want := v.hex(t, "stream"); string(got) != string(want) {
			t.Errorf("%v: on the stream % x\nthe document says % x", v, got, want)
		}
		peer.Close()
		st.Close()
	}
}
