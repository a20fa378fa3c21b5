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

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	hubChart     = "switchboard"
	serviceChart = "dynamic-service"

	linkerdInject = "linkerd.io/inject"
	nameRule      = "must be the same and match ^[a-z0-9]+$"
)

// manifests are the objects a chart rendered, by "Kind/name".
type manifests map[string]any

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
		m[key] = obj
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
	return o.(*T)
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

func TestHubChart(t *testing.T) {
	const ns = "iot"
	tests := []struct {
		name    string
		release string
		set     []string
		wantErr string
		check   func(t *testing.T, m manifests)
	}{{
		name:    "defaults",
		release: "switchboard",
		check: func(t *testing.T, m manifests) {
			wantKinds := []string{"Deployment/switchboard", "PersistentVolumeClaim/switchboard-data",
				"Secret/switchboard", "Service/switchboard", "ServiceAccount/switchboard"}
			if got := m.kinds(); !slices.Equal(got, wantKinds) {
				t.Errorf("rendered %v, want %v", got, wantKinds)
			}
			d := get[appsv1.Deployment](t, m, "Deployment", "switchboard")
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
			wantEnvSecret(t, c, "SWITCHBOARD_ADMIN_TOKEN", "switchboard", "admin-token")
			wantEnvSecret(t, c, "SWITCHBOARD_REGISTRATION_TOKEN", "switchboard", "registration-token")
			for _, name := range []string{"SWITCHBOARD_NATS_URL", "SWITCHBOARD_APPS_DOMAIN"} {
				if hasEnv(c, name) {
					t.Errorf("env %s set by default", name)
				}
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
			if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == "data" && vm.MountPath == "/data" }) {
				t.Errorf("mounts %+v, want data at /data", c.VolumeMounts)
			}
			if v := volume(t, d, "data"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "switchboard-data" {
				t.Errorf("data volume %+v, want claim switchboard-data", v)
			}
			if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("strategy %q, want Recreate with the embedded NATS", d.Spec.Strategy.Type)
			}
			if d.Spec.Template.Spec.ServiceAccountName != "switchboard" {
				t.Errorf("serviceAccountName %q", d.Spec.Template.Spec.ServiceAccountName)
			}
			wantLinkerd(t, d, true)

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
		set:     []string{"natsUrl=nats://nats.nats:4222", "replicaCount=3", "appsDomain=apps.example.com"},
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
		},
	}, {
		name:    "persistence off",
		release: "switchboard",
		set:     []string{"persistence.enabled=false"},
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
		set:     []string{"persistence.existingClaim=hub-data"},
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
			c := container(t, get[appsv1.Deployment](t, m, "Deployment", "switchboard"))
			wantEnvSecret(t, c, "SWITCHBOARD_ADMIN_TOKEN", "hub-tokens", "admin-token")
			wantEnvSecret(t, c, "SWITCHBOARD_REGISTRATION_TOKEN", "hub-tokens", "registration-token")
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
		name:    "several replicas need an outside NATS",
		release: "switchboard",
		set:     []string{"replicaCount=2"},
		wantErr: "replicaCount above 1 needs natsUrl",
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
		{chart: hubChart, ns: "iot", set: []string{"natsUrl=nats://nats:4222,replicaCount=2,linkerdProxy.enabled=false"}},
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
