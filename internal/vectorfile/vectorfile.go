// Package vectorfile reads and writes the JSON test-vector files under
// docs/vectors, for the tests of stc, wire and control that recompute them:
// one rendering (two-space indent, no HTML escaping, a final newline) and
// one strict reading (unknown fields are an error), so the files cannot
// drift between the packages that write them. Test infrastructure only.
package vectorfile

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// Marshal renders v as the vector files are written: two-space indent, no
// HTML escaping, a final newline.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(v)
	return buf.Bytes(), err
}

// Write renders v with Marshal into path.
func Write(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Read decodes the file at path into v, failing tb on a field v does not
// have. With useNumber, numbers in untyped fields stay json.Number.
func Read(tb testing.TB, path string, v any, useNumber bool) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if useNumber {
		d.UseNumber()
	}
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}
