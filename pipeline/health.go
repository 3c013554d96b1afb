package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
)

// Health is the broker's answer to GET /v1/health (§5).
type Health struct {
	Status      string
	Version     string
	DBConnected bool
	Events      int // audit events the broker holds
	At          time.Time
}

// healthTimeout bounds one health call: a frozen broker must show as such
// within a few seconds.
const healthTimeout = 3 * time.Second

// Health asks the broker whether it is alive. An error means the broker did
// not answer (or answered garbage): the console shows it as unreachable.
func (r *Runner) Health(ctx context.Context) (Health, error) {
	ctx, done := r.work(ctx)
	defer done()
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	h, err := r.cfg.App.Health(ctx)
	if err != nil {
		return Health{At: r.cfg.Now()}, err
	}
	return Health{Status: h.Status, Version: h.Version, DBConnected: h.DBConnected, Events: h.AuditEventsCount, At: r.cfg.Now()}, nil
}

// IsUnreachable reports whether err says the broker could not be reached or
// did not answer: the kind of failure after which the console checks the
// broker's health again.
func IsUnreachable(err error) bool {
	var te *agentwrit.TransportError
	return errors.As(err, &te) && !errors.Is(err, context.Canceled)
}

// Cause is the one-line cause of err, for the start of an error line: the
// broker's own typed error (unreachable, refused, rate limited), a store's
// refusal or a data-file problem, rather than the chain of operations that
// led to it. It is err's text when nothing more specific is known.
func Cause(err error) string {
	if err == nil {
		return ""
	}
	var (
		te     *agentwrit.TransportError
		ae     *agentwrit.APIError
		denied *DeniedError
		de     *DataError
	)
	switch {
	case errors.As(err, &te):
		return oneLine(te)
	case errors.As(err, &ae):
		return oneLine(ae)
	case errors.As(err, &denied):
		return oneLine(denied)
	case errors.As(err, &de):
		return oneLine(de)
	case errors.Is(err, ErrShuttingDown):
		return ErrShuttingDown.Error()
	}
	return oneLine(err)
}
