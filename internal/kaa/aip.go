// Package kaa speaks Kaa's inter-service protocols over NATS: the subjects of 3/ISM and the
// AutomationInvocation record of 23/AIP, in raw binary Avro with no container header, as
// Kaa's own services send it.
package kaa

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// InvocationSchemaText is 23/AIP's 0023-automation-invocation.avsc, as Kaa publishes it.
//
//go:embed 0023-automation-invocation.avsc
var InvocationSchemaText string

var invocationSchema = avro.MustParse(InvocationSchemaText)

// MaxPayloadBytes bounds an invocation's payload; MaxMessageBytes a whole encoded invocation.
// Both are checked before anything that size is allocated.
const (
	MaxPayloadBytes = 1 << 20
	MaxMessageBytes = MaxPayloadBytes + 4<<10
)

// codec reads strings and bytes up to MaxPayloadBytes: a length prefix claiming more is an
// error, not an allocation.
var codec = avro.Config{MaxByteSliceSize: MaxPayloadBytes, MaxSliceAllocSize: MaxPayloadBytes}.Freeze()

// Invocation is an AutomationInvocation (org.kaaproject.ipc.aip.gen.v1).
type Invocation struct {
	// CorrelationID tracks the invocation across services; it is logged with it.
	CorrelationID string `avro:"correlationId"`
	// Timestamp is when it was made, in Unix milliseconds.
	Timestamp int64 `avro:"timestamp"`
	// Timeout is how many milliseconds after Timestamp it expires; 0 never.
	Timeout int64 `avro:"timeout"`
	// TenantID is the tenant (for Switchboard, the solution) it runs for.
	TenantID string `avro:"tenantId"`
	// Payload is the automation's input; nil is Avro's null, distinct from empty bytes.
	Payload *[]byte `avro:"payload"`
}

// Expired reports whether inv has a timeout that had passed at nowMillis.
func (inv Invocation) Expired(nowMillis int64) bool {
	// Written so that no sum overflows, whatever a sender put in the fields.
	return inv.Timeout > 0 && nowMillis-inv.Timeout > inv.Timestamp
}

// ErrMalformed is an encoded invocation that is not an AutomationInvocation; ErrTooLarge one
// larger than MaxMessageBytes, or whose payload is larger than MaxPayloadBytes.
var (
	ErrMalformed = errors.New("not an AutomationInvocation")
	ErrTooLarge  = errors.New("AutomationInvocation too large")
)

// Encode is inv as raw binary Avro, no container header.
func Encode(inv Invocation) ([]byte, error) {
	if inv.Payload != nil && len(*inv.Payload) > MaxPayloadBytes {
		return nil, fmt.Errorf("payload: %d bytes, at most %d", len(*inv.Payload), MaxPayloadBytes)
	}
	b, err := codec.Marshal(invocationSchema, inv)
	if err != nil {
		return nil, fmt.Errorf("encode AutomationInvocation: %w", err)
	}
	return b, nil
}

// Decode reads one raw binary AutomationInvocation taking all of data. What is not one —
// too short, too long, a length beyond the bounds, bytes left over — is ErrMalformed
// (wrapped), with whatever correlation id could be read before the fault, so that it can
// still be logged.
func Decode(data []byte) (Invocation, error) {
	var inv Invocation
	if len(data) > MaxMessageBytes {
		return inv, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), MaxMessageBytes)
	}
	r := avro.NewReader(nil, 0, avro.WithReaderConfig(codec)).Reset(data)
	r.ReadVal(invocationSchema, &inv)
	if r.Error != nil {
		if len(data) > MaxPayloadBytes {
			// What fails to read at this size is the payload over its bound.
			return partial(data, inv), fmt.Errorf("%w: payload over %d bytes: %v", ErrTooLarge, MaxPayloadBytes, r.Error)
		}
		return partial(data, inv), fmt.Errorf("%w: %v", ErrMalformed, r.Error)
	}
	r.Peek()
	if !errors.Is(r.Error, io.EOF) {
		return inv, fmt.Errorf("%w: bytes left after the record", ErrMalformed)
	}
	return inv, nil
}

// partial is what Decode could tell of a malformed invocation: its correlation id, the first
// field, when that much reads as a string.
func partial(data []byte, got Invocation) Invocation {
	id := got.CorrelationID
	if id == "" {
		r := avro.NewReader(nil, 0, avro.WithReaderConfig(codec)).Reset(data)
		if id = r.ReadString(); r.Error != nil {
			return Invocation{}
		}
	}
	// What is not text was no correlation id: bytes that happened to read as a length.
	if len(id) > maxPartialID || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
		return Invocation{}
	}
	return Invocation{CorrelationID: id}
}

// maxPartialID bounds the correlation id kept of a malformed invocation, for its log line.
const maxPartialID = 256
