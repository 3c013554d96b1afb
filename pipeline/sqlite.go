package pipeline

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"

	"modernc.org/sqlite"
)

// roDB is one read-only connection to a tenant's database, used through the
// SQLite driver itself rather than database/sql: a store makes one query
// or two on a single connection, and the pool, its opener goroutine and the
// reflective Scan of every value cost more than the queries (a fifth of a
// 1,000-tenant run's reads).
type roDB struct {
	mu   sync.Mutex // one query at a time; Close waits for it
	conn driver.Conn
}

// errClosed is a query on a closed store (see Store.dataErr).
var errClosed = errors.New("database is closed")

var sqliteDriver = &sqlite.Driver{}

// openRO opens path read-only and immutable: no locks, no journal, no writes
// possible.
func openRO(path string) (*roDB, error) {
	c, err := sqliteDriver.Open("file:" + path + "?mode=ro&immutable=1")
	if err != nil {
		return nil, err
	}
	if _, ok := c.(driver.QueryerContext); !ok {
		c.Close()
		return nil, errors.New("sqlite driver cannot query")
	}
	return &roDB{conn: c}, nil
}

// query runs q and calls each with every row's values (valid until the
// next call). ctx is checked before the query and every 256 rows, not
// handed to the driver: for a context that can end, the driver installs a
// progress handler and a watching goroutine per query and checks the
// context at every row, which cost more than these small queries.
func (d *roDB) query(ctx context.Context, q string, ncols int, each func([]driver.Value) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == nil {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rows, err := d.conn.(driver.QueryerContext).QueryContext(context.Background(), q, nil)
	if err != nil {
		return err
	}
	defer rows.Close()
	if n := len(rows.Columns()); n != ncols {
		return fmt.Errorf("query returned %d columns, want %d", n, ncols)
	}
	dest := make([]driver.Value, ncols)
	for n := 1; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		switch err := rows.Next(dest); {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		if err := each(dest); err != nil {
			return err
		}
	}
}

// Close closes the connection once any query under way is done.
func (d *roDB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == nil {
		return nil
	}
	err := d.conn.Close()
	d.conn = nil
	return err
}

// asFloat, asInt, asBool and asText read a column value of the expected
// affinity; anything else is a broken file.
func asFloat(v driver.Value) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("want a number, found %T", v)
}

func asInt(v driver.Value) (int64, error) {
	if x, ok := v.(int64); ok {
		return x, nil
	}
	return 0, fmt.Errorf("want an integer, found %T", v)
}

func asBool(v driver.Value) (bool, error) {
	n, err := asInt(v)
	return n != 0, err
}

func asText(v driver.Value) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	}
	return "", fmt.Errorf("want text, found %T", v)
}
