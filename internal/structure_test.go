package internal_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestPacketPathFunctionLength: no function of the data plane's packet
// path (the non-test files of package dataplane) is longer than 60 lines;
// long ones are split into named steps (issue 16).
func TestPacketPathFunctionLength(t *testing.T) {
	const limit = 60
	files, err := filepath.Glob("../dataplane/*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			if n > limit {
				t.Errorf("%s: %s is %d lines (limit %d): split it into named steps", filepath.Base(name), fd.Name.Name, n, limit)
			}
		}
	}
}

// TestSessionFieldOwners: every field of dataplane.Session sits under an
// "Owner:" comment that says who may touch it (issue 16).
func TestSessionFieldOwners(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../dataplane/session.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var st *ast.StructType
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.Name == "Session" {
			st, _ = ts.Type.(*ast.StructType)
		}
		return st == nil
	})
	if st == nil {
		t.Fatal("no Session struct in dataplane/session.go")
	}
	owner := ""
	for _, field := range st.Fields.List {
		if field.Doc != nil {
			for _, c := range field.Doc.List {
				if text := strings.TrimPrefix(c.Text, "// "); strings.HasPrefix(text, "Owner: ") {
					owner = text
				}
			}
		}
		if owner == "" {
			t.Errorf("Session field %v has no owner: put it under an \"// Owner: ...\" comment", field.Names)
		}
	}
	if !strings.Contains(owner, "loop") {
		t.Errorf("the last owner group is %q; want the loop-owned group last", owner)
	}
}
