package watch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
)

// AuditSource is the audit part of the broker's admin API;
// *agentwrit.Admin implements it.
type AuditSource interface {
	AuditEvents(ctx context.Context, q agentwrit.AuditQuery) (*agentwrit.AuditPage, error)
}

// ErrTrailRestarted reports a trail shorter than what was already read: an
// in-memory broker (such as `tenantui broker`) was restarted with a new one.
var ErrTrailRestarted = errors.New("watch: the broker's audit trail restarted")

// PageSize is the default number of events asked for per request: the
// broker's cap.
const PageSize = 1000

// Follower reads a broker's audit trail incrementally, never twice. The
// first read pages through the whole trail from offset 0; later reads ask
// only for events at or after the newest one seen (since is inclusive, §5)
// and skip, by offset, the ones already seen with that same timestamp.
//
// The broker stamps events under its audit lock, so timestamps do not go
// down along the trail, unless its wall clock is set back. To be safe from
// that, every page must link to what was seen (the first new event's
// prev_hash is the hash of the last one seen); when it does not, the page is
// read again by position (offset = events seen, no since), which cannot skip
// anything, and the follower stays on positions from then on. A set-back
// clock can also hide new events from since entirely; [Follower.Expect]
// passes the broker's own count (health's audit_events_count) so that an
// empty since page with events still unread falls back the same way.
type Follower struct {
	src AuditSource

	seen     int       // events read so far
	lastHash string    // hash of the last event read
	lastTS   string    // its timestamp, as sent
	lastAt   time.Time // parsed
	sameTS   int       // how many of the last events read carry exactly lastAt
	byOffset bool      // since proved unreliable: page by position only
	known    int       // the broker's event count, as last reported

	// PageSize is the events asked for per request; 0 means [PageSize].
	PageSize int
	// Requests counts the requests made (for tests and benchmarks).
	Requests int
}

// NewFollower returns a follower that starts at the beginning of the trail.
func NewFollower(src AuditSource) *Follower { return &Follower{src: src} }

// Seen is the number of events read so far.
func (f *Follower) Seen() int { return f.seen }

// Expect tells the follower how many events the broker reports holding.
func (f *Follower) Expect(n int) { f.known = n }

// ByOffset reports whether the follower fell back to positional paging.
func (f *Follower) ByOffset() bool { return f.byOffset }

// Next reads the next page of new events: at most a page, oldest first,
// and more reports whether the broker has more right now. An error leaves
// the follower where it was, so the next call asks again.
func (f *Follower) Next(ctx context.Context) (events []agentwrit.AuditEvent, more bool, err error) {
	size := f.PageSize
	if size <= 0 {
		size = PageSize
	}
	q := agentwrit.AuditQuery{Limit: size, Offset: f.seen}
	sinceMode := f.seen > 0 && !f.byOffset && !f.lastAt.IsZero()
	if sinceMode {
		q.Since, q.Offset = f.lastAt, f.sameTS
	}
	p, err := f.get(ctx, q)
	if err != nil {
		return nil, false, err
	}
	if sinceMode && ((len(p.Events) > 0 && p.Events[0].PrevHash != f.lastHash) ||
		(len(p.Events) == 0 && f.known > f.seen) || (f.known > 0 && f.known < f.seen)) {
		// Not the next event, none while the broker holds more, or the
		// broker holds fewer than were read: read the same place by position
		// instead, which also tells a restarted trail.
		f.byOffset = true
		q = agentwrit.AuditQuery{Limit: size, Offset: f.seen}
		if p, err = f.get(ctx, q); err != nil {
			return nil, false, err
		}
	}
	if !sinceMode || f.byOffset {
		if p.Total < f.seen {
			return nil, false, fmt.Errorf("%w: it has %d events, fewer than the %d already read", ErrTrailRestarted, p.Total, f.seen)
		}
	}
	f.advance(p.Events)
	more = len(p.Events) > 0 && q.Offset+len(p.Events) < p.Total
	return p.Events, more, nil
}

func (f *Follower) get(ctx context.Context, q agentwrit.AuditQuery) (*agentwrit.AuditPage, error) {
	f.Requests++
	return f.src.AuditEvents(ctx, q)
}

// advance moves the cursor past events.
func (f *Follower) advance(events []agentwrit.AuditEvent) {
	for i := range events {
		e := &events[i]
		f.seen++
		f.lastHash = e.Hash
		if e.Timestamp == f.lastTS {
			f.sameTS++
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, e.Timestamp)
		if err != nil {
			// An unparseable timestamp cannot be asked for with since.
			f.byOffset = true
		}
		if !at.Equal(f.lastAt) {
			f.sameTS = 0
		}
		f.lastTS, f.lastAt = e.Timestamp, at
		f.sameTS++
	}
}
