package domain

import (
	"errors"
	"strings"
)

// Is reports whether err is target, locally or as forwarded from the
// leader: a forwarded error keeps its store class and its message but not
// its identity, so the message of target is looked for too.
func Is(err, target error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, target) || strings.Contains(err.Error(), target.Error())
}
