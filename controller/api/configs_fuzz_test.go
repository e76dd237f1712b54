package api

import (
	"encoding/json"
	"testing"
)

// FuzzConfigSchema feeds arbitrary config-type schemas and config data to the
// schema checks: they must answer an error or nil, never panic, and an
// accepted schema must never make data validation fail with anything but a
// validation error.
func FuzzConfigSchema(f *testing.F) {
	for _, ct := range BuiltinConfigTypes() {
		raw, err := json.Marshal(ct.Schema)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(raw), `{"protocols":["tcp"],"addresses":["a"],"portRanges":[{"low":1,"high":2}]}`)
		f.Add(string(raw), `{"protocol":"tcp","address":"a","port":80}`)
	}
	f.Add(`{"type":"object","required":["a"]}`, `{"a":1}`)
	f.Add(`{"$ref":"file:///etc/passwd"}`, `{}`)
	f.Add(`{"$ref":"http://example.com/s.json"}`, `{}`)
	f.Add(`{"type":12}`, `{}`)
	f.Add(`{"pattern":"(a+)+$","type":"string"}`, `{}`)
	f.Add(`{"properties":{"x":{"$ref":"#/definitions/y"}},"definitions":{"y":{"$ref":"#/definitions/y"}}}`, `{"x":1}`)
	f.Add(`{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[{"type":"integer"}]}`, `{"n":[1]}`)
	f.Add(`{"multipleOf":0.0001,"properties":{"n":{"multipleOf":1e-300}}}`, `{"n":1e308}`)
	f.Fuzz(func(t *testing.T, schemaText, dataText string) {
		var schema, data map[string]any
		if json.Unmarshal([]byte(schemaText), &schema) != nil || json.Unmarshal([]byte(dataText), &data) != nil {
			return
		}
		if _, err := configSchemaIn(schema); err != nil {
			if _, ok := err.(*APIError); !ok {
				t.Fatalf("schema error is not an API error: %T %v", err, err)
			}
			return
		}
		if err := validateAgainstSchema(schema, data); err != nil {
			ae, ok := err.(*APIError)
			if !ok || ae.Status != 400 {
				t.Fatalf("data error is not a 400: %T %v", err, err)
			}
		}
	})
}
