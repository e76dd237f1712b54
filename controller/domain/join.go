package domain

import (
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// ErrJoinTokenRefused means a join token is unknown, used, expired or
// presented with the wrong secret at the entry's time.
var ErrJoinTokenRefused = fmt.Errorf("the join token is unknown, used, expired or wrong: %w", store.ErrNotFound)

// IssueJoinToken stores a new join token and deletes the tokens that
// expired unused by the entry's time, in one entry.
type IssueJoinToken struct {
	Token *store.JoinToken `json:"token"`
}

// Type implements command.Command.
func (c *IssueJoinToken) Type() command.Type { return command.TypeIssueJoinToken }

// Apply implements command.Command; it returns the new *store.JoinToken.
func (c *IssueJoinToken) Apply(tx *store.Tx) (any, error) {
	if c.Token == nil || c.Token.SecretHash == "" {
		return nil, &store.FieldError{Kind: store.JoinTokens.Name, Field: "secretHash", Reason: "is required", Err: store.ErrInvalid}
	}
	var expired []string
	err := tx.ForEach(store.JoinTokens, func(r store.Record) error {
		if t := r.(*store.JoinToken); tx.Now().After(t.ExpiresAt) {
			expired = append(expired, t.ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("issue join token: %w", err)
	}
	for _, id := range expired {
		if err := tx.Delete(store.JoinTokens, id); err != nil {
			return nil, fmt.Errorf("issue join token: delete expired %s: %w", id, err)
		}
	}
	if err := tx.Create(store.JoinTokens, c.Token); err != nil {
		return nil, fmt.Errorf("issue join token: %w", err)
	}
	return c.Token, nil
}

// UseJoinToken takes a join token as used. Apply checks at the entry's
// time that the token exists, has the secret hash presented and has not
// expired (ErrJoinTokenRefused), and deletes it: of two joins with one
// token, whichever node serves them, only the first is let in.
type UseJoinToken struct {
	ID         string `json:"id"`
	SecretHash string `json:"secretHash"`
}

// Type implements command.Command.
func (c *UseJoinToken) Type() command.Type { return command.TypeUseJoinToken }

// Apply implements command.Command.
func (c *UseJoinToken) Apply(tx *store.Tx) (any, error) {
	t, err := store.Get[*store.JoinToken](tx, store.JoinTokens, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrJoinTokenRefused
	}
	if err != nil {
		return nil, fmt.Errorf("use join token: %w", err)
	}
	if c.SecretHash == "" || subtle.ConstantTimeCompare([]byte(t.SecretHash), []byte(c.SecretHash)) != 1 || tx.Now().After(t.ExpiresAt) {
		return nil, ErrJoinTokenRefused
	}
	if err := tx.Delete(store.JoinTokens, t.ID); err != nil {
		return nil, fmt.Errorf("use join token: %w", err)
	}
	return nil, nil
}
