package pipeline

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"path/filepath"
	"testing"
)

// makeDB writes a database with the given statements.
func makeDB(t *testing.T, stmts ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestReadOnlyDB(t *testing.T) {
	path := makeDB(t, `CREATE TABLE v (a REAL, n INTEGER, s TEXT)`,
		`INSERT INTO v VALUES (1.5, 2, 'x'), (3, 0, 'y')`)
	db, err := openRO(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = db.query(ctx, `SELECT a, n, s FROM v ORDER BY rowid`, 3, func(v []driver.Value) error {
		a, err1 := asFloat(v[0])
		b, err2 := asBool(v[1])
		s, err3 := asText(v[2])
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		got = append(got, s)
		if (s == "x" && (a != 1.5 || !b)) || (s == "y" && (a != 3 || b)) {
			t.Errorf("row %s: %v %v", s, a, b)
		}
		return nil
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("rows %v, %v", got, err)
	}
	// A column of another type is an error, not a zero.
	err = db.query(ctx, `SELECT s FROM v`, 1, func(v []driver.Value) error { _, err := asFloat(v[0]); return err })
	if err == nil {
		t.Fatal("text read as a number")
	}
	// So is a query of another shape.
	if err := db.query(ctx, `SELECT a, n FROM v`, 3, func([]driver.Value) error { return nil }); err == nil {
		t.Fatal("two columns accepted for three")
	}
	// Read-only: writes fail.
	if err := db.query(ctx, `INSERT INTO v VALUES (0, 0, 'z')`, 0, func([]driver.Value) error { return nil }); err == nil {
		t.Fatal("a write went through a read-only store")
	}
	// A cancelled context stops a query before it starts.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.query(cctx, `SELECT a FROM v`, 1, func([]driver.Value) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.query(ctx, `SELECT a FROM v`, 1, func([]driver.Value) error { return nil }); !errors.Is(err, errClosed) {
		t.Fatalf("closed: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// A store whose meta row has the wrong types is an unusable file.
func TestOpenStoreBadMeta(t *testing.T) {
	path := makeDB(t, `CREATE TABLE meta (tenant TEXT, kind TEXT, rows TEXT, seed INTEGER)`,
		`INSERT INTO meta VALUES ('hospital', 'hospital', 'many', 1)`)
	if _, _, err := openExisting(ctx, path); err == nil {
		t.Fatal("a meta row with text rows was accepted")
	}
	empty := makeDB(t, `CREATE TABLE meta (tenant TEXT, kind TEXT, rows INTEGER, seed INTEGER)`)
	if _, _, err := openExisting(ctx, empty); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("empty meta: %v", err)
	}
}
