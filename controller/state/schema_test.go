package state

import (
	"strings"
	"testing"

	"github.com/ostium-net/ostium/controller/filter"
	"github.com/ostium-net/ostium/controller/store"
)

func TestFilterSchemaFollowsTheRecords(t *testing.T) {
	valid := map[*store.Kind][]string{
		store.Identities: {`name = "x"`, `anyOf(roleAttributes) = "a"`, `tags.env = "prod"`, `createdAt > datetime(2024-01-01T00:00:00Z)`,
			`id in ["a", "b"] sort by name desc`, `isAdmin = true and disabled = false`, `typeId = "Device" sort by typeId`, `appData.team = "x"`},
		store.Services:        {`name contains "db" and encryptionRequired = true`},
		store.Enrollments:     {`identityId = "x" and expiresAt < datetime(2030-01-01T00:00:00Z)`},
		store.Authenticators:  {`method = "updb" and username = "x"`},
		store.ServicePolicies: {`type = "Dial" and anyOf(identityRoles) = "#all"`},
	}
	for k, filters := range valid {
		for _, src := range filters {
			q, err := filter.Parse(src)
			if err != nil {
				t.Fatalf("parse %q: %v", src, err)
			}
			if err := q.Validate(FilterSchema(k)); err != nil {
				t.Errorf("%s: %q refused: %v", k.Name, src, err)
			}
		}
	}
	invalid := []struct {
		kind       *store.Kind
		src, words string
	}{
		{store.Identities, `nme = "x"`, `unknown field "nme"; did you mean "name"?`},
		{store.Identities, `name = "x" sort by colour`, `unknown sort field "colour"`},
		{store.Services, `identityRoles = "x"`, `unknown field "identityRoles"`},
		// Hashes and key material are not for querying.
		{store.Authenticators, `passwordHash = "x"`, `unknown field "passwordHash"`},
		{store.Enrollments, `jwt = "x"`, `unknown field "jwt"`},
		{store.Identities, `createIndex > 1`, `unknown field "createIndex"`},
	}
	for _, tc := range invalid {
		q, err := filter.Parse(tc.src)
		if err != nil {
			t.Fatalf("parse %q: %v", tc.src, err)
		}
		err = q.Validate(FilterSchema(tc.kind))
		if err == nil || !strings.Contains(err.Error(), tc.words) {
			t.Errorf("%s: %q: %v, want %q", tc.kind.Name, tc.src, err, tc.words)
		}
	}
}
