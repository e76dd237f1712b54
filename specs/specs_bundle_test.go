package specs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-openapi/loads"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/validate"
	"gopkg.in/yaml.v3"
)

func hasTopLevelKey(t *testing.T, root *yaml.Node, section, key string) bool {
	t.Helper()
	sec, ok := mapping{node: root}.lookup(section)
	if !ok || sec.Kind != yaml.MappingNode {
		return false
	}
	_, ok = mapping{node: sec}.lookup(key)
	return ok
}

// TestEmbeddedSpecsValidate loads every embedded spec, as written (with its
// references into shared.yml), with go-openapi and validates it against the
// Swagger 2.0 schema and rules. The bundled form of each spec must load and
// expand with no file next to it; it differs from the validated one only in
// how references are spelled.
func TestEmbeddedSpecsValidate(t *testing.T) {
	dir := t.TempDir()
	entries, err := files.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		text, err := files.ReadFile(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), text, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, spec := range List() {
		t.Run(spec.ID, func(t *testing.T) {
			if _, err := files.ReadFile(spec.File); err != nil {
				t.Skipf("%s is not embedded yet: %v", spec.File, err)
			}
			t.Parallel()
			doc, err := loads.Spec(filepath.Join(dir, spec.File))
			if err != nil {
				t.Fatalf("load %s: %v", spec.File, err)
			}
			if err := validate.Spec(doc, strfmt.Default); err != nil {
				t.Fatalf("validate %s: %v", spec.File, err)
			}

			bundled, err := Document(spec.ID)
			if err != nil {
				t.Fatal(err)
			}
			alone := filepath.Join(t.TempDir(), "bundled.yml")
			if err := os.WriteFile(alone, bundled, 0o600); err != nil {
				t.Fatal(err)
			}
			bdoc, err := loads.Spec(alone)
			if err != nil {
				t.Fatalf("load the bundled %s: %v", spec.File, err)
			}
			if _, err := bdoc.Expanded(); err != nil {
				t.Fatalf("expand the bundled %s: %v", spec.File, err)
			}
			if got, want := len(bdoc.Spec().Paths.Paths), len(doc.Spec().Paths.Paths); got != want {
				t.Errorf("the bundled %s has %d paths, want %d", spec.File, got, want)
			}
		})
	}
}

func TestListAndLookup(t *testing.T) {
	list := List()
	if len(list) != 2 || list[0].ID != EdgeClientID || list[1].ID != EdgeManagementID {
		t.Fatalf("List() = %+v", list)
	}
	list[0].ID = "changed"
	if List()[0].ID != EdgeClientID {
		t.Errorf("List exposes its backing array")
	}
	if s, ok := Lookup(EdgeClientID); !ok || s.File != "client.yml" {
		t.Errorf("Lookup(%q) = %+v, %v", EdgeClientID, s, ok)
	}
	if _, ok := Lookup("nope"); ok {
		t.Errorf("Lookup of an unknown id succeeded")
	}
	if _, err := Document("nope"); !errors.Is(err, ErrUnknownSpec) {
		t.Errorf("Document of an unknown id: err = %v, want ErrUnknownSpec", err)
	}
	if _, err := Source("nope.yml"); err == nil {
		t.Errorf("Source of a missing file succeeded")
	}
}

func TestDocumentIsStandalone(t *testing.T) {
	out, err := Document(EdgeClientID)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Document(EdgeClientID)
	if err != nil || !bytes.Equal(out, again) {
		t.Fatalf("Document is not stable: %v", err)
	}
	var doc document
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("'"+SharedFile+"#")) {
		t.Errorf("the bundled document still refers to %s", SharedFile)
	}
	// Directly used, and only reachable through another shared definition.
	for _, name := range []string{"apiErrorEnvelope", "meta", "pagination", "apiErrorCause", "serviceDetail", "link"} {
		if _, ok := doc.Definitions[name]; !ok {
			t.Errorf("the bundled document lacks %s", name)
		}
	}
	// Shared definitions the client API does not use stay out.
	if _, ok := doc.Definitions["namedRoles"]; ok {
		t.Errorf("the bundled document carries the unused namedRoles")
	}
	if len(operations(t, doc)) != len(clientContract) {
		t.Errorf("the bundled document lost operations")
	}
}

func TestBundleErrors(t *testing.T) {
	shared := []byte("definitions:\n  a:\n    $ref: '#/definitions/b'\n  b:\n    type: string\n  c:\n    type: integer\n")
	tests := []struct {
		name, main string
		want       string
	}{
		{"clash", "definitions:\n  b:\n    type: string\n  x:\n    $ref: 'shared.yml#/definitions/a'\n", "declared both"},
		{"missing shared", "definitions:\n  x:\n    $ref: 'shared.yml#/definitions/zzz'\n", "no such definition"},
		{"missing local", "definitions:\n  x:\n    $ref: '#/definitions/zzz'\n", "no such definition"},
		{"not a mapping", "- a\n- b\n", "not a mapping"},
		{"alias", "definitions:\n  x: &anchor\n    type: string\n  y: *anchor\n", "aliases"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Bundle([]byte(tc.main), shared)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}

	out, err := Bundle([]byte("paths: {}\ndefinitions:\n  x:\n    $ref: 'shared.yml#/definitions/a'\n"), shared)
	if err != nil {
		t.Fatal(err)
	}
	var doc document
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range doc.Definitions {
		names = append(names, name)
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"a", "b", "x"}) {
		t.Errorf("bundled definitions = %v, want a, b (through a) and x", names)
	}
	if doc.Definitions["x"].Ref != "#/definitions/a" {
		t.Errorf("x refers to %q, want #/definitions/a", doc.Definitions["x"].Ref)
	}
}

func FuzzBundle(f *testing.F) {
	// The real specs are bundled by TestDocumentIsStandalone and
	// TestEmbeddedSpecsValidate; small seeds keep the fuzzer fast.
	f.Add([]byte(`swagger: '2.0'
paths:
  /x:
    get:
      responses:
        '200':
          schema:
            $ref: 'shared.yml#/definitions/envelope'
        default:
          $ref: '#/responses/error'
responses:
  error:
    schema:
      $ref: 'shared.yml#/definitions/apiError'
definitions:
  local:
    allOf:
      - $ref: 'shared.yml#/definitions/base'
      - type: object
`), []byte(`definitions:
  envelope:
    properties:
      meta: {$ref: '#/definitions/meta'}
  meta: {type: object}
  apiError: {type: object}
  base: {properties: {links: {$ref: '#/definitions/links'}}}
  links: {additionalProperties: {$ref: '#/definitions/base'}}
  unused: {type: string}
`))
	f.Add([]byte("definitions:\n  x:\n    $ref: 'shared.yml#/definitions/a'\n"),
		[]byte("definitions:\n  a:\n    $ref: '#/definitions/b'\n  b: {}\n"))
	f.Add([]byte("{}"), []byte("definitions: {}"))
	f.Add([]byte(`{"definitions": {"x": {"$ref": "shared.yml#/definitions/a"}}}`), []byte(`{"definitions": {"a": {}}}`))
	f.Add([]byte("definitions: [1]"), []byte("definitions:\n  a: {$ref: '#/definitions/a'}\n"))

	f.Fuzz(func(t *testing.T, mainDoc, sharedDoc []byte) {
		out, err := Bundle(mainDoc, sharedDoc)
		if err != nil {
			return
		}
		root, err := parseDocument(out)
		if err != nil {
			t.Fatalf("bundled output does not parse: %v\n%s", err, out)
		}
		walkRefs(root, func(ref *yaml.Node) {
			if strings.HasPrefix(ref.Value, sharedRefPrefix) {
				t.Errorf("bundled output still refers to %q", ref.Value)
			}
		})
	})
}
