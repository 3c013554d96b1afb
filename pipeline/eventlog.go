package pipeline

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// eventLogFlush is how long a written event may wait in the buffer: someone
// following the file with `tail -f` sees events within this delay, and a run
// over thousands of tenants does not make a write call per event.
const eventLogFlush = 200 * time.Millisecond

// EventLog writes every event it is given to a file, one JSON object per
// line, in the form of `tenantui run --json` (so tokens appear only as short
// prefixes). It is safe for concurrent use. The console keeps only the
// newest events on screen; the log keeps them all.
type EventLog struct {
	path string
	stop chan struct{} // closed by Close: the flusher returns
	done chan struct{} // closed when the flusher has returned

	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	dirty   bool // written since the last flush
	closing bool // Close has been called
	n       int64
	err     error // the first write error; later writes are dropped
}

// CreateEventLog creates (or truncates) the file at path.
func CreateEventLog(path string) (*EventLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("event log %s: %w", path, oneLineErr(err))
	}
	l := &EventLog{path: path, stop: make(chan struct{}), done: make(chan struct{}), f: f, w: bufio.NewWriterSize(f, 64<<10)}
	go l.flusher() // owned by l: ends in Close
	return l, nil
}

// flusher writes buffered events out every eventLogFlush until Close.
func (l *EventLog) flusher() {
	defer close(l.done)
	t := time.NewTicker(eventLogFlush)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			if l.dirty && l.f != nil && l.err == nil {
				l.dirty = false
				if err := l.w.Flush(); err != nil {
					l.err = fmt.Errorf("event log %s: %w", l.path, oneLineErr(err))
				}
			}
			l.mu.Unlock()
		}
	}
}

// Path is the log's file.
func (l *EventLog) Path() string { return l.path }

// Write appends ev. A write error is kept and returned by Close.
func (l *EventLog) Write(ev Event) {
	line, err := json.Marshal(ev)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil || l.f == nil {
		return
	}
	if err != nil {
		l.err = fmt.Errorf("event log %s: event %d: %w", l.path, ev.Seq, err)
		return
	}
	line = append(line, '\n')
	if _, err := l.w.Write(line); err != nil {
		l.err = fmt.Errorf("event log %s: %w", l.path, oneLineErr(err))
		return
	}
	l.n++
	l.dirty = true
}

// Count is the number of events written.
func (l *EventLog) Count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Close flushes, syncs and closes the file and returns the first error.
// Events written after Close are dropped.
func (l *EventLog) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		<-l.done
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.err
	}
	l.closing = true
	close(l.stop)
	l.mu.Unlock()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.f
	l.f = nil
	if err := l.w.Flush(); err != nil && l.err == nil {
		l.err = fmt.Errorf("event log %s: %w", l.path, oneLineErr(err))
	}
	if err := f.Sync(); err != nil && l.err == nil {
		l.err = fmt.Errorf("event log %s: %w", l.path, oneLineErr(err))
	}
	if err := f.Close(); err != nil && l.err == nil {
		l.err = fmt.Errorf("event log %s: %w", l.path, oneLineErr(err))
	}
	return l.err
}
