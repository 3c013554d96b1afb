package broker

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Audit event types produced over HTTP (§8).
const (
	evAdminAuth             = "admin_auth"
	evAdminAuthFailed       = "admin_auth_failed"
	evAppRegistered         = "app_registered"
	evAppAuthenticated      = "app_authenticated"
	evAppAuthFailed         = "app_auth_failed"
	evAppUpdated            = "app_updated"
	evAppDeregistered       = "app_deregistered"
	evLaunchTokenIssued     = "launch_token_issued"
	evLaunchTokenDenied     = "launch_token_denied"
	evScopeCeilingExceeded  = "scope_ceiling_exceeded"
	evRegistrationViolation = "registration_policy_violation"
	evAgentRegistered       = "agent_registered"
	evTokenIssued           = "token_issued"
	evTokenRenewed          = "token_renewed"
	evTokenReleased         = "token_released"
	evTokenRevoked          = "token_revoked"
	evDelegationCreated     = "delegation_created"
	evDelegationViolation   = "delegation_attenuation_violation"
	evTokenAuthFailed       = "token_auth_failed"
	evScopeViolation        = "scope_violation"

	outcomeSuccess = "success"
	outcomeDenied  = "denied"
)

// GenesisHash is the prev_hash of the first audit event: 64 zeros (§8).
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// AuditEvent is one audit record as GET /v1/audit/events returns it (§8):
// optional fields are omitted when empty or zero.
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

	at time.Time // for since/until filtering
}

// EventHash computes the §8 hash of an event given prev hash and its fields as
// they appear in JSON (omitted strings as "", omitted integers as 0):
// lowercase hex SHA-256 of
// prev_hash|id|timestamp|event_type|agent_id|task_id|orch_id|detail|resource|outcome|deleg_depth|deleg_chain_hash|bytes_transferred.
func EventHash(prevHash, id, timestamp, eventType, agentID, taskID, orchID, detail, resource, outcome string, delegDepth int, delegChainHash string, bytesTransferred int64) string {
	var stack [512]byte // most events fit: no allocation but the hex
	b := stack[:0]
	for _, f := range [...]string{prevHash, id, timestamp, eventType, agentID, taskID, orchID, detail, resource, outcome} {
		b = append(b, f...)
		b = append(b, '|')
	}
	b = strconv.AppendInt(b, int64(delegDepth), 10)
	b = append(b, '|')
	b = append(b, delegChainHash...)
	b = append(b, '|')
	b = strconv.AppendInt(b, bytesTransferred, 10)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// computeHash recomputes the hash of e from its own fields and PrevHash.
func (e AuditEvent) computeHash() string {
	return EventHash(e.PrevHash, e.ID, e.Timestamp, e.EventType, e.AgentID, e.TaskID, e.OrchID,
		e.Detail, e.Resource, e.Outcome, e.DelegDepth, e.DelegChainHash, e.BytesTransferred)
}

// sensitiveWords trigger detail masking (§8).
var sensitiveWords = [...]string{"secret", "password", "token_value", "private_key"}

// maskDetail redacts everything after the first "=" (else the first ": ")
// when the text before it names a sensitive word (§8).
func maskDetail(d string) string {
	lower := strings.ToLower(d)
	if !containsSensitive(lower) {
		return d
	}
	sep := "="
	i := strings.Index(lower, sep)
	if i < 0 {
		sep = ": "
		i = strings.Index(lower, sep)
	}
	if i < 0 || !containsSensitive(lower[:i]) {
		return d
	}
	return d[:i+len(sep)] + "***REDACTED***"
}

func containsSensitive(lower string) bool {
	for _, w := range sensitiveWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// auditLog is the global, append-only hash chain.
type auditLog struct {
	mu     sync.RWMutex
	events eventChunks // committed (with a database) and so visible

	// With a database only: events get their ids and hashes when recorded
	// but join events when their batch commits (see recordAll).
	next    int    // events numbered so far
	last    string // hash of the last numbered event
	pending *batch // the batch new events join, nil when none is open
	commit  sync.Mutex
}

// batch is a group commit: the events and writes of several changes,
// in chain order, committed in one transaction.
type batch struct {
	seq    int // position of the first event, 1-based
	events []AuditEvent
	writes []write
	done   chan struct{}
	err    error
}

// record appends e to the chain; writes, with a database, commit in the
// same transaction as e. The error is the database's: without one there is
// none. Callers that only report (failed logins, denials) may ignore it.
func (s *Server) record(e AuditEvent, writes ...write) error {
	return s.recordAll([]AuditEvent{e}, writes...)
}

// recordAll appends events with the next ids, the current time and chained
// hashes.
//
// With a database, writes and the events' inserts commit in one
// transaction before recordAll returns, and only then do the events join
// the chain in memory: a change is never reported without its event, nor
// the reverse, and the reply waits for both to be durable. Concurrent
// callers share transactions (group commit): whoever takes the commit lock
// commits every change waiting at that moment. After a failed commit every
// later change fails too (the chain in memory must not run ahead of the
// database) and health says db_connected:false until a restart.
func (s *Server) recordAll(events []AuditEvent, writes ...write) error {
	if s.db == nil {
		s.audit.mu.Lock()
		n := s.audit.events.len()
		prev := GenesisHash
		if n > 0 {
			prev = s.audit.events.at(n - 1).Hash
		}
		s.number(events, n, prev)
		s.audit.events.append(events...)
		s.audit.mu.Unlock()
		return nil
	}

	a := &s.audit
	a.mu.Lock()
	if s.dbFailed.Load() {
		a.mu.Unlock()
		return fmt.Errorf("broker: %w: %s: an earlier write failed", errDB, s.db.path)
	}
	a.last = s.number(events, a.next, a.last)
	b := a.pending
	if b == nil {
		b = &batch{seq: a.next + 1, done: make(chan struct{})}
		a.pending = b
	}
	a.next += len(events)
	b.events = append(b.events, events...)
	for _, w := range writes {
		if w != nil {
			b.writes = append(b.writes, w)
		}
	}
	a.mu.Unlock()

	a.commit.Lock()
	defer a.commit.Unlock()
	select {
	case <-b.done: // an earlier holder of the lock committed it
		return b.err
	default:
	}
	a.mu.Lock()
	a.pending = nil // b, the only open batch: later changes open the next
	failed := s.dbFailed.Load()
	a.mu.Unlock()
	if failed {
		b.err = fmt.Errorf("broker: %w: %s: an earlier write failed", errDB, s.db.path)
	} else if err := s.db.save(b.seq, b.events, b.writes); err != nil {
		b.err = fmt.Errorf("broker: %w: %s: %v", errDB, s.db.path, err)
	}
	a.mu.Lock()
	if b.err == nil {
		a.events.append(b.events...)
	} else {
		s.dbFailed.Store(true)
		a.next, a.last = a.events.len(), GenesisHash
		if a.next > 0 {
			a.last = a.events.at(a.next - 1).Hash
		}
	}
	a.mu.Unlock()
	close(b.done)
	return b.err
}

// number gives events the ids after the n-th, the current time and hashes
// chained from prev; it returns the last hash.
func (s *Server) number(events []AuditEvent, n int, prev string) string {
	at := s.now().UTC()
	for i := range events {
		e := &events[i]
		e.ID = eventID(n + i + 1)
		e.at = at
		e.Timestamp = rfc3339Nano(at)
		e.Detail = maskDetail(e.Detail)
		e.PrevHash = prev
		e.Hash = e.computeHash()
		prev = e.Hash
	}
	return prev
}

// eventID is the id of the n-th event (1-based): "evt-000001".
func eventID(n int) string {
	var b [24]byte
	d := strconv.AppendInt(b[:0], int64(n), 10)
	out := append(make([]byte, 0, 4+max(6, len(d))), "evt-"...)
	for range 6 - len(d) {
		out = append(out, '0')
	}
	return string(append(out, d...))
}

// AuditEvents returns a copy of every audit event, oldest first.
func (s *Server) AuditEvents() []AuditEvent {
	s.audit.mu.RLock()
	defer s.audit.mu.RUnlock()
	return s.audit.events.copy()
}

func (s *Server) auditCount() int {
	s.audit.mu.RLock()
	defer s.audit.mu.RUnlock()
	return s.audit.events.len()
}

// eventChunks holds the audit events in chunks of a fixed size, so that
// appending never copies what is already there: one slice doubled and
// copied a run's whole trail (megabytes at thousands of agents), each time
// into fresh memory.
type eventChunks struct {
	chunks [][]AuditEvent
	n      int
}

const eventChunk = 1024

func (l *eventChunks) len() int { return l.n }

// at is the i-th event, 0-based.
func (l *eventChunks) at(i int) *AuditEvent { return &l.chunks[i/eventChunk][i%eventChunk] }

func (l *eventChunks) append(events ...AuditEvent) {
	for _, e := range events {
		if l.n%eventChunk == 0 {
			l.chunks = append(l.chunks, make([]AuditEvent, 0, eventChunk))
		}
		c := &l.chunks[len(l.chunks)-1]
		*c = append(*c, e)
		l.n++
	}
}

// all yields every event, oldest first.
func (l *eventChunks) all() iter.Seq[AuditEvent] {
	return func(yield func(AuditEvent) bool) {
		for _, c := range l.chunks {
			for _, e := range c {
				if !yield(e) {
					return
				}
			}
		}
	}
}

func (l *eventChunks) copy() []AuditEvent {
	out := make([]AuditEvent, 0, l.n)
	for _, c := range l.chunks {
		out = append(out, c...)
	}
	return out
}

// auditQuery holds the filters of GET /v1/audit/events.
type auditQuery struct {
	agentID, taskID, eventType, outcome string
	since, until                        *time.Time
	limit, offset                       int
}

// query returns one page of matching events and the number of matches.
func (s *Server) query(q auditQuery) ([]AuditEvent, int) {
	s.audit.mu.RLock()
	defer s.audit.mu.RUnlock()
	var matched []AuditEvent
	for e := range s.audit.events.all() {
		switch {
		case q.agentID != "" && e.AgentID != q.agentID,
			q.taskID != "" && e.TaskID != q.taskID,
			q.eventType != "" && e.EventType != q.eventType,
			q.outcome != "" && e.Outcome != q.outcome,
			q.since != nil && e.at.Before(*q.since),
			q.until != nil && e.at.After(*q.until):
			continue
		}
		matched = append(matched, e)
	}
	total := len(matched)
	if q.offset > 0 {
		if q.offset >= len(matched) {
			return []AuditEvent{}, total
		}
		matched = matched[q.offset:]
	}
	limit := q.limit
	if limit <= 0 {
		limit = 100
	}
	if limit > 1000 {
		limit = 1000
	}
	if len(matched) > limit {
		matched = matched[:limit]
	}
	if matched == nil {
		matched = []AuditEvent{}
	}
	return matched, total
}

// bracket formats a scope list as the real broker's details do: "[a b]".
func bracket(ss []string) string { return "[" + strings.Join(ss, " ") + "]" }
