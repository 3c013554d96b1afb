package liveaudit

import (
	"reflect"
	"testing"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
)

func ev(typ, agent, detail string) agentwrit.AuditEvent {
	return agentwrit.AuditEvent{EventType: typ, AgentID: agent, Detail: detail}
}

func TestLive(t *testing.T) {
	trail := []agentwrit.AuditEvent{
		ev("token_issued", "a", "Token issued, jti=j1, ttl=300"),
		ev("token_released", "a", "token released | jti=j1"), // a: released
		ev("token_issued", "b", "Token issued, jti=j2, ttl=300"),
		ev("token_renewed", "b", "token renewed for agent=b new_jti=j3"),
		ev("token_released", "b", "token released | jti=j2"), // the renewed-away one: b still live
		ev("token_issued", "c", "Token issued, jti=j4, ttl=300"),
		ev("token_released", "c", "token released | jti=j4"),
		ev("delegation_created", "c", "delegation from a to c scope=[x] depth=1"),
		ev("delegation_created", "c", "delegation from a to c scope=[x] depth=1"),
		ev("token_released", "c", "token released | jti=d1"), // one of the two delegated tokens
	}
	got := Live(trail)
	want := []string{"agent b", "delegated to c"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Live = %q, want %q", got, want)
	}
}

func TestLiveAtRevokedAndExpired(t *testing.T) {
	at := func(typ, agent, task, detail string, sec int) agentwrit.AuditEvent {
		return agentwrit.AuditEvent{EventType: typ, AgentID: agent, TaskID: task, Detail: detail,
			Timestamp: time.Unix(1_800_000_000+int64(sec), 0).UTC().Format(time.RFC3339Nano)}
	}
	trail := []agentwrit.AuditEvent{
		at("token_issued", "a", "t1", "Token issued, jti=j1, ttl=10", 0),
		at("token_issued", "b", "t2", "Token issued, jti=j2, ttl=10", 0),
		at("token_issued", "c", "t3", "Token issued, jti=j3, ttl=100", 0),
		at("token_issued", "d", "t4", "Token issued, jti=j4, ttl=100", 0),
		at("token_revoked", "b", "", "revoked at level=agent target=b", 1),
		at("token_revoked", "j3", "", "revoked at level=token target=j3", 1),
	}
	now := time.Unix(1_800_000_000+20, 0)
	if got, want := LiveAt(trail, now), []string{"agent d"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("LiveAt = %q, want %q (a expired, b and c revoked)", got, want)
	}
	if got := Live(trail); !reflect.DeepEqual(got, []string{"agent a", "agent d"}) {
		t.Fatalf("Live (no expiry) = %q", got)
	}
}
