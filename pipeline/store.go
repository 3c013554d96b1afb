package pipeline

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/scope"

	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"
)

// Validator asks the broker whether a token is valid and what it claims.
// *agentwrit.App satisfies it.
type Validator interface {
	Validate(ctx context.Context, token string) (*agentwrit.ValidateResult, error)
}

// DeniedError is a store's refusal. Nothing was read or written.
type DeniedError struct {
	Access Access
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%s store denied %s by %s: %s", e.Access.Target, e.Access.Op.Label(), e.Access.Actor, e.Access.Reason)
}

// DataError says a tenant's data file cannot be used.
type DataError struct {
	Path string
	Err  error
}

func (e *DataError) Error() string {
	return fmt.Sprintf("data file %s is unusable (%v); delete it to regenerate", e.Path, oneLine(e.Err))
}

func (e *DataError) Unwrap() error { return e.Err }

// Store is one tenant's guarded data: its SQLite analytics database and its
// reports directory. Every operation takes the caller's token; the store has
// the broker validate it and checks the validated scope covers the operation.
type Store struct {
	tenant     Tenant
	spec       kindSpec
	path       string
	reportsDir string
	db         *roDB
	rows       int // as recorded in the file
	validator  Validator
	now        func() time.Time
	emit       func(Access)
	dirs       *reportSync
}

// StoreConfig says where a store keeps its data.
type StoreConfig struct {
	DataDir    string
	ReportsDir string
	Seed       int64
	Rows       int // rows to generate on first use
	Validator  Validator
	Now        func() time.Time
	// Emit receives every access decision the store makes.
	Emit func(Access)
	// dirs makes report writes durable, batched in run-all (nil: each at once).
	dirs *reportSync
}

// OpenStore opens (creating and filling on first use) the tenant's database.
// A file generated for other rows or another seed is regenerated; a file that
// is not a valid store gives a *DataError.
func OpenStore(ctx context.Context, t Tenant, cfg StoreConfig) (*Store, error) {
	spec, ok := kinds[t.Kind]
	if !ok {
		return nil, fmt.Errorf("tenant %s: unknown kind %q", t.ID, t.Kind)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Emit == nil {
		cfg.Emit = func(Access) {}
	}
	s := &Store{tenant: t, spec: spec, path: filepath.Join(cfg.DataDir, t.ID+".db"),
		reportsDir: filepath.Join(cfg.ReportsDir, t.ID), validator: cfg.Validator, now: cfg.Now, emit: cfg.Emit, dirs: cfg.dirs}
	want := meta{Tenant: t.ID, Kind: string(t.Kind), Rows: cfg.Rows, Seed: cfg.Seed}
	if _, err := os.Stat(s.path); err == nil {
		db, got, err := openExisting(ctx, s.path)
		if err != nil {
			return nil, s.dataErr(ctx, err)
		}
		if got == want {
			s.db, s.rows = db, got.Rows
			return s, nil
		}
		db.Close()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := s.generate(ctx, want); err != nil {
		return nil, err
	}
	db, got, err := openExisting(ctx, s.path)
	if err != nil {
		return nil, s.dataErr(ctx, err)
	}
	s.db, s.rows = db, got.Rows
	return s, nil
}

type meta struct {
	Tenant string
	Kind   string
	Rows   int
	Seed   int64
}

func openExisting(ctx context.Context, path string) (*roDB, meta, error) {
	var m meta
	db, err := openRO(path)
	if err != nil {
		return nil, m, err
	}
	found := false
	err = db.query(ctx, `SELECT tenant, kind, rows, seed FROM meta`, 4, func(v []driver.Value) error {
		if found {
			return errors.New("meta has more than one row")
		}
		found = true
		var err error
		var rows int64
		if m.Tenant, err = asText(v[0]); err != nil {
			return err
		}
		if m.Kind, err = asText(v[1]); err != nil {
			return err
		}
		if rows, err = asInt(v[2]); err != nil {
			return err
		}
		m.Rows = int(rows)
		m.Seed, err = asInt(v[3])
		return err
	})
	if err == nil && !found {
		err = sql.ErrNoRows
	}
	if err != nil {
		db.Close()
		return nil, m, err
	}
	return db, m, nil
}

// generate writes the tenant's rows into a temporary file and renames it into
// place, so an interrupted generation never leaves a half-filled store.
func (s *Store) generate(ctx context.Context, m meta) error {
	tmp := fmt.Sprintf("%s.tmp-%d", s.path, os.Getpid())
	os.Remove(tmp)
	defer os.Remove(tmp)
	db, err := sql.Open("sqlite", "file:"+tmp+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	c := s.spec.cols
	stmts := []string{
		`CREATE TABLE meta (tenant TEXT NOT NULL, kind TEXT NOT NULL, rows INTEGER NOT NULL, seed INTEGER NOT NULL)`,
		fmt.Sprintf(`CREATE TABLE %s (id INTEGER PRIMARY KEY, %s REAL NOT NULL, %s REAL NOT NULL, %s INTEGER NOT NULL)`, s.spec.table, c[0], c[1], c[2]),
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create %s: %w", s.path, err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Multi-row inserts: far fewer statement executions than one per row.
	const batch = 200
	buf := make([]any, 0, batch*3)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		q := fmt.Sprintf(`INSERT INTO %s (%s, %s, %s) VALUES `, s.spec.table, c[0], c[1], c[2]) +
			strings.TrimSuffix(strings.Repeat("(?,?,?),", len(buf)/3), ",")
		_, err := tx.ExecContext(ctx, q, buf...)
		buf = buf[:0]
		return err
	}
	err = generate(s.tenant.Kind, s.tenant.ID, m.Seed, m.Rows, func(r Row) error {
		buf = append(buf, r.A, r.B, r.Flag)
		if len(buf) == cap(buf) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, `INSERT INTO meta VALUES (?, ?, ?, ?)`, m.Tenant, m.Kind, m.Rows, m.Seed)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return fmt.Errorf("generate %s: %w", s.path, err)
	}
	if err := db.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

// dataErr classifies a failed database call: a *DataError ("delete it to
// regenerate") only when the file itself is at fault, not when the call was
// cancelled or the store was closed under it.
func (s *Store) dataErr(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s store: %w", s.tenant.ID, ctx.Err())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s store: %w", s.tenant.ID, err)
	case errors.Is(err, errClosed):
		return fmt.Errorf("%s store: closed while in use: %w", s.tenant.ID, err)
	}
	return &DataError{Path: s.path, Err: err}
}

// Close closes the database.
func (s *Store) Close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Tenant is the store's tenant.
func (s *Store) Tenant() Tenant { return s.tenant }

// authorize validates token with the broker and checks that its claimed scope
// covers op on this tenant. It emits and returns the decision.
func (s *Store) authorize(ctx context.Context, token, actor string, op Op) (Access, error) {
	required := []string{s.tenant.ScopeFor(op)}
	a := Access{Actor: actor, Target: s.tenant.ID, Op: op, Layer: LayerStore, Required: required}
	res, err := s.validator.Validate(ctx, token)
	a.Time = s.now()
	if err != nil {
		// The broker could not answer: fail closed, but this is an error,
		// not a decision.
		return a, fmt.Errorf("%s store: validate token: %w", s.tenant.ID, err)
	}
	if !res.Valid || res.Claims == nil {
		// Who presented it, for the record: the token's own (unverified,
		// now untrusted) claims.
		if c, err := agentwrit.ParseClaims(token); err == nil {
			a.AgentID, a.JTI = c.Sub, c.JTI
		}
		a.Code = "token_invalid"
		a.Reason = "broker refused the token: " + res.Error
		a.Decision = scope.Decision{Required: required}
		s.emit(a)
		return a, &DeniedError{Access: a}
	}
	a.AgentID, a.JTI, a.Held = res.Claims.Sub, res.Claims.JTI, res.Claims.Scope
	a.Decision = scope.Check(required, res.Claims.Scope)
	a.Allowed = a.Decision.Allowed
	a.Reason = a.Decision.Reason()
	if !a.Allowed {
		a.Code = "scope"
		s.emit(a)
		return a, &DeniedError{Access: a}
	}
	s.emit(a)
	return a, nil
}

// Read returns every row of the tenant's analytics, if token allows reading.
func (s *Store) Read(ctx context.Context, token, actor string) ([]Row, Access, error) {
	a, err := s.authorize(ctx, token, actor, OpRead)
	if err != nil {
		return nil, a, err
	}
	c := s.spec.cols
	out := make([]Row, 0, s.rows)
	err = s.db.query(ctx, fmt.Sprintf(`SELECT %s, %s, %s FROM %s ORDER BY id`, c[0], c[1], c[2], s.spec.table), 3, func(v []driver.Value) error {
		var r Row
		var err error
		if r.A, err = asFloat(v[0]); err != nil {
			return err
		}
		if r.B, err = asFloat(v[1]); err != nil {
			return err
		}
		if r.Flag, err = asBool(v[2]); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, a, s.dataErr(ctx, err)
	}
	return out, a, nil
}

// Count returns the number of rows, if token allows reading: the probe's read.
func (s *Store) Count(ctx context.Context, token, actor string) (int, Access, error) {
	a, err := s.authorize(ctx, token, actor, OpRead)
	if err != nil {
		return 0, a, err
	}
	var n int64
	err = s.db.query(ctx, `SELECT count(*) FROM `+s.spec.table, 1, func(v []driver.Value) error {
		var err error
		n, err = asInt(v[0])
		return err
	})
	if err != nil {
		return 0, a, s.dataErr(ctx, err)
	}
	return int(n), a, nil
}

// WriteReport writes v as indented JSON to reports/<tenant>/<name>, if token
// allows writing reports. The write is atomic and durable (see writeAtomic):
// another file in the same directory is written, synced and renamed over (or
// exchanged with) the target, then the directory is synced (see reportSync).
// It returns the path and the bytes written.
func (s *Store) WriteReport(ctx context.Context, token, actor, name string, v any) (string, []byte, Access, error) {
	a, err := s.authorize(ctx, token, actor, OpWrite)
	if err != nil {
		return "", nil, a, err
	}
	var data []byte
	if r, ok := v.(Report); ok {
		data, err = r.indentJSON()
	} else {
		data, err = json.MarshalIndent(v, "", "  ")
	}
	if err != nil {
		return "", nil, a, err
	}
	data = append(data, '\n')
	path := filepath.Join(s.reportsDir, name)
	if err := writeAtomic(path, data, s.dirs); err != nil {
		return "", nil, a, fmt.Errorf("write report %s: %w", path, oneLineErr(err))
	}
	return path, data, a, nil
}

// oneLine flattens an error for a single-line message.
func oneLine(err error) string {
	if err == nil {
		return ""
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// oneLineErr drops the *PathError wrapping that repeats the path.
func oneLineErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// Report is the JSON document a load stage writes.
type Report struct {
	Tenant      string             `json:"tenant"`
	Name        string             `json:"name"`
	DataType    string             `json:"data_type"`
	Rows        int                `json:"rows"`
	Metrics     map[string]string  `json:"metrics"`
	MetricsRaw  map[string]float64 `json:"metrics_raw"`
	AgentID     string             `json:"agent_spiffe_id"`
	TaskID      string             `json:"task_id"`
	GeneratedAt string             `json:"generated_at"`
}

func newReport(t Tenant, rows int, m *Metrics, agentID, taskID string, now time.Time) Report {
	return Report{Tenant: t.ID, Name: t.Name, DataType: t.DataType, Rows: rows, Metrics: m.Values,
		MetricsRaw: m.Raw, AgentID: agentID, TaskID: taskID, GeneratedAt: now.UTC().Format(time.RFC3339)}
}
