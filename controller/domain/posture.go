package domain

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// PostureReport is one posture response of a client: exactly one of its
// fields is set.
type PostureReport struct {
	OS      *store.PostureOSData      `json:"os,omitempty"`
	Domain  *store.PostureDomainData  `json:"domain,omitempty"`
	MAC     *store.PostureMACData     `json:"mac,omitempty"`
	Process *store.PostureProcessData `json:"process,omitempty"`
	// Woken and Unlocked are an ENDPOINT_STATE report, taken at the
	// entry's time.
	Woken    bool `json:"woken,omitempty"`
	Unlocked bool `json:"unlocked,omitempty"`
}

// ReportPosture records posture responses of an API session in its posture
// data, created on the first report, in one entry: of two reports at once
// neither is lost and neither needs a retry. Apply checks at the entry's
// time that the API session stands (ErrSessionEnded). The same write
// deletes the session's sessions that stop passing (the store's settle
// hook), and routers close them.
type ReportPosture struct {
	APISessionID string          `json:"apiSessionId"`
	Reports      []PostureReport `json:"reports"`
}

// Type implements command.Command.
func (c *ReportPosture) Type() command.Type { return command.TypeReportPosture }

// Apply implements command.Command; it returns the *store.PostureData.
func (c *ReportPosture) Apply(tx *store.Tx) (any, error) {
	if !tx.Exists(store.APISessions, c.APISessionID) {
		return nil, ErrSessionEnded
	}
	d, err := store.Get[*store.PostureData](tx, store.PostureDatas, c.APISessionID)
	isNew := errors.Is(err, store.ErrNotFound)
	if isNew {
		d = &store.PostureData{Meta: store.Meta{ID: c.APISessionID}, APISessionID: c.APISessionID}
	} else if err != nil {
		return nil, fmt.Errorf("report posture: %w", err)
	}
	now := tx.Now()
	for _, r := range c.Reports {
		switch {
		case r.OS != nil:
			d.OS = r.OS
		case r.Domain != nil:
			d.Domain = r.Domain
		case r.MAC != nil:
			d.MAC = r.MAC
		case r.Process != nil:
			p := *r.Process
			if i := slices.IndexFunc(d.Processes, func(x store.PostureProcessData) bool { return x.Path == p.Path }); i >= 0 {
				d.Processes[i] = p
			} else {
				d.Processes = append(d.Processes, p)
			}
		}
		if r.Woken {
			d.WokenAt = &now
		}
		if r.Unlocked {
			d.UnlockedAt = &now
		}
	}
	if isNew {
		err = tx.Create(store.PostureDatas, d)
	} else {
		_, err = tx.Update(store.PostureDatas, d)
	}
	if err != nil {
		return nil, fmt.Errorf("report posture: %w", err)
	}
	return d, nil
}
