package watch

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/broker"
	"github.com/tenantui/tenantui/internal/fakeclock"
)

// spySource records the queries a follower sends.
type spySource struct {
	src     AuditSource
	queries []agentwrit.AuditQuery
}

func (s *spySource) AuditEvents(ctx context.Context, q agentwrit.AuditQuery) (*agentwrit.AuditPage, error) {
	s.queries = append(s.queries, q)
	return s.src.AuditEvents(ctx, q)
}

// drain reads until the follower has nothing more.
func drain(t *testing.T, f *Follower) []agentwrit.AuditEvent {
	t.Helper()
	var got []agentwrit.AuditEvent
	for range 1000 {
		evs, more, err := f.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, evs...)
		if !more {
			return got
		}
	}
	t.Fatal("follower never caught up")
	return nil
}

// TestFollowNoDuplicatesNoGaps follows the embedded broker while events
// are added between polls, many of them with the very same timestamp (the
// fake clock stands still), and checks that every event arrives exactly
// once, in order, without re-reading: each poll after the first uses since.
func TestFollowNoDuplicatesNoGaps(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	srv, err := broker.New(broker.Config{AdminSecret: "s3cret-for-tests", Now: clk.Now, DisableRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	admin, err := agentwrit.NewAdmin(hs.URL, "s3cret-for-tests")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spy := &spySource{src: admin}
	f := NewFollower(spy)
	f.PageSize = 25
	var got []agentwrit.AuditEvent
	var chain Chain
	add := func(n int) { // each revocation writes one event
		for i := range n {
			if _, err := admin.Revoke(ctx, agentwrit.RevokeToken, fmt.Sprintf("jti-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round, n := range []int{0, 1, 60, 3, 0, 26, 25, 24, 51, 7} {
		if round%3 == 0 {
			clk.Advance(time.Millisecond) // otherwise: equal timestamps across polls
		}
		add(n)
		before := len(spy.queries)
		evs := drain(t, f)
		if br := chain.Add(evs); br != nil {
			t.Fatalf("round %d: %v", round, br)
		}
		got = append(got, evs...)
		for _, q := range spy.queries[before:] {
			if f.Seen() > 0 && len(got) > len(evs) && q.Since.IsZero() {
				t.Errorf("round %d: a poll after the first read by position instead of since: %+v", round, q)
			}
		}
	}
	all := srv.AuditEvents()
	if len(got) != len(all) {
		t.Fatalf("read %d events, the broker has %d", len(got), len(all))
	}
	for i := range all {
		if got[i].ID != all[i].ID || got[i].Hash != all[i].Hash {
			t.Fatalf("event %d: got %s, want %s", i, got[i].ID, all[i].ID)
		}
	}
	if f.ByOffset() {
		t.Error("fell back to positional paging on a well-behaved trail")
	}
	// Reading cost: every event was transferred once, plus at most the
	// already-seen ones sharing the last timestamp, which since re-includes
	// and offset skips on the broker.
	if n := len(spy.queries); n > 2*len(all)/25+2*10+2 {
		t.Errorf("%d requests for %d events", n, len(all))
	}
}

// sliceSource serves events the way the broker does (§5: since inclusive,
// offset and limit after filtering, total before paging).
type sliceSource struct{ events []agentwrit.AuditEvent }

func (s *sliceSource) AuditEvents(_ context.Context, q agentwrit.AuditQuery) (*agentwrit.AuditPage, error) {
	var m []agentwrit.AuditEvent
	for _, e := range s.events {
		at, _ := time.Parse(time.RFC3339Nano, e.Timestamp)
		if !q.Since.IsZero() && at.Before(q.Since) {
			continue
		}
		m = append(m, e)
	}
	p := &agentwrit.AuditPage{Total: len(m), Offset: q.Offset, Limit: q.Limit}
	if q.Offset < len(m) {
		m = m[q.Offset:]
	} else {
		m = nil
	}
	if len(m) > q.Limit {
		m = m[:q.Limit]
	}
	p.Events = m
	return p, nil
}

// chained builds n linked events whose timestamps come from ts(i).
func chained(n int, ts func(i int) time.Time) []agentwrit.AuditEvent {
	evs := make([]agentwrit.AuditEvent, n)
	prev := agentwrit.GenesisHash
	for i := range evs {
		e := agentwrit.AuditEvent{ID: fmt.Sprintf("evt-%06d", i+1), Timestamp: ts(i).UTC().Format(time.RFC3339Nano),
			EventType: "token_revoked", Detail: fmt.Sprintf("revoked at level=token target=jti-%d", i), Outcome: "success", PrevHash: prev}
		e.Hash = agentwrit.EventHash(prev, e)
		prev = e.Hash
		evs[i] = e
	}
	return evs
}

// TestFollowClockSetBack: when the broker's clock goes back, since would
// skip the new events; the link check notices and the follower reads by
// position from then on, still without gaps.
func TestFollowClockSetBack(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	all := chained(40, func(i int) time.Time {
		if i >= 20 {
			return t0.Add(time.Duration(i-30) * time.Second) // set back 10 s
		}
		return t0.Add(time.Duration(i) * time.Second)
	})
	src := &sliceSource{events: all[:20]}
	f := NewFollower(src)
	f.PageSize = 8
	got := drain(t, f)
	src.events = all
	f.Expect(len(all)) // what the broker's health reports
	got = append(got, drain(t, f)...)
	if len(got) != 40 {
		t.Fatalf("read %d events, want 40", len(got))
	}
	var c Chain
	if br := c.Add(got); br != nil {
		t.Fatal(br)
	}
	if !f.ByOffset() {
		t.Error("did not fall back to positional paging")
	}
}

// TestFollowTrailShrank: a broker restarted with an empty, in-memory trail
// is reported, not silently followed from a wrong position.
func TestFollowTrailShrank(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	all := chained(10, func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) })
	src := &sliceSource{events: all}
	f := NewFollower(src)
	drain(t, f)
	src.events = chained(3, func(i int) time.Time { return t0.Add(time.Hour + time.Duration(i)*time.Second) })
	_, _, err := f.Next(context.Background())
	if !errors.Is(err, ErrTrailRestarted) || !strings.Contains(err.Error(), "fewer than the 10 already read") {
		t.Fatalf("err = %v, want the trail-shrank error", err)
	}
}

// TestChainBroken: a modified event and a deleted one are found at the
// right place even when they arrive in separate batches.
func TestChainBroken(t *testing.T) {
	for _, c := range []struct {
		name   string
		mangle func([]agentwrit.AuditEvent) []agentwrit.AuditEvent
		want   string
		reason string
	}{
		{"modified", func(evs []agentwrit.AuditEvent) []agentwrit.AuditEvent {
			evs[27].Detail = "token released | jti=forged"
			return evs
		}, "evt-000028", "modified"},
		{"deleted", func(evs []agentwrit.AuditEvent) []agentwrit.AuditEvent {
			return append(evs[:19:19], evs[20:]...)
		}, "evt-000021", "deleted"},
		{"first batch link", func(evs []agentwrit.AuditEvent) []agentwrit.AuditEvent {
			evs[10].PrevHash = strings.Repeat("0", 64)
			return evs
		}, "evt-000011", "prev_hash"},
	} {
		t.Run(c.name, func(t *testing.T) {
			evs := c.mangle(append([]agentwrit.AuditEvent(nil), loadTrail(t, realTrail)...))
			var ch Chain
			var br *ChainBreak
			for i := 0; i < len(evs); i += 10 {
				br = ch.Add(evs[i:min(i+10, len(evs))])
			}
			if br == nil || br.ID != c.want || !strings.Contains(br.Reason, c.reason) {
				t.Fatalf("break %+v, want one at %s mentioning %q", br, c.want, c.reason)
			}
			if !strings.HasPrefix(ch.Status(), "chain broken at "+c.want) {
				t.Errorf("status %q", ch.Status())
			}
		})
	}
	var ch Chain
	evs := loadTrail(t, realTrail)
	for i := 0; i < len(evs); i += 10 {
		ch.Add(evs[i:min(i+10, len(evs))])
	}
	if want := fmt.Sprintf("chain verified, %d events", len(evs)); ch.Status() != want {
		t.Errorf("status %q, want %q", ch.Status(), want)
	}
}
