package store

import (
	"errors"
	"fmt"
)

// Domain errors. The API layer maps them to error envelopes in one table.
var (
	// ErrNotFound means the record named does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique value is already taken by another record.
	ErrConflict = errors.New("conflict")
	// ErrInvalidReference means a record names another record that does not exist,
	// or a record cannot be deleted because others still depend on it.
	ErrInvalidReference = errors.New("invalid reference")
	// ErrInvalid means a record failed a rule the store enforces.
	ErrInvalid = errors.New("invalid")
	// ErrUnauthorized means the actor of a change may not make it now: its
	// API session ended, or its identity is disabled.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrRefused means a rule of the domain refuses the change in the
	// state it would apply to (a posture check fails, for example).
	ErrRefused = errors.New("refused")
	// ErrInUse means the database file is held by another process.
	ErrInUse = errors.New("the database is in use")
)

// FieldError explains which field of a record broke which rule.
type FieldError struct {
	Kind   string
	Field  string
	Value  string
	Reason string
	Err    error
}

func (e *FieldError) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("%s.%s %q: %s", e.Kind, e.Field, e.Value, e.Reason)
	}
	return fmt.Sprintf("%s.%s: %s", e.Kind, e.Field, e.Reason)
}

func (e *FieldError) Unwrap() error { return e.Err }
