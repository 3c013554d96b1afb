package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/tenantui/tenantui/pipeline"
)

// runMemoryLimit is the headless run's soft memory limit, unless GOMEMLIMIT
// sets one: the Go heap may otherwise grow to twice what is live, and a
// 10,000-tenant run keeps about 75 MB live (the broker's audit chain, every
// agent's record). Near the limit the collector runs more often instead.
const runMemoryLimit = 120 << 20

// runGCPercent is the GOGC of the headless run and the console, unless GOGC
// sets one: their heaps are small, and at the default 100 the collector took
// about a tenth of a 1,000-tenant run's CPU (0.69 s median at 100, 0.63 s
// at 200, 0.64 s at 400, 8 runs each); the headless run's memory limit
// above still bounds its heap.
const runGCPercent = 200

// tuneGC sets runGCPercent unless GOGC is set.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(runGCPercent)
	}
}

// cmdRun is the headless run. Whatever ends it (the end, a failure, SIGINT,
// SIGTERM, SIGHUP), the runner's Shutdown releases every credential it
// obtained; the exit is 0 only if none is left live.
func cmdRun(ctx context.Context, in *interrupts, args []string, stdout, stderr io.Writer) (retErr error) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(runMemoryLimit)
	}
	tuneGC()
	var jsonOut, matrix, audit *bool
	c, tenants, err := parseCommon("run", args, stderr, func(fs *flag.FlagSet) {
		jsonOut = fs.Bool("json", false, "print one JSON object per event instead of the transcript")
		matrix = fs.Bool("matrix", false, "also probe every actor × target × read/write (beyond 64 tenants: each actor's own tenant and 3 others, seeded)")
		audit = fs.Bool("audit", false, "print the run's audit trail and verify its hash chain")
	})
	if err != nil {
		return err
	}
	notify := func(msg string) { fmt.Fprintln(stderr, "tenantui: "+msg) }
	sess, elog, finish, err := c.connectLogged(ctx, notify)
	if err != nil {
		return err
	}
	// After every other deferred step (the release of any agent left) has
	// emitted its events; a log write error fails the run.
	defer finish(&retErr)

	var out eventSink
	if *jsonOut {
		out = newJSONSink(stdout)
	} else {
		out = newTranscript(stdout, tenants)
	}
	r, err := pipeline.New(pipeline.Config{
		App: sess.App, Admin: sess.Admin, NoAdminWhy: sess.NoAdminWhy, Tenants: tenants,
		DataDir: c.data, ReportsDir: c.reports, TTL: c.ttl, Seed: c.seed, Scale: c.scale,
		Concurrency: c.concurrencyFor(sess), Emit: withLog(elog, out.event),
	})
	if err != nil {
		return usageErr("%v", err)
	}
	defer r.Close()
	in.reportLive(r.LiveCredentials)
	// Whatever happens, no credential outlives the run.
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		res := r.Shutdown(sctx)
		cancel()
		switch {
		case !res.OK() && retErr != nil:
			retErr = failErr("%s; %s", retErr.Error(), res.Summary())
		case !res.OK():
			retErr = failErr("%s", res.Summary())
		case ctx.Err() != nil:
			// Interrupted, and nothing left live: that is a clean way out.
			fmt.Fprintf(stderr, "tenantui: interrupted: %s\n", res.Summary())
			retErr = nil
		}
	}()

	if c.autoRenew {
		r.StartAutoRenew() // stops when the runner shuts down
	}
	out.header(sess)
	started := time.Now().Add(-2 * time.Second) // the run's own audit events; a little slack for clock skew
	runErr := r.RunAll(ctx)
	out.flush()
	if ctx.Err() != nil {
		return failErr("interrupted")
	}
	iso, isoErr := r.IsolationCheck(ctx)
	if isoErr == nil {
		out.isolation(iso)
	}
	var mx *pipeline.MatrixResult
	if *matrix && isoErr == nil {
		m, err := r.Matrix(ctx)
		if err != nil {
			isoErr = err
		} else {
			mx = &m
			out.matrix(m)
		}
	}
	chainOK := true
	if *audit {
		res, err := r.Audit(ctx, pipeline.AuditFilter{Since: started})
		if err != nil {
			return failErr("%s", oneLine(err.Error()))
		}
		chainOK = res.ChainOK
		out.audit(res)
	}
	switch {
	case runErr != nil:
		return failErr("pipeline failed: %s", firstLine(runErr))
	case isoErr != nil:
		return failErr("isolation check failed to run: %s", oneLine(isoErr.Error()))
	case !iso.Passed:
		return failErr("cross-tenant isolation FAILED")
	case mx != nil && mx.Failures > 0:
		return failErr("isolation matrix: %d probes decided wrongly", mx.Failures)
	case !chainOK:
		return failErr("audit hash chain is broken")
	}
	out.done()
	return nil
}

// withLog also writes every event to l, when there is one.
func withLog(l *pipeline.EventLog, emit func(pipeline.Event)) func(pipeline.Event) {
	if l == nil {
		return emit
	}
	return func(ev pipeline.Event) {
		l.Write(ev)
		emit(ev)
	}
}

// connectLogged opens --log (if given) and connects to the broker. finish
// closes both, the log last, and turns a log write error into *retErr if
// nothing failed before: defer it before anything that emits events.
func (c *common) connectLogged(ctx context.Context, notify func(string)) (sess *session, elog *pipeline.EventLog, finish func(retErr *error), err error) {
	if elog, err = c.openLog(); err != nil {
		return nil, nil, nil, err
	}
	if sess, err = connect(ctx, c.broker, c.tls, notify); err != nil {
		closeLog(elog)
		return nil, nil, nil, err
	}
	return sess, elog, func(retErr *error) {
		sess.Close()
		if err := closeLog(elog); err != nil && *retErr == nil {
			*retErr = err
		}
	}, nil
}

// closeLog closes the event log; a write error fails the command.
func closeLog(l *pipeline.EventLog) error {
	if l == nil {
		return nil
	}
	if err := l.Close(); err != nil {
		return failErr("%s", oneLine(err.Error()))
	}
	return nil
}

// firstLine reports the first of joined errors and how many more there are.
func firstLine(err error) string {
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		errs := multi.Unwrap()
		if len(errs) > 1 {
			return fmt.Sprintf("%s (and %d more)", oneLine(errs[0].Error()), len(errs)-1)
		}
	}
	return oneLine(err.Error())
}

// eventSink renders a run.
type eventSink interface {
	header(*session)
	event(pipeline.Event)
	flush()
	isolation(pipeline.IsolationResult)
	matrix(pipeline.MatrixResult)
	audit(pipeline.AuditResult)
	done()
}

// transcript prints the sample's transcript with real values. Tenants run
// concurrently, so each tenant's lines are buffered and printed in catalog
// order as soon as every earlier tenant is done.
type transcript struct {
	w        io.Writer
	mu       sync.Mutex
	order    []string
	names    map[string]pipeline.Tenant
	buf      map[string]*strings.Builder
	finished map[string]bool
	next     int
	started  bool
}

func newTranscript(w io.Writer, ts []pipeline.Tenant) *transcript {
	t := &transcript{w: w, names: map[string]pipeline.Tenant{}, buf: map[string]*strings.Builder{}, finished: map[string]bool{}}
	for _, x := range ts {
		t.order = append(t.order, x.ID)
		t.names[x.ID] = x
	}
	return t
}

func (t *transcript) header(s *session) {
	fmt.Fprintln(t.w, "Nightly Analytics Pipeline")
	fmt.Fprintln(t.w, strings.Repeat("=", 55))
	fmt.Fprintf(t.w, "Broker: %s (%s, AgentWrit %s), app %s\n\n", s.URL, s.Mode, s.Version, shortID(s.ClientID))
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = "'" + x + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func (t *transcript) event(ev pipeline.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started && ev.Tenant == "" {
		return
	}
	tn, ok := t.names[ev.Tenant]
	if !ok || t.finished[ev.Tenant] {
		return
	}
	b := t.buf[ev.Tenant]
	if b == nil {
		b = &strings.Builder{}
		t.buf[ev.Tenant] = b
		fmt.Fprintf(b, "── %s (%s) ──\n  Data type: %s\n", tn.Name, tn.ID, tn.DataType)
	}
	switch ev.Kind {
	case pipeline.EventAgentCreated:
		a := ev.Agent
		fmt.Fprintf(b, "  Agent: %s\n  Scope: %s\n  Expires: %ds\n", a.SPIFFEID, quoteList(a.Scope), int(a.ExpiresAt.Sub(a.IssuedAt).Seconds()))
	case pipeline.EventStageFinished:
		switch ev.Stage {
		case pipeline.StageExtract:
			fmt.Fprintf(b, "  [EXTRACT] Pulled %s: %s rows from %s\n", tn.DataType, groupInt(ev.Rows), ev.Report)
		case pipeline.StageTransform:
			fmt.Fprintf(b, "  [TRANSFORM] Processed data for report: %s\n", ev.Metrics)
		case pipeline.StageLoad:
			fmt.Fprintf(b, "  [LOAD] Report written to %s\n", ev.Report)
		case pipeline.StageRelease:
			fmt.Fprintf(b, "  [RELEASE] Agent released for %s\n", tn.ID)
			t.finish(ev.Tenant)
		}
	case pipeline.EventDecision:
		if a := ev.Access; a != nil && !a.Allowed {
			fmt.Fprintf(b, "  [DENIED] %s %s of %s refused by the %s layer: %s\n", a.Actor, a.Op.Label(), a.Target, a.Layer, a.Reason)
		}
	case pipeline.EventError:
		fmt.Fprintf(b, "  [ERROR] %s: %s\n", ev.Stage, ev.Err)
	case pipeline.EventReleased:
		if ev.Stage != pipeline.StageRelease { // released after a failure
			fmt.Fprintf(b, "  [RELEASE] Agent released for %s\n", tn.ID)
			t.finish(ev.Tenant)
		}
	}
}

// finish marks a tenant done and prints every finished tenant in order.
// Call with t.mu held.
func (t *transcript) finish(id string) {
	t.finished[id] = true
	for t.next < len(t.order) && t.finished[t.order[t.next]] {
		if b := t.buf[t.order[t.next]]; b != nil {
			fmt.Fprintln(t.w, b.String())
			delete(t.buf, t.order[t.next]) // printed: keep memory flat
		}
		t.next++
	}
}

func (t *transcript) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ; t.next < len(t.order); t.next++ {
		if b := t.buf[t.order[t.next]]; b != nil {
			fmt.Fprintln(t.w, b.String())
		}
	}
	t.started = true // later events belong to the checks, printed from results
	for id := range t.names {
		t.finished[id] = true
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (t *transcript) isolation(res pipeline.IsolationResult) {
	fmt.Fprintln(t.w, "── Cross-Tenant Isolation Test ──")
	fmt.Fprintln(t.w)
	if len(res.Checks) > 0 {
		p := res.Checks[0].Probe
		fmt.Fprintf(t.w, "%s agent scope: %s\n\n", capitalize(p.Actor), quoteList(p.Local.Held))
	}
	for _, c := range res.Checks {
		p := c.Probe
		switch {
		case !c.Pass:
			fmt.Fprintf(t.w, "  FAIL: %s — local %s, store %s\n", capitalize(c.Name), p.Local.Verdict(), p.Store.Verdict())
		case c.Expect:
			fmt.Fprintf(t.w, "  [ALLOWED] %s ✓\n", capitalize(c.Name))
		default:
			fmt.Fprintf(t.w, "  [BLOCKED] %s\n", capitalize(c.Name))
		}
		fmt.Fprintf(t.w, "    Required: %s\n", quoteList(p.Local.Required))
		fmt.Fprintf(t.w, "    Held:     %s\n", quoteList(p.Local.Held))
		fmt.Fprintf(t.w, "    Local:    %s %s\n", p.Local.Verdict(), p.Local.Reason)
		fmt.Fprintf(t.w, "    Store:    %s (%s store, token validated by the broker) %s\n", p.Store.Verdict(), p.Target, p.Store.Reason)
	}
	fmt.Fprintln(t.w)
	switch {
	case res.NotApplicable:
		fmt.Fprintln(t.w, "Cross-tenant isolation not checked: "+res.Note+".")
	case res.Passed:
		if res.Note != "" {
			fmt.Fprintln(t.w, "Note: "+res.Note+".")
		}
		fmt.Fprintln(t.w, "Cross-tenant isolation verified.")
	default:
		fmt.Fprintln(t.w, "Cross-tenant isolation FAILED.")
	}
}

func (t *transcript) matrix(m pipeline.MatrixResult) {
	if m.Sampled {
		t.sampledMatrix(m)
		return
	}
	n := len(m.Tenants)
	width := 10
	for _, id := range m.Tenants {
		width = max(width, len(id)+2)
	}
	fmt.Fprintln(t.w)
	fmt.Fprintln(t.w, "── Isolation Matrix (actor ↓ × target →, R/W as decided by the store) ──")
	fmt.Fprintf(t.w, "%-*s", width, "")
	for _, id := range m.Tenants {
		fmt.Fprintf(t.w, "%-*s", width, id)
	}
	fmt.Fprintln(t.w)
	for ai, actor := range m.Tenants {
		fmt.Fprintf(t.w, "%-*s", width, actor)
		for ti := range n {
			r, w := m.Probes[(ai*n+ti)*2], m.Probes[(ai*n+ti)*2+1]
			cell := mark(r.Store.Allowed, "R") + " " + mark(w.Store.Allowed, "W")
			fmt.Fprintf(t.w, "%-*s", width, cell)
		}
		fmt.Fprintln(t.w)
	}
	fmt.Fprintf(t.w, "%d probes, %d decided wrongly (R/W allowed, -/- denied)\n", len(m.Probes), m.Failures)
}

// sampledMatrix prints one line per actor: its own tenant, then the others
// it was sampled against, each with the store's R/W decisions.
func (t *transcript) sampledMatrix(m pipeline.MatrixResult) {
	k := m.SampleK
	width := 8
	for _, id := range m.Tenants {
		width = max(width, len(id)+2)
	}
	fmt.Fprintln(t.w)
	fmt.Fprintf(t.w, "── Isolation Matrix, sampled: each actor × its own tenant + %d others (seed %d), R/W as decided by the store ──\n", k, m.Seed)
	for ai, actor := range m.Tenants {
		fmt.Fprintf(t.w, "%-*s", width, actor)
		for s := range k + 1 {
			r, w := m.Probes[(ai*(k+1)+s)*2], m.Probes[(ai*(k+1)+s)*2+1]
			target := r.Target
			if s == 0 {
				target = "own"
			}
			fmt.Fprintf(t.w, "  %s %s %s", target, mark(r.Store.Allowed, "R"), mark(w.Store.Allowed, "W"))
		}
		fmt.Fprintln(t.w)
	}
	fmt.Fprintf(t.w, "%s probes (sampled of %s), %d decided wrongly (R/W allowed, -/- denied)\n",
		groupInt(len(m.Probes)), groupInt(2*len(m.Tenants)*len(m.Tenants)), m.Failures)
}

func mark(ok bool, s string) string {
	if ok {
		return s
	}
	return "-"
}

func (t *transcript) audit(res pipeline.AuditResult) {
	fmt.Fprintln(t.w)
	fmt.Fprintf(t.w, "── Audit Trail (this run: %d of %d events) ──\n", len(res.Entries), res.Total)
	for _, e := range res.Entries {
		fmt.Fprintf(t.w, "  %s %s %-28s %-8s %s\n", e.ID, e.Timestamp, e.Type, e.Outcome, e.Detail)
	}
	fmt.Fprintln(t.w, res.ChainMsg)
}

func (t *transcript) done() {
	fmt.Fprintln(t.w)
	fmt.Fprintln(t.w, "Pipeline complete. All tenants processed with isolated scopes.")
}

func groupInt(n int) string { return pipeline.GroupThousands(int64(n)) }

// jsonSink prints one JSON object per event.
type jsonSink struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONSink(w io.Writer) *jsonSink { return &jsonSink{enc: json.NewEncoder(w)} }

func (j *jsonSink) write(v any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.enc.Encode(v)
}

func (j *jsonSink) header(s *session) {
	j.write(map[string]any{"kind": "broker", "url": s.URL, "mode": s.Mode, "version": s.Version, "client_id": shortID(s.ClientID)})
}
func (j *jsonSink) event(ev pipeline.Event) { j.write(ev) }
func (j *jsonSink) flush()                  {}
func (j *jsonSink) isolation(r pipeline.IsolationResult) {
	j.write(map[string]any{"kind": "isolation_result", "passed": r.Passed, "checks": len(r.Checks),
		"applicable": !r.NotApplicable, "note": r.Note})
}
func (j *jsonSink) matrix(m pipeline.MatrixResult) {
	v := map[string]any{"kind": "matrix_result", "probes": len(m.Probes), "failures": m.Failures, "sampled": m.Sampled}
	if m.Sampled {
		v["sample_k"], v["seed"] = m.SampleK, m.Seed
	}
	j.write(v)
}
func (j *jsonSink) audit(r pipeline.AuditResult) {
	for _, e := range r.Entries {
		j.write(map[string]any{"kind": "audit_event", "event": e})
	}
	j.write(map[string]any{"kind": "audit_chain", "ok": r.ChainOK, "message": r.ChainMsg, "total": r.Total})
}
func (j *jsonSink) done() { j.write(map[string]any{"kind": "complete", "ok": true}) }
