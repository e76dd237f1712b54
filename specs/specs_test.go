package specs

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// clientOperation is one operation of the Edge Client API contract.
type clientOperation struct {
	method string
	path   string
	auth   bool // needs an API session (ztSession or oauth2)
}

// clientContract lists every operation of the Edge Client API: the
// "Client API operations" section of EDGE-API-FACTS.md, plus the three service
// updates the 0.26.38 reference also lists (PUT, PATCH and DELETE
// /services/{id}, administrators only). 57 operations.
var clientContract = []clientOperation{
	// Informational
	{"GET", "/", false},
	{"GET", "/version", false},
	{"GET", "/enumerated-capabilities", false},
	{"GET", "/protocols", false},
	{"GET", "/specs", false},
	{"GET", "/specs/{id}", false},
	{"GET", "/specs/{id}/spec", false},
	// Well known
	{"GET", "/.well-known/est/cacerts", false},
	// Authentication
	{"POST", "/authenticate", false},
	{"POST", "/authenticate/mfa", true},
	// Current API session
	{"GET", "/current-api-session", true},
	{"DELETE", "/current-api-session", true},
	{"GET", "/current-api-session/certificates", true},
	{"POST", "/current-api-session/certificates", true},
	{"GET", "/current-api-session/certificates/{id}", true},
	{"DELETE", "/current-api-session/certificates/{id}", true},
	{"GET", "/current-api-session/service-updates", true},
	// Current identity
	{"GET", "/current-identity", true},
	{"GET", "/current-identity/edge-routers", true},
	// Authenticators
	{"GET", "/current-identity/authenticators", true},
	{"GET", "/current-identity/authenticators/{id}", true},
	{"PUT", "/current-identity/authenticators/{id}", true},
	{"PATCH", "/current-identity/authenticators/{id}", true},
	{"POST", "/current-identity/authenticators/{id}/extend", true},
	{"POST", "/current-identity/authenticators/{id}/extend-verify", true},
	// MFA
	{"POST", "/current-identity/mfa", true},
	{"GET", "/current-identity/mfa", true},
	{"DELETE", "/current-identity/mfa", true},
	{"GET", "/current-identity/mfa/qr-code", true},
	{"POST", "/current-identity/mfa/verify", true},
	{"GET", "/current-identity/mfa/recovery-codes", true},
	{"POST", "/current-identity/mfa/recovery-codes", true},
	// Controllers
	{"GET", "/controllers", true},
	// Enroll
	{"POST", "/enroll", false},
	{"POST", "/enroll/ca", false},
	{"POST", "/enroll/ott", false},
	{"POST", "/enroll/ottca", false},
	{"POST", "/enroll/updb", false},
	{"POST", "/enroll/erott", false},
	{"POST", "/enroll/extend/router", false},
	{"GET", "/enroll/jwks", false},
	{"POST", "/enroll/challenge", false},
	// Enrollment
	{"GET", "/network-jwts", false},
	// External JWT signers
	{"GET", "/external-jwt-signers", false},
	// Posture
	{"POST", "/posture-response", true},
	{"POST", "/posture-response-bulk", true},
	// Services
	{"GET", "/services", true},
	{"GET", "/services/{id}", true},
	{"PUT", "/services/{id}", true},
	{"PATCH", "/services/{id}", true},
	{"DELETE", "/services/{id}", true},
	{"GET", "/services/{id}/terminators", true},
	{"GET", "/services/{id}/edge-routers", true},
	// Sessions
	{"GET", "/sessions", true},
	{"POST", "/sessions", true},
	{"GET", "/sessions/{id}", true},
	{"DELETE", "/sessions/{id}", true},
}

// notEnveloped are the operations whose success body is not {data, meta}.
var notEnveloped = map[string]bool{
	"GET /.well-known/est/cacerts":      true,
	"GET /current-identity/mfa/qr-code": true,
	"GET /specs/{id}/spec":              true,
	"GET /enroll/jwks":                  true,
	"POST /enroll/challenge":            true,
}

const apiErrorEnvelopeRef = "shared.yml#/definitions/apiErrorEnvelope"

// The parts of a Swagger 2.0 document the tests look at.
type document struct {
	BasePath            string                    `yaml:"basePath"`
	SecurityDefinitions map[string]securityScheme `yaml:"securityDefinitions"`
	Security            *[]map[string][]string    `yaml:"security"`
	Tags                []struct {
		Name string `yaml:"name"`
	} `yaml:"tags"`
	Responses   map[string]response             `yaml:"responses"`
	Paths       map[string]map[string]yaml.Node `yaml:"paths"`
	Definitions map[string]schema               `yaml:"definitions"`
}

type securityScheme struct {
	Type             string            `yaml:"type"`
	In               string            `yaml:"in"`
	Name             string            `yaml:"name"`
	Flow             string            `yaml:"flow"`
	AuthorizationURL string            `yaml:"authorizationUrl"`
	TokenURL         string            `yaml:"tokenUrl"`
	Scopes           map[string]string `yaml:"scopes"`
}

type operation struct {
	OperationID string                 `yaml:"operationId"`
	Tags        []string               `yaml:"tags"`
	Security    *[]map[string][]string `yaml:"security"`
	Consumes    []string               `yaml:"consumes"`
	Produces    []string               `yaml:"produces"`
	Parameters  []parameter            `yaml:"parameters"`
	Responses   map[string]response    `yaml:"responses"`
}

type parameter struct {
	Ref      string   `yaml:"$ref"`
	Name     string   `yaml:"name"`
	In       string   `yaml:"in"`
	Type     string   `yaml:"type"`
	Required bool     `yaml:"required"`
	Enum     []string `yaml:"enum"`
	Schema   *schema  `yaml:"schema"`
}

type response struct {
	Ref     string            `yaml:"$ref"`
	Schema  *schema           `yaml:"schema"`
	Headers map[string]header `yaml:"headers"`
}

type header struct {
	Type string `yaml:"type"`
}

type schema struct {
	Ref        string            `yaml:"$ref"`
	Type       string            `yaml:"type"`
	Format     string            `yaml:"format"`
	Properties map[string]schema `yaml:"properties"`
	AllOf      []schema          `yaml:"allOf"`
	Items      *schema           `yaml:"items"`
	Required   []string          `yaml:"required"`
	Enum       []string          `yaml:"enum"`
	MinLength  *int              `yaml:"minLength"`
	MaxLength  *int              `yaml:"maxLength"`
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch"}

// specSet holds the parsed specs and resolves references between them.
type specSet struct {
	client, shared document
	management     *document // nil when management.yml is not embedded
}

func loadSpecs(t *testing.T) specSet {
	t.Helper()
	var set specSet
	set.client = parseSpec(t, "client.yml")
	set.shared = parseSpec(t, SharedFile)
	if _, err := files.ReadFile("management.yml"); err == nil {
		m := parseSpec(t, "management.yml")
		set.management = &m
	}
	return set
}

func parseSpec(t *testing.T, file string) document {
	t.Helper()
	text, err := Source(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc document
	if err := yaml.Unmarshal(text, &doc); err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	return doc
}

// operations returns every operation of doc keyed by "METHOD /path".
func operations(t *testing.T, doc document) map[string]operation {
	t.Helper()
	ops := map[string]operation{}
	for path, item := range doc.Paths {
		for key, node := range item {
			if !slices.Contains(methods, key) {
				continue
			}
			var op operation
			if err := node.Decode(&op); err != nil {
				t.Fatalf("decode %s %s: %v", key, path, err)
			}
			ops[strings.ToUpper(key)+" "+path] = op
		}
	}
	return ops
}

// resolve follows a definition reference made from the client spec (local
// refs are relative to from). It returns the schema and the document that
// declares it.
func (s specSet) resolve(t *testing.T, from *document, ref string) (schema, *document) {
	t.Helper()
	doc := from
	name, ok := strings.CutPrefix(ref, "#/definitions/")
	if !ok {
		name, ok = strings.CutPrefix(ref, sharedRefPrefix)
		if !ok {
			t.Fatalf("unsupported reference %q", ref)
		}
		doc = &s.shared
	}
	def, ok := doc.Definitions[name]
	if !ok {
		t.Fatalf("reference %q: no such definition", ref)
	}
	return def, doc
}

// properties returns the properties of sch, following references and allOf.
func (s specSet) properties(t *testing.T, from *document, sch schema) map[string]schema {
	t.Helper()
	if sch.Ref != "" {
		def, doc := s.resolve(t, from, sch.Ref)
		return s.properties(t, doc, def)
	}
	props := map[string]schema{}
	for name, p := range sch.Properties {
		props[name] = p
	}
	for _, part := range sch.AllOf {
		for name, p := range s.properties(t, from, part) {
			props[name] = p
		}
	}
	return props
}

func (d document) response(t *testing.T, r response) response {
	t.Helper()
	if r.Ref == "" {
		return r
	}
	name, ok := strings.CutPrefix(r.Ref, "#/responses/")
	if !ok {
		t.Fatalf("unsupported response reference %q", r.Ref)
	}
	resolved, ok := d.Responses[name]
	if !ok {
		t.Fatalf("response reference %q: no such response", r.Ref)
	}
	return resolved
}

func TestClientContractOperationsPresent(t *testing.T) {
	set := loadSpecs(t)
	if set.client.BasePath != "/edge/client/v1" {
		t.Errorf("basePath = %q, want /edge/client/v1", set.client.BasePath)
	}
	if len(clientContract) != 57 {
		t.Fatalf("the contract lists %d operations, want 57", len(clientContract))
	}
	ops := operations(t, set.client)
	want := map[string]bool{}
	for _, c := range clientContract {
		key := c.method + " " + c.path
		if want[key] {
			t.Errorf("contract lists %s twice", key)
		}
		want[key] = true
		if _, ok := ops[key]; !ok {
			t.Errorf("client.yml lacks %s", key)
		}
	}
	for key := range ops {
		if !want[key] {
			t.Errorf("client.yml has %s, which is not in the contract", key)
		}
	}
}

var lowerCamel = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

func TestClientOperationsWellFormed(t *testing.T) {
	set := loadSpecs(t)
	declaredTags := map[string]bool{}
	for _, tag := range set.client.Tags {
		declaredTags[tag.Name] = true
	}
	for _, tag := range []string{"Informational", "Well Known", "Authentication", "Current API Session",
		"Current Identity", "Enroll", "Extend Enrollment", "MFA", "Posture", "Service", "Session",
		"Controllers", "External JWT", "Enrollment"} {
		if !declaredTags[tag] {
			t.Errorf("tag %q is not declared", tag)
		}
	}

	ids := map[string]string{}
	for key, op := range operations(t, set.client) {
		if !lowerCamel.MatchString(op.OperationID) {
			t.Errorf("%s: operationId %q is not a lowerCamel identifier", key, op.OperationID)
		}
		if other, dup := ids[op.OperationID]; dup {
			t.Errorf("%s and %s share operationId %q", key, other, op.OperationID)
		}
		ids[op.OperationID] = key

		if len(op.Tags) == 0 {
			t.Errorf("%s has no tags", key)
		}
		for _, tag := range op.Tags {
			if !declaredTags[tag] {
				t.Errorf("%s: tag %q is not declared at the top level", key, tag)
			}
		}

		var success, errorResponses int
		for code, r := range op.Responses {
			r = set.client.response(t, r)
			if code == "default" || code >= "400" {
				errorResponses++
				if r.Schema == nil || r.Schema.Ref != apiErrorEnvelopeRef {
					t.Errorf("%s: response %s does not use %s", key, code, apiErrorEnvelopeRef)
				}
				continue
			}
			n, err := strconv.Atoi(code)
			if err != nil || n < 200 || n > 299 {
				t.Errorf("%s: unexpected response code %q", key, code)
				continue
			}
			success++
		}
		if success != 1 {
			t.Errorf("%s has %d success responses, want exactly one (clients reject undeclared codes)", key, success)
		}
		if errorResponses == 0 {
			t.Errorf("%s declares no error response", key)
		}
		if _, ok := op.Responses["default"]; !ok {
			t.Errorf("%s has no default (error envelope) response", key)
		}
	}
}

func TestClientSuccessBodiesAreEnvelopes(t *testing.T) {
	set := loadSpecs(t)
	for key, op := range operations(t, set.client) {
		for code, r := range op.Responses {
			if code == "default" || code >= "400" {
				continue
			}
			r = set.client.response(t, r)
			if notEnveloped[key] {
				continue
			}
			if r.Schema == nil {
				t.Errorf("%s: response %s has no schema", key, code)
				continue
			}
			props := set.properties(t, &set.client, *r.Schema)
			meta, hasMeta := props["meta"]
			if _, hasData := props["data"]; !hasData || !hasMeta {
				t.Errorf("%s: response %s is not a {data, meta} envelope", key, code)
				continue
			}
			if meta.Ref != "#/definitions/meta" && meta.Ref != sharedRefPrefix+"meta" {
				t.Errorf("%s: response %s: meta is %q, want the shared meta", key, code, meta.Ref)
			}
		}
	}
}

func TestClientNonEnvelopeOperations(t *testing.T) {
	set := loadSpecs(t)
	ops := operations(t, set.client)
	produces := map[string]string{
		"GET /.well-known/est/cacerts":      "application/pkcs7-mime",
		"GET /current-identity/mfa/qr-code": "image/png",
		"GET /specs/{id}/spec":              "text/plain",
	}
	for key, mime := range produces {
		if got := ops[key].Produces; !slices.Equal(got, []string{mime}) {
			t.Errorf("%s produces %v, want [%s]", key, got, mime)
		}
	}
	if s := set.client.response(t, ops["GET /current-identity/mfa/qr-code"].Responses["200"]).Schema; s == nil || s.Type != "file" {
		t.Errorf("the QR code is not a file response")
	}
	if s := set.client.response(t, ops["GET /.well-known/est/cacerts"].Responses["200"]).Schema; s == nil || s.Type != "string" {
		t.Errorf("the CA bundle is not a string response")
	}

	jwks := set.client.response(t, ops["GET /enroll/jwks"].Responses["200"]).Schema
	if _, ok := set.properties(t, &set.client, *jwks)["keys"]; !ok {
		t.Errorf("GET /enroll/jwks does not answer {keys}")
	}
	challenge := set.client.response(t, ops["POST /enroll/challenge"].Responses["200"]).Schema
	props := set.properties(t, &set.client, *challenge)
	for _, field := range []string{"signature", "algorithm", "kid", "caPool"} {
		if _, ok := props[field]; !ok {
			t.Errorf("POST /enroll/challenge answer lacks %s", field)
		}
	}

	wantConsumes := []string{"application/pkcs10", "application/x-pem-file", "text/plain", "application/json"}
	if got := ops["POST /enroll"].Consumes; !slices.Equal(got, wantConsumes) {
		t.Errorf("POST /enroll consumes %v, want %v", got, wantConsumes)
	}
	var query []string
	for _, p := range ops["POST /enroll"].Parameters {
		if p.In == "query" {
			query = append(query, p.Name)
		}
	}
	sort.Strings(query)
	if !slices.Equal(query, []string{"method", "token"}) {
		t.Errorf("POST /enroll query parameters are %v, want method and token", query)
	}
}

func TestClientSecurity(t *testing.T) {
	set := loadSpecs(t)
	zt, ok := set.client.SecurityDefinitions["ztSession"]
	if !ok || zt.Type != "apiKey" || zt.In != "header" || zt.Name != "zt-session" {
		t.Errorf("ztSession = %+v, want an apiKey in header zt-session", zt)
	}
	oauth, ok := set.client.SecurityDefinitions["oauth2"]
	if !ok || oauth.Type != "oauth2" || oauth.Flow == "" || oauth.AuthorizationURL == "" || oauth.TokenURL == "" {
		t.Errorf("oauth2 = %+v, want a complete oauth2 scheme", oauth)
	}
	if set.client.Security != nil {
		t.Errorf("client.yml declares a global security requirement; operations must declare their own")
	}

	ops := operations(t, set.client)
	for _, c := range clientContract {
		key := c.method + " " + c.path
		op, ok := ops[key]
		if !ok {
			continue // reported by TestClientContractOperationsPresent
		}
		if op.Security == nil {
			t.Errorf("%s does not declare its security", key)
			continue
		}
		reqs := *op.Security
		if !c.auth {
			if len(reqs) != 0 {
				t.Errorf("%s must not need authentication, has %v", key, reqs)
			}
			continue
		}
		// Two alternatives: ztSession alone, or oauth2 alone.
		var schemes []string
		for _, req := range reqs {
			if len(req) != 1 {
				t.Errorf("%s: security requirement %v combines schemes; they are alternatives", key, req)
			}
			for name := range req {
				schemes = append(schemes, name)
			}
		}
		sort.Strings(schemes)
		if !slices.Equal(schemes, []string{"oauth2", "ztSession"}) {
			t.Errorf("%s: security schemes %v, want ztSession or oauth2", key, schemes)
		}
		if _, ok := op.Responses["401"]; !ok {
			t.Errorf("%s needs authentication but declares no 401", key)
		}
	}
}

func TestReferenceFieldsAndLimits(t *testing.T) {
	set := loadSpecs(t)
	limits := []struct {
		definition string
		min, max   int
	}{
		{"username", 4, 100},
		{"usernameNullable", 4, 100},
		{"password", 5, 100},
		{"passwordNullable", 5, 100},
	}
	for _, l := range limits {
		def := set.shared.Definitions[l.definition]
		if def.MinLength == nil || def.MaxLength == nil || *def.MinLength != l.min || *def.MaxLength != l.max {
			t.Errorf("%s: length limits %v..%v, want %d..%d", l.definition, def.MinLength, def.MaxLength, l.min, l.max)
		}
	}

	ops := operations(t, set.client)
	var method *parameter
	for _, p := range ops["POST /authenticate"].Parameters {
		if p.Name == "method" {
			method = &p
		}
	}
	if method == nil || method.In != "query" || !method.Required ||
		!slices.Equal(method.Enum, []string{"password", "cert", "ext-jwt"}) {
		t.Errorf("POST /authenticate method parameter = %+v", method)
	}
	if h, ok := set.client.response(t, ops["POST /authenticate"].Responses["200"]).Headers["zt-session"]; !ok || h.Type != "string" {
		t.Errorf("POST /authenticate does not declare the zt-session response header")
	}

	auth := set.properties(t, &set.shared, set.shared.Definitions["authenticate"])
	for _, field := range []string{"username", "password", "configTypes", "envInfo", "sdkInfo"} {
		if _, ok := auth[field]; !ok {
			t.Errorf("authenticate body lacks %s", field)
		}
	}
	session := set.properties(t, &set.shared, set.shared.Definitions["currentApiSessionDetail"])
	for _, field := range []string{"token", "identity", "identityId", "expiresAt", "expirationSeconds",
		"authQueries", "isMfaRequired", "isMfaComplete", "isCertExtendable", "configTypes"} {
		if _, ok := session[field]; !ok {
			t.Errorf("currentApiSessionDetail lacks %s", field)
		}
	}
	service := set.properties(t, &set.client, set.client.Definitions["serviceDetail"])
	for _, field := range []string{"id", "name", "encryptionRequired", "permissions", "config",
		"postureQueries", "terminatorStrategy", "maxIdleTimeMillis"} {
		if _, ok := service[field]; !ok {
			t.Errorf("serviceDetail lacks %s", field)
		}
	}
	created := set.properties(t, &set.client, set.client.Definitions["sessionDetail"])
	for _, field := range []string{"id", "token", "type", "serviceId", "apiSessionId", "edgeRouters"} {
		if _, ok := created[field]; !ok {
			t.Errorf("sessionDetail lacks %s", field)
		}
	}
	version := set.properties(t, &set.shared, set.shared.Definitions["version"])
	for _, field := range []string{"version", "revision", "buildDate", "runtimeVersion", "capabilities", "apiVersions"} {
		if _, ok := version[field]; !ok {
			t.Errorf("version lacks %s", field)
		}
	}
	if got := set.shared.Definitions["dialBind"].Enum; !slices.Equal(got, []string{"Dial", "Bind"}) {
		t.Errorf("dialBind enum = %v", got)
	}
}

// TestDefinitionsDeclaredOnce checks that no definition name is declared in
// two of the spec files: what both APIs need lives in shared.yml.
func TestDefinitionsDeclaredOnce(t *testing.T) {
	set := loadSpecs(t)
	declared := map[string]string{}
	check := func(file string, doc document) {
		for name := range doc.Definitions {
			if other, dup := declared[name]; dup {
				t.Errorf("definition %q is declared in both %s and %s; declare it once, in shared.yml", name, other, file)
			}
			declared[name] = file
		}
	}
	check(SharedFile, set.shared)
	check("client.yml", set.client)
	if set.management == nil {
		t.Log("management.yml is not embedded; checked client.yml against shared.yml only")
		return
	}
	check("management.yml", *set.management)
}

// TestReferencesResolve checks every $ref of every spec file names a
// definition, parameter or response that exists.
func TestReferencesResolve(t *testing.T) {
	set := loadSpecs(t)
	files := map[string]*document{"client.yml": &set.client, SharedFile: &set.shared}
	if set.management != nil {
		files["management.yml"] = set.management
	}
	for file, doc := range files {
		text, err := Source(file)
		if err != nil {
			t.Fatal(err)
		}
		root, err := parseDocument(text)
		if err != nil {
			t.Fatal(err)
		}
		walkRefs(root, func(ref *yaml.Node) {
			target := ref.Value
			var ok bool
			switch {
			case strings.HasPrefix(target, sharedRefPrefix):
				_, ok = set.shared.Definitions[strings.TrimPrefix(target, sharedRefPrefix)]
			case strings.HasPrefix(target, "#/definitions/"):
				_, ok = doc.Definitions[strings.TrimPrefix(target, "#/definitions/")]
			case strings.HasPrefix(target, "#/responses/"):
				_, ok = doc.Responses[strings.TrimPrefix(target, "#/responses/")]
			case strings.HasPrefix(target, "#/parameters/"):
				ok = hasTopLevelKey(t, root, "parameters", strings.TrimPrefix(target, "#/parameters/"))
			}
			if !ok {
				t.Errorf("%s line %d: unresolved reference %q", file, ref.Line, target)
			}
		})
	}
}
