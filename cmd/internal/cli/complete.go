package cli

import (
	"context"
	"encoding/json"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// maxCompletions bounds the names one completion asks the controller for.
const maxCompletions = 100

// completeNames offers the names of the entities of one kind that start with
// prefix, asked of the controller with the stored session. Completion must
// never get in the way: without a session, or when the controller does not
// answer within a few seconds, it offers nothing.
func (a *app) completeNames(cmd *cobra.Command, plural, prefix string) ([]string, cobra.ShellCompDirective) {
	const directive = cobra.ShellCompDirectiveNoFileComp
	e, err := lookupEntity(plural)
	if err != nil || !e.named {
		return nil, directive
	}
	c, err := a.client()
	if err != nil {
		return nil, directive
	}
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, 5*time.Second)
	defer cancel()
	q := url.Values{"limit": {"100"}, "sort": {"name"}}
	if prefix != "" {
		q.Set("filter", "name startsWith "+quote(prefix))
	}
	env, err := c.Do(ctx, "GET", "/"+e.plural, q, nil)
	if err != nil {
		return nil, directive
	}
	var list []struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(env.Data, &list) != nil {
		return nil, directive
	}
	names := make([]string, 0, min(len(list), maxCompletions))
	for _, x := range list {
		if x.Name != "" {
			names = append(names, x.Name)
		}
	}
	return names, directive
}

// completeEntityThenNames completes the entity kind first, then names of that
// kind (show, delete).
func (a *app) completeEntityThenNames(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return entityNames(), cobra.ShellCompDirectiveNoFileComp
	}
	return a.completeNames(cmd, args[0], prefix)
}
