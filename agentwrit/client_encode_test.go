package agentwrit

import (
	"encoding/json"
	"testing"
)

// A validate body encodes itself exactly as json.Marshal would, or leaves
// it to json.Marshal.
func TestValidateBodyEncodesAsJSON(t *testing.T) {
	for _, tok := range []string{
		"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln-_", "a", "",
		`quote"d`, `back\slash`, "<html>&", "caf\u00e9", "line\nbreak", "bad\xff", "sp ace",
	} {
		want, err := json.Marshal(validateBody{tok})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := validateBody{tok}.encodeJSON()
		if !ok {
			continue
		}
		if string(got) != string(want) {
			t.Errorf("token %q: encoded %s, json.Marshal gives %s", tok, got, want)
		}
	}
	if _, ok := (validateBody{"eyJ.eyJ.sig"}).encodeJSON(); !ok {
		t.Fatal("a plain compact JWS is left to json.Marshal")
	}
}
