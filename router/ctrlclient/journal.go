package ctrlclient

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/ostium-net/ostium/internal/ctrlproto"
)

// The saved state is a snapshot (Config.StatePath, see state.go) and a journal beside it
// (StatePath + ".journal"): the Events messages the controller pushed since the snapshot was
// written, as they arrived. Writing a change costs appending its message, not encoding the
// whole state again, which for a router holding many API sessions is most of what a save
// costs. The journal is folded into a new snapshot once it is larger than twice the
// snapshot (at least compactMinBytes), and whenever something other than Events changed the
// state (a Sync, the topology, the controllers). Loading applies the snapshot, then the
// journal's Events in order; those the snapshot already holds are skipped by their index, as
// a repeated Events message is on a live connection.
//
// A record is its payload's length (4 bytes, big endian), the payload's CRC-32C (4 bytes),
// and the payload: when the router received the message (8 bytes, Unix nanoseconds) and the
// message's body. A crash can leave the last record torn; reading stops at the first record
// that is incomplete or does not match its CRC, and the file is cut there before anything is
// appended to it again.

const (
	journalSuffix = ".journal"
	// compactMinBytes is the least journal size folded into a new snapshot.
	compactMinBytes = 1 << 20
	// journalHeader is the size of a record's length and CRC.
	journalHeader = 8
	// maxJournalPending bounds the records held in memory for the next append; past it, they
	// are dropped and the next write is a snapshot.
	maxJournalPending = 64 << 20
)

var journalCRC = crc32.MakeTable(crc32.Castagnoli)

// journal holds the records waiting to be appended to the journal file and what decides when
// the next write must be a snapshot. Its methods are safe for concurrent use.
type journal struct {
	path string

	mu           sync.Mutex
	pending      []byte // encoded records not yet appended
	size         int64  // bytes in the file
	snapshotSize int64
	// snapshotDue says the next write must be a snapshot: the state changed in a way the
	// journal does not record, or records were lost (an append failed, too many queued).
	// A journal grown past its bound calls for one too (due).
	snapshotDue bool
	// broken says the journal file does not follow from the snapshot on disk (a Sync
	// replaced the state, or records were lost): nothing is appended until a snapshot is
	// written.
	broken bool
}

// newJournal makes the journal of the state file statePath. Nothing is journaled until a
// snapshot has been loaded (load) or written.
func newJournal(statePath string) *journal {
	return &journal{path: statePath + journalSuffix, snapshotDue: true, broken: true}
}

// add queues the body of an Events message received at at.
func (j *journal) add(body []byte, at time.Time) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken {
		return
	}
	if len(j.pending)+len(body) > maxJournalPending {
		j.pending = nil
		j.broken, j.snapshotDue = true, true
		return
	}
	j.pending = appendRecord(j.pending, body, at)
}

// replaced says the state changed in a way the journal does not record. When the change
// replaced the state (a Sync), the records queued and to come do not follow from the
// snapshot on disk and are dropped until the next one.
func (j *journal) replaced(whole bool) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.snapshotDue = true
	if whole {
		j.pending = nil
		j.broken = true
	}
}

// due reports whether the next write must be a snapshot.
func (j *journal) due() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.snapshotDue || j.size > max(2*j.snapshotSize, compactMinBytes)
}

// startSnapshot drops the queued records: the snapshot about to be taken holds them.
func (j *journal) startSnapshot() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = nil
	j.broken, j.snapshotDue = false, false
}

// snapshotWritten empties the journal file after a snapshot of size bytes replaced the
// previous one, or, when writing the snapshot failed (err), keeps a snapshot due.
func (j *journal) snapshotWritten(size int64, err error) error {
	if err == nil {
		err = os.WriteFile(j.path, nil, 0o600)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err != nil {
		j.pending = nil
		j.broken, j.snapshotDue = true, true
		return err
	}
	j.size, j.snapshotSize = 0, size
	return nil
}

// flush appends the queued records to the journal file and syncs it.
func (j *journal) flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.pending) == 0 || j.broken {
		return nil
	}
	err := appendSynced(j.path, j.pending)
	if err != nil {
		// What the file holds now is unknown: the next write replaces it.
		j.broken, j.snapshotDue = true, true
	} else {
		j.size += int64(len(j.pending))
	}
	j.pending = nil
	return err
}

func appendSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// appendRecord appends the record of body, received at at, to b.
func appendRecord(b, body []byte, at time.Time) []byte {
	n := 8 + len(body)
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, 0) // the CRC, set below
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+journalHeader:], journalCRC))
	return b
}

// journalRecord is one Events message of the journal.
type journalRecord struct {
	at   time.Time
	body []byte
}

// parseJournal reads the records of data up to the first one that is incomplete or damaged,
// and returns them with the length of data they take.
func parseJournal(data []byte) (records []journalRecord, valid int) {
	for {
		rest := data[valid:]
		if len(rest) < journalHeader {
			return records, valid
		}
		n := int(binary.BigEndian.Uint32(rest))
		if n < 8 || n > 8+ctrlproto.MaxBody || len(rest)-journalHeader < n {
			return records, valid
		}
		payload := rest[journalHeader : journalHeader+n]
		if crc32.Checksum(payload, journalCRC) != binary.BigEndian.Uint32(rest[4:]) {
			return records, valid
		}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(payload)))
		records = append(records, journalRecord{at: at, body: payload[8:]})
		valid += journalHeader + n
	}
}

// load reads the journal file for a snapshot of snapshotSize bytes that was just loaded, and
// reports how many bytes of a torn or damaged end it cut off, so that later records can be
// appended after the valid ones; when cutting fails, nothing is appended until the next
// snapshot.
func (j *journal) load(snapshotSize int64) (records []journalRecord, cut int, err error) {
	data, err := os.ReadFile(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = nil, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", j.path, err)
	}
	records, valid := parseJournal(data)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.snapshotSize, j.size = snapshotSize, int64(valid)
	j.broken, j.snapshotDue = false, false
	if valid < len(data) {
		if err := os.Truncate(j.path, int64(valid)); err != nil {
			j.broken, j.snapshotDue = true, true
			return records, len(data) - valid, fmt.Errorf("cut the damaged end of %s: %w", j.path, err)
		}
	}
	return records, len(data) - valid, nil
}

// countingWriter counts what passes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
