// Package scalar holds the Go side of the GraphQL API's map scalars.
package scalar

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/99designs/gqlgen/graphql"
)

// StringMap is a map of strings (EventAPISubscriptionAttributes).
type StringMap = map[string]string

// MarshalStringMap writes m as a JSON object.
func MarshalStringMap(m map[string]string) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		json.NewEncoder(w).Encode(m) //nolint:errcheck // a map of strings always encodes
	})
}

// UnmarshalStringMap reads an object whose values are strings.
func UnmarshalStringMap(v any) (map[string]string, error) {
	in, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want an object of strings, got %T", v)
	}
	out := make(map[string]string, len(in))
	for k, x := range in {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%.32q: want a string, got %T", k, x)
		}
		out[k] = s
	}
	return out, nil
}

// MultiMap is a map of string lists (HttpHeaders, QueryParams).
type MultiMap = map[string][]string

// MarshalMultiMap writes m as a JSON object of arrays.
func MarshalMultiMap(m map[string][]string) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		json.NewEncoder(w).Encode(m) //nolint:errcheck // a map of string lists always encodes
	})
}

// UnmarshalMultiMap reads an object whose values are lists of strings.
func UnmarshalMultiMap(v any) (map[string][]string, error) {
	in, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want an object of string lists, got %T", v)
	}
	out := make(map[string][]string, len(in))
	for k, x := range in {
		list, ok := x.([]any)
		if !ok {
			return nil, fmt.Errorf("%.32q: want a list of strings, got %T", k, x)
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%.32q: want a list of strings, got an element %T", k, e)
			}
			out[k] = append(out[k], s)
		}
	}
	return out, nil
}
