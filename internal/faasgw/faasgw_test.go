package faasgw

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/servicenet"
)

func TestCheckCallback(t *testing.T) {
	guard, err := servicenet.New(context.Background(), servicenet.Options{Own: []string{"127.0.0.1:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	g := New(Options{Guard: guard})
	tests := []struct {
		url     string
		wantErr string // part of the error; "" when allowed
	}{
		{"http://127.0.0.1:9000/cb", ""},
		{"https://127.0.0.1/cb", ""},
		{"http://127.0.0.1:8080/cb", "own listeners"},
		{"http://localhost:8080/", "own listeners"},
		{"http://169.254.169.254/latest/meta-data", "link-local"},
		{"http://0.0.0.0:9000/", "unspecified"},
		{"ftp://127.0.0.1/x", "absolute http or https"},
		{"/relative", "absolute http or https"},
		{"http://127.0.0.1:99999/", "not a port number"},
		{"http://%zz", "not a URL"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := g.checkCallback(context.Background(), tc.url)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}

func TestHeadersOf(t *testing.T) {
	h := http.Header{
		"X-Topic":        {"payment"},
		"X-Connector":    {"kafka"},
		"Accept":         {"a", "b"},
		"Authorization":  {"Basic secret"},
		"Cookie":         {"c=1"},
		"Content-Length": {"3"},
	}
	want := map[string]string{"x-topic": "payment", "x-connector": "kafka", "accept": "a, b"}
	if got := headersOf(h); !reflect.DeepEqual(got, want) {
		t.Fatalf("headersOf = %v, want %v", got, want)
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"":                                true,
		"application/json":                true,
		"application/json; charset=utf-8": true,
		"application/cloudevents+json":    true,
		"text/plain":                      false,
		"application/octet-stream":        false,
		"not a media type;;":              false,
	} {
		if got := isJSON(ct); got != want {
			t.Errorf("isJSON(%q) = %v, want %v", ct, got, want)
		}
	}
}
