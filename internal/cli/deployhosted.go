package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

// A deploy folder's hosted/ folder holds hosted services: hosted/<Name>.lua, hosted/<Name>.py
// or hosted/<Name> (a process, its kind given in hosted/<Name>.yaml), and the optional
// hosted/<Name>.yaml of its description, kind and property definitions. Its flows/ folder
// holds flows/<name>.yaml, as "flow create --file" reads them. Deploy creates and updates
// both after everything else, and never deletes them: their versions and instances are not
// the folder's to take away.

const (
	hostedDir = "hosted"
	flowsDir  = "flows"
)

// hostedSpec is a hosted service of a deploy folder, or the newest version of the server's.
type hostedSpec struct {
	Kind        string
	Description string
	// CodeSHA256 is the hex SHA-256 of Code (the server's is all it shows in a list).
	Code, CodeSHA256 string
	Props            apiclient.HostedProperties
	// Major makes an update the next major version rather than the next minor.
	Major bool
}

// hostedMeta is hosted/<Name>.yaml.
type hostedMeta struct {
	Description string `json:"description"`
	Kind        string `json:"kind"`
	apiclient.HostedProperties
}

const hostedMetaWant = "want description, kind and static_properties and security_properties, lists of {name, type, description, required, default}"

// readSubdir lists the folder dir/name, holding nothing when there is none.
func readSubdir(dir, name string) (string, []os.DirEntry, error) {
	root := filepath.Join(dir, name)
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return root, nil, nil
	}
	if err != nil {
		return root, nil, readError(root, err)
	}
	return root, entries, nil
}

// loadHosted reads dir/hosted; a missing folder holds nothing.
func loadHosted(dir string) ([]item, error) {
	root, entries, err := readSubdir(dir, hostedDir)
	if err != nil {
		return nil, err
	}
	code := map[string]string{} // name → code file
	meta := map[string]string{} // name → yaml file
	var errs []error
	for _, e := range entries {
		name, file := e.Name(), filepath.Join(root, e.Name())
		if strings.HasPrefix(name, ".") {
			continue
		}
		if e.IsDir() {
			errs = append(errs, usagef("%s: a folder; %s/ holds only the files of hosted services", file, hostedDir))
			continue
		}
		switch ext := strings.ToLower(filepath.Ext(name)); ext {
		case ".yaml", ".yml":
			meta[strings.TrimSuffix(name, filepath.Ext(name))] = file
		default:
			svc := name
			if kindOf(name) != "" {
				svc = strings.TrimSuffix(name, filepath.Ext(name))
			}
			if other, dup := code[svc]; dup {
				errs = append(errs, usagef("%s: hosted service %s already has its code in %s", file, svc, other))
				continue
			}
			code[svc] = file
		}
	}
	for svc, file := range meta {
		if _, ok := code[svc]; !ok {
			errs = append(errs, usagef("%s: no code file for hosted service %s (%s.lua, %s.py, or %s with kind: process)", file, svc, svc, svc, svc))
		}
	}
	names := make([]string, 0, len(code))
	for svc := range code {
		names = append(names, svc)
	}
	sort.Strings(names)
	var items []item
	for _, svc := range names {
		it, err := loadHostedService(svc, code[svc], meta[svc])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		items = append(items, it)
	}
	return items, errors.Join(errs...)
}

// loadHostedService reads one hosted service's code file and optional YAML file.
func loadHostedService(name, codeFile, metaFile string) (item, error) {
	var m hostedMeta
	if metaFile != "" {
		raw, err := os.ReadFile(metaFile)
		if err != nil {
			return item{}, readError(metaFile, err)
		}
		if err := decodeStrict(raw, &m); err != nil {
			return item{}, usagef("%s: %v (%s)", metaFile, err, hostedMetaWant)
		}
	}
	kind := kindOf(codeFile)
	switch {
	case m.Kind != "" && kind != "" && m.Kind != kind:
		return item{}, usagef("%s: field kind: %s, but %s is %s", metaFile, m.Kind, filepath.Base(codeFile), kind)
	case m.Kind != "":
		kind = m.Kind
	case kind == "":
		return item{}, usagef("%s: no kind: write kind: process in %s.yaml beside it (.lua and .py files say theirs)", codeFile, name)
	}
	src, err := os.ReadFile(codeFile)
	if err != nil {
		return item{}, readError(codeFile, err)
	}
	sum := sha256.Sum256(src)
	return item{Kind: kindHosted, File: codeFile, Name: name, Version: "0.1", Hosted: &hostedSpec{
		Kind: kind, Description: m.Description, Code: string(src), CodeSHA256: hex.EncodeToString(sum[:]), Props: m.HostedProperties,
	}}, nil
}

// loadFlows reads dir/flows/*.yaml; a missing folder holds nothing.
func loadFlows(dir string) ([]item, error) {
	root, entries, err := readSubdir(dir, flowsDir)
	if err != nil {
		return nil, err
	}
	var items []item
	var errs []error
	for _, e := range entries {
		name, file := e.Name(), filepath.Join(root, e.Name())
		if strings.HasPrefix(name, ".") {
			continue
		}
		ext := strings.ToLower(filepath.Ext(name))
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			errs = append(errs, usagef("%s: %s/ holds only flows, as <name>.yaml files", file, flowsDir))
			continue
		}
		flow := strings.TrimSuffix(name, filepath.Ext(name))
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, readError(file, err)
		}
		var ff flowFile
		if err := decodeStrict(raw, &ff); err != nil {
			errs = append(errs, usagef("%s: %v (%s)", file, err, flowFileWant))
			continue
		}
		if ff.Name != "" && ff.Name != flow {
			errs = append(errs, usagef("%s: field name: %s, but the file names flow %s", file, ff.Name, flow))
			continue
		}
		f := &apiclient.Flow{Name: flow, Description: ff.Description, Instances: ff.Instances}
		if f.Instances == nil {
			f.Instances = []apiclient.FlowInstance{}
		}
		items = append(items, item{Kind: kindFlow, File: file, Name: flow, Flow: f})
	}
	return items, errors.Join(errs...)
}

// nextVersion is the version after v ("0.1"): the next minor ("0.2"), or the next major ("1.0").
func nextVersion(v string, major bool) string {
	maj, minor, ok := strings.Cut(v, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil {
		return "" // the server's answer says it
	}
	if major {
		return strconv.Itoa(a+1) + ".0"
	}
	return strconv.Itoa(a) + "." + strconv.Itoa(b+1)
}

// sameProperties compares property definitions as the server stores them.
func sameProperties(a, b apiclient.HostedProperties) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// hostedSyncer creates hosted services and stores their next versions; it never deletes one.
func hostedSyncer(c *apiclient.Client, sol string) syncer {
	return syncer{
		kind: kindHosted,
		list: func(ctx context.Context) ([]item, error) {
			svcs, err := c.ListHosted(ctx, sol)
			if err != nil {
				return nil, err
			}
			items := make([]item, 0, len(svcs))
			for _, s := range svcs {
				if len(s.Versions) == 0 {
					continue
				}
				v := s.Versions[len(s.Versions)-1]
				items = append(items, item{Kind: kindHosted, Name: s.Name, Version: v.Version,
					Hosted: &hostedSpec{Kind: s.Kind, Description: s.Description, CodeSHA256: v.CodeSHA256, Props: v.HostedProperties}})
			}
			return items, nil
		},
		same: func(remote, local item) bool {
			return remote.Hosted.CodeSHA256 == local.Hosted.CodeSHA256 && sameProperties(remote.Hosted.Props, local.Hosted.Props)
		},
		settle: func(remote, local item, update bool) item {
			local.Version = remote.Version
			if update {
				local.Version = nextVersion(remote.Version, local.Hosted.Major)
			}
			return local
		},
		put: func(ctx context.Context, it item, update bool) error {
			h := it.Hosted
			if !update {
				_, err := c.CreateHosted(ctx, sol, apiclient.HostedCreate{Name: it.Name, Kind: h.Kind, Description: h.Description, Code: h.Code, HostedProperties: h.Props})
				return err
			}
			bump := "minor"
			if h.Major {
				bump = "major"
			}
			_, err := c.AddHostedVersion(ctx, sol, it.Name, apiclient.HostedUpdate{Update: bump, Code: h.Code, HostedProperties: h.Props})
			return err
		},
		prepare: func(ctx context.Context, local []item) error {
			if !slices.ContainsFunc(local, func(it item) bool { return it.Kind == kindHosted }) {
				return nil
			}
			remote, err := c.ListHosted(ctx, sol)
			if err != nil {
				return err
			}
			kinds := map[string]string{}
			for _, s := range remote {
				kinds[s.Name] = s.Kind
			}
			var errs []error
			for _, it := range local {
				if k, ok := kinds[it.Name]; ok && it.Kind == kindHosted && k != it.Hosted.Kind {
					errs = append(errs, &sourceError{File: it.File, Msg: fmt.Sprintf("hosted service %s is %s on the server, not %s: a kind does not change (delete it first)", it.Name, k, it.Hosted.Kind)})
				}
			}
			return errors.Join(errs...)
		},
	}
}

// flowSyncer creates and replaces flows; it never deletes one.
func flowSyncer(c *apiclient.Client, sol string) syncer {
	return syncer{
		kind: kindFlow,
		list: func(ctx context.Context) ([]item, error) {
			flows, err := c.ListFlows(ctx, sol)
			if err != nil {
				return nil, err
			}
			items := make([]item, len(flows))
			for i := range flows {
				items[i] = item{Kind: kindFlow, Name: flows[i].Name, Flow: &flows[i]}
			}
			return items, nil
		},
		same: func(remote, local item) bool { return sameFlow(*remote.Flow, *local.Flow) },
		put: func(ctx context.Context, it item, update bool) error {
			var err error
			if update {
				_, err = c.UpdateFlow(ctx, sol, *it.Flow)
			} else {
				_, err = c.CreateFlow(ctx, sol, *it.Flow)
			}
			return err
		},
	}
}

// sameFlow reports whether the server's flow is the folder's. The server shows security values
// as "(set)": a folder's value written out cannot be compared, so its flow is always sent; one
// written "(set)" or left out keeps the stored value, so is not compared.
func sameFlow(remote, local apiclient.Flow) bool {
	if remote.Description != local.Description || len(remote.Instances) != len(local.Instances) {
		return false
	}
	for i, l := range local.Instances {
		for _, v := range l.Security {
			if v != "(set)" {
				return false
			}
		}
		r := remote.Instances[i]
		r.Security, l.Security = nil, nil
		if !reflect.DeepEqual(normalJSON(r), normalJSON(l)) {
			return false
		}
	}
	return true
}

// normalJSON is v as JSON decodes it, so that numbers and empty maps compare alike.
func normalJSON(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil
	}
	return out
}
