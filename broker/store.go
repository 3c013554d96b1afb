package broker

import (
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"
)

// The database keeps everything a restart must not lose. Memory stays the
// source of every read; the database is written, never read, after New
// loads it, so the in-memory path costs nothing when there is none.
//
// Each state change and the audit events that report it are in one
// transaction (see Server.recordAll, which also groups concurrent changes
// into one commit), so the chain never describes a change the tables lack,
// nor the reverse, whenever the process dies.
const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS apps (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL UNIQUE,
  secret_sha256 BLOB NOT NULL, scopes TEXT NOT NULL, token_ttl INTEGER NOT NULL, status TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS launch_tokens (
  token_sha256 BLOB PRIMARY KEY, agent_name TEXT NOT NULL, allowed_scope TEXT NOT NULL,
  max_ttl INTEGER NOT NULL, single_use INTEGER NOT NULL, expires_at TEXT NOT NULL,
  consumed INTEGER NOT NULL, app_id TEXT NOT NULL, created_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY, public_key BLOB NOT NULL, scope TEXT NOT NULL,
  task_id TEXT NOT NULL, orch_id TEXT NOT NULL, app_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS revocations (level TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (level, target));
CREATE TABLE IF NOT EXISTS delegations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, delegator TEXT NOT NULL, delegate TEXT NOT NULL,
  scope TEXT NOT NULL, depth INTEGER NOT NULL, chain_hash TEXT NOT NULL, delegated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_events (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL, timestamp TEXT NOT NULL, event_type TEXT NOT NULL,
  agent_id TEXT NOT NULL, task_id TEXT NOT NULL, orch_id TEXT NOT NULL, detail TEXT NOT NULL,
  resource TEXT NOT NULL, outcome TEXT NOT NULL, deleg_depth INTEGER NOT NULL,
  deleg_chain_hash TEXT NOT NULL, bytes_transferred INTEGER NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL);
`

// errDB marks a failed database write; the change is not in the chain.
var errDB = errors.New("database write failed")

// ErrDBInUse reports a database another broker process holds open.
var ErrDBInUse = errors.New("database is in use by another process")

// write is one statement of a state change, run inside the transaction
// that also inserts the change's audit events.
type write func(tx *sql.Tx) error

// store is the SQLite database of a Server with Config.DBPath.
type store struct {
	db          *sql.DB
	path        string
	insertEvent *sql.Stmt
}

// openStore opens (creating if needed) the database at path. The
// connection holds an exclusive lock, so a second broker on the same file
// fails here rather than forking the audit chain; WAL with synchronous=FULL
// makes each commit durable before the reply that depends on it.
func openStore(path string) (*store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=locking_mode(EXCLUSIVE)&_pragma=busy_timeout(200)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // writes are serialised by the commit lock anyway
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	// The schema write takes the exclusive lock and keeps it until Close.
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		if strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "busy") {
			return nil, ErrDBInUse
		}
		return nil, err
	}
	st := &store{db: db, path: path}
	st.insertEvent, err = db.Prepare(`INSERT INTO audit_events (seq, id, timestamp, event_type, agent_id, task_id,
		orch_id, detail, resource, outcome, deleg_depth, deleg_chain_hash, bytes_transferred, hash, prev_hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		db.Close()
		return nil, err
	}
	return st, nil
}

func (st *store) close() error {
	st.insertEvent.Close()
	return st.db.Close()
}

// save runs writes and inserts events (the first one at position seq, 1-based)
// in one transaction.
func (st *store) save(seq int, events []AuditEvent, writes []write) error {
	tx, err := st.db.Begin()
	if err != nil {
		return err
	}
	for _, w := range writes {
		if w == nil {
			continue
		}
		if err := w(tx); err != nil {
			tx.Rollback()
			return err
		}
	}
	ins := tx.Stmt(st.insertEvent)
	for i, e := range events {
		if _, err := ins.Exec(seq+i, e.ID, e.Timestamp, e.EventType, e.AgentID, e.TaskID, e.OrchID, e.Detail,
			e.Resource, e.Outcome, e.DelegDepth, e.DelegChainHash, e.BytesTransferred, e.Hash, e.PrevHash); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// signingKey returns the stored Ed25519 key, storing a new one first if
// the database has none.
func (st *store) signingKey() (ed25519.PrivateKey, error) {
	var seed []byte
	err := st.db.QueryRow(`SELECT value FROM meta WHERE key = 'signing_key_seed'`).Scan(&seed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, priv, gerr := ed25519.GenerateKey(nil)
		if gerr != nil {
			return nil, gerr
		}
		if _, err := st.db.Exec(`INSERT INTO meta (key, value) VALUES ('signing_key_seed', ?)`, priv.Seed()); err != nil {
			return nil, err
		}
		return priv, nil
	case err != nil:
		return nil, err
	case len(seed) != ed25519.SeedSize:
		return nil, fmt.Errorf("stored signing key has %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// load fills s's maps and audit log from the database and verifies the
// audit chain end to end. Delegations are a record only: a delegated token
// carries its own chain, so nothing needs them back at start.
func (st *store) load(s *Server) error {
	if err := st.loadApps(s); err != nil {
		return fmt.Errorf("apps: %w", err)
	}
	if err := st.loadLaunchTokens(s); err != nil {
		return fmt.Errorf("launch tokens: %w", err)
	}
	if err := st.loadAgents(s); err != nil {
		return fmt.Errorf("agents: %w", err)
	}
	if err := st.loadRevocations(s); err != nil {
		return fmt.Errorf("revocations: %w", err)
	}
	if err := st.loadAudit(s); err != nil {
		return fmt.Errorf("audit chain: %w", err)
	}
	return nil
}

func (st *store) loadApps(s *Server) error {
	rows, err := st.db.Query(`SELECT id, name, client_id, secret_sha256, scopes, token_ttl, status, created_at, updated_at
		FROM apps ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a app
		var hash []byte
		var scopes, created, updated string
		if err := rows.Scan(&a.id, &a.name, &a.clientID, &hash, &scopes, &a.tokenTTL, &a.status, &created, &updated); err != nil {
			return err
		}
		if len(hash) != sha256.Size {
			return fmt.Errorf("app %s: secret hash has %d bytes", a.id, len(hash))
		}
		copy(a.secretHash[:], hash)
		if err := errors.Join(json.Unmarshal([]byte(scopes), &a.scopes), parseTime(created, &a.createdAt),
			parseTime(updated, &a.updatedAt)); err != nil {
			return fmt.Errorf("app %s: %w", a.id, err)
		}
		p := &a
		s.apps[a.id], s.byClient[a.clientID], s.appNames[a.name] = p, p, true
		s.appOrder = append(s.appOrder, p)
	}
	return rows.Err()
}

func (st *store) loadLaunchTokens(s *Server) error {
	rows, err := st.db.Query(`SELECT token_sha256, agent_name, allowed_scope, max_ttl, single_use, expires_at, consumed,
		app_id, created_by FROM launch_tokens`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var lt launchToken
		var key []byte
		var scopes, expires string
		if err := rows.Scan(&key, &lt.agentName, &scopes, &lt.maxTTL, &lt.singleUse, &expires, &lt.consumed,
			&lt.appID, &lt.createdBy); err != nil {
			return err
		}
		if len(key) != sha256.Size {
			return fmt.Errorf("launch token key has %d bytes", len(key))
		}
		if err := errors.Join(json.Unmarshal([]byte(scopes), &lt.allowedScope), parseTime(expires, &lt.expiresAt)); err != nil {
			return err
		}
		s.launch[[sha256.Size]byte(key)] = &lt
	}
	return rows.Err()
}

func (st *store) loadAgents(s *Server) error {
	rows, err := st.db.Query(`SELECT id, public_key, scope, task_id, orch_id, app_id FROM agents`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a agent
		var pk []byte
		var scopes string
		if err := rows.Scan(&a.id, &pk, &scopes, &a.taskID, &a.orchID, &a.appID); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(scopes), &a.scope); err != nil {
			return fmt.Errorf("agent %s: %w", a.id, err)
		}
		a.publicKey = ed25519.PublicKey(pk)
		s.agents[a.id] = &a
	}
	return rows.Err()
}

func (st *store) loadRevocations(s *Server) error {
	rows, err := st.db.Query(`SELECT level, target FROM revocations`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var level, target string
		if err := rows.Scan(&level, &target); err != nil {
			return err
		}
		m := s.revoked[level]
		if m == nil {
			return fmt.Errorf("unknown revocation level %q", level)
		}
		m[target] = struct{}{}
	}
	return rows.Err()
}

// loadAudit reads the chain in order and checks every link: each event's
// position, its prev_hash against its predecessor's hash, and its hash
// against its fields.
func (st *store) loadAudit(s *Server) error {
	rows, err := st.db.Query(`SELECT seq, id, timestamp, event_type, agent_id, task_id, orch_id, detail, resource, outcome,
		deleg_depth, deleg_chain_hash, bytes_transferred, hash, prev_hash FROM audit_events ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	prev := GenesisHash
	for rows.Next() {
		var seq int
		var e AuditEvent
		if err := rows.Scan(&seq, &e.ID, &e.Timestamp, &e.EventType, &e.AgentID, &e.TaskID, &e.OrchID, &e.Detail,
			&e.Resource, &e.Outcome, &e.DelegDepth, &e.DelegChainHash, &e.BytesTransferred, &e.Hash, &e.PrevHash); err != nil {
			return err
		}
		switch n := s.audit.events.len() + 1; {
		case seq != n || e.ID != eventID(n):
			return fmt.Errorf("event %d is %s at position %d", n, e.ID, seq)
		case e.PrevHash != prev:
			return fmt.Errorf("%s: prev_hash does not match the previous event's hash", e.ID)
		case e.computeHash() != e.Hash:
			return fmt.Errorf("%s: hash does not match its fields", e.ID)
		}
		if err := parseTime(e.Timestamp, &e.at); err != nil {
			return fmt.Errorf("%s: %w", e.ID, err)
		}
		prev = e.Hash
		s.audit.events.append(e)
	}
	s.audit.next, s.audit.last = s.audit.events.len(), prev
	return rows.Err()
}

func parseTime(v string, t *time.Time) error {
	p, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return err
	}
	*t = p
	return nil
}

func jsonList(ss []string) string { return string(mustJSON(ss)) }

// The writes below exist only with a database: without one they are nil
// and cost nothing. Each copies what it captures inside the database branch,
// so that the in-memory path does not move its arguments to the heap.

// wApp writes app id as memory holds it when the transaction runs. Writes
// are serialised in audit order, so the last one leaves the row as memory
// has it, whatever order concurrent updates took.
func (s *Server) wApp(id string) write {
	if s.db == nil {
		return nil
	}
	return func(tx *sql.Tx) error {
		s.mu.RLock()
		a := *s.apps[id]
		s.mu.RUnlock()
		_, err := tx.Exec(`INSERT INTO apps (id, name, client_id, secret_sha256, scopes, token_ttl, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET secret_sha256 = excluded.secret_sha256, scopes = excluded.scopes,
			token_ttl = excluded.token_ttl, status = excluded.status, updated_at = excluded.updated_at`,
			a.id, a.name, a.clientID, a.secretHash[:], jsonList(a.scopes), a.tokenTTL, a.status,
			rfc3339Nano(a.createdAt), rfc3339Nano(a.updatedAt))
		return err
	}
}

func (s *Server) wLaunch(key [sha256.Size]byte, lt launchToken) write {
	if s.db == nil {
		return nil
	}
	k, v := key, lt
	return func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO launch_tokens (token_sha256, agent_name, allowed_scope, max_ttl, single_use,
			expires_at, consumed, app_id, created_by) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
			k[:], v.agentName, jsonList(v.allowedScope), v.maxTTL, v.singleUse, rfc3339Nano(v.expiresAt),
			v.appID, v.createdBy)
		return err
	}
}

func (s *Server) wConsume(key [sha256.Size]byte) write {
	if s.db == nil {
		return nil
	}
	k := key
	return func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE launch_tokens SET consumed = 1 WHERE token_sha256 = ?`, k[:])
		return err
	}
}

func (s *Server) wAgent(a agent) write {
	if s.db == nil {
		return nil
	}
	v := a
	return func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR REPLACE INTO agents (id, public_key, scope, task_id, orch_id, app_id)
			VALUES (?, ?, ?, ?, ?, ?)`, v.id, []byte(v.publicKey), jsonList(v.scope), v.taskID, v.orchID, v.appID)
		return err
	}
}

func (s *Server) wRevoke(level, target string) write {
	if s.db == nil {
		return nil
	}
	return func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR IGNORE INTO revocations (level, target) VALUES (?, ?)`, level, target)
		return err
	}
}

func (s *Server) wDelegation(delegator, delegate string, scope []string, depth int, chainHash string, at time.Time) write {
	if s.db == nil {
		return nil
	}
	return func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO delegations (delegator, delegate, scope, depth, chain_hash, delegated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, delegator, delegate, jsonList(scope), depth, chainHash, rfc3339Nano(at))
		return err
	}
}
