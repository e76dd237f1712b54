// Package specs owns the Swagger 2.0 documents of the Edge Client API
// (client.yml), the Edge Management API (management.yml) and the definitions
// they share (shared.yml). They are the only hand-edited source of the REST
// code: generate.sh turns them into sdk/restapi and
// controller/internal/restserver.
//
// The package embeds the documents so the controller can serve them at
// GET /specs, /specs/{id} and /specs/{id}/spec. Document returns a spec with
// the shared definitions it uses merged in, so it stands alone.
package specs

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed *.yml
var files embed.FS

// SharedFile is the file of the definitions both APIs refer to.
const SharedFile = "shared.yml"

// Ids of the served specifications, as used in /specs/{id}. They match the
// API names in the apiVersions map of GET /version.
const (
	EdgeClientID     = "edge-client"
	EdgeManagementID = "edge-management"
)

// Spec describes one API specification the controller serves.
type Spec struct {
	// ID is the stable id of the spec in /specs/{id}.
	ID string
	// Name is a human-readable name.
	Name string
	// File is the file name of the spec in this package.
	File string
}

var served = []Spec{
	{ID: EdgeClientID, Name: "Edge Client API", File: "client.yml"},
	{ID: EdgeManagementID, Name: "Edge Management API", File: "management.yml"},
}

// ErrUnknownSpec is returned for an id that names no served specification.
var ErrUnknownSpec = errors.New("unknown spec")

// List returns the served specifications in a stable order.
func List() []Spec {
	return append([]Spec(nil), served...)
}

// Lookup returns the served specification with the given id.
func Lookup(id string) (Spec, bool) {
	for _, s := range served {
		if s.ID == id {
			return s, true
		}
	}
	return Spec{}, false
}

// Source returns the text of one embedded file (client.yml, management.yml or
// shared.yml) as written, with its references to shared.yml.
func Source(file string) ([]byte, error) {
	b, err := files.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read embedded spec %q: %w", file, err)
	}
	return b, nil
}

type bundled struct {
	once sync.Once
	doc  []byte
	err  error
}

var documents = map[string]*bundled{
	EdgeClientID:     {},
	EdgeManagementID: {},
}

// Document returns the specification with the given id as one standalone
// YAML document: every shared.yml definition it uses is copied into its
// definitions and every reference made local. The result is computed once.
func Document(id string) ([]byte, error) {
	spec, ok := Lookup(id)
	if !ok {
		return nil, fmt.Errorf("spec %q: %w", id, ErrUnknownSpec)
	}
	entry := documents[id]
	entry.once.Do(func() {
		main, err := Source(spec.File)
		if err != nil {
			entry.err = err
			return
		}
		shared, err := Source(SharedFile)
		if err != nil {
			entry.err = err
			return
		}
		entry.doc, entry.err = Bundle(main, shared)
	})
	if entry.err != nil {
		return nil, fmt.Errorf("bundle spec %q: %w", id, entry.err)
	}
	return entry.doc, nil
}

// sharedRefPrefix starts every reference from a spec into shared.yml.
const sharedRefPrefix = SharedFile + "#/definitions/"

// localRefPrefix starts every reference to a definition of the same document.
const localRefPrefix = "#/definitions/"

// Bundle merges the shared definitions that mainDoc uses (directly or through
// other shared definitions) into mainDoc's definitions, rewrites every
// `shared.yml#/definitions/x` reference to `#/definitions/x`, and returns the
// result as YAML. Both inputs are Swagger 2.0 documents in YAML or JSON.
// A shared definition whose name mainDoc also declares is an error, as is a
// reference to a definition that neither document declares.
func Bundle(mainDoc, sharedDoc []byte) ([]byte, error) {
	mainRoot, err := parseDocument(mainDoc)
	if err != nil {
		return nil, fmt.Errorf("parse spec: %w", err)
	}
	sharedRoot, err := parseDocument(sharedDoc)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", SharedFile, err)
	}

	sharedDefs, err := definitionsOf(sharedRoot, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SharedFile, err)
	}
	mainDefs, err := definitionsOf(mainRoot, true)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}

	// Which shared definitions are needed: those mainDoc refers to, and those
	// they refer to in turn (shared.yml refers to its own with local refs).
	needed := map[string]bool{}
	var queue []string
	want := func(name string) error {
		if needed[name] {
			return nil
		}
		if _, ok := sharedDefs.lookup(name); !ok {
			return fmt.Errorf("reference to %s%s: no such definition", sharedRefPrefix, name)
		}
		needed[name] = true
		queue = append(queue, name)
		return nil
	}
	var walkErr error
	walkRefs(mainRoot, func(ref *yaml.Node) {
		if walkErr == nil && strings.HasPrefix(ref.Value, sharedRefPrefix) {
			walkErr = want(strings.TrimPrefix(ref.Value, sharedRefPrefix))
		}
	})
	if walkErr != nil {
		return nil, walkErr
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		def, _ := sharedDefs.lookup(name)
		walkRefs(def, func(ref *yaml.Node) {
			if walkErr == nil && strings.HasPrefix(ref.Value, localRefPrefix) {
				walkErr = want(strings.TrimPrefix(ref.Value, localRefPrefix))
			}
		})
		if walkErr != nil {
			return nil, walkErr
		}
	}

	// Copy the needed shared definitions, in shared.yml's order, after the
	// spec's own.
	for i := 0; i+1 < len(sharedDefs.node.Content); i += 2 {
		key, value := sharedDefs.node.Content[i], sharedDefs.node.Content[i+1]
		if !needed[key.Value] {
			continue
		}
		if _, clash := mainDefs.lookup(key.Value); clash {
			return nil, fmt.Errorf("definition %q is declared both in the spec and in %s", key.Value, SharedFile)
		}
		mainDefs.node.Content = append(mainDefs.node.Content, key, value)
	}
	walkRefs(mainRoot, func(ref *yaml.Node) {
		if strings.HasPrefix(ref.Value, sharedRefPrefix) {
			ref.Value = localRefPrefix + strings.TrimPrefix(ref.Value, sharedRefPrefix)
			ref.Style = yaml.SingleQuotedStyle
		}
	})

	// Every local reference must now resolve.
	walkRefs(mainRoot, func(ref *yaml.Node) {
		if walkErr != nil || !strings.HasPrefix(ref.Value, localRefPrefix) {
			return
		}
		name := strings.TrimPrefix(ref.Value, localRefPrefix)
		if _, ok := mainDefs.lookup(name); !ok {
			walkErr = fmt.Errorf("reference to %s: no such definition", ref.Value)
		}
	})
	if walkErr != nil {
		return nil, walkErr
	}

	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(mainRoot); err != nil {
		return nil, fmt.Errorf("encode bundled spec: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode bundled spec: %w", err)
	}
	return out.Bytes(), nil
}

// parseDocument parses one YAML (or JSON) document whose top level is a
// mapping, and returns that mapping.
func parseDocument(text []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("top level is not a mapping")
	}
	if hasAlias(&doc) {
		// A copied definition could carry an alias whose anchor stays behind.
		return nil, errors.New("YAML aliases are not supported in specs")
	}
	return doc.Content[0], nil
}

func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

// mapping is a YAML mapping node with lookups by key.
type mapping struct {
	node *yaml.Node
}

func (m mapping) lookup(key string) (*yaml.Node, bool) {
	for i := 0; i+1 < len(m.node.Content); i += 2 {
		if m.node.Content[i].Value == key {
			return m.node.Content[i+1], true
		}
	}
	return nil, false
}

// definitionsOf returns the definitions mapping of a document. When create is
// set a missing definitions section is added.
func definitionsOf(root *yaml.Node, create bool) (mapping, error) {
	top := mapping{node: root}
	defs, ok := top.lookup("definitions")
	if !ok {
		if !create {
			return mapping{}, errors.New("no definitions")
		}
		defs = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		root.Content = append(root.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "definitions"}, defs)
	}
	if defs.Kind != yaml.MappingNode {
		return mapping{}, errors.New("definitions is not a mapping")
	}
	return mapping{node: defs}, nil
}

// walkRefs calls visit with the value node of every `$ref` key under n.
func walkRefs(n *yaml.Node, visit func(ref *yaml.Node)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			if key.Value == "$ref" && value.Kind == yaml.ScalarNode {
				visit(value)
				continue
			}
			walkRefs(value, visit)
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			walkRefs(c, visit)
		}
	}
}
