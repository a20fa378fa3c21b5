package api

import (
	"bytes"
	"io"
	"net/http"

	"github.com/switchboardhq/switchboard/internal/compass"
)

// graphqlCode is the GraphQL error code of an HTTP status the API refuses a request with.
func graphqlCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return compass.CodeUnauthenticated
	case http.StatusForbidden:
		return compass.CodeForbidden
	case http.StatusNotFound:
		return compass.CodeNotFound
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return compass.CodeUnavailable
	}
	if status >= 500 {
		return compass.CodeInternal
	}
	return compass.CodeBadUserInput
}

// graphql answers POST /api/v1/graphql: the body is read within the API's bounds, and the
// caller authenticated, before the GraphQL handler sees the request. Refusals here are HTTP
// statuses (401 without a valid token) with a GraphQL errors body, so GraphQL clients read them.
func (s *Server) graphql(w http.ResponseWriter, r *http.Request) {
	refuse := func(e *Error) {
		compass.WriteError(w, e.Status, graphqlCode(e.Status), e.Field, e.Message)
	}
	p, aerr := s.authenticate(r)
	if aerr != nil {
		refuse(aerr)
		return
	}
	ticket, err := s.admit(p.solution)
	if err != nil {
		refuse(toAPIError(err))
		return
	}
	defer ticket.Release()
	body, aerr := s.readBody(w, r, ticket)
	if aerr != nil {
		refuse(aerr)
		return
	}
	if aerr := checkJSON(body); aerr != nil {
		refuse(aerr)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ctx := compass.WithCaller(r.Context(), compass.Caller{Admin: p.admin, Solution: p.solution})
	s.opt.GraphQL.ServeHTTP(w, r.WithContext(ctx))
}
