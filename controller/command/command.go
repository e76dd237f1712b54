// Package command defines the raft log entries of the controller: each is its
// own type, identified by one byte that is never reused or renumbered (new
// types are appended), followed by a version byte, the proposer's timestamp
// and the type's payload. Entries carry domain records and hashes, never HTTP
// request structs and never a secret in clear. Apply dispatches an entry to
// its type through one table.
package command

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

// Type identifies a log entry type. Append only: never reuse a value.
type Type byte

// The entry types.
const (
	TypeCreateEntity Type = 1
	TypeUpdateEntity Type = 2
	TypeDeleteEntity Type = 3
	TypeBatch        Type = 4
	// TypeConsumeEnrollment completes a one-time enrollment (enrollment.go).
	TypeConsumeEnrollment Type = 5
	// TypeRecordAuthFailure counts a failed authentication (authlock.go).
	TypeRecordAuthFailure Type = 6
	// TypeAcceptTOTP takes a TOTP code as used (totp.go).
	TypeAcceptTOTP Type = 7
	// TypeCountPasswordFailure counts a wrong password against the
	// identity's auth policy (passwordfailure.go).
	TypeCountPasswordFailure Type = 8
	// TypeTouchAPISessions records the last use of API sessions (activity.go).
	TypeTouchAPISessions Type = 9
	// TypeRevokeSessions deletes sessions in one entry (controller/domain).
	TypeRevokeSessions Type = 10
	// TypeCreateSession opens a Dial or Bind session (controller/domain).
	TypeCreateSession Type = 11
	// TypeDisableIdentity disables an identity and ends its API sessions (controller/domain).
	TypeDisableIdentity Type = 12
	// TypeEndAPISessions ends API sessions (controller/domain).
	TypeEndAPISessions Type = 13
	// TypeAuthenticate opens an API session with what a login records (controller/domain).
	TypeAuthenticate Type = 14
	// TypeRenewRouterLeases records which routers a node holds (controller/domain).
	TypeRenewRouterLeases Type = 15
	// TypeCompleteMFA records a passed MFA challenge (controller/domain).
	TypeCompleteMFA Type = 16
	// TypeTouchAPITokens records the last use of API tokens (activity.go).
	TypeTouchAPITokens Type = 20
	// TypeEnroll uses a pending enrollment and records what it enrolls (controller/domain).
	TypeEnroll Type = 21
	// TypeEnrollWithCA creates an identity through CA auto-enrollment (controller/domain).
	TypeEnrollWithCA Type = 22
	// TypeIssueEnrollment gives an identity a pending enrollment (controller/domain).
	TypeIssueEnrollment Type = 23
	// TypeReEnrollRouter gives a router a new enrollment and drops its certificate (controller/domain).
	TypeReEnrollRouter Type = 24
	// TypeAddSessionCert records an API-session certificate (controller/domain).
	TypeAddSessionCert Type = 25
	// TypeRemoveSessionCert deletes an API-session certificate (controller/domain).
	TypeRemoveSessionCert Type = 26
	// TypeExtendAuthenticator records a pending certificate extension (controller/domain).
	TypeExtendAuthenticator Type = 27
	// TypeVerifyExtension makes a pending certificate extension current (controller/domain).
	TypeVerifyExtension Type = 28
	// TypeExtendRouter replaces a router's certificates (controller/domain).
	TypeExtendRouter Type = 29
	// TypeIssueJoinToken stores a cluster join token (controller/domain).
	TypeIssueJoinToken Type = 30
	// TypeUseJoinToken takes a cluster join token as used (controller/domain).
	TypeUseJoinToken Type = 31
	// TypeCreateIdentity creates an identity with its enrollment (controller/domain).
	TypeCreateIdentity Type = 32
	// TypeReportPosture records posture responses of an API session (controller/domain).
	TypeReportPosture Type = 33
	// TypeRemoveMFA removes an identity's MFA enrollment (controller/domain).
	TypeRemoveMFA Type = 34
	// TypeChangePassword changes an identity's own username or password (controller/domain).
	TypeChangePassword Type = 35
	// TypePassMFA takes a TOTP code as used and completes the MFA step (controller/domain).
	TypePassMFA Type = 36
	// TypeAuthenticateMany opens the API sessions of several sign-ins answered before they were applied (controller/domain).
	TypeAuthenticateMany Type = 37
	// TypeCreateSessions creates several sessions answered before they were applied (controller/domain).
	TypeCreateSessions Type = 38
)

// Command is one state change.
type Command interface {
	// Type is the entry's type byte.
	Type() Type
	// Apply performs the change inside a store transaction. It must be
	// deterministic: everything random or time-dependent was decided by the
	// proposer and is part of the command.
	Apply(tx *store.Tx) (any, error)
}

const headerLen = 1 + 1 + 8

// version is the payload version written for every type today.
const version = 1

// ErrUnknownType is returned when decoding an entry of a type this build
// does not know (a newer node wrote it).
var ErrUnknownType = errors.New("unknown command type")

// Encode frames a command with its type, version and the proposal time.
func Encode(c Command, at time.Time) ([]byte, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", c.Type(), err)
	}
	out := make([]byte, headerLen, headerLen+len(payload))
	out[0] = byte(c.Type())
	out[1] = version
	binary.BigEndian.PutUint64(out[2:], uint64(at.UnixNano()))
	return append(out, payload...), nil
}

// Decode parses an entry written by Encode.
func Decode(data []byte) (Command, time.Time, error) {
	if len(data) < headerLen {
		return nil, time.Time{}, fmt.Errorf("command entry of %d bytes is too short", len(data))
	}
	t := Type(data[0])
	newCmd, ok := registry[t]
	if !ok {
		return nil, time.Time{}, fmt.Errorf("type %d: %w", t, ErrUnknownType)
	}
	if data[1] != version {
		return nil, time.Time{}, fmt.Errorf("command type %d version %d is not supported", t, data[1])
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(data[2:]))).UTC()
	c := newCmd()
	if err := json.Unmarshal(data[headerLen:], c); err != nil {
		return nil, time.Time{}, fmt.Errorf("decode command type %d: %w", t, err)
	}
	return c, at, nil
}

// registry is the dispatch table: one constructor per type.
var registry = map[Type]func() Command{
	TypeCreateEntity:         func() Command { return &CreateEntity{} },
	TypeUpdateEntity:         func() Command { return &UpdateEntity{} },
	TypeDeleteEntity:         func() Command { return &DeleteEntity{} },
	TypeBatch:                func() Command { return &Batch{} },
	TypeConsumeEnrollment:    func() Command { return &ConsumeEnrollment{} },
	TypeRecordAuthFailure:    func() Command { return &RecordAuthFailure{} },
	TypeAcceptTOTP:           func() Command { return &AcceptTOTP{} },
	TypeCountPasswordFailure: func() Command { return &CountPasswordFailure{} },
	TypeTouchAPISessions:     func() Command { return &TouchAPISessions{} },
	TypeTouchAPITokens:       func() Command { return &TouchAPITokens{} },
}

// Register adds a command type defined outside this package (the user
// actions of controller/domain) to the dispatch table. Its type byte must be
// declared above; registering one twice panics, as that is a build mistake.
func Register(t Type, newCmd func() Command) {
	if _, dup := registry[t]; dup {
		panic(fmt.Sprintf("command type %d registered twice", t))
	}
	if c := newCmd(); c.Type() != t {
		panic(fmt.Sprintf("command type %d registered with a constructor of type %d", t, c.Type()))
	}
	registry[t] = newCmd
}

func kind(name string) (*store.Kind, error) {
	k, ok := store.KindByName(name)
	if !ok {
		return nil, fmt.Errorf("unknown kind %q: %w", name, store.ErrInvalid)
	}
	return k, nil
}

func decodeRecord(k *store.Kind, raw json.RawMessage) (store.Record, error) {
	rec := k.New()
	if err := json.Unmarshal(raw, rec); err != nil {
		return nil, fmt.Errorf("decode %s record: %w", k.Name, err)
	}
	return rec, nil
}

// CreateEntity stores a new record.
type CreateEntity struct {
	Kind   string          `json:"kind"`
	Record json.RawMessage `json:"record"`
}

// NewCreate builds a CreateEntity for rec.
func NewCreate(k *store.Kind, rec store.Record) (*CreateEntity, error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", k.Name, err)
	}
	return &CreateEntity{Kind: k.Name, Record: raw}, nil
}

// Type implements Command.
func (c *CreateEntity) Type() Type { return TypeCreateEntity }

// Apply implements Command; it returns the stored record.
func (c *CreateEntity) Apply(tx *store.Tx) (any, error) {
	k, err := kind(c.Kind)
	if err != nil {
		return nil, err
	}
	rec, err := decodeRecord(k, c.Record)
	if err != nil {
		return nil, err
	}
	if err := tx.Create(k, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// UpdateEntity replaces a record. When IfModifyIndex is set, the update is
// refused with store.ErrConflict if the record changed since that index: the
// proposer read, changed and wrote it without a lost update.
type UpdateEntity struct {
	Kind          string          `json:"kind"`
	Record        json.RawMessage `json:"record"`
	IfModifyIndex uint64          `json:"ifModifyIndex,omitempty"`
}

// NewUpdate builds an UpdateEntity for rec, guarded by rec's ModifyIndex.
func NewUpdate(k *store.Kind, rec store.Record) (*UpdateEntity, error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", k.Name, err)
	}
	return &UpdateEntity{Kind: k.Name, Record: raw, IfModifyIndex: rec.Base().ModifyIndex}, nil
}

// Type implements Command.
func (c *UpdateEntity) Type() Type { return TypeUpdateEntity }

// ErrStale is returned when an update's IfModifyIndex no longer matches.
var ErrStale = fmt.Errorf("record changed concurrently: %w", store.ErrConflict)

// Apply implements Command; it returns the stored record.
func (c *UpdateEntity) Apply(tx *store.Tx) (any, error) {
	k, err := kind(c.Kind)
	if err != nil {
		return nil, err
	}
	rec, err := decodeRecord(k, c.Record)
	if err != nil {
		return nil, err
	}
	if c.IfModifyIndex != 0 {
		cur, err := tx.Get(k, rec.Base().ID)
		if err != nil {
			return nil, err
		}
		if cur.Base().ModifyIndex != c.IfModifyIndex {
			return nil, ErrStale
		}
	}
	if _, err := tx.Update(k, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// DeleteEntity removes a record (and cascades).
type DeleteEntity struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Type implements Command.
func (c *DeleteEntity) Type() Type { return TypeDeleteEntity }

// Apply implements Command.
func (c *DeleteEntity) Apply(tx *store.Tx) (any, error) {
	k, err := kind(c.Kind)
	if err != nil {
		return nil, err
	}
	return nil, tx.Delete(k, c.ID)
}

// Batch applies several commands atomically: all or none.
type Batch struct {
	Entries [][]byte `json:"entries"`
}

// NewBatch encodes commands into one atomic entry.
func NewBatch(at time.Time, cmds ...Command) (*Batch, error) {
	b := &Batch{}
	for _, c := range cmds {
		raw, err := Encode(c, at)
		if err != nil {
			return nil, err
		}
		b.Entries = append(b.Entries, raw)
	}
	return b, nil
}

// Type implements Command.
func (c *Batch) Type() Type { return TypeBatch }

// Apply implements Command; it returns the results of the inner commands.
func (c *Batch) Apply(tx *store.Tx) (any, error) {
	out := make([]any, 0, len(c.Entries))
	for i, raw := range c.Entries {
		inner, _, err := Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("batch entry %d: %w", i, err)
		}
		v, err := inner.Apply(tx)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
