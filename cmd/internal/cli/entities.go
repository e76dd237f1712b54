package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/ostium-net/ostium/internal/exitcode"
)

// entity describes one management collection.
type entity struct {
	plural   string // path segment and the name users type
	singular string
	columns  []string // table columns (JSON field names)
	named    bool     // has a name field usable for @name resolution
	readOnly bool     // created by clients, not by create/update
}

// Columns name JSON fields; a reference ({"id","name"}) shows its name, a
// *RolesDisplay list the names of the roles (@name for @id).
var entities = []entity{
	{"identities", "identity", []string{"id", "name", "type", "isAdmin", "roleAttributes"}, true, false},
	{"services", "service", []string{"id", "name", "encryptionRequired", "roleAttributes"}, true, false},
	{"configs", "config", []string{"id", "name", "configType"}, true, false},
	{"config-types", "config-type", []string{"id", "name"}, true, false},
	{"service-policies", "service-policy", []string{"id", "name", "type", "semantic", "identityRolesDisplay", "serviceRolesDisplay"}, true, false},
	{"edge-router-policies", "edge-router-policy", []string{"id", "name", "semantic", "identityRolesDisplay", "edgeRouterRolesDisplay"}, true, false},
	{"service-edge-router-policies", "service-edge-router-policy", []string{"id", "name", "semantic", "serviceRolesDisplay", "edgeRouterRolesDisplay"}, true, false},
	{"edge-routers", "edge-router", []string{"id", "name", "isOnline", "isVerified", "roleAttributes"}, true, false},
	{"terminators", "terminator", []string{"id", "service", "router", "binding", "address"}, false, false},
	{"posture-checks", "posture-check", []string{"id", "name", "typeId", "roleAttributes"}, true, false},
	{"auth-policies", "auth-policy", []string{"id", "name"}, true, false},
	{"external-jwt-signers", "external-jwt-signer", []string{"id", "name", "issuer", "enabled"}, true, false},
	{"cas", "ca", []string{"id", "name", "isVerified", "isAutoCaEnrollmentEnabled"}, true, false},
	{"authenticators", "authenticator", []string{"id", "method", "identity"}, false, false},
	{"enrollments", "enrollment", []string{"id", "method", "identity", "expiresAt"}, false, false},
	{"api-sessions", "api-session", []string{"id", "identity", "ipAddress", "lastActivityAt"}, false, true},
	{"sessions", "session", []string{"id", "type", "service", "identity"}, false, true},
	{"links", "link", []string{"id", "sourceRouter", "destRouter", "state", "latency", "cost"}, false, true},
	{"circuits", "circuit", []string{"id", "service", "identity", "path", "bytesUp", "bytesDown", "createdAt"}, false, true},
	{"audit-events", "audit-event", []string{"createdAt", "actor", "action", "entityType", "entityId", "sourceAddress"}, false, true},
	// API tokens have a create of their own (apitokens.go) and no update.
	{"api-tokens", "api-token", []string{"id", "name", "role", "expiresAt", "lastUsedAt"}, true, false},
}

// unfilterable lists the collections that are reported live by the routers rather than
// stored: they page but take no filter.
var unfilterable = map[string]bool{"links": true, "circuits": true}

// entityNames lists the plural names, for help and completion.
func entityNames() []string {
	out := make([]string, 0, len(entities))
	for _, e := range entities {
		out = append(out, e.plural)
	}
	sort.Strings(out)
	return out
}

// lookupEntity accepts a plural or singular name.
func lookupEntity(name string) (entity, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, e := range entities {
		if n == e.plural || n == e.singular {
			return e, nil
		}
	}
	return entity{}, usageErr("unknown entity %q; one of: %s", name, strings.Join(entityNames(), ", "))
}

// article is "a" or "an" for a kebab-case noun.
func article(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + strings.ReplaceAll(noun, "-", " ")
	}
	return "a " + strings.ReplaceAll(noun, "-", " ")
}

// quote makes a filter string literal.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// findByName returns the ids of the entities named name.
func (c *Client) findByName(ctx context.Context, e entity, name string) ([]string, error) {
	q := url.Values{"filter": {"name = " + quote(name)}, "limit": {"2"}}
	env, err := c.Do(ctx, "GET", "/"+e.plural, q, nil)
	if err != nil {
		return nil, err
	}
	var list []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(env.Data, &list); err != nil {
		return nil, fmt.Errorf("list %s: %w", e.plural, err)
	}
	ids := make([]string, 0, len(list))
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	return ids, nil
}

// notFound is a "no such entity" error (exit code 4).
func notFound(e entity, ref string) error {
	return exitcode.With(ExitNotFound, fmt.Errorf("NOT_FOUND: no %s named or with id %q", e.singular, ref))
}

// resolve turns "@name", "name" or an id into an id. "@x" is looked up by
// name only; a bare word is tried as an id first, then as a name.
func (c *Client) resolve(ctx context.Context, e entity, ref string) (string, error) {
	byName := strings.HasPrefix(ref, "@")
	name := strings.TrimPrefix(ref, "@")
	if name == "" {
		return "", usageErr("empty %s reference", e.singular)
	}
	if !byName {
		_, err := c.Do(ctx, "GET", "/"+e.plural+"/"+url.PathEscape(name), nil, nil)
		if err == nil {
			return name, nil
		}
		if ExitCode(err) != ExitNotFound || !e.named {
			return "", err
		}
	}
	if !e.named {
		return "", usageErr("%s has no names; give its id", e.plural)
	}
	ids, err := c.findByName(ctx, e, name)
	if err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", notFound(e, name)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("more than one %s is named %q; give its id", e.singular, name)
}

// resolveRoles rewrites "@name" role entries into "@id"; "#attr" and "@id"
// stay as they are.
func (c *Client) resolveRoles(ctx context.Context, e entity, roles []string) ([]string, error) {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if !strings.HasPrefix(r, "@") {
			out = append(out, r)
			continue
		}
		ref := strings.TrimPrefix(r, "@")
		ids, err := c.findByName(ctx, e, ref)
		if err != nil {
			return nil, err
		}
		switch len(ids) {
		case 1:
			out = append(out, "@"+ids[0])
			continue
		case 0:
		default:
			return nil, fmt.Errorf("more than one %s is named %q; give its id", e.singular, ref)
		}
		// Not a name: accept it when it is an id.
		if _, err := c.Do(ctx, "GET", "/"+e.plural+"/"+url.PathEscape(ref), nil, nil); err != nil {
			if ExitCode(err) == ExitNotFound {
				return nil, notFound(e, ref)
			}
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
