package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-openapi/loads"
	"github.com/go-openapi/spec"

	clientops "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations"
	mgmtops "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations"
)

// TestRoutesAssignEveryOperation: after routes.go has run, every operation
// handler of both generated APIs is one of ours, not the generated default
// that answers 501 (which the generated Validate does not report), and there
// are as many of them as the specs declare operations.
func TestRoutesAssignEveryOperation(t *testing.T) {
	s := &Server{}
	cdoc, err := clientSpec()
	if err != nil {
		t.Fatal(err)
	}
	mdoc, err := managementSpec()
	if err != nil {
		t.Fatal(err)
	}
	c := clientops.NewEdgeClientAPI(cdoc)
	s.routeClient(c)
	m := mgmtops.NewEdgeManagementAPI(mdoc)
	s.routeManagement(m)
	for _, tc := range []struct {
		name             string
		routed, unrouted any
		doc              *loads.Document
	}{
		{"client", c, clientops.NewEdgeClientAPI(cdoc), cdoc},
		{"management", m, mgmtops.NewEdgeManagementAPI(mdoc), mdoc},
	} {
		v := reflect.ValueOf(tc.routed).Elem()
		fresh := reflect.ValueOf(tc.unrouted).Elem()
		handlers := 0
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !strings.HasSuffix(f.Name, "Handler") || f.Type.Kind() != reflect.Interface || !strings.Contains(f.Type.PkgPath(), "/operations/") {
				continue
			}
			handlers++
			h, d := v.Field(i).Elem(), fresh.Field(i).Elem()
			switch {
			case !h.IsValid():
				t.Errorf("%s API: %s is nil", tc.name, f.Name)
			case h.Kind() != reflect.Func:
				t.Errorf("%s API: %s is a %s, not a handler func", tc.name, f.Name, h.Type())
			case d.IsValid() && d.Kind() == reflect.Func && h.Pointer() == d.Pointer():
				t.Errorf("%s API: %s is still the generated default (501); assign it in routes.go", tc.name, f.Name)
			}
		}
		if ops := len(operationsOf(t, tc.doc)); handlers != ops || ops == 0 {
			t.Errorf("%s API: %d operation handlers for %d operations in the spec", tc.name, handlers, ops)
		}
	}
}

// TestRoutesFileIsTheOnlyPlaceHandlersAreAssigned: no other file of the
// package assigns an operation handler, and each line of routes.go names a
// Server method and says the method and path its spec gives the operation.
func TestRoutesFileIsTheOnlyPlaceHandlersAreAssigned(t *testing.T) {
	paths := map[string]string{} // operation id -> "METHOD /path", per API
	for api, load := range map[string]func() (*loads.Document, error){"client": clientSpec, "management": managementSpec} {
		doc, err := load()
		if err != nil {
			t.Fatal(err)
		}
		for id, route := range operationsOf(t, doc) {
			paths[api+" "+strings.ToLower(id)] = route
		}
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	routed := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		api := ""
		ast.Inspect(f, func(n ast.Node) bool {
			if fd, ok := n.(*ast.FuncDecl); ok {
				api = ""
				switch fd.Name.Name {
				case "routeClient":
					api = "client"
				case "routeManagement":
					api = "management"
				}
			}
			as, ok := n.(*ast.AssignStmt)
			if !ok || len(as.Lhs) != 1 {
				return true
			}
			lhs, ok := as.Lhs[0].(*ast.SelectorExpr)
			if !ok || !strings.HasSuffix(lhs.Sel.Name, "Handler") {
				return true
			}
			call, ok := as.Rhs[0].(*ast.CallExpr)
			if !ok {
				return true
			}
			fn, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !strings.HasSuffix(fn.Sel.Name, "HandlerFunc") {
				return true
			}
			at := fset.Position(as.Pos())
			if name != "routes.go" || api == "" {
				t.Errorf("%s: %s is assigned outside routes.go's routeClient and routeManagement", at, lhs.Sel.Name)
				return true
			}
			routed++
			if len(call.Args) != 1 {
				t.Errorf("%s: %s takes one handler", at, lhs.Sel.Name)
				return true
			}
			if m, ok := call.Args[0].(*ast.SelectorExpr); !ok || !isIdent(m.X, "s") {
				t.Errorf("%s: %s is not answered by a named method of Server", at, lhs.Sel.Name)
			}
			want, found := paths[api+" "+strings.ToLower(strings.TrimSuffix(fn.Sel.Name, "HandlerFunc"))]
			if !found {
				t.Errorf("%s: %s names no operation of the %s spec", at, fn.Sel.Name, api)
				return true
			}
			line := string(src[fset.Position(as.End()).Offset:])
			line, _, _ = strings.Cut(line, "\n")
			if got := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "//")); got != want {
				t.Errorf("%s: %s is commented %q; its spec says %q", at, lhs.Sel.Name, got, want)
			}
			return true
		})
	}
	if routed != len(paths) {
		t.Errorf("routes.go assigns %d handlers; the specs declare %d operations", routed, len(paths))
	}
}

// operationsOf maps the id of each operation doc declares to its method and
// path ("GET /services").
func operationsOf(t *testing.T, doc *loads.Document) map[string]string {
	t.Helper()
	out := map[string]string{}
	for path, item := range doc.Spec().Paths.Paths {
		for method, op := range map[string]*spec.Operation{"GET": item.Get, "PUT": item.Put, "POST": item.Post,
			"DELETE": item.Delete, "PATCH": item.Patch, "HEAD": item.Head, "OPTIONS": item.Options} {
			if op == nil {
				continue
			}
			if _, dup := out[op.ID]; dup || op.ID == "" {
				t.Fatalf("operation %q at %s %s: empty or declared twice", op.ID, method, path)
			}
			out[op.ID] = method + " " + path
		}
	}
	return out
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
