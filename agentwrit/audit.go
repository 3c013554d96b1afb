package agentwrit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// AuditEvent is one audit record (§8). Optional fields are omitted by the
// broker when empty or 0, and so they are here. Timestamp is kept exactly as
// sent because it is hashed as text.
type AuditEvent struct {
	ID               string `json:"id"`
	Timestamp        string `json:"timestamp"`
	EventType        string `json:"event_type"`
	AgentID          string `json:"agent_id,omitempty"`
	TaskID           string `json:"task_id,omitempty"`
	OrchID           string `json:"orch_id,omitempty"`
	Detail           string `json:"detail"`
	Resource         string `json:"resource,omitempty"`
	Outcome          string `json:"outcome,omitempty"`
	DelegDepth       int    `json:"deleg_depth,omitempty"`
	DelegChainHash   string `json:"deleg_chain_hash,omitempty"`
	BytesTransferred int64  `json:"bytes_transferred,omitempty"`
	Hash             string `json:"hash"`
	PrevHash         string `json:"prev_hash"`
}

// GenesisHash is the prev_hash of the first event, evt-000001.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// firstEventID is the id of the genesis event.
const firstEventID = "evt-000001"

// EventHash computes an event's hash as the broker does (§8): lowercase hex
// SHA-256 of
// prevHash|id|timestamp|event_type|agent_id|task_id|orch_id|detail|resource|outcome|deleg_depth|deleg_chain_hash|bytes_transferred
// with the integers in decimal. e.Hash and e.PrevHash are ignored.
func EventHash(prevHash string, e AuditEvent) string {
	s := strings.Join([]string{
		prevHash, e.ID, e.Timestamp, e.EventType, e.AgentID, e.TaskID, e.OrchID,
		e.Detail, e.Resource, e.Outcome, strconv.Itoa(e.DelegDepth), e.DelegChainHash,
		strconv.FormatInt(e.BytesTransferred, 10),
	}, "|")
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ChainError reports the first place where an audit chain does not hold.
type ChainError struct {
	Index  int    // position in the slice given to VerifyChain
	ID     string // that event's id
	Reason string
}

// Error returns one line naming the event and the reason.
func (e *ChainError) Error() string {
	return fmt.Sprintf("agentwrit: audit chain broken at index %d (%s): %s", e.Index, e.ID, e.Reason)
}

// VerifyChain checks an unfiltered, oldest-first run of audit events, such
// as [Admin.AllAuditEvents] returns without filters. The run may start at
// evt-000001, whose prev_hash must be the 64-zero genesis value, or anywhere
// else, in which case its first prev_hash is trusted. For each event it
// checks, in order: that prev_hash equals the previous event's hash (a
// deleted, inserted or reordered event breaks this), that the hash
// recomputes (a modified field breaks this), and that ids of the form
// evt-<n> count up by one (a deletion hidden by re-hashing everything after
// it breaks this). It returns a *ChainError for the first failure, or nil.
//
// Filtered event lists are not contiguous; check those event by event with
// [EventHash] instead.
func VerifyChain(events []AuditEvent) error {
	prevHash := ""
	prevSeq := -1
	for i, e := range events {
		switch {
		case i == 0 && e.ID == firstEventID && e.PrevHash != GenesisHash:
			return &ChainError{Index: i, ID: e.ID, Reason: "first event's prev_hash is not the genesis value (64 zeros)"}
		case i > 0 && e.PrevHash != prevHash:
			return &ChainError{Index: i, ID: e.ID, Reason: fmt.Sprintf(
				"prev_hash does not match the hash of %s: an event was deleted, inserted or reordered", events[i-1].ID)}
		}
		if got := EventHash(e.PrevHash, e); got != e.Hash {
			return &ChainError{Index: i, ID: e.ID, Reason: "hash does not match the event's contents: the event was modified"}
		}
		seq, ok := eventSeq(e.ID)
		if ok && prevSeq >= 0 && seq != prevSeq+1 {
			return &ChainError{Index: i, ID: e.ID, Reason: fmt.Sprintf(
				"id sequence jumps from %s: an event is missing", events[i-1].ID)}
		}
		if ok {
			prevSeq = seq
		} else {
			prevSeq = -1
		}
		prevHash = e.Hash
	}
	return nil
}

// eventSeq parses the counter of an "evt-<digits>" id.
func eventSeq(id string) (int, bool) {
	digits, ok := strings.CutPrefix(id, "evt-")
	if !ok || digits == "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
