package hubtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// AddService registers a minimal dynamic service called name (its host only answers its
// health check) and adds it to solution sol. It returns the Authorization header value the
// service triggers events and calls with: "<name> <token>".
func (s *Server) AddService(t testing.TB, sol, name string) string {
	t.Helper()
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(host.Close)
	doc := Swagger(strings.TrimPrefix(host.URL, "http://"), "")
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": name, "swagger": doc}); r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("register %s: %d %s", name, r.Status, r.Body)
	}
	if r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/services", s.AdminToken, map[string]any{"service": name}); r.Status != http.StatusCreated {
		t.Fatalf("add %s to %s: %d %s", name, sol, r.Status, r.Body)
	}
	return name + " " + s.Hub.ServiceToken(name)
}

// Swagger is the smallest registration document of a service at host: one operation "op"
// and a health path; extra is YAML appended to it (x-events, more paths).
func Swagger(host, extra string) string {
	return fmt.Sprintf(`swagger: "2.0"
info: {title: t, version: "1"}
host: "%s"
schemes: [http]
x-exosite-health-path: /health
paths:
  /op:
    post:
      operationId: op
      responses: {"200": {description: ok}}
%s`, host, extra)
}
