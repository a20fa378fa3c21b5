package catalog

// Fields of a registration a *ValidationError can name.
const (
	FieldName              = "name"
	FieldSwagger           = "swagger"
	FieldSwaggerURL        = "swagger_url"
	FieldNamespace         = "namespace"
	FieldPlatformNamespace = "platform_namespace"
)

// ValidationError is a registration the hub refuses: Field is the registration field at fault
// and Reason, which is also the error's text, says why.
type ValidationError struct {
	Field  string
	Reason string
	// Err is the underlying error Reason was made from, if any.
	Err error
}

func (e *ValidationError) Error() string { return e.Reason }

// Unwrap returns the underlying error, if any.
func (e *ValidationError) Unwrap() error { return e.Err }

func invalid(field, reason string) *ValidationError {
	return &ValidationError{Field: field, Reason: reason}
}

// invalidDoc is a problem with the document, wrapping err when there is one.
func invalidDoc(reason string, err error) *ValidationError {
	if err != nil {
		reason += ": " + err.Error()
	}
	return &ValidationError{Field: FieldSwagger, Reason: reason, Err: err}
}

// within prefixes the reason of a *ValidationError with where it was found.
func within(where string, err error) error {
	ve, ok := err.(*ValidationError)
	if !ok {
		return err
	}
	return &ValidationError{Field: ve.Field, Reason: where + ": " + ve.Reason, Err: ve}
}
