// Package helm_test renders the Helm charts of deploy/helm with the Helm SDK and checks the
// manifests they make, so a broken chart fails the tests.
package helm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const (
	hubChart     = "switchboard"
	serviceChart = "dynamic-service"

	linkerdInject = "linkerd.io/inject"
	nameRule      = "must be the same and match ^[a-z0-9]+$"
)

// manifests are the objects a chart rendered, by "Kind/name".
type manifests map[string]rendered

// rendered is one object and the template it came from ("switchboard/charts/nats/templates/…"
// for a subchart's).
type rendered struct {
	obj  any
	path string
}

// render renders chartDir as release in namespace with the --set style assignments of set.
func render(chartDir, release, namespace string, set ...string) (manifests, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", chartDir, err)
	}
	vals := map[string]any{}
	for _, s := range set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	// As helm install does: a dependency whose condition is false is left out.
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return nil, err
	}
	opts := chartutil.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}
	rv, err := chartutil.ToRenderValues(ch, vals, opts, chartutil.DefaultCapabilities.Copy())
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, err
	}
	out := manifests{}
	for _, path := range slices.Sorted(maps.Keys(files)) {
		if !strings.HasSuffix(path, ".yaml") {
			continue
		}
		if err := out.add(path, files[path]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// add decodes each YAML document of text strictly into its typed Kubernetes object, so a
// misspelt or misplaced field fails.
func (m manifests) add(path, text string) error {
	for i, doc := range splitDocs(text) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return fmt.Errorf("%s #%d: %w\n%s", path, i, err, doc)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "apps/v1 StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 Pod":
			obj = &corev1.Pod{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "v1 Secret":
			obj = &corev1.Secret{}
		case "v1 PersistentVolumeClaim":
			obj = &corev1.PersistentVolumeClaim{}
		default:
			return fmt.Errorf("%s #%d: unexpected %s %s", path, i, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return fmt.Errorf("%s #%d (%s): %w\n%s", path, i, tm.Kind, err, doc)
		}
		name := obj.(metav1.Object).GetName()
		if name == "" {
			return fmt.Errorf("%s #%d: %s without a name", path, i, tm.Kind)
		}
		key := tm.Kind + "/" + name
		if _, dup := m[key]; dup {
			return fmt.Errorf("%s: %s rendered twice", path, key)
		}
		m[key] = rendered{obj: obj, path: path}
	}
	return nil
}

// splitDocs returns the non-empty YAML documents of text.
func splitDocs(text string) []string {
	var docs []string
	for _, d := range strings.Split("\n"+text, "\n---") {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func (m manifests) kinds() []string { return slices.Sorted(maps.Keys(m)) }

// get returns the object kind/name, failing the test when it was not rendered.
func get[T any](t *testing.T, m manifests, kind, name string) *T {
	t.Helper()
	o, ok := m[kind+"/"+name]
	if !ok {
		t.Fatalf("no %s/%s among %v", kind, name, m.kinds())
	}
	return o.obj.(*T)
}

// own returns the kinds and names of the objects made by chart's own templates, not by its
// dependencies'.
func (m manifests) own(chart string) []string {
	var out []string
	for _, k := range m.kinds() {
		if strings.HasPrefix(m[k].path, chart+"/templates/") {
			out = append(out, k)
		}
	}
	return out
}

func container(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("deployment %s has %d containers, want 1", d.Name, n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

func env(t *testing.T, c corev1.Container, name string) corev1.EnvVar {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("container %s has no env %s", c.Name, name)
	return corev1.EnvVar{}
}

func hasEnv(c corev1.Container, name string) bool {
	return slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
}

func wantEnvValue(t *testing.T, c corev1.Container, name, want string) {
	t.Helper()
	if got := env(t, c, name); got.Value != want || got.ValueFrom != nil {
		t.Errorf("env %s = %q (from %v), want %q", name, got.Value, got.ValueFrom, want)
	}
}

func wantEnvSecret(t *testing.T, c corev1.Container, name, secret, key string) {
	t.Helper()
	got := env(t, c, name)
	ref := got.ValueFrom
	if got.Value != "" || ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != secret || ref.SecretKeyRef.Key != key {
		t.Errorf("env %s = %+v, want secret %s key %s", name, got, secret, key)
	}
}

func wantLinkerd(t *testing.T, d *appsv1.Deployment, want bool) {
	t.Helper()
	got, ok := d.Spec.Template.Annotations[linkerdInject]
	switch {
	case want && got != "enabled":
		t.Errorf("pod annotations %v: want %s: enabled", d.Spec.Template.Annotations, linkerdInject)
	case !want && ok:
		t.Errorf("pod annotations %v: want no %s", d.Spec.Template.Annotations, linkerdInject)
	}
}

func wantSelectsPods(t *testing.T, svc *corev1.Service, d *appsv1.Deployment) {
	t.Helper()
	if len(svc.Spec.Selector) == 0 {
		t.Fatalf("service %s selects nothing", svc.Name)
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("service %s selects %s=%s, pods have %v", svc.Name, k, v, d.Spec.Template.Labels)
		}
		if d.Spec.Selector.MatchLabels[k] != v {
			t.Errorf("deployment %s matchLabels %v lack %s=%s", d.Name, d.Spec.Selector.MatchLabels, k, v)
		}
	}
}

func volume(t *testing.T, d *appsv1.Deployment, name string) corev1.Volume {
	t.Helper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("deployment %s has no volume %s", d.Name, name)
	return corev1.Volume{}
}

// wantHubPod checks what every hub pod has whatever its NATS: the tokens from the Secret
// secret, the instance name from the pod's name, both probes and resources.
func wantHubPod(t *testing.T, c corev1.Container, secret string) {
	t.Helper()
	wantEnvSecret(t, c, "SWITCHBOARD_ADMIN_TOKEN", secret, "admin-token")
	wantEnvSecret(t, c, "SWITCHBOARD_REGISTRATION_TOKEN", secret, "registration-token")
	if e := env(t, c, "SWITCHBOARD_INSTANCE_NAME"); e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("env SWITCHBOARD_INSTANCE_NAME = %+v, want the pod's metadata.name", e)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "http" {
		t.Errorf("readiness probe %+v, want GET /readyz on http", p)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "http" {
		t.Errorf("liveness probe %+v, want GET /healthz on http", p)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v, want cpu and memory requests and a memory limit", c.Resources)
	}
}

// wantSpread checks that d's pods are spread across nodes by a constraint selecting them.
func wantSpread(t *testing.T, d *appsv1.Deployment, when corev1.UnsatisfiableConstraintAction) {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
		if c.TopologyKey != "kubernetes.io/hostname" {
			continue
		}
		if c.MaxSkew != 1 || c.WhenUnsatisfiable != when {
			t.Errorf("spread %+v, want maxSkew 1, %s", c, when)
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("spread selector %v (%v) does not select the pods %v", c.LabelSelector, err, d.Spec.Template.Labels)
		}
		return
	}
	t.Errorf("constraints %+v, want one spreading across kubernetes.io/hostname", d.Spec.Template.Spec.TopologySpreadConstraints)
}

// wantPDB checks that pdb keeps all but one of d's pods up.
func wantPDB(t *testing.T, pdb *policyv1.PodDisruptionBudget, d *appsv1.Deployment) {
	t.Helper()
	if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.String() != "1" || pdb.Spec.MinAvailable != nil {
		t.Errorf("pdb maxUnavailable %v minAvailable %v, want maxUnavailable 1", mu, pdb.Spec.MinAvailable)
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("pdb selector %v (%v) does not select the pods %v", pdb.Spec.Selector, err, d.Spec.Template.Labels)
	}
}

func TestHubChart(t *testing.T) {
	const ns = "iot"
	// The embedded NATS, as the chart ran before the NATS chart came along.
	embedded := "nats.enabled=false,embeddedNats=true,replicaCount=1"
	tests := []struct {
		name    string
		release string
		set     []string
		wantErr string
		check   func(t *testing.T, m manifests)
	}{{
		name:    "defaults: instances on the NATS chart's cluster",
		release: "switchboard",
		check: func(t *testing.T, m manifests) {
			wantKinds := []string{"Deployment/switchboard", "PodDisruptionBudget/switchboard",
				"Secret/switchboard", "Service/switchboard", "ServiceAccount/switchboard"}
			if got := m.own(hubChart); !slices.Equal(got, wantKinds) {
				t.Errorf("rendered %v, want %v", got, wantKinds)
			}
			d := get[appsv1.Deployment](t, m, "Deployment", "switchboard")
			if *d.Spec.Replicas != 2 {
				t.Errorf("replicas %d, want 2", *d.Spec.Replicas)
			}
			c := container(t, d)
			if want := []string{"serve", "--addr", "0.0.0.0:8080", "--data", "/data"}; !slices.Equal(c.Args, want) {
				t.Errorf("args %q, want %q", c.Args, want)
			}
			if c.Image != "switchboardhq/switchboard:0.1.0" {
				t.Errorf("image %q", c.Image)
			}
			if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 || c.Ports[0].Name != "http" {
				t.Errorf("ports %+v, want http 8080", c.Ports)
			}
			wantHubPod(t, c, "switchboard")
			wantEnvValue(t, c, "SWITCHBOARD_NATS_URL", "nats://switchboard-nats.iot:4222")
			if hasEnv(c, "SWITCHBOARD_APPS_DOMAIN") {
				t.Error("env SWITCHBOARD_APPS_DOMAIN set by default")
			}
			if v := volume(t, d, "data"); v.EmptyDir == nil {
				t.Errorf("data volume %+v, want an emptyDir: the instances keep no state", v)
			}
			if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
				t.Error("strategy Recreate with the NATS chart: updates would stop every instance at once")
			}
			if d.Spec.Template.Spec.ServiceAccountName != "switchboard" {
				t.Errorf("serviceAccountName %q", d.Spec.Template.Spec.ServiceAccountName)
			}
			wantLinkerd(t, d, true)
			wantSpread(t, d, corev1.ScheduleAnyway)
			wantPDB(t, get[policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget", "switchboard"), d)

			svc := get[corev1.Service](t, m, "Service", "switchboard")
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort.String() != "http" {
				t.Errorf("service ports %+v, want 8080 → http", svc.Spec.Ports)
			}
			wantSelectsPods(t, svc, d)

			sec := get[corev1.Secret](t, m, "Secret", "switchboard")
			for _, k := range []string{"admin-token", "registration-token"} {
				if len(sec.Data[k]) < 16 {
					t.Errorf("secret key %s = %q, want a generated token of at least 16 characters", k, sec.Data[k])
				}
			}
			if bytes.Equal(sec.Data["admin-token"], sec.Data["registration-token"]) {
				t.Error("the admin and registration tokens are the same")
			}
		},
	}, {
		name:    "replicas, and the NATS Service after another release name",
		release: "hub",
		set:     []string{"replicaCount=5", "topologySpread.whenUnsatisfiable=DoNotSchedule"},
		check: func(t *testing.T, m manifests) {
			d := get[appsv1.Deployment](t, m, "Deployment", "hub-switchboard")
			if *d.Spec.Replicas != 5 {
				t.Errorf("replicas %d, want 5", *d.Spec.Replicas)
			}
			wantEnvValue(t, container(t, d), "SWITCHBOARD_NATS_URL", "nats://hub-nats.iot:4222")
			wantSpread(t, d, corev1.DoNotSchedule)
		},
	}, {
		// The NATS chart names its objects after the release alone when the release's name
		// holds "nats".
		name:    "release name holding nats",
		release: "natsboard",
		check: func(t *testing.T, m manifests) {
			c := container(t, get[appsv1.Deployment](t, m, "Deployment", "natsboard-switchboard"))
			wantEnvValue(t, c, "SWITCHBOARD_NATS_URL", "nats://natsboard.iot:4222")
		},
	}, {
		name:    "NATS chart names and port overridden",
		release: "switchboard",
		set:     []string{"nats.fullnameOverride=bus", "nats.config.nats.port=4333", "nats.namespaceOverride=messaging"},
		check: func(t *testing.T, m manifests) {
			c := container(t, get[appsv1.Deployment](t, m, "Deployment", "switchboard"))
			wantEnvValue(t, c, "SWITCHBOARD_NATS_URL", "nats://bus.messaging:4333")
		},
	}, {
		name:    "NATS chart service name",
		release: "switchboard",
		set:     []string{"nats.service.name=nats-client"},
		check: func(t *testing.T, m manifests) {
			c := container(t, get[appsv1.Deployment](t, m, "Deployment", "switchboard"))
			wantEnvValue(t, c, "SWITCHBOARD_NATS_URL", "nats://nats-client.iot:4222")
		},
	}, {
		name:    "no PDB, no spread, more constraints",
		release: "switchboard",
		set: []string{"podDisruptionBudget.enabled=false", "topologySpread.enabled=false",
			"topologySpreadConstraints[0].maxSkew=2,topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone,topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule"},
		check: func(t *testing.T, m manifests) {
			if _, ok := m["PodDisruptionBudget/switchboard"]; ok {
				t.Error("a PDB was rendered with podDisruptionBudget.enabled=false")
			}
			d := get[appsv1.Deployment](t, m, "Deployment", "switchboard")
			got := d.Spec.Template.Spec.TopologySpreadConstraints
			if len(got) != 1 || got[0].TopologyKey != "topology.kubernetes.io/zone" || got[0].MaxSkew != 2 {
				t.Errorf("constraints %+v, want only the zone one given", got)
			}
		},
	}, {
		name:    "embedded NATS",
		release: "switchboard",
		set:     []string{embedded},
		check: func(t *testing.T, m manifests) {
			wantKinds := []string{"Deployment/switchboard", "PersistentVolumeClaim/switchboard-data",
				"Secret/switchboard", "Service/switchboard", "ServiceAccount/switchboard"}
			if got := m.kinds(); !slices.Equal(got, wantKinds) {
				t.Errorf("rendered %v, want %v", got, wantKinds)
			}
			d := get[appsv1.Deployment](t, m, "Deployment", "switchboard")
			c := container(t, d)
			wantHubPod(t, c, "switchboard")
			if hasEnv(c, "SWITCHBOARD_NATS_URL") {
				t.Error("env SWITCHBOARD_NATS_URL set with the embedded NATS")
			}
			if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == "data" && vm.MountPath == "/data" }) {
				t.Errorf("mounts %+v, want data at /data", c.VolumeMounts)
			}
			if v := volume(t, d, "data"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "switchboard-data" {
				t.Errorf("data volume %+v, want claim switchboard-data", v)
			}
			if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("strategy %q, want Recreate with the embedded NATS", d.Spec.Strategy.Type)
			}
			if *d.Spec.Replicas != 1 {
				t.Errorf("replicas %d, want 1", *d.Spec.Replicas)
			}
			if got := d.Spec.Template.Spec.TopologySpreadConstraints; len(got) != 0 {
				t.Errorf("constraints %+v for the one embedded instance", got)
			}
			pvc := get[corev1.PersistentVolumeClaim](t, m, "PersistentVolumeClaim", "switchboard-data")
			if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "1Gi" {
				t.Errorf("pvc size %s, want 1Gi", q.String())
			}
		},
	}, {
		name:    "linkerd off removes the annotation",
		release: "switchboard",
		set:     []string{"linkerdProxy.enabled=false"},
		check: func(t *testing.T, m manifests) {
			wantLinkerd(t, get[appsv1.Deployment](t, m, "Deployment", "switchboard"), false)
		},
	}, {
		name:    "pod annotations are kept",
		release: "switchboard",
		set:     []string{"linkerdProxy.enabled=false", "podAnnotations.example\\.com/team=iot"},
		check: func(t *testing.T, m manifests) {
			d := get[appsv1.Deployment](t, m, "Deployment", "switchboard")
			wantLinkerd(t, d, false)
			if got := d.Spec.Template.Annotations["example.com/team"]; got != "iot" {
				t.Errorf("pod annotations %v, want example.com/team: iot", d.Spec.Template.Annotations)
			}
		},
	}, {
		name:    "outside NATS needs no claim",
		release: "switchboard",
		set:     []string{"nats.enabled=false", "natsUrl=nats://nats.nats:4222", "replicaCount=3", "appsDomain=apps.example.com"},
		check: func(t *testing.T, m manifests) {
			if _, ok := m["PersistentVolumeClaim/switchboard-data"]; ok {
				t.Error("a PVC was rendered with natsUrl set")
			}
			d := get[appsv1.Deployment](t, m, "Deployment", "switchboard")
			c := container(t, d)
			wantEnvValue(t, c, "SWITCHBOARD_NATS_URL", "nats://nats.nats:4222")
			wantEnvValue(t, c, "SWITCHBOARD_APPS_DOMAIN", "apps.example.com")
			if v := volume(t, d, "data"); v.EmptyDir == nil {
				t.Errorf("data volume %+v, want an emptyDir", v)
			}
			if *d.Spec.Replicas != 3 {
				t.Errorf("replicas %d, want 3", *d.Spec.Replicas)
			}
			if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
				t.Error("strategy Recreate with an outside NATS")
			}
			wantSpread(t, d, corev1.ScheduleAnyway)
			wantPDB(t, get[policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget", "switchboard"), d)
		},
	}, {
		name:    "persistence off",
		release: "switchboard",
		set:     []string{embedded, "persistence.enabled=false"},
		check: func(t *testing.T, m manifests) {
			if _, ok := m["PersistentVolumeClaim/switchboard-data"]; ok {
				t.Error("a PVC was rendered with persistence.enabled=false")
			}
			if v := volume(t, get[appsv1.Deployment](t, m, "Deployment", "switchboard"), "data"); v.EmptyDir == nil {
				t.Errorf("data volume %+v, want an emptyDir", v)
			}
		},
	}, {
		name:    "existing claim",
		release: "switchboard",
		set:     []string{embedded, "persistence.existingClaim=hub-data"},
		check: func(t *testing.T, m manifests) {
			if _, ok := m["PersistentVolumeClaim/switchboard-data"]; ok {
				t.Error("a PVC was rendered with persistence.existingClaim")
			}
			if v := volume(t, get[appsv1.Deployment](t, m, "Deployment", "switchboard"), "data"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "hub-data" {
				t.Errorf("data volume %+v, want claim hub-data", v)
			}
		},
	}, {
		name:    "existing secret",
		release: "switchboard",
		set:     []string{"existingSecret=hub-tokens"},
		check: func(t *testing.T, m manifests) {
			if _, ok := m["Secret/switchboard"]; ok {
				t.Error("a Secret was rendered with existingSecret set")
			}
			wantHubPod(t, container(t, get[appsv1.Deployment](t, m, "Deployment", "switchboard")), "hub-tokens")
		},
	}, {
		name:    "given tokens",
		release: "switchboard",
		set:     []string{"adminToken=admin-token-0123456789", "registrationToken=registration-0123456789"},
		check: func(t *testing.T, m manifests) {
			sec := get[corev1.Secret](t, m, "Secret", "switchboard")
			if got := string(sec.Data["admin-token"]); got != "admin-token-0123456789" {
				t.Errorf("admin-token %q", got)
			}
			if got := string(sec.Data["registration-token"]); got != "registration-0123456789" {
				t.Errorf("registration-token %q", got)
			}
		},
	}, {
		name:    "other release name",
		release: "hub",
		set:     []string{"image.repository=registry.example.com/switchboard", "image.tag=1.2.3", "serviceAccount.name=hubsa"},
		check: func(t *testing.T, m manifests) {
			d := get[appsv1.Deployment](t, m, "Deployment", "hub-switchboard")
			get[corev1.Service](t, m, "Service", "hub-switchboard")
			get[corev1.ServiceAccount](t, m, "ServiceAccount", "hubsa")
			if d.Spec.Template.Spec.ServiceAccountName != "hubsa" {
				t.Errorf("serviceAccountName %q, want hubsa", d.Spec.Template.Spec.ServiceAccountName)
			}
			if c := container(t, d); c.Image != "registry.example.com/switchboard:1.2.3" {
				t.Errorf("image %q", c.Image)
			}
		},
	}, {
		name:    "NATS chart off without a URL",
		release: "switchboard",
		set:     []string{"nats.enabled=false"},
		wantErr: "nats.enabled=false needs natsUrl",
	}, {
		name:    "NATS chart and a URL",
		release: "switchboard",
		set:     []string{"natsUrl=nats://nats.nats:4222"},
		wantErr: "nats.enabled and natsUrl: choose one NATS",
	}, {
		name:    "NATS chart and the embedded server",
		release: "switchboard",
		set:     []string{"embeddedNats=true", "replicaCount=1"},
		wantErr: "nats.enabled and embeddedNats: choose one NATS",
	}, {
		name:    "several replicas on the embedded NATS",
		release: "switchboard",
		set:     []string{embedded, "replicaCount=2"},
		wantErr: "embeddedNats needs replicaCount=1",
	}, {
		name:    "short admin token",
		release: "switchboard",
		set:     []string{"adminToken=short"},
		wantErr: "adminToken must be at least 16 characters",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := render(hubChart, tt.release, ns, tt.set...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("render error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, m)
		})
	}
}

func TestDynamicServiceChart(t *testing.T) {
	tests := []struct {
		name    string
		release string
		ns      string
		set     []string
		wantErr string
		check   func(t *testing.T, m manifests)
	}{{
		name:    "defaults",
		release: "demoservice",
		ns:      "iot",
		check: func(t *testing.T, m manifests) {
			wantKinds := []string{"Deployment/demoservice", "Service/demoservice", "ServiceAccount/demoservice"}
			if got := m.kinds(); !slices.Equal(got, wantKinds) {
				t.Errorf("rendered %v, want %v", got, wantKinds)
			}
			d := get[appsv1.Deployment](t, m, "Deployment", "demoservice")
			c := container(t, d)
			if c.Image != "demoservice:latest" {
				t.Errorf("image %q, want the name's", c.Image)
			}
			// Without platformNamespace the hub is taken to be in the release's namespace.
			wantEnvValue(t, c, "SWITCHBOARD_URL", "http://switchboard.iot:8080")
			wantEnvValue(t, c, "LOCAL_NAMESPACE", "iot")
			wantEnvValue(t, c, "PLATFORM_NAMESPACE", "iot")
			wantEnvValue(t, c, "SERVICE_NAME", "demoservice")
			wantEnvValue(t, c, "PORT", "8080")
			wantEnvSecret(t, c, "SWITCHBOARD_REGISTRATION_TOKEN", "switchboard-registration", "registration-token")
			for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/health" || p.HTTPGet.Port.String() != "http" {
					t.Errorf("probe %+v, want GET /health on http", p)
				}
			}
			wantLinkerd(t, d, true)
		},
	}, {
		name:    "murano seed install",
		release: "demoexternalservice",
		ns:      "services",
		set:     []string{"name=demoexternalservice,image.repository=registry.example.com/demoexternalservice,platformNamespace=iot"},
		check: func(t *testing.T, m manifests) {
			d := get[appsv1.Deployment](t, m, "Deployment", "demoexternalservice")
			svc := get[corev1.Service](t, m, "Service", "demoexternalservice")
			sa := get[corev1.ServiceAccount](t, m, "ServiceAccount", "demoexternalservice")
			if svc.Name != sa.Name || d.Spec.Template.Spec.ServiceAccountName != sa.Name {
				t.Errorf("service %q, service account %q, pod's service account %q: want all the same",
					svc.Name, sa.Name, d.Spec.Template.Spec.ServiceAccountName)
			}
			for _, o := range []metav1.Object{d, svc, sa} {
				if o.GetNamespace() != "services" {
					t.Errorf("%s in namespace %q, want services", o.GetName(), o.GetNamespace())
				}
			}
			c := container(t, d)
			if c.Image != "registry.example.com/demoexternalservice:latest" {
				t.Errorf("image %q", c.Image)
			}
			wantEnvValue(t, c, "SWITCHBOARD_URL", "http://switchboard.iot:8080")
			wantEnvValue(t, c, "LOCAL_NAMESPACE", "services")
			wantEnvValue(t, c, "PLATFORM_NAMESPACE", "iot")
			wantEnvValue(t, c, "SERVICE_NAME", "demoexternalservice")
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort.String() != "http" {
				t.Errorf("service ports %+v, want 8080 → http", svc.Spec.Ports)
			}
			wantSelectsPods(t, svc, d)
			wantLinkerd(t, d, true)
		},
	}, {
		name:    "linkerd off removes the annotation",
		release: "demo",
		ns:      "services",
		set:     []string{"linkerdProxy.enabled=false"},
		check: func(t *testing.T, m manifests) {
			wantLinkerd(t, get[appsv1.Deployment](t, m, "Deployment", "demoservice"), false)
		},
	}, {
		name:    "port, health path, namespaces and hub URL",
		release: "demo",
		ns:      "services",
		set: []string{"name=demo2", "port=9090", "health.path=/status", "localNamespace=edge",
			"platformNamespace=iot", "switchboardService=hub-switchboard", "switchboardPort=80"},
		check: func(t *testing.T, m manifests) {
			d := get[appsv1.Deployment](t, m, "Deployment", "demo2")
			c := container(t, d)
			wantEnvValue(t, c, "PORT", "9090")
			wantEnvValue(t, c, "LOCAL_NAMESPACE", "edge")
			wantEnvValue(t, c, "PLATFORM_NAMESPACE", "iot")
			wantEnvValue(t, c, "SWITCHBOARD_URL", "http://hub-switchboard.iot:80")
			if d.Namespace != "edge" {
				t.Errorf("deployment namespace %q, want edge (LOCAL_NAMESPACE)", d.Namespace)
			}
			if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 9090 {
				t.Errorf("ports %+v, want 9090", c.Ports)
			}
			if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/status" {
				t.Errorf("readiness probe %+v, want /status", p)
			}
			if svc := get[corev1.Service](t, m, "Service", "demo2"); svc.Spec.Ports[0].Port != 9090 {
				t.Errorf("service port %d, want 9090", svc.Spec.Ports[0].Port)
			}
		},
	}, {
		name:    "switchboardUrl wins",
		release: "demo",
		ns:      "services",
		set:     []string{"switchboardUrl=https://switchboard.example.com", "platformNamespace=iot"},
		check: func(t *testing.T, m manifests) {
			c := container(t, get[appsv1.Deployment](t, m, "Deployment", "demoservice"))
			wantEnvValue(t, c, "SWITCHBOARD_URL", "https://switchboard.example.com")
		},
	}, {
		name:    "registration token given",
		release: "demo",
		ns:      "services",
		set:     []string{"registrationToken.value=registration-0123456789"},
		check: func(t *testing.T, m manifests) {
			sec := get[corev1.Secret](t, m, "Secret", "demoservice-registration")
			if got := string(sec.Data["registration-token"]); got != "registration-0123456789" {
				t.Errorf("registration-token %q", got)
			}
			c := container(t, get[appsv1.Deployment](t, m, "Deployment", "demoservice"))
			wantEnvSecret(t, c, "SWITCHBOARD_REGISTRATION_TOKEN", "demoservice-registration", "registration-token")
		},
	}, {
		name:    "upper case and dash",
		release: "demo",
		ns:      "services",
		set:     []string{"name=Demo-Service"},
		wantErr: nameRule,
	}, {
		name:    "underscore",
		release: "demo",
		ns:      "services",
		set:     []string{"name=demo_service"},
		wantErr: nameRule,
	}, {
		name:    "dash",
		release: "demo",
		ns:      "services",
		set:     []string{"name=demo-service"},
		wantErr: nameRule,
	}, {
		name:    "empty",
		release: "demo",
		ns:      "services",
		set:     []string{"name="},
		wantErr: nameRule,
	}, {
		name:    "leading digit",
		release: "demo",
		ns:      "services",
		set:     []string{"name=1demo"},
		wantErr: "must start with a letter",
	}, {
		name:    "too long",
		release: "demo",
		ns:      "services",
		set:     []string{"name=" + strings.Repeat("a", 64)},
		wantErr: "at most 63 characters",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := render(serviceChart, tt.release, tt.ns, tt.set...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("render error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, m)
		})
	}
}

// TestServiceReachesHub renders both charts as the README installs them and checks that the
// service's SWITCHBOARD_URL is the hub's Service.
func TestServiceReachesHub(t *testing.T) {
	hub, err := render(hubChart, "switchboard", "iot")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := render(serviceChart, "demoexternalservice", "services",
		"name=demoexternalservice,image.repository=registry.example.com/demoexternalservice,platformNamespace=iot")
	if err != nil {
		t.Fatal(err)
	}
	hs := get[corev1.Service](t, hub, "Service", "switchboard")
	want := "http://" + hs.Name + ".iot:" + strconv.Itoa(int(hs.Spec.Ports[0].Port))
	c := container(t, get[appsv1.Deployment](t, svc, "Deployment", "demoexternalservice"))
	wantEnvValue(t, c, "SWITCHBOARD_URL", want)
}

// TestLint runs Helm's linter on both charts, as helm lint --strict does: no warning or error.
func TestLint(t *testing.T) {
	tests := []struct {
		chart, ns string
		set       []string
		wantErr   bool
	}{
		{chart: hubChart, ns: "iot"},
		{chart: hubChart, ns: "iot", set: []string{"nats.enabled=false,natsUrl=nats://nats:4222,replicaCount=2,linkerdProxy.enabled=false"}},
		{chart: hubChart, ns: "iot", set: []string{"nats.enabled=false,embeddedNats=true,replicaCount=1"}},
		{chart: serviceChart, ns: "services"},
		{chart: serviceChart, ns: "services", set: []string{"name=demoexternalservice,platformNamespace=iot,registrationToken.value=registration-0123456789"}},
		{chart: serviceChart, ns: "services", set: []string{"name=Demo-Service"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.chart+" "+strings.Join(tt.set, " "), func(t *testing.T) {
			vals := map[string]any{}
			for _, s := range tt.set {
				if err := strvals.ParseInto(s, vals); err != nil {
					t.Fatal(err)
				}
			}
			if tt.wantErr {
				// In lint mode Helm logs a template's fail instead of stopping; keep the output quiet.
				log.SetOutput(io.Discard)
				defer log.SetOutput(os.Stderr)
			}
			l := lint.All(filepath.Join(".", tt.chart), vals, tt.ns, true)
			var problems []error
			for _, msg := range l.Messages {
				// Without the NATS chart fetched (see natsChart) the linter says so; that is
				// the one warning let through, and only then.
				if tt.chart == hubChart && natsChart(t) == "" && strings.Contains(msg.Err.Error(), "missing these dependencies: nats") {
					continue
				}
				if msg.Severity >= support.WarningSev {
					problems = append(problems, msg)
				}
			}
			if tt.wantErr {
				// Lint turns fail into a log line and goes on, so it is the linter's own name
				// check that must object here.
				if len(problems) == 0 || !strings.Contains(errors.Join(problems...).Error(), "naming requirements") {
					t.Errorf("lint found %v, want the invalid name reported", problems)
				}
				return
			}
			if len(problems) > 0 {
				t.Errorf("lint: %v", errors.Join(problems...))
			}
		})
	}
}

// natsChart returns the packaged NATS chart in the hub chart's charts/, or "" when it has not
// been fetched there (helm dependency build deploy/helm/switchboard).
func natsChart(t *testing.T) string {
	t.Helper()
	found, err := filepath.Glob(filepath.Join(hubChart, "charts", "nats-*.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 1 {
		t.Fatalf("more than one NATS chart in %s/charts: %v", hubChart, found)
	}
	if len(found) == 0 {
		return ""
	}
	return found[0]
}

// TestNATSDependency checks the hub chart's dependency on the official NATS chart: where it
// comes from, that a 1.x version satisfies it, and that nats.enabled turns it on.
func TestNATSDependency(t *testing.T) {
	ch, err := loader.Load(hubChart)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ch.Metadata.Dependencies); n != 1 {
		t.Fatalf("%d dependencies, want the NATS chart alone", n)
	}
	dep := ch.Metadata.Dependencies[0]
	if dep.Name != "nats" || dep.Repository != "https://nats-io.github.io/k8s/helm/charts/" || dep.Condition != "nats.enabled" {
		t.Errorf("dependency %+v, want nats from the NATS chart repository on nats.enabled", dep)
	}
	c, err := semver.NewConstraint(dep.Version)
	if err != nil {
		t.Fatalf("dependency version %q: %v", dep.Version, err)
	}
	for v, want := range map[string]bool{"1.2.0": true, "1.3.7": true, "0.19.17": false, "2.0.0": false} {
		if got := c.Check(semver.MustParse(v)); got != want {
			t.Errorf("version %q accepts %s: %v, want %v", dep.Version, v, got, want)
		}
	}
	vals, err := chartutil.ReadValuesFile(filepath.Join(hubChart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if on, err := vals.PathValue("nats.enabled"); err != nil || on != true {
		t.Errorf("nats.enabled = %v (%v), want true by default", on, err)
	}
	if path := natsChart(t); path != "" {
		sub, err := loader.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Check(semver.MustParse(sub.Metadata.Version)) {
			t.Errorf("%s is version %s, outside %q", path, sub.Metadata.Version, dep.Version)
		}
	}
}

// TestNATSChart renders the hub chart with the NATS chart it depends on, as helm install does,
// and checks the two meet: a 3-server NATS cluster with JetStream on file storage, and the
// instances' NATS URL naming that chart's client Service and port. It needs the NATS chart
// fetched into charts/ (helm dependency build deploy/helm/switchboard).
func TestNATSChart(t *testing.T) {
	if natsChart(t) == "" {
		t.Skipf("no %s/charts/nats-*.tgz: run helm dependency build deploy/helm/%s", hubChart, hubChart)
	}
	m, err := render(hubChart, "switchboard", "iot", "replicaCount=3")
	if err != nil {
		t.Fatal(err)
	}
	d := get[appsv1.Deployment](t, m, "Deployment", "switchboard")
	if *d.Spec.Replicas != 3 {
		t.Errorf("switchboard replicas %d, want 3", *d.Spec.Replicas)
	}
	url := env(t, container(t, d), "SWITCHBOARD_NATS_URL").Value
	host, port, ok := strings.Cut(strings.TrimPrefix(url, "nats://"), ":")
	name, namespace, _ := strings.Cut(host, ".")
	if !ok || namespace != "iot" {
		t.Fatalf("SWITCHBOARD_NATS_URL %q, want nats://<service>.iot:<port>", url)
	}
	svc := get[corev1.Service](t, m, "Service", name)
	if !strings.HasPrefix(m["Service/"+name].path, hubChart+"/charts/nats/") {
		t.Errorf("Service/%s comes from %s, not the NATS chart", name, m["Service/"+name].path)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
		return p.Name == "nats" && strconv.Itoa(int(p.Port)) == port
	}) {
		t.Errorf("service %s ports %+v, want the client port nats %s", name, svc.Spec.Ports, port)
	}

	var sts *appsv1.StatefulSet
	for _, k := range m.kinds() {
		if s, ok := m[k].obj.(*appsv1.StatefulSet); ok {
			if sts != nil {
				t.Fatalf("StatefulSets %s and %s, want the NATS servers' alone", sts.Name, s.Name)
			}
			sts = s
		}
	}
	if sts == nil {
		t.Fatalf("no StatefulSet among %v", m.kinds())
	}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Errorf("NATS StatefulSet %s replicas %v, want 3", sts.Name, sts.Spec.Replicas)
	}
	if len(sts.Spec.VolumeClaimTemplates) == 0 {
		t.Errorf("NATS StatefulSet %s has no volume claim template: JetStream's files would not survive a restart", sts.Name)
	}
	sel, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
		t.Errorf("service %s selects %v, the NATS pods are %v", name, svc.Spec.Selector, sts.Spec.Template.Labels)
	}

	// The server's configuration: JetStream on file storage and a cluster.
	var conf string
	for _, k := range m.kinds() {
		if cm, ok := m[k].obj.(*corev1.ConfigMap); ok && cm.Data["nats.conf"] != "" {
			conf = cm.Data["nats.conf"]
		}
	}
	for _, want := range []string{"jetstream", "store_dir", "cluster", "routes"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nats.conf lacks %q:\n%s", want, conf)
		}
	}

	// Off, the NATS chart renders nothing.
	m, err = render(hubChart, "switchboard", "iot", "nats.enabled=false,natsUrl=nats://nats.nats:4222")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range m.kinds() {
		if !strings.HasPrefix(m[k].path, hubChart+"/templates/") {
			t.Errorf("%s rendered from %s with nats.enabled=false", k, m[k].path)
		}
	}
}
