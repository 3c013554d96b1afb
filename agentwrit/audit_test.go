package agentwrit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The recording keeps only the first 12 hex digits of each hash, which is
// enough to show that EventHash reproduces the real broker's chain from the
// genesis value through evt-000005 (§8).
func TestEventHashReproducesRecordedChain(t *testing.T) {
	var ex exchange
	for _, e := range loadTranscript(t) {
		if e.Name == "audit_events" {
			ex = e
		}
	}
	var page AuditPage
	if err := json.Unmarshal(ex.Response.Body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 5 || page.Events[0].ID != "evt-000001" {
		t.Fatalf("unexpected page %+v", page)
	}
	prefix := func(s string) string { return strings.SplitN(s, "…", 2)[0] }
	prev := GenesisHash
	for _, e := range page.Events {
		if !strings.HasPrefix(prev, prefix(e.PrevHash)) {
			t.Errorf("%s: prev_hash %s does not continue the chain (%s)", e.ID, e.PrevHash, prev)
		}
		got := EventHash(prev, e)
		if !strings.HasPrefix(got, prefix(e.Hash)) {
			t.Errorf("%s: EventHash = %s, recorded %s", e.ID, got, e.Hash)
		}
		prev = got
	}
	if want := "d3e56495edc8c69cbecbb82138d08fbc08aa70d0fc611cd57af6d80e4a3acada"; EventHash(GenesisHash, page.Events[0]) != want {
		t.Errorf("evt-000001 hash = %s", EventHash(GenesisHash, page.Events[0]))
	}
}

// syntheticChain builds n linked events with every optional field used.
func syntheticChain(n int) []AuditEvent {
	events := make([]AuditEvent, n)
	prev := GenesisHash
	for i := range events {
		e := AuditEvent{
			ID:        fmt.Sprintf("evt-%06d", i+1),
			Timestamp: fmt.Sprintf("2026-11-26T20:00:%02d.1234567Z", i),
			EventType: "delegation_created",
			Detail:    fmt.Sprintf("event %d | path=/v1/x", i),
			Outcome:   "success",
		}
		switch i % 3 {
		case 0:
			e.AgentID, e.TaskID, e.OrchID = "spiffe://agentwrit.local/agent/o/t/0011223344556677", "t", "o"
			e.DelegDepth, e.DelegChainHash = 2, strings.Repeat("ab", 32)
		case 1:
			e.Resource, e.Outcome, e.BytesTransferred = "/v1/revoke", "denied", 4096
		}
		e.PrevHash = prev
		e.Hash = EventHash(prev, e)
		prev = e.Hash
		events[i] = e
	}
	return events
}

func TestVerifyChain(t *testing.T) {
	intact := syntheticChain(12)
	if err := VerifyChain(intact); err != nil {
		t.Fatalf("intact chain: %v", err)
	}
	if err := VerifyChain(intact[5:9]); err != nil {
		t.Errorf("contiguous run from the middle: %v", err)
	}
	if err := VerifyChain(nil); err != nil {
		t.Errorf("empty: %v", err)
	}

	clone := func() []AuditEvent { return append([]AuditEvent(nil), intact...) }
	tests := []struct {
		name    string
		events  func() []AuditEvent
		index   int
		id      string
		reasonH string
	}{
		{"tampered detail", func() []AuditEvent {
			ev := clone()
			ev[4].Detail = "nothing to see here"
			return ev
		}, 4, "evt-000005", "modified"},
		{"tampered bytes_transferred", func() []AuditEvent {
			ev := clone()
			ev[7].BytesTransferred++
			return ev
		}, 7, "evt-000008", "modified"},
		{"tampered timestamp", func() []AuditEvent {
			ev := clone()
			ev[0].Timestamp = "2026-11-26T20:00:00.1234567Z " // not even valid; still caught by the hash
			return ev
		}, 0, "evt-000001", "modified"},
		{"broken prev_hash", func() []AuditEvent {
			ev := clone()
			ev[6].PrevHash = strings.Repeat("1", 64)
			ev[6].Hash = EventHash(ev[6].PrevHash, ev[6]) // consistent in itself
			return ev
		}, 6, "evt-000007", "prev_hash"},
		{"deleted event", func() []AuditEvent {
			ev := clone()
			return append(ev[:3], ev[4:]...)
		}, 3, "evt-000005", "deleted"},
		{"deleted event, rest re-hashed", func() []AuditEvent {
			ev := clone()
			ev = append(ev[:3], ev[4:]...)
			for i := 3; i < len(ev); i++ {
				ev[i].PrevHash = ev[i-1].Hash
				ev[i].Hash = EventHash(ev[i].PrevHash, ev[i])
			}
			return ev
		}, 3, "evt-000005", "missing"},
		{"swapped events", func() []AuditEvent {
			ev := clone()
			ev[2], ev[3] = ev[3], ev[2]
			return ev
		}, 2, "evt-000004", "reordered"},
		{"bad genesis", func() []AuditEvent {
			ev := clone()
			ev[0].PrevHash = strings.Repeat("f", 64)
			ev[0].Hash = EventHash(ev[0].PrevHash, ev[0])
			return ev
		}, 0, "evt-000001", "genesis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyChain(tt.events())
			var ce *ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *ChainError", err)
			}
			if ce.Index != tt.index || ce.ID != tt.id || !strings.Contains(ce.Reason, tt.reasonH) {
				t.Errorf("got %+v, want index %d id %s reason ~%q", *ce, tt.index, tt.id, tt.reasonH)
			}
			if !strings.HasPrefix(err.Error(), "agentwrit: audit chain broken at index ") {
				t.Errorf("message %q", err)
			}
		})
	}
}

func TestAuditEventJSONOmitsEmptyFields(t *testing.T) {
	b, err := json.Marshal(AuditEvent{ID: "evt-000001", Timestamp: "t", EventType: "admin_auth", Detail: "d", Hash: "h", PrevHash: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"evt-000001","timestamp":"t","event_type":"admin_auth","detail":"d","hash":"h","prev_hash":"p"}`; string(b) != want {
		t.Errorf("got %s", b)
	}
	var e AuditEvent
	in := `{"id":"evt-000002","timestamp":"t","event_type":"delegation_created","agent_id":"a","task_id":"t","orch_id":"o","detail":"d","resource":"r","outcome":"success","deleg_depth":2,"deleg_chain_hash":"c","bytes_transferred":7,"hash":"h","prev_hash":"p"}`
	if err := json.Unmarshal([]byte(in), &e); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(e)
	if string(out) != in {
		t.Errorf("round trip:\n got %s\nwant %s", out, in)
	}
}

func TestAuditQueryEncoding(t *testing.T) {
	if got := (AuditQuery{}).encode(); got != "" {
		t.Errorf("empty query = %q", got)
	}
	q := AuditQuery{AgentID: "spiffe://x/y", TaskID: "t", EventType: "token_released", Outcome: "denied",
		Since: mustTime("2026-11-26T21:00:00+01:00"), Until: mustTime("2026-11-26T20:30:00.5Z"), Limit: 5, Offset: 10}
	want := "?agent_id=spiffe%3A%2F%2Fx%2Fy&event_type=token_released&limit=5&offset=10&outcome=denied&since=2026-11-26T20%3A00%3A00Z&task_id=t&until=2026-11-26T20%3A30%3A00.5Z"
	if got := q.encode(); got != want {
		t.Errorf("encode =\n %s\nwant\n %s", got, want)
	}
}
