package broker_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"

	"github.com/tenantui/tenantui/broker"
)

// The embedded broker is served in-process in the httptest style.
func ExampleNew() {
	s, err := broker.New(broker.Config{AdminSecret: "change-me"})
	if err != nil {
		panic(err)
	}
	creds, err := s.RegisterApp("tenant-console", []string{"read:analytics:*"}, 0)
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	res, err := ts.Client().Post(ts.URL+"/v1/app/auth", "application/json",
		strings.NewReader(`{"client_id":"`+creds.ClientID+`","client_secret":"`+creds.ClientSecret+`"}`))
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.StatusCode, strings.Contains(string(body), `"expires_in":1800`))
	// Output: 200 true
}
