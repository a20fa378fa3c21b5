// Package application keeps a solution's applications and the event APIs they declare (the
// management plane of Compass-style eventing), in JetStream KV.
package application

import (
	"errors"
	"time"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// Errors callers branch on. ErrNotFound is solution.ErrNotFound, so the APIs map both alike.
var (
	ErrNotFound = solution.ErrNotFound
	// ErrNameTaken is an application name the solution already has.
	ErrNameTaken = errors.New("an application of that name exists in the solution")
)

// Application is a system that publishes events into a solution.
type Application struct {
	ID             string         `json:"id"`
	Solution       string         `json:"solution"`
	Name           string         `json:"name"`
	Description    string         `json:"description,omitempty"`
	Labels         map[string]any `json:"labels,omitempty"`
	HealthCheckURL string         `json:"health_check_url,omitempty"`
	EventAPIs      []EventAPI     `json:"event_apis,omitempty"`
	// GatewayAuth is how the application authenticates to the event gateway (nil: with
	// Switchboard's own client credentials only).
	GatewayAuth *GatewayAuth `json:"gateway_auth,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
	// Revision is the KV revision the application was read at.
	Revision uint64 `json:"-"`
}

// EventAPI is one event API definition of an application: an AsyncAPI spec, inline or
// fetched, and the external buses its events live on.
type EventAPI struct {
	ID                    string         `json:"id"`
	Name                  string         `json:"name,omitempty"`
	Description           string         `json:"description,omitempty"`
	Group                 string         `json:"group,omitempty"`
	Spec                  Spec           `json:"spec"`
	Auth                  *Auth          `json:"auth,omitempty"`
	ExternalSubscriptions []Subscription `json:"external_subscriptions,omitempty"`
	Version               *Version       `json:"version,omitempty"`
}

// Spec types and formats.
const (
	SpecTypeAsyncAPI = "ASYNC_API"
	FormatJSON       = "JSON"
	FormatYAML       = "YAML"
)

// Spec is an event API's specification.
type Spec struct {
	// Data is the document ("" when none: a fetch that failed, or none given). Views of the
	// store hold it empty with DataSize set; Store.Load reads it.
	Data     string `json:"data,omitempty"`
	DataSize int    `json:"data_size,omitempty"`
	Type     string `json:"type"`
	Format   string `json:"format,omitempty"`
	// StatedFormat is the format the caller said the document has ("" when not said): a
	// document of another format is refused (JSON is also YAML), and Format is the stated one.
	StatedFormat string `json:"stated_format,omitempty"`
	// Topics are what the SpecParser found in Data (nil without a parser): the topics of the
	// spec's channels below the application's, so that the event topic is
	// {application}.{topic}.
	Topics       []string      `json:"topics,omitempty"`
	FetchRequest *FetchRequest `json:"fetch_request,omitempty"`
}

// Fetch modes and conditions, as Compass names them.
const (
	ModeSingle        = "SINGLE"
	ModePackage       = "PACKAGE"
	ModeIndex         = "INDEX"
	FetchInitial      = "INITIAL"
	FetchSucceeded    = "SUCCEEDED"
	FetchFailed       = "FAILED"
	maxFetchMessage   = 512
	maxFetchFilterLen = 256
)

// FetchRequest says where a spec is fetched from, and how the last fetch went.
type FetchRequest struct {
	URL    string      `json:"url"`
	Auth   *Auth       `json:"auth,omitempty"`
	Mode   string      `json:"mode"`
	Filter string      `json:"filter,omitempty"`
	Status FetchStatus `json:"status"`
}

// FetchStatus is the outcome of the last fetch.
type FetchStatus struct {
	Condition string    `json:"condition"`
	Timestamp time.Time `json:"timestamp"`
	Message   string    `json:"message,omitempty"`
}

// Auth is how Switchboard authenticates to the application's side (fetching specs, external
// buses): HTTP Basic or OAuth2 client credentials, exactly one.
type Auth struct {
	Basic                 *Basic              `json:"basic,omitempty"`
	OAuth                 *OAuth              `json:"oauth,omitempty"`
	AdditionalHeaders     map[string][]string `json:"additional_headers,omitempty"`
	AdditionalQueryParams map[string][]string `json:"additional_query_params,omitempty"`
}

// Basic is an HTTP Basic credential.
type Basic struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// OAuth is an OAuth2 client credential and the token endpoint it is exchanged at.
type OAuth struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	URL          string `json:"url"`
}

// Subscription is an external event bus the application's events live on.
type Subscription struct {
	URL        string            `json:"url"`
	Auth       *Auth             `json:"auth,omitempty"`
	Topic      string            `json:"topic"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Version is an event API's version.
type Version struct {
	Value           string `json:"value"`
	Deprecated      bool   `json:"deprecated,omitempty"`
	DeprecatedSince string `json:"deprecated_since,omitempty"`
	ForRemoval      bool   `json:"for_removal,omitempty"`
}

// EventAPI returns the event API of the application with id.
func (a Application) EventAPI(id string) (EventAPI, bool) {
	for _, e := range a.EventAPIs {
		if e.ID == id {
			return e, true
		}
	}
	return EventAPI{}, false
}

// withoutData is a with its specs' data dropped (their sizes kept): what views hold.
func (a Application) withoutData() Application {
	apis := make([]EventAPI, len(a.EventAPIs))
	for i, e := range a.EventAPIs {
		e.Spec.DataSize = len(e.Spec.Data)
		e.Spec.Data = ""
		apis[i] = e
	}
	a.EventAPIs = apis
	return a
}
