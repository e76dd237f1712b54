package state

import (
	"encoding/json"
	"time"

	"github.com/ostium-net/ostium/controller/filter"
	"github.com/ostium-net/ostium/controller/store"
)

// hidden lists stored fields that a filter may never read: hashes and key
// material are not for querying.
var hidden = map[string]bool{
	"passwordHash": true, "tokenHash": true, "createIndex": true, "modifyIndex": true, "jwt": true,
}

// FieldsOf exposes a record's JSON fields to the filter language, under the
// names the API uses (name, roleAttributes, createdAt, tags.x, ...).
func FieldsOf(rec store.Record) filter.Fields {
	raw, err := json.Marshal(rec)
	if err != nil {
		return filter.FromMap(nil)
	}
	_, identity := rec.(*store.Identity)
	return fieldsFromJSON(raw, identity)
}

// fieldsFromJSON is FieldsOf for a record's JSON as the store holds it (the
// store writes records as json.Marshal does), so a list can filter records
// without decoding each into its struct first. identity says whether the
// record is an identity.
func fieldsFromJSON(raw []byte, identity bool) filter.Fields {
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return filter.FromMap(nil)
	}
	for k := range hidden {
		delete(m, k)
	}
	// The API calls an identity's type typeId too (type is then a reference).
	if identity {
		m["typeId"] = m["type"]
	}
	// Times are compared as times, not strings.
	for k, v := range m {
		if s, ok := v.(string); ok && len(s) >= 20 && timeFields[k] {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				m[k] = t
			}
		}
	}
	return filter.FromMap(m)
}

// timeFields are the stored fields holding times.
var timeFields = map[string]bool{"createdAt": true, "updatedAt": true, "expiresAt": true, "disabledAt": true, "disabledUntil": true}
