package pipeline

import (
	"encoding/json"
	"time"
)

// MarshalJSON renders an event for `tenantui run --json`: kinds, stages,
// operations and states as words, times in RFC 3339, empty fields omitted.
// Tokens appear only in their short form.
func (e Event) MarshalJSON() ([]byte, error) {
	type agent struct {
		SPIFFEID  string   `json:"spiffe_id"`
		TaskID    string   `json:"task_id"`
		OrchID    string   `json:"orch_id"`
		JTI       string   `json:"jti"`
		Token     string   `json:"token_prefix"`
		Scope     []string `json:"scope"`
		IssuedAt  string   `json:"issued_at"`
		ExpiresAt string   `json:"expires_at"`
		State     string   `json:"state"`
		Renewals  int      `json:"renewals,omitempty"`
	}
	type access struct {
		Agent    string   `json:"agent,omitempty"`
		JTI      string   `json:"jti,omitempty"`
		Actor    string   `json:"actor"`
		Target   string   `json:"target"`
		Op       string   `json:"op"`
		Layer    string   `json:"layer"`
		Decision string   `json:"decision"`
		Required []string `json:"required"`
		Held     []string `json:"held"`
		Reason   string   `json:"reason"`
		Code     string   `json:"code,omitempty"`
	}
	out := struct {
		Seq     int64             `json:"seq"`
		Time    string            `json:"time"`
		Kind    string            `json:"kind"`
		Tenant  string            `json:"tenant,omitempty"`
		Stage   string            `json:"stage,omitempty"`
		Agent   *agent            `json:"agent,omitempty"`
		Access  *access           `json:"access,omitempty"`
		Rows    int               `json:"rows,omitempty"`
		Metrics map[string]string `json:"metrics,omitempty"`
		Report  string            `json:"path,omitempty"`
		Err     string            `json:"error,omitempty"`
		Message string            `json:"message,omitempty"`
	}{Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339Nano), Kind: e.Kind.String(), Tenant: e.Tenant,
		Rows: e.Rows, Report: e.Report, Err: e.Err, Message: e.Message}
	if e.Stage != StageNone {
		out.Stage = e.Stage.String()
	}
	if a := e.Agent; a != nil {
		out.Agent = &agent{a.SPIFFEID, a.TaskID, a.OrchID, a.JTI, a.Token, a.Scope,
			a.IssuedAt.UTC().Format(time.RFC3339), a.ExpiresAt.UTC().Format(time.RFC3339), a.State.String(), a.Renewals}
	}
	if a := e.Access; a != nil {
		out.Access = &access{a.AgentID, a.JTI, a.Actor, a.Target, a.Op.String(), string(a.Layer), a.Verdict(),
			a.Required, a.Held, a.Reason, a.Code}
	}
	if e.Metrics != nil {
		out.Metrics = e.Metrics.Values
	}
	return json.Marshal(out)
}
