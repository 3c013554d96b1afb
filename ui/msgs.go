package ui

import "github.com/tenantui/tenantui/pipeline"

// Every message the console handles. Results of Controller calls carry the
// call's error as data and a Snapshot taken right after the call finished, so
// one message updates both the result pane and the tenant states.

// snapshot is a Controller.Snapshot taken inside a Cmd (nil when none).
type snapshot []pipeline.TenantState

// eventMsg is one pipeline event from Options.Events.
type eventMsg pipeline.Event

// eventBatchMsg is several pipeline events that were waiting at once, in order.
type eventBatchMsg []pipeline.Event

// eventsClosedMsg says the event channel was closed: stop listening.
type eventsClosedMsg struct{}

// tickMsg is the 1 Hz clock tick of chain gen.
type tickMsg struct{ gen int }

// snapshotMsg is a refresh of every tenant's state.
type snapshotMsg struct{ snap snapshot }

// adminMsg is Controller.AdminAvailable.
type adminMsg struct {
	ok  bool
	why string
}

// stepDoneMsg is the end of Controller.Step.
type stepDoneMsg struct {
	tenant string
	err    error
	snap   snapshot
}

// runAllDoneMsg is the end of Controller.RunAll.
type runAllDoneMsg struct {
	err  error
	snap snapshot
}

// probeDoneMsg is the end of Controller.Probe or ProbeReleased.
type probeDoneMsg struct {
	res      pipeline.ProbeResult
	released bool // the actor's released token was presented on purpose
	err      error
	snap     snapshot
}

// isolationDoneMsg is the end of Controller.IsolationCheck.
type isolationDoneMsg struct {
	res  pipeline.IsolationResult
	err  error
	snap snapshot
}

// matrixDoneMsg is the end of Controller.Matrix.
type matrixDoneMsg struct {
	res  pipeline.MatrixResult
	err  error
	snap snapshot
}

// renewDoneMsg is the end of Controller.Renew.
type renewDoneMsg struct {
	tenant string
	err    error
	snap   snapshot
}

// releaseDoneMsg is the end of Controller.Release.
type releaseDoneMsg struct {
	tenant string
	err    error
	snap   snapshot
}

// revokeDoneMsg is the end of Controller.Revoke.
type revokeDoneMsg struct {
	tenant, level string
	err           error
	snap          snapshot
}

// delegateDoneMsg is the end of the two-step delegation demo: the refused
// cross-tenant delegation, then the allowed narrower one.
type delegateDoneMsg struct {
	from, to string
	results  []pipeline.DelegationResult
	err      error
	snap     snapshot
}

// overCeilingDoneMsg is the end of Controller.CreateOverCeiling.
type overCeilingDoneMsg struct {
	tenant string
	access pipeline.Access
	err    error
	snap   snapshot
}

// auditDoneMsg is the end of Controller.Audit for filter.
type auditDoneMsg struct {
	filter pipeline.AuditFilter
	res    pipeline.AuditResult
	err    error
}
