package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// fieldKind says how a typed flag becomes a JSON field.
type fieldKind int

const (
	kindString fieldKind = iota
	kindStrings
	kindBool
	kindJSON  // inline JSON, @file or -
	kindRoles // role list whose @name entries are resolved in ref
	kindRefs  // list of names or ids of ref, sent as ids
	kindRef   // one name or id of ref, sent as an id
)

type field struct {
	flag, json string
	kind       fieldKind
	ref        string // entity for kindRoles/kindRefs/kindRef
	usage      string
	short      string
}

// typedEntity describes the typed flags of create/update for one entity.
type typedEntity struct {
	plural   string
	args     []string // positional fields after NAME (e.g. service-policy TYPE)
	fields   []field
	defaults map[string]any // sent on create unless given
	example  string
	jwtField string // JSON path in the detail holding the enrollment JWT
}

var roleAttributes = field{flag: "role-attributes", json: "roleAttributes", kind: kindStrings, usage: "role attributes (comma separated or repeated)", short: "a"}

var typedEntities = []typedEntity{
	{plural: "identities", fields: []field{roleAttributes,
		{flag: "type", json: "type", kind: kindString, usage: "Default, User, Device or Service"},
		{flag: "admin", json: "isAdmin", kind: kindBool, usage: "make the identity an administrator"},
		{flag: "auth-policy", json: "authPolicyId", kind: kindRef, ref: "auth-policies", usage: "auth policy (name or id)"},
		{flag: "default-hosting-cost", json: "defaultHostingCost", kind: kindJSON, usage: "cost when hosting services"},
	}, defaults: map[string]any{"type": "Default", "isAdmin": false, "roleAttributes": []string{}, "enrollment": map[string]any{"ott": true}},
		jwtField: "enrollment.ott.jwt",
		example: `  ostium create identity laptop --role-attributes staff,eu -o laptop.jwt
  ostium create identity ops --admin --type User -o json
  ostium update identity laptop --role-attributes staff`},
	{plural: "services", fields: []field{roleAttributes,
		{flag: "encryption-required", json: "encryptionRequired", kind: kindBool, usage: "require end-to-end encryption (default true)"},
		{flag: "configs", json: "configs", kind: kindRefs, ref: "configs", usage: "configs (names or ids)"},
		{flag: "terminator-strategy", json: "terminatorStrategy", kind: kindString, usage: "smartrouting, weighted or random"},
	}, defaults: map[string]any{"encryptionRequired": true, "roleAttributes": []string{}},
		example: `  ostium create service db --role-attributes databases --configs db-intercept,db-host`},
	{plural: "configs", fields: []field{
		{flag: "config-type", json: "configTypeId", kind: kindRef, ref: "config-types", usage: "config type (name or id), e.g. intercept.v1"},
		{flag: "config-data", json: "data", kind: kindJSON, usage: "the config's data: JSON, @file or - for stdin"},
	}, example: `  ostium create config db-host --config-type host.v1 --config-data '{"protocol":"tcp","address":"localhost","port":5432}'`},
	{plural: "config-types", fields: []field{
		{flag: "schema", json: "schema", kind: kindJSON, usage: "JSON schema of the data: JSON, @file or -"},
	}, example: `  ostium create config-type my.v1 --schema @schema.json`},
	{plural: "service-policies", args: []string{"type"}, fields: []field{
		{flag: "semantic", json: "semantic", kind: kindString, usage: "AnyOf or AllOf (default AnyOf)"},
		{flag: "identity-roles", json: "identityRoles", kind: kindRoles, ref: "identities", usage: "#attribute, #all, @identity (name or id)"},
		{flag: "service-roles", json: "serviceRoles", kind: kindRoles, ref: "services", usage: "#attribute, #all, @service (name or id)"},
		{flag: "posture-check-roles", json: "postureCheckRoles", kind: kindRoles, ref: "posture-checks", usage: "#attribute, @posture-check"},
	}, defaults: map[string]any{"semantic": "AnyOf"},
		example: `  ostium create service-policy staff-db Dial --identity-roles '#staff' --service-roles '@db'
  ostium create service-policy db-host Bind --identity-roles '@db-server' --service-roles '#databases'`},
	{plural: "edge-router-policies", fields: []field{
		{flag: "semantic", json: "semantic", kind: kindString, usage: "AnyOf or AllOf (default AnyOf)"},
		{flag: "identity-roles", json: "identityRoles", kind: kindRoles, ref: "identities", usage: "#attribute, #all, @identity"},
		{flag: "edge-router-roles", json: "edgeRouterRoles", kind: kindRoles, ref: "edge-routers", usage: "#attribute, #all, @edge-router"},
	}, defaults: map[string]any{"semantic": "AnyOf"},
		example: `  ostium create edge-router-policy everyone --identity-roles '#all' --edge-router-roles '#all'`},
	{plural: "service-edge-router-policies", fields: []field{
		{flag: "semantic", json: "semantic", kind: kindString, usage: "AnyOf or AllOf (default AnyOf)"},
		{flag: "service-roles", json: "serviceRoles", kind: kindRoles, ref: "services", usage: "#attribute, #all, @service"},
		{flag: "edge-router-roles", json: "edgeRouterRoles", kind: kindRoles, ref: "edge-routers", usage: "#attribute, #all, @edge-router"},
	}, defaults: map[string]any{"semantic": "AnyOf"},
		example: `  ostium create service-edge-router-policy all --service-roles '#all' --edge-router-roles '#all'`},
	{plural: "edge-routers", fields: []field{roleAttributes,
		{flag: "tunneler-enabled", json: "isTunnelerEnabled", kind: kindBool, usage: "let the router host and intercept services"},
		{flag: "cost", json: "cost", kind: kindJSON, usage: "routing cost"},
	}, defaults: map[string]any{"roleAttributes": []string{}},
		jwtField: "enrollmentJwt",
		example:  `  ostium create edge-router eu-1 --role-attributes eu -o eu-1.jwt`},
}

func typedFor(plural string) *typedEntity {
	for i := range typedEntities {
		if typedEntities[i].plural == plural {
			return &typedEntities[i]
		}
	}
	return nil
}

// bodyFlags are the flags every create/update subcommand has.
type bodyFlags struct {
	data, json string
}

func (b *bodyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&b.data, "data", "", "request body from a file (@file.json) or stdin (-)")
	cmd.Flags().StringVar(&b.json, "json", "", "request body as inline JSON")
}

func (a *app) baseBody(b *bodyFlags) (map[string]any, error) {
	body := map[string]any{}
	if b.data != "" && b.json != "" {
		return nil, usageErr("give --data or --json, not both")
	}
	src, what := b.json, "--json"
	if b.data != "" {
		src, what = b.data, "--data"
		if !strings.HasPrefix(src, "@") && src != "-" {
			src = "@" + src
		}
	}
	if src == "" {
		return body, nil
	}
	v, err := a.readJSONArg(what, src)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, usageErr("%s must be a JSON object", what)
	}
	return m, nil
}

// flagValues holds the parsed typed flags of one subcommand.
type flagValues struct {
	strs  map[string]*string
	lists map[string]*[]string
	bools map[string]*bool
}

func addTypedFlags(cmd *cobra.Command, t *typedEntity) *flagValues {
	fv := &flagValues{strs: map[string]*string{}, lists: map[string]*[]string{}, bools: map[string]*bool{}}
	if t == nil {
		return fv
	}
	for _, f := range t.fields {
		switch f.kind {
		case kindString, kindJSON, kindRef:
			fv.strs[f.flag] = cmd.Flags().StringP(f.flag, f.short, "", f.usage)
		case kindStrings, kindRoles, kindRefs:
			fv.lists[f.flag] = cmd.Flags().StringSliceP(f.flag, f.short, nil, f.usage)
		case kindBool:
			fv.bools[f.flag] = cmd.Flags().BoolP(f.flag, f.short, false, f.usage)
		}
	}
	return fv
}

// applyTypedFlags sets the body fields of the flags the user gave.
func (a *app) applyTypedFlags(ctx context.Context, cmd *cobra.Command, c *Client, t *typedEntity, fv *flagValues, body map[string]any) error {
	if t == nil {
		return nil
	}
	for _, f := range t.fields {
		if !cmd.Flags().Changed(f.flag) {
			continue
		}
		switch f.kind {
		case kindString:
			body[f.json] = *fv.strs[f.flag]
		case kindBool:
			body[f.json] = *fv.bools[f.flag]
		case kindStrings:
			body[f.json] = nonNil(*fv.lists[f.flag])
		case kindJSON:
			v, err := a.readJSONArg("--"+f.flag, *fv.strs[f.flag])
			if err != nil {
				return err
			}
			body[f.json] = v
		case kindRef:
			e, _ := lookupEntity(f.ref)
			id, err := c.resolve(ctx, e, *fv.strs[f.flag])
			if err != nil {
				return fmt.Errorf("--%s: %w", f.flag, err)
			}
			body[f.json] = id
		case kindRefs:
			e, _ := lookupEntity(f.ref)
			ids := []string{}
			for _, ref := range *fv.lists[f.flag] {
				id, err := c.resolve(ctx, e, ref)
				if err != nil {
					return fmt.Errorf("--%s: %w", f.flag, err)
				}
				ids = append(ids, id)
			}
			body[f.json] = ids
		case kindRoles:
			e, _ := lookupEntity(f.ref)
			roles, err := c.resolveRoles(ctx, e, nonNil(*fv.lists[f.flag]))
			if err != nil {
				return fmt.Errorf("--%s: %w", f.flag, err)
			}
			body[f.json] = roles
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *app) createCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create ENTITY [NAME] [flags]",
		Short: "Create an entity",
		Long: `Create an entity. The common entities take typed flags (see
` + "`ostium create ENTITY --help`" + `); every entity accepts the request body with
--data @file.json or --json '{...}', which typed flags then override.
Role flags accept @name and send the id.`,
		Example: `  ostium create identity laptop --role-attributes staff -o laptop.jwt
  ostium create service db --role-attributes databases
  ostium create service-policy staff-db Dial --identity-roles '#staff' --service-roles '@db'
  ostium create posture-check --json '{"name":"mfa","typeId":"MFA"}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("create needs an entity; one of: %s", strings.Join(entityNames(), ", "))
			}
			e, err := lookupEntity(args[0])
			if err != nil {
				return err
			}
			if e.readOnly {
				return usageErr("%s are made by clients as they log in and connect; `ostium create` cannot change them", e.plural)
			}
			return usageErr("%q is not a valid create command; see `ostium create --help`", strings.Join(args, " "))
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	for _, e := range entities {
		switch {
		case e.plural == "enrollments":
			cmd.AddCommand(a.createEnrollmentCmd())
		case e.plural == "api-tokens":
			cmd.AddCommand(a.createAPITokenCmd())
		case !e.readOnly:
			cmd.AddCommand(a.createSub(e))
		}
	}
	return cmd
}

func (a *app) createSub(e entity) *cobra.Command {
	t := typedFor(e.plural)
	var bf bodyFlags
	use := e.singular
	nargs := 0
	if e.named {
		use += " NAME"
		nargs = 1
	}
	if t != nil {
		for _, p := range t.args {
			use += " " + strings.ToUpper(p)
			nargs++
		}
	}
	sub := &cobra.Command{
		Use:     use,
		Aliases: []string{e.plural},
		Short:   "Create " + article(e.singular),
	}
	if t != nil {
		sub.Example = t.example
	} else {
		sub.Example = fmt.Sprintf("  ostium create %s --data @%s.json", e.singular, e.singular)
	}
	fv := addTypedFlags(sub, t)
	bf.add(sub)
	sub.Args = func(cmd *cobra.Command, args []string) error {
		// With a body, the name and other positional fields may come from it.
		if (bf.data != "" || bf.json != "") && len(args) <= nargs {
			return nil
		}
		return rangeArgs(nargs, nargs)(cmd, args)
	}
	sub.RunE = func(cmd *cobra.Command, args []string) error {
		jwtFile := ""
		format := a.output
		if t != nil && t.jwtField != "" && !isFormat(format) {
			jwtFile, format = format, "table"
		}
		// Without -o, the enrollment JWT is saved next to the user (NAME.jwt),
		// or printed when that file exists: it is what the next step needs.
		defaultJWT := t != nil && t.jwtField != "" && !cmd.Flag("output").Changed
		if !isFormat(format) {
			return usageErr("unknown output format %q: use table, json or yaml", format)
		}
		body, err := a.baseBody(&bf)
		if err != nil {
			return err
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		if t != nil {
			for k, v := range t.defaults {
				if _, ok := body[k]; !ok {
					body[k] = v
				}
			}
		}
		i := 0
		if e.named && len(args) > 0 {
			body["name"] = args[0]
			i = 1
		}
		if t != nil {
			for _, p := range t.args {
				if i < len(args) {
					body[p] = args[i]
					i++
				}
			}
		}
		if err := a.applyTypedFlags(cmd.Context(), cmd, c, t, fv, body); err != nil {
			return err
		}
		env, err := c.Do(cmd.Context(), "POST", "/"+e.plural, nil, body)
		if err != nil {
			return err
		}
		var created struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(env.Data, &created)
		if created.ID == "" {
			return printEntity(cmd, format, env.Data)
		}
		detail, err := c.Do(cmd.Context(), "GET", "/"+e.plural+"/"+url.PathEscape(created.ID), nil, nil)
		if err != nil {
			return err
		}
		name, _ := body["name"].(string)
		if jwtFile != "" || defaultJWT {
			jwt, err := jwtOf(detail.Data, t.jwtField)
			if err != nil && jwtFile != "" {
				return fmt.Errorf("created %s %s, but: %w", e.singular, created.ID, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s %s (%s)\n", e.singular, name, created.ID)
			if err != nil {
				return nil // enrolled another way (a password, a CA): no JWT to hand over
			}
			if err := a.deliverJWT(cmd, jwt, jwtFile, name); err != nil {
				return fmt.Errorf("created %s %s, but %w", e.singular, created.ID, err)
			}
			return nil
		}
		if format == "table" {
			fmt.Fprintf(cmd.OutOrStdout(), "created %s %s\n", e.singular, created.ID)
			return nil
		}
		return printEntity(cmd, format, detail.Data)
	}
	return sub
}

func isFormat(s string) bool { return s == "table" || s == "json" || s == "yaml" }

// jwtOf digs the enrollment JWT out of an entity detail.
func jwtOf(raw json.RawMessage, path string) (string, error) {
	v, err := decodeAny(raw)
	if err != nil {
		return "", err
	}
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("the entity has no enrollment JWT (%s)", path)
		}
		v = m[p]
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("the entity has no enrollment JWT (%s)", path)
	}
	return s, nil
}

func (a *app) updateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update ENTITY ID|NAME [flags]",
		Short: "Change fields of an entity (PATCH)",
		Long: `Change fields of an entity: only the typed flags given and the fields of
--data/--json are sent.`,
		Example: `  ostium update service db --role-attributes databases,eu
  ostium update identity laptop --name laptop-2
  ostium update auth-policy default --json '{"primary":{"cert":{"allowed":true}}}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("update needs an entity; one of: %s", strings.Join(entityNames(), ", "))
			}
			e, err := lookupEntity(args[0])
			if err != nil {
				return err
			}
			if e.readOnly {
				return usageErr("%s are made by clients as they log in and connect; `ostium update` cannot change them", e.plural)
			}
			return usageErr("%q is not a valid update command; see `ostium update --help`", strings.Join(args, " "))
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	for _, e := range entities {
		if !e.readOnly && e.plural != "api-tokens" {
			cmd.AddCommand(a.updateSub(e))
		}
	}
	return cmd
}

func (a *app) updateSub(e entity) *cobra.Command {
	t := typedFor(e.plural)
	var bf bodyFlags
	var newName string
	sub := &cobra.Command{
		Use:     e.singular + " ID|NAME",
		Aliases: []string{e.plural},
		Short:   "Update " + article(e.singular),
		Args:    rangeArgs(1, 1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return a.completeNames(cmd, e.plural, prefix)
		},
	}
	if t != nil {
		sub.Example = t.example
	}
	fv := addTypedFlags(sub, t)
	if t != nil {
		for _, p := range t.args {
			fv.strs[p] = sub.Flags().String(p, "", "new "+p)
		}
	}
	if e.named {
		sub.Flags().StringVar(&newName, "name", "", "new name")
	}
	bf.add(sub)
	sub.RunE = func(cmd *cobra.Command, args []string) error {
		format, err := a.format()
		if err != nil {
			return err
		}
		body, err := a.baseBody(&bf)
		if err != nil {
			return err
		}
		changed := len(body) > 0
		cmd.Flags().Visit(func(f *pflag.Flag) {
			if f.Name != "data" && f.Name != "json" && f.Name != "output" {
				changed = true
			}
		})
		if !changed {
			return usageErr("nothing to update: give typed flags, --data or --json")
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		id, err := c.resolve(cmd.Context(), e, args[0])
		if err != nil {
			return err
		}
		if cmd.Flags().Changed("name") {
			body["name"] = newName
		}
		if t != nil {
			for _, p := range t.args {
				if cmd.Flags().Changed(p) {
					body[p] = *fv.strs[p]
				}
			}
		}
		if err := a.applyTypedFlags(cmd.Context(), cmd, c, t, fv, body); err != nil {
			return err
		}
		if len(body) == 0 {
			return usageErr("nothing to update: give typed flags, --data or --json")
		}
		if _, err := c.Do(cmd.Context(), "PATCH", "/"+e.plural+"/"+url.PathEscape(id), nil, body); err != nil {
			return err
		}
		if format == "table" {
			fmt.Fprintf(cmd.OutOrStdout(), "updated %s %s\n", e.singular, id)
			return nil
		}
		detail, err := c.Do(cmd.Context(), "GET", "/"+e.plural+"/"+url.PathEscape(id), nil, nil)
		if err != nil {
			return err
		}
		return printEntity(cmd, format, detail.Data)
	}
	return sub
}

func readAllLimited(r io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, 16<<20))
}

// deliverJWT writes an enrollment JWT to file, or, when file is empty, to
// NAME.jwt in the current directory unless that exists, in which case it
// prints the JWT. It says where the JWT went and how to enroll with it.
func (a *app) deliverJWT(cmd *cobra.Command, jwt, file, name string) error {
	out := cmd.OutOrStdout()
	if file == "" {
		candidate := name + ".jwt"
		if name == "" || filepath.Base(name) != name || strings.HasPrefix(name, ".") {
			candidate = ""
		} else if _, err := os.Stat(candidate); err == nil {
			candidate = ""
		}
		if candidate == "" {
			fmt.Fprintf(out, "enrollment JWT (save it to a file, then enroll with `ostium enroll FILE -o IDENTITY.json`):\n%s\n", jwt)
			return nil
		}
		file = candidate
	}
	if err := os.WriteFile(file, []byte(jwt), 0o600); err != nil {
		return fmt.Errorf("writing the JWT failed: %w", err)
	}
	idFile := strings.TrimSuffix(file, filepath.Ext(file)) + ".json"
	fmt.Fprintf(out, "enrollment JWT written to %s; enroll with: ostium enroll %s -o %s\n", file, file, idFile)
	return nil
}
