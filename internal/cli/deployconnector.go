package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/switchboardhq/switchboard/internal/apiclient"
	"github.com/switchboardhq/switchboard/internal/connector"
	"github.com/switchboardhq/switchboard/internal/events"
)

// A connector in a deploy file is an annotation and its config, JSON on the "--" comment
// lines right below it, up to the first blank line:
//
//	--#CONNECTOR tick cron ticks.minute
//	-- {"schedule": "@every 1m"}
//
// Comment lines keep the file Lua, so that a connector sits beside the handler of its topic.
// What follows the config's blank line, up to the next annotation, may only be comments.

func parseConnectorAnnotation(args []string) (item, error) {
	if len(args) != 3 {
		return item{}, fmt.Errorf("want --#CONNECTOR name type topic, such as --#CONNECTOR tick cron ticks.minute; got %d word(s) after --#CONNECTOR", len(args))
	}
	name, typ, topic := args[0], args[1], args[2]
	if !connector.NamePattern.MatchString(name) {
		return item{}, fmt.Errorf("connector name %q: want lower-case letters, digits, _ and -, starting with a letter or digit, at most 63 characters", name)
	}
	if err := events.ValidateTopic(topic); err != nil {
		return item{}, fmt.Errorf("topic %v", err)
	}
	return item{Kind: kindConnector, Name: name, Type: typ, Topic: topic}, nil
}

// connectorBody reads a connector's config from the lines below its annotation.
func connectorBody(it *item, lines []string, first int) (int, error) {
	i := 0
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	it.ConfigLine = it.Line
	var cfg []string
	for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
		// Blanks ending a line are never inside a JSON string, which cannot span lines.
		t := strings.Trim(lines[i], " \t\r")
		text, ok := strings.CutPrefix(t, "--")
		if !ok {
			return first + i, errors.New(`Lua code below a connector, which has no script: its config is JSON on the "--" lines right below its annotation, such as -- {"schedule": "@every 1m"}`)
		}
		if len(cfg) == 0 {
			it.ConfigLine = first + i
		}
		cfg = append(cfg, text)
	}
	var rest preamble
	for ; i < len(lines); i++ {
		if !rest.ok(lines[i]) {
			return first + i, errors.New("Lua code below a connector, which has no script: its config ends at the first blank line, and only comments may follow it up to the next annotation")
		}
	}
	it.ConfigText = strings.Join(cfg, "\n")
	_, fields, err := parseConfigText(it.ConfigText)
	if err != nil {
		var ce *configError
		line := it.ConfigLine
		if errors.As(err, &ce) {
			line += lineIndex(it.ConfigText, ce.off)
		}
		return line, err
	}
	for _, f := range fields {
		it.EnvFields = append(it.EnvFields, envFieldLine{Key: f.key, Line: it.ConfigLine + lineIndex(it.ConfigText, f.off)})
	}
	return 0, nil
}

// envFieldLine is a top-level field of a connector's config that takes ${NAME} from the
// environment, and its file line.
type envFieldLine struct {
	Key  string
	Line int
}

// connectorSyncer is the server side of connectors, as the deploy command syncs them. A
// config setting a secret is always sent again: the server never shows a secret back, so it
// cannot be compared.
func connectorSyncer(c *apiclient.Client, sol string) syncer {
	types := &connectorTypes{c: c}
	return syncer{
		kind: kindConnector,
		list: func(ctx context.Context) ([]item, error) {
			ks, err := c.ListConnectors(ctx, sol)
			if err != nil {
				return nil, err
			}
			items := make([]item, len(ks))
			for i, k := range ks {
				items[i] = item{Kind: kindConnector, Name: k.Name, Type: k.Type, Topic: k.Topic, Config: k.Config}
			}
			return items, nil
		},
		// same is called for the folder's connectors only, after prepare listed the types.
		same: func(remote, local item) bool {
			return remote.Type == local.Type && remote.Topic == local.Topic &&
				len(types.secretsSet(local)) == 0 && jsonEqual(remote.Config, local.Config)
		},
		prepare: func(ctx context.Context, local []item) error {
			if !slices.ContainsFunc(local, func(it item) bool { return it.Kind == kindConnector }) {
				return nil
			}
			if err := types.load(ctx); err != nil {
				return err
			}
			var errs []error
			for _, it := range local {
				if it.Kind == kindConnector {
					errs = append(errs, types.checkSecrets(it))
				}
			}
			return errors.Join(errs...)
		},
		put: func(ctx context.Context, it item, update bool) error {
			spec := apiclient.ConnectorSpec{Name: it.Name, Type: it.Type, Topic: it.Topic, Config: it.Config}
			var err error
			if update {
				_, err = c.UpdateConnector(ctx, sol, it.Name, spec)
			} else {
				_, err = c.CreateConnector(ctx, sol, spec)
			}
			return err
		},
		del: func(ctx context.Context, it item) error {
			return c.DeleteConnector(ctx, sol, it.Name)
		},
		check: func(ctx context.Context, it item) error {
			if err := types.load(ctx); err != nil {
				return err
			}
			return types.check(it)
		},
	}
}

// connectorTypes are the server's connector types, listed once, when first needed.
type connectorTypes struct {
	c       *apiclient.Client
	loaded  bool
	byType  map[string]apiclient.ConnectorType
	names   []string
	schemas map[string]*jsonschema.Schema
}

func (t *connectorTypes) load(ctx context.Context) error {
	if t.loaded {
		return nil
	}
	ks, err := t.c.ConnectorTypes(ctx)
	if err != nil {
		return fmt.Errorf("list connector types: %w", err)
	}
	t.byType = map[string]apiclient.ConnectorType{}
	t.schemas = map[string]*jsonschema.Schema{}
	for _, k := range ks {
		t.byType[k.Type] = k
		t.names = append(t.names, k.Type)
	}
	t.loaded = true
	return nil
}

// secretsSet are the secret fields of its type that its config sets.
func (t *connectorTypes) secretsSet(it item) []string {
	var cfg map[string]json.RawMessage
	if json.Unmarshal(it.Config, &cfg) != nil {
		return nil
	}
	var set []string
	for _, s := range t.byType[it.Type].Secrets {
		if _, ok := cfg[s]; ok {
			set = append(set, s)
		}
	}
	return set
}

// checkSecrets refuses a ${NAME} in a field that is not a secret of the connector's type (the
// value would be shown back to whoever reads the solution's connectors), and a secret written
// as the server shows one (sent, "(set)" would become the secret). A type the server does not
// have is left for the server to refuse.
func (t *connectorTypes) checkSecrets(it item) error {
	k, ok := t.byType[it.Type]
	if !ok {
		return nil
	}
	var errs []error
	for _, f := range it.EnvFields {
		if !slices.Contains(k.Secrets, f.Key) {
			secrets := "none"
			if len(k.Secrets) > 0 {
				secrets = strings.Join(k.Secrets, ", ")
			}
			errs = append(errs, &sourceError{File: it.File, Line: f.Line, Msg: fmt.Sprintf(
				"%s: config.%s: not a secret of %s (its secrets: %s): %s", it.label(), f.Key, it.Type, secrets, secretFieldsOnly)})
		}
	}
	var cfg map[string]any
	if json.Unmarshal(it.Config, &cfg) == nil {
		for _, s := range t.secretsSet(it) {
			if cfg[s] == "(set)" {
				errs = append(errs, &sourceError{File: it.File, Line: it.Line, Msg: fmt.Sprintf(
					`%s: config.%s: "(set)" is how the server shows a secret it keeps; write the secret, or ${NAME} to take it from the environment`, it.label(), s)})
			}
		}
	}
	return errors.Join(errs...)
}

var schemaPrinter = message.NewPrinter(language.English)

// check is what deploy --dry-run can tell of a connector without creating it: that the server
// has its type, and that its config matches the type's schema. What a schema cannot say (a
// cron schedule's fields, say) the server checks only when it is deployed.
func (t *connectorTypes) check(it item) error {
	k, ok := t.byType[it.Type]
	if !ok {
		return &sourceError{File: it.File, Line: it.Line, Msg: fmt.Sprintf("%s: type %q is not a connector type of the server; want one of %s",
			it.label(), it.Type, strings.Join(t.names, ", "))}
	}
	schema, ok := t.schemas[it.Type]
	if !ok {
		schema = compileTypeSchema(k)
		t.schemas[it.Type] = schema
	}
	if schema == nil {
		return nil // a schema this client cannot read: the server judges
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(it.Config)))
	if err != nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(schema.Validate(doc), &ve) {
		return nil
	}
	leaf := ve
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	field := "config"
	for _, p := range leaf.InstanceLocation {
		field += "." + p
	}
	reason := leaf.ErrorKind.LocalizedString(schemaPrinter)
	if len(leaf.InstanceLocation) > 0 && slices.Contains(k.Secrets, leaf.InstanceLocation[0]) {
		// The reason may quote the value: never show a secret.
		reason = "does not match the type's schema (" + strings.Join(leaf.ErrorKind.KeywordPath(), "/") + "); a secret's value is not shown"
	}
	return &sourceError{File: it.File, Line: it.Line, Msg: fmt.Sprintf("%s: %s: %s", it.label(), field, reason)}
}

// compileTypeSchema is k's config schema, or nil when it does not compile.
func compileTypeSchema(k apiclient.ConnectorType) *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(k.Schema)))
	if err != nil {
		return nil
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	url := "switchboard:connector/" + k.Type
	if c.AddResource(url, doc) != nil {
		return nil
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil
	}
	return s
}
