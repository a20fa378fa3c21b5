// Package asyncapi reads the AsyncAPI 2.x documents with which applications declare their
// events, and checks events against them.
//
//   - Parse reads a document of AsyncAPI 2.0.0 to 2.6.0, JSON or YAML, validates it against
//     the official JSON Schema of its version (schemas/) and the semantic rules of
//     @asyncapi/parser listed in rules.go, and gives a Spec: version, title, channels in
//     document order, each with the messages of its publish and subscribe operations.
//     Local $refs are followed (cycles refused); external ones are refused, so parsing
//     reads no file and opens no connection. Size, depth, YAML alias expansion, channels
//     and messages are bounded (MaxDocumentBytes, MaxDepth, MaxValues, MaxChannels,
//     MaxMessages; ErrLimit). A bad document gives a *ValidationError: JSON pointers and
//     messages, at most MaxProblems of them.
//   - Message.SentByApplication tells the events an application sends (AsyncAPI 2's
//     "subscribe") from those it receives ("publish").
//   - Topic maps an application and a channel name to a Switchboard topic; Spec.Topics maps
//     all channels and refuses two that map to one topic.
//   - CompilePayload compiles a message's payload schema once; Validator.Validate checks
//     an event's data against it. Payloads in another schema format than JSON Schema
//     (Avro, RAML) are not checked, and Validator.Skipped says so.
//
// Parse agrees with @asyncapi/parser on the documents of testdata/corpus; the differences
// are listed in agreement_test.go.
package asyncapi
