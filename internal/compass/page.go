package compass

import (
	"encoding/base64"

	"github.com/switchboardhq/switchboard/internal/compass/generated"
)

// MaxPage is the most items a page holds (Compass's bound on first).
const MaxPage = 100

// pageOf is the page of items after the cursor (an item's id, opaque to clients) and its
// page info; a cursor of an item no longer listed is bad input.
func pageOf[T any](items []T, id func(T) string, first *int, after *string) ([]T, *generated.PageInfo, error) {
	n := MaxPage
	if first != nil {
		n = *first
	}
	if n < 0 || n > MaxPage {
		return nil, nil, badInput("first", "%d: want 0 to %d", n, MaxPage)
	}
	start := 0
	if after != nil && *after != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*after)
		if err != nil {
			return nil, nil, badInput("after", "not a cursor of this list")
		}
		start = -1
		for i, it := range items {
			if id(it) == string(raw) {
				start = i + 1
				break
			}
		}
		if start < 0 {
			return nil, nil, badInput("after", "the item of this cursor is no longer listed; start again without after")
		}
	}
	end := min(start+n, len(items))
	page := items[start:end]
	info := &generated.PageInfo{HasNextPage: end < len(items)}
	if len(page) > 0 {
		info.StartCursor = base64.RawURLEncoding.EncodeToString([]byte(id(page[0])))
		info.EndCursor = base64.RawURLEncoding.EncodeToString([]byte(id(page[len(page)-1])))
	}
	return page, info, nil
}
