package compass

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// depthLimit refuses operations whose selections nest deeper than max (fragments counted
// where they are spread), before anything resolves.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if n := depth(oc.Operation.SelectionSet, oc.Doc.Fragments, 0, d.max); n > d.max {
		err := gqlerror.Errorf("the query nests deeper than %d levels", d.max)
		err.Extensions = map[string]any{"code": "QUERY_TOO_DEEP"}
		return err
	}
	return nil
}

// depth is how deep set nests below level, stopping once past max.
func depth(set ast.SelectionSet, frags ast.FragmentDefinitionList, level, max int) int {
	deepest := level
	if level > max {
		return level
	}
	for _, sel := range set {
		var n int
		switch s := sel.(type) {
		case *ast.Field:
			n = level + 1
			if len(s.SelectionSet) > 0 {
				n = depth(s.SelectionSet, frags, level+1, max)
			}
		case *ast.InlineFragment:
			n = depth(s.SelectionSet, frags, level, max)
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil {
				n = depth(f.SelectionSet, frags, level, max)
			}
		}
		if n > deepest {
			deepest = n
		}
	}
	return deepest
}
