package internal_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs enforces style rule 30: every package with non-test Go
// files has exactly one package doc comment, starting "Package <name>" (or
// "Command" for main packages), in doc.go when the package has several files.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue
		}
		dir := filepath.Join("..", strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/"))
		var docs []string
		var name string
		for _, f := range p.GoFiles {
			af, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatalf("%s/%s: %v", p.ImportPath, f, err)
			}
			name = af.Name.Name
			if af.Doc != nil {
				docs = append(docs, f)
			}
		}
		switch {
		case len(docs) == 0:
			t.Errorf("%s: no package doc comment (add doc.go)", p.ImportPath)
		case len(docs) > 1:
			t.Errorf("%s: package doc in several files %v; keep exactly one", p.ImportPath, docs)
		case len(p.GoFiles) > 1 && docs[0] != "doc.go":
			t.Errorf("%s: multi-file package documents itself in %s; move it to doc.go", p.ImportPath, docs[0])
		}
		want := "Package " + name
		if name == "main" {
			want = "Command "
		}
		if len(docs) == 1 && !strings.HasPrefix(p.Doc, want) && !(name == "main" && strings.HasPrefix(p.Doc, "Stt")) {
			t.Errorf("%s: package doc should start %q, got %.40q", p.ImportPath, want, p.Doc)
		}
	}
}
