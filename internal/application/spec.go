package application

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// prepare checks an event API given by a caller and fills its spec: the format and topics of
// inline data, or the outcome of fetching it.
func (s *Store) prepare(ctx context.Context, field string, e EventAPI) (EventAPI, error) {
	e.Spec.Topics, e.Spec.Format, e.Spec.DataSize = nil, "", 0
	if err := checkEventAPI(field, e); err != nil {
		return EventAPI{}, err
	}
	if s.opt.Subscriptions != nil {
		for i, sub := range e.ExternalSubscriptions {
			if err := s.opt.Subscriptions.Check(sub); err != nil {
				var fe *solution.FieldError
				if errors.As(err, &fe) {
					return EventAPI{}, fieldErr(join(field, fmt.Sprintf("externalSubscriptions[%d].%s", i, fe.Field)), "%s", fe.Reason)
				}
				return EventAPI{}, err
			}
		}
	}
	if fr := e.Spec.FetchRequest; fr != nil {
		e.Spec = s.fetch(ctx, e.Spec)
		return e, nil
	}
	format, topics, err := s.parse(e.Spec.Data, e.Spec.StatedFormat)
	if err != nil {
		return EventAPI{}, fieldErr(join(field, "spec.data"), "%v", err)
	}
	e.Spec.Format, e.Spec.Topics = format, topics
	return e, nil
}

// parse is the format of a spec document (stated, when the caller said it and the document
// is of it) and the topics the parser finds in it.
func (s *Store) parse(data, stated string) (format string, topics []string, err error) {
	if !utf8.ValidString(data) {
		return "", nil, fmt.Errorf("not UTF-8 text")
	}
	format, err = formatOf(data)
	if err != nil {
		return "", nil, err
	}
	switch {
	case stated == FormatJSON && format != FormatJSON:
		return "", nil, fmt.Errorf("not JSON, the format stated (spec.format)")
	case stated != "":
		format = stated // JSON is also YAML
	}
	if s.opt.Parser != nil {
		if topics, err = s.opt.Parser.Parse([]byte(data)); err != nil {
			return "", nil, err
		}
	}
	return format, topics, nil
}

// fetch is spec with the document its fetch request gives, or with the failure in its status
// (data and topics cleared: what failed to fetch is not served as the spec).
func (s *Store) fetch(ctx context.Context, spec Spec) Spec {
	fr := *spec.FetchRequest
	spec.FetchRequest = &fr
	spec.Data, spec.Format, spec.Topics, spec.DataSize = "", "", nil, 0
	fr.Status = FetchStatus{Condition: FetchSucceeded, Timestamp: s.opt.Now().UTC()}
	fail := func(format string, a ...any) Spec {
		msg := fmt.Sprintf(format, a...)
		if len(msg) > maxFetchMessage {
			msg = msg[:maxFetchMessage]
		}
		fr.Status.Condition, fr.Status.Message = FetchFailed, msg
		return spec
	}
	if fr.Mode != ModeSingle {
		return fail("fetch mode %s is not supported: only SINGLE (one document at the URL)", fr.Mode)
	}
	if s.opt.Fetcher == nil {
		return fail("fetching specs is not enabled on this server")
	}
	data, err := s.opt.Fetcher.Fetch(ctx, fr, MaxSpecBytes)
	if err != nil {
		return fail("fetch %s: %v", fr.URL, err)
	}
	format, topics, err := s.parse(string(data), spec.StatedFormat)
	if err != nil {
		return fail("fetched spec: %v", err)
	}
	spec.Data, spec.Format, spec.Topics = string(data), format, topics
	return spec
}
