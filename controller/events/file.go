package events

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
)

// FileConfig configures the JSON-lines file sink.
type FileConfig struct {
	// Path is the file written to; rotated files are Path.1 (the newest)
	// to Path.MaxFiles.
	Path string
	// MaxBytes is the size past which the file is rotated (default 100 MiB).
	MaxBytes int64
	// MaxFiles is how many rotated files are kept (default 5).
	MaxFiles int
	// Filter selects the events written (all by default).
	Filter Filter
	// Buffer is how many events the sink may fall behind by before it drops
	// some (counted by the bus); default 8192.
	Buffer int
}

// Defaults of FileConfig.
const (
	DefaultFileMaxBytes = 100 << 20
	DefaultFileMaxFiles = 5
	defaultFileBuffer   = 8192
)

// FileSink writes events to a file, one JSON object per line, and rotates
// the file by size.
type FileSink struct {
	cfg  FileConfig
	log  *slog.Logger
	f    *os.File
	w    *bufio.Writer
	size int64
}

// OpenFile opens (or creates, with its directory) the sink's file for
// appending.
func OpenFile(cfg FileConfig, log *slog.Logger) (*FileSink, error) {
	if cfg.Path == "" {
		return nil, errors.New("events file: no path")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultFileMaxBytes
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = DefaultFileMaxFiles
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = defaultFileBuffer
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &FileSink{cfg: cfg, log: log}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("events file directory: %w", err)
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *FileSink) open() error {
	f, err := os.OpenFile(s.cfg.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open events file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("open events file: %w", err)
	}
	s.f, s.w, s.size = f, bufio.NewWriterSize(f, 64<<10), fi.Size()
	return nil
}

// Run subscribes to bus and writes every event it selects until ctx ends,
// then flushes and closes the file.
func (s *FileSink) Run(ctx context.Context, bus *Bus) {
	sub := bus.Subscribe(s.cfg.Filter, s.cfg.Buffer)
	defer sub.Close()
	defer s.close()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-sub.Events():
			s.Write(e)
			// Write what arrived meanwhile before flushing once.
			for more := true; more; {
				select {
				case e := <-sub.Events():
					s.Write(e)
				default:
					more = false
				}
			}
			if err := s.w.Flush(); err != nil {
				s.log.Warn("write events file", "path", s.cfg.Path, "err", err)
			}
		}
	}
}

// Write appends one event, rotating first when it would take the file past
// its size.
func (s *FileSink) Write(e Event) {
	line, err := json.Marshal(e)
	if err != nil {
		s.log.Warn("encode event", "type", e.Type, "err", err)
		return
	}
	line = append(line, '\n')
	if s.size > 0 && s.size+int64(len(line)) > s.cfg.MaxBytes {
		if err := s.rotate(); err != nil {
			s.log.Warn("rotate events file", "path", s.cfg.Path, "err", err)
		}
	}
	n, err := s.w.Write(line)
	s.size += int64(n)
	if err != nil {
		s.log.Warn("write events file", "path", s.cfg.Path, "err", err)
	}
}

// rotate moves Path to Path.1, Path.1 to Path.2 and so on, dropping the
// oldest past MaxFiles, and starts an empty Path.
func (s *FileSink) rotate() error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if err := s.f.Close(); err != nil {
		return err
	}
	name := func(i int) string { return s.cfg.Path + "." + strconv.Itoa(i) }
	var errs []error
	if err := os.Remove(name(s.cfg.MaxFiles)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for i := s.cfg.MaxFiles - 1; i >= 1; i-- {
		if err := os.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Rename(s.cfg.Path, name(1)); err != nil {
		errs = append(errs, err)
	}
	// Whatever failed, writing goes on (into the same file when it could
	// not be moved).
	if err := s.open(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *FileSink) close() {
	if err := s.w.Flush(); err != nil {
		s.log.Warn("write events file", "path", s.cfg.Path, "err", err)
	}
	if err := s.f.Close(); err != nil {
		s.log.Warn("close events file", "path", s.cfg.Path, "err", err)
	}
}

// Close flushes and closes the file of a sink that was opened but never run.
func (s *FileSink) Close() { s.close() }
