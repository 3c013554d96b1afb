// Package ui is the tenant console: one Bubble Tea model (Model) that shows,
// live, how the AgentWrit broker keeps the tenants of a nightly ETL apart.
//
// The console drives the pipeline through the Controller interface and
// learns what happened from the pipeline's events (Options.Events). It does
// no I/O itself: every Controller call runs in a tea.Cmd, built from values
// copied out of the model, whose result comes back as a message carrying a
// fresh Snapshot.
//
// Layout of the package:
//
//	model.go    Model, New, Init and Update (key routing)
//	controller.go  Controller, Options and BrokerInfo: the console's contract
//	lifecycle.go   the way out (Shutdown), live health, the last error
//	*_keys.go   each screen's keys: main_keys, probes_keys (the cross-tenant
//	            form), admin_keys (revoke menu), audit_keys
//	view.go     View, the layout and the memoised panes
//	keys.go     KeyMap and its help
//	msgs.go     every message type
//	cmds.go     every tea.Cmd (Controller calls, the clock, the event listener)
//	styles.go   Styles: the only place that creates styles and colours
//	chrome.go   boxes and line fitting shared by the panes
//	tenants.go  the tenant table and per-tenant state; card.go the agent card;
//	stages.go   the ETL stepper; log.go the decision log; preview.go the data;
//	probes.go   cross-tenant form, attempt, isolation check and matrix;
//	admin.go    revoke menu, delegation and over-ceiling; audit.go the audit screen
//	tour.go     the guided tour (Options.Tour): lesson progress, n, setups;
//	            tour_view.go the lesson pane, its layout and Markdown
//
// View is cheap: panes that do not depend on the clock are cached under a
// version Update bumps when their state changes, so the 1 Hz tick redraws
// only the header clock and the agent's countdown. Time comes from
// Options.Now, so goldens are reproducible.
//
// The package never imports the AgentWrit client, the broker or net/http
// (TestImportGuard). demo.tape at the repository root is replayed by
// TestDemoTape.
package ui
