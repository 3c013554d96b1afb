package pipeline

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
)

// indentJSON returns exactly what json.MarshalIndent(r, "", "  ") does,
// without reflection and without a second, indenting pass: a report is
// written for every tenant of a run. Whatever it cannot write the same way
// (a string needing escapes, a float JSON cannot hold) it leaves to
// encoding/json.
func (r Report) indentJSON() ([]byte, error) {
	if b, ok := r.appendIndented(make([]byte, 0, 640)); ok {
		return b, nil
	}
	return json.MarshalIndent(r, "", "  ")
}

// appendIndented appends r as MarshalIndent writes it; false if it cannot.
func (r Report) appendIndented(b []byte) ([]byte, bool) {
	b = append(b, "{\n"...)
	ok := true
	field := func(name string) { b = append(append(append(b, "  \""...), name...), "\": "...) }
	str := func(name, s string) { // a string field, then ",\n"
		if ok {
			field(name)
			b, ok = appendPlainString(b, s)
		}
	}
	str("tenant", r.Tenant)
	str("name", r.Name)
	str("data_type", r.DataType)
	field("rows")
	b = append(strconv.AppendInt(b, int64(r.Rows), 10), ",\n"...)
	if ok {
		field("metrics")
		b, ok = appendStringMap(b, r.Metrics)
		b = append(b, ",\n"...)
	}
	if ok {
		field("metrics_raw")
		b, ok = appendFloatMap(b, r.MetricsRaw)
		b = append(b, ",\n"...)
	}
	str("agent_spiffe_id", r.AgentID)
	str("task_id", r.TaskID)
	str("generated_at", r.GeneratedAt)
	if !ok {
		return b, false
	}
	return append(b[:len(b)-2], "\n}"...), true // the last field takes no comma
}

// appendPlainString appends s quoted, then ",\n", if it needs no escaping
// in JSON: printable ASCII without ", \, <, > and & (which encoding/json
// escapes for HTML).
func appendPlainString(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return b, false
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, "\",\n"...), true
}

// appendStringMap appends m as MarshalIndent nests it two spaces in: keys
// sorted, null for a nil map, {} for an empty one.
func appendStringMap(b []byte, m map[string]string) ([]byte, bool) {
	return appendMap(b, m, func(b []byte, v string) ([]byte, bool) {
		b, ok := appendPlainString(b, v)
		return b[:len(b)-2], ok // the caller places the separator
	})
}

func appendFloatMap(b []byte, m map[string]float64) ([]byte, bool) {
	return appendMap(b, m, appendJSONFloat)
}

func appendMap[V any](b []byte, m map[string]V, value func([]byte, V) ([]byte, bool)) ([]byte, bool) {
	switch {
	case m == nil:
		return append(b, "null"...), true
	case len(m) == 0:
		return append(b, "{}"...), true
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, "{\n"...)
	for i, k := range keys {
		var ok bool
		b = append(b, "    "...)
		if b, ok = appendPlainString(b, k); !ok {
			return b, false
		}
		b = append(b[:len(b)-2], ": "...)
		if b, ok = value(b, m[k]); !ok {
			return b, false
		}
		if i < len(keys)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	return append(b, "  }"...), true
}

// appendJSONFloat formats f as encoding/json does: the shortest
// representation, exponent form below 1e-6 and from 1e21, "e-7" not "e-07".
func appendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}
