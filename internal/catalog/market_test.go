package catalog

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// marketDoc documents its operations the way Murano's published documents do: a folded Lua
// example with the blank line Murano asks for after each comment, tags, a hidden operation and
// a restricted one, and a configuration form given as an object schema.
const marketDoc = `swagger: "2.0"
info: {title: Sms, description: Send text messages., version: "2.1"}
host: sms.internal.example:8443
tags:
  - {name: messages, description: Text messages}
  - {name: admin}
x-events:
  delivered: {description: A message reached the phone}
x-exosite-config-parameters:
  type: object
  required: [AccountSid]
  properties:
    AccountSid: {type: string, title: Account, description: The account's id}
    AuthToken: {type: string, format: password, default: changeme, enum: [changeme, other]}
    Region: {type: string, enum: [eu, us], default: eu}
    Internal: {type: string, x-exosite-hidden: true}
paths:
  /messages:
    post:
      operationId: postMessage
      summary: Send a message
      description: Sends one message to one phone number.
      tags: [messages]
      x-exosite-example: >
        -- send a message


        local out = Sms.postMessage({To = "+17635551234", Body = "hi"})

      responses: {"200": {description: ok}}
    get:
      operationId: listMessages
      description: Lists the messages sent.
      parameters:
        - {name: page, in: query, type: integer}
        - {name: tracing, in: query, type: string, x-exosite-hidden: true}
        - {name: accountHeader, in: header, type: string, x-exosite-restricted: true}
      responses: {"200": {description: ok}}
  /debug:
    get:
      operationId: debug
      x-exosite-hidden: true
      responses: {"200": {description: ok}}
  /init:
    post:
      operationId: init
      x-exosite-restricted: true
      responses: {"200": {description: ok}}
  /internal:
    post:
      operationId: internalState
      x-exosite-internal-use: true
      responses: {"200": {description: ok}}
`

func TestParseReadsMarketplaceDocs(t *testing.T) {
	d, err := Parse(context.Background(), "sms", []byte(marketDoc), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Tag{{"messages", "Text messages"}, {"admin", ""}}; !reflect.DeepEqual(d.Tags, want) {
		t.Errorf("Tags = %+v, want %+v", d.Tags, want)
	}
	post := d.Operations["postMessage"]
	wantExample := "-- send a message\n\nlocal out = Sms.postMessage({To = \"+17635551234\", Body = \"hi\"})"
	if post.Description != "Sends one message to one phone number." || post.Example != wantExample ||
		!reflect.DeepEqual(post.Tags, []string{"messages"}) || post.Hidden {
		t.Errorf("postMessage = %+v", post)
	}
	if list := d.Operations["listMessages"]; list.Summary != "Lists the messages sent." || list.Description != list.Summary {
		t.Errorf("listMessages = %+v", list)
	}
	if !d.Operations["debug"].Hidden {
		t.Error("debug is not hidden")
	}
	params := map[string]ConfigParameter{}
	for _, p := range d.ConfigParameters {
		params[p.Name] = p
	}
	if p := params["AccountSid"]; p.Title != "Account" || !p.Required {
		t.Errorf("AccountSid = %+v", p)
	}
	if p := params["Region"]; !reflect.DeepEqual(p.Enum, []any{"eu", "us"}) || p.Default != "eu" {
		t.Errorf("Region = %+v", p)
	}
	if !params["Internal"].Hidden || params["Region"].Hidden {
		t.Errorf("Hidden: Internal %v, Region %v", params["Internal"].Hidden, params["Region"].Hidden)
	}

	m := d.Market()
	var names []string
	for _, op := range m.Operations {
		names = append(names, op.Name)
	}
	if !reflect.DeepEqual(names, []string{"listMessages", "postMessage"}) {
		t.Errorf("market operations %v, want the hidden and restricted ones left out", names)
	}
	if op := m.Operations[0]; op.Summary != "Lists the messages sent." || op.Description != "" {
		t.Errorf("a description that is also the summary is shown twice: %+v", op)
	}
	if op := m.Operations[1]; op.Example != wantExample || op.Description != post.Description || op.Summary != "Send a message" {
		t.Errorf("market postMessage = %+v", op)
	}
	if len(m.Events) != 1 || m.Events[0] != (MarketEvent{"delivered", "A message reached the phone"}) {
		t.Errorf("market events = %+v", m.Events)
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"sms.internal.example", "8443", "changeme", "Internal", "tracing", "debug", `"init"`, "internalState"} {
		if strings.Contains(string(data), leak) {
			t.Errorf("market view shows %q: %s", leak, data)
		}
	}

	// The document shown beside it leaves out the same, and keeps the rest.
	pub := string(d.PublicDoc())
	for _, leak := range []string{"sms.internal.example", "changeme", "Internal", "tracing", "accountHeader", "debug", "/init", "internalState"} {
		if strings.Contains(pub, leak) {
			t.Errorf("public document shows %q: %s", leak, pub)
		}
	}
	for _, kept := range []string{`"postMessage"`, `"listMessages"`, `"page"`, `"AuthToken"`, `"AccountSid"`, `"Region"`, `"enum":["eu","us"]`} {
		if !strings.Contains(pub, kept) {
			t.Errorf("public document lacks %s: %s", kept, pub)
		}
	}
}

func TestMarket(t *testing.T) {
	base, _ := url.Parse("https://svc.internal.example:9443/api")
	d := &Description{
		Name: "svc", Description: "A service", Version: "1.0", BaseURL: base,
		Tags: []Tag{{Name: "data", Description: "Data"}},
		ConfigParameters: []ConfigParameter{
			{Name: "user", Type: "string", Required: true, Description: "Account name", Title: "User", Default: "me"},
			{Name: "password", Type: "string", Required: true, Secret: true, Default: "hunter2", Enum: []any{"hunter2"}},
			{Name: "mode", Type: "string", Enum: []any{"fast", "safe"}, Default: "safe"},
			{Name: "solution", Type: "string", Restricted: true, From: "solution_id"},
			{Name: "shard", Type: "integer", Hidden: true, Default: 3},
		},
		SecuritySchemes: []SecurityScheme{
			{Name: "login", Type: SecurityBasic, Description: "Account login", UserField: "user", SecretField: "password"},
			{Name: "signed", Type: SecuritySignature},
		},
		Security: [][]string{{"login"}},
		Operations: map[string]*Operation{
			"get":    {ID: "get", Summary: "Get data", Description: "Gets the data.", Example: "return Svc.get()", Tags: []string{"data"}},
			"ping":   {ID: "ping", Summary: "Ping", Description: "Ping", Security: [][]string{}},
			"signed": {ID: "signed", Security: [][]string{{"signed"}, {"login"}}},
			"gc":     {ID: "gc", Restricted: true},
			"debug":  {ID: "debug", Hidden: true},
		},
		Events: []Event{{Name: "changed", Description: "Data changed"}},
	}
	want := Market{
		Name: "svc", Description: "A service", Version: "1.0",
		Tags: []MarketTag{{Name: "data", Description: "Data"}},
		ConfigParameters: []MarketParameter{
			{Name: "user", Title: "User", Type: "string", Required: true, Description: "Account name", Default: "me"},
			{Name: "password", Type: "string", Required: true, Secret: true},
			{Name: "mode", Type: "string", Enum: []any{"fast", "safe"}, Default: "safe"},
			{Name: "solution", Type: "string", Restricted: true, From: "solution_id"},
		},
		Operations: []MarketOperation{
			{Name: "get", Summary: "Get data", Description: "Gets the data.", Example: "return Svc.get()", Tags: []string{"data"}, Security: [][]string{{"login"}}},
			{Name: "ping", Summary: "Ping"},
			{Name: "signed", Security: [][]string{{"signed"}, {"login"}}},
		},
		Events: []MarketEvent{{Name: "changed", Description: "Data changed"}},
		SecuritySchemes: []MarketScheme{
			{Name: "login", Type: "basic", Description: "Account login", UserField: "user", SecretField: "password"},
			{Name: "signed", Type: "signature"},
		},
		Security: [][]string{{"login"}},
	}
	got := d.Market()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Market() =\n%+v\nwant\n%+v", got, want)
	}
	data, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"hunter2", "internal.example", "9443", "shard", "debug", `"gc"`} {
		if strings.Contains(string(data), leak) {
			t.Errorf("JSON shows %q: %s", leak, data)
		}
	}

	// A service with nothing to show still answers lists, not nulls.
	data, _ = json.Marshal((&Description{Name: "bare"}).Market())
	if want := `{"name":"bare","tags":[],"config_parameters":[],"operations":[],"events":[],"security_schemes":[]}`; string(data) != want {
		t.Errorf("bare market = %s, want %s", data, want)
	}
}

func TestParseMarketplaceRefusals(t *testing.T) {
	for _, tc := range []struct{ ext, want string }{
		{"x-exosite-example: [1, 2]", "x-exosite-example must be a string"},
		{"x-exosite-hidden: yes please", "x-exosite-hidden must be true or false"},
	} {
		doc := strings.Replace(marketDoc, "      operationId: init\n", "      operationId: init\n      "+tc.ext+"\n", 1)
		_, err := Parse(context.Background(), "sms", []byte(doc), ParseOptions{})
		if err == nil || !strings.Contains(err.Error(), "operation init: "+tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.ext, err, tc.want)
		}
	}
}
