package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func completeEntities(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return entityNames(), cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

func (a *app) listCmd() *cobra.Command {
	var limit, offset int
	cmd := &cobra.Command{
		Use:   "list ENTITY [FILTER]",
		Short: "List entities, optionally matching a filter",
		Long: "List the entities of one kind. FILTER uses the controller's filter language.\n\nEntities: " +
			strings.Join(entityNames(), ", "),
		Example: `  ostium list identities
  ostium list services 'name contains "db"'
  ostium list service-policies 'type = "Dial"' -o yaml
  ostium list edge-routers --limit 100 -o json`,
		Args:              rangeArgs(1, 2),
		ValidArgsFunction: completeEntities,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := lookupEntity(args[0])
			if err != nil {
				return err
			}
			format, err := a.format()
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if len(args) == 2 && strings.TrimSpace(args[1]) != "" {
				if unfilterable[e.plural] {
					return usageErr("%s take no filter: the routers report them live", e.plural)
				}
				q.Set("filter", args[1])
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			if offset > 0 {
				q.Set("offset", strconv.Itoa(offset))
			}
			env, err := c.Do(cmd.Context(), "GET", "/"+e.plural, q, nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format != "table" {
				return writeStructured(out, format, env.Data)
			}
			var rows []map[string]any
			v, err := decodeAny(env.Data)
			if err != nil {
				return err
			}
			if list, ok := v.([]any); ok {
				for _, x := range list {
					if m, ok := x.(map[string]any); ok {
						rows = append(rows, m)
					}
				}
			}
			if err := writeTable(out, e.columns, rows); err != nil {
				return err
			}
			if p := env.Meta.Pagination; p != nil && p.TotalCount > int64(len(rows)) {
				fmt.Fprintf(cmd.ErrOrStderr(), "showing %d of %d (use --limit and --offset for more)\n", len(rows), p.TotalCount)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "most entities to return (controller default when 0)")
	cmd.Flags().IntVar(&offset, "offset", 0, "entities to skip")
	return cmd
}

// rangeArgs is cobra.RangeArgs with a usage exit code.
func rangeArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			if min == max {
				return usageErr("%s takes %d argument(s), got %d; see `%s --help`", cmd.Name(), min, len(args), cmd.CommandPath())
			}
			return usageErr("%s takes %d to %d arguments, got %d; see `%s --help`", cmd.Name(), min, max, len(args), cmd.CommandPath())
		}
		return nil
	}
}

func (a *app) showCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ENTITY ID|NAME",
		Short: "Show one entity",
		Example: `  ostium show identity laptop
  ostium show services @db -o json`,
		Args: rangeArgs(2, 2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 1 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return a.completeEntityThenNames(cmd, args, prefix)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := lookupEntity(args[0])
			if err != nil {
				return err
			}
			format, err := a.format()
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			id, err := c.resolve(cmd.Context(), e, args[1])
			if err != nil {
				return err
			}
			env, err := c.Do(cmd.Context(), "GET", "/"+e.plural+"/"+url.PathEscape(id), nil, nil)
			if err != nil {
				return err
			}
			return printEntity(cmd, format, env.Data)
		},
	}
}

func printEntity(cmd *cobra.Command, format string, raw json.RawMessage) error {
	if format != "table" {
		return writeStructured(cmd.OutOrStdout(), format, raw)
	}
	v, err := decodeAny(raw)
	if err != nil {
		return err
	}
	obj, _ := v.(map[string]any)
	return writeObject(cmd.OutOrStdout(), obj)
}

func (a *app) deleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ENTITY ID|NAME...",
		Short: "Delete entities",
		Example: `  ostium delete identity laptop
  ostium delete service-policies @old-dial 3Xy9f2`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErr("delete takes an entity and at least one id or name; see `ostium delete --help`")
			}
			return nil
		},
		ValidArgsFunction: a.completeEntityThenNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := lookupEntity(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			for _, ref := range args[1:] {
				id, err := c.resolve(cmd.Context(), e, ref)
				if err != nil {
					return err
				}
				if _, err := c.Do(cmd.Context(), "DELETE", "/"+e.plural+"/"+url.PathEscape(id), nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s %s\n", e.singular, id)
			}
			return nil
		},
	}
}

// readJSONArg reads "@file", "-" (stdin) or inline JSON into a value.
func (a *app) readJSONArg(what, v string) (any, error) {
	var data []byte
	switch {
	case v == "-" || v == "@-":
		b, err := readAllLimited(a.env.Stdin)
		if err != nil {
			return nil, fmt.Errorf("%s: read stdin: %w", what, err)
		}
		data = b
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(strings.TrimPrefix(v, "@"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		data = b
	default:
		data = []byte(v)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, usageErr("%s is not valid JSON: %v", what, err)
	}
	return out, nil
}
