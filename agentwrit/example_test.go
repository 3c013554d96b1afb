package agentwrit_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/tenantui/tenantui/agentwrit"
)

// Credentials redact themselves in fmt and slog output.
func ExampleAppCredentials() {
	creds := agentwrit.AppCredentials{
		AppID:        "app-tenant-console-ccfb68",
		ClientID:     "tc-cad3ae1a6290",
		ClientSecret: "43991c38adf9d3e5a0c0e8f1e2b4d6c8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0",
		Scopes:       []string{"read:analytics:*", "write:reports:*"},
		TokenTTL:     1800,
	}
	fmt.Println(creds)

	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: noTime}))
	log.Info("app created", "app", creds)
	// Output:
	// app app-tenant-console-ccfb68 client_id=tc-cad3ae1a6290 client_secret=4399… scopes=[read:analytics:* write:reports:*] token_ttl=1800
	// level=INFO msg="app created" app.app_id=app-tenant-console-ccfb68 app.client_id=tc-cad3ae1a6290 app.client_secret=4399… app.scopes="[read:analytics:* write:reports:*]" app.token_ttl=1800
}

func ExampleShortToken() {
	fmt.Println(agentwrit.ShortToken("eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiJ9.c2ln"))
	// Output: eyJhbGciOiJF…
}
