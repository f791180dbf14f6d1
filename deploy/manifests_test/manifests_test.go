package manifeststest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// kinds are the objects the chart may render, by apiVersion and kind. A
// kind missing here fails the test: add it together with its checks.
var kinds = map[string]func() any{
	"v1/ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                               func() any { return new(corev1.Secret) },
	"v1/Service":                              func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"v1/PersistentVolumeClaim":                func() any { return new(corev1.PersistentVolumeClaim) },
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"policy/v1/PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return new(networkingv1.NetworkPolicy) },
	"networking.k8s.io/v1/Ingress":            func() any { return new(networkingv1.Ingress) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return new(monitoringv1.PrometheusRule) },
}

// rendered is one `helm template` output: its objects, decoded.
type rendered struct {
	name    string
	objects []any
}

// doc is one YAML document of a rendered file, with where it came from.
type doc struct {
	source string // helm's "# Source:" comment
	body   []byte
}

var sourceComment = regexp.MustCompile(`(?m)^# Source: (.*)$`)

// splitDocuments splits a multi-document YAML stream on "---" lines and
// drops documents that hold only comments or nothing.
func splitDocuments(data []byte) []doc {
	var docs []doc
	for _, part := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(data), -1) {
		empty := true
		for _, line := range strings.Split(part, "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
				empty = false
				break
			}
		}
		if empty {
			continue
		}
		d := doc{body: []byte(part)}
		if m := sourceComment.FindStringSubmatch(part); m != nil {
			d.source = m[1]
		}
		docs = append(docs, d)
	}
	return docs
}

// decodeStrict decodes one manifest into its typed struct as the API
// server's strict field validation does: unknown fields, fields of the
// wrong case, duplicate keys and unknown kinds are errors, reported with
// their path (spec.template.spec.containers[0].foo).
func decodeStrict(d doc) (any, error) {
	data, err := yaml.YAMLToJSONStrict(d.body)
	if err != nil {
		return nil, err
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		return nil, err
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %s %s: add it to kinds in %s with its checks", tm.APIVersion, tm.Kind, "manifests_test.go")
	}
	obj := newObj()
	strict, err := kjson.UnmarshalStrict(data, obj, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err == nil {
		err = errors.Join(strict...)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return obj, nil
}

// loadRendered reads every *.yaml in $KLAXON_RENDERED_DIR.
func loadRendered(t *testing.T) []rendered {
	t.Helper()
	dir := os.Getenv("KLAXON_RENDERED_DIR")
	if dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("KLAXON_RENDERED_DIR is not set; run scripts/check-deploy.sh")
		}
		t.Skip("KLAXON_RENDERED_DIR is not set; scripts/check-deploy.sh renders the chart and sets it")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rendered manifests in %s (err %v)", dir, err)
	}
	var out []rendered
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := rendered{name: filepath.Base(f)}
		for _, d := range splitDocuments(data) {
			obj, err := decodeStrict(d)
			if err != nil {
				t.Errorf("%s: %s: %v", r.name, d.source, err)
				continue
			}
			r.objects = append(r.objects, obj)
		}
		out = append(out, r)
	}
	return out
}

func objectsOf[T any](r rendered) []*T {
	var out []*T
	for _, o := range r.objects {
		if v, ok := o.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestRenderedManifests(t *testing.T) {
	for _, r := range loadRendered(t) {
		t.Run(r.name, func(t *testing.T) {
			deps := objectsOf[appsv1.Deployment](r)
			if len(deps) != 1 {
				t.Fatalf("want 1 Deployment, got %d", len(deps))
			}
			dep := deps[0]
			checkDeployment(t, dep)
			checkSelectors(t, r, dep)
			checkConfigMaps(t, r, dep)
			for _, pr := range objectsOf[monitoringv1.PrometheusRule](r) {
				checkPrometheusRule(t, pr, dep.Spec.Replicas != nil && *dep.Spec.Replicas > 1)
			}
		})
	}
}

// checkDeployment checks what the chart promises about the pod: non-root,
// read-only root file system, resources and probes, and that mounts,
// probe ports and references resolve inside the pod spec.
func checkDeployment(t *testing.T, dep *appsv1.Deployment) {
	t.Helper()
	spec := dep.Spec.Template.Spec
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("Deployment %s: pod securityContext.runAsNonRoot is not true", dep.Name)
	}
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		t.Errorf("Deployment %s: pod runs as uid 0", dep.Name)
	}
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		if volumes[v.Name] {
			t.Errorf("Deployment %s: volume %q declared twice", dep.Name, v.Name)
		}
		volumes[v.Name] = true
	}
	all := append(slices.Clone(spec.InitContainers), spec.Containers...)
	var klaxon *corev1.Container
	for i := range all {
		c := &all[i]
		if c.Name == "klaxon" {
			klaxon = c
		}
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: securityContext.readOnlyRootFilesystem is not true", c.Name)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: securityContext.allowPrivilegeEscalation is not false", c.Name)
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("container %s: no memory limit", c.Name)
		}
		if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
			t.Errorf("container %s: no CPU request", c.Name)
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("container %s: mounts undeclared volume %q", c.Name, m.Name)
			}
		}
		for _, e := range c.Env {
			if e.Value != "" && strings.Contains(strings.ToLower(e.Name), "password") {
				t.Errorf("container %s: env %s holds a password in plain text; use valueFrom.secretKeyRef", c.Name, e.Name)
			}
		}
	}
	if klaxon == nil {
		t.Fatalf("Deployment %s: no container named klaxon", dep.Name)
	}
	ports := map[string]int32{}
	for _, p := range klaxon.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != 9093 {
		t.Errorf("klaxon container: want port http=9093, got %v", ports)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": klaxon.LivenessProbe, "readiness": klaxon.ReadinessProbe, "startup": klaxon.StartupProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("klaxon container: no HTTP %s probe", name)
			continue
		}
		if p.HTTPGet.Port.Type == intstr.String {
			if _, ok := ports[p.HTTPGet.Port.StrVal]; !ok {
				t.Errorf("klaxon container: %s probe names unknown port %q", name, p.HTTPGet.Port.StrVal)
			}
		}
		if !strings.HasSuffix(p.HTTPGet.Path, "/-/healthy") && !strings.HasSuffix(p.HTTPGet.Path, "/-/ready") {
			t.Errorf("klaxon container: %s probe path %q is not /-/healthy or /-/ready", name, p.HTTPGet.Path)
		}
	}
	if !slices.Contains(klaxon.Args, "serve") {
		t.Errorf("klaxon container: args %q do not run serve", klaxon.Args)
	}
	if dep.Spec.Replicas != nil && *dep.Spec.Replicas > 1 {
		uses := false
		for _, e := range klaxon.Env {
			uses = uses || (e.Name == "KLAXON_DATABASE_URL" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil)
		}
		if !uses {
			t.Errorf("Deployment %s: %d replicas without KLAXON_DATABASE_URL from a Secret", dep.Name, *dep.Spec.Replicas)
		}
	}
}

// checkSelectors checks that every selector of the release picks the pods
// of its Deployment, and that port names resolve.
func checkSelectors(t *testing.T, r rendered, dep *appsv1.Deployment) {
	t.Helper()
	podLabels := dep.Spec.Template.Labels
	matches := func(what string, sel map[string]string) {
		if len(sel) == 0 {
			t.Errorf("%s: empty selector", what)
		}
		for k, v := range sel {
			if podLabels[k] != v {
				t.Errorf("%s: selector %s=%s does not match the pod labels %v", what, k, v, podLabels)
			}
		}
	}
	matches("Deployment "+dep.Name, dep.Spec.Selector.MatchLabels)
	var svcs []*corev1.Service
	for _, s := range objectsOf[corev1.Service](r) {
		matches("Service "+s.Name, s.Spec.Selector)
		for _, p := range s.Spec.Ports {
			if p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "http" {
				t.Errorf("Service %s: targetPort %q is not the container's http port", s.Name, p.TargetPort.StrVal)
			}
		}
		svcs = append(svcs, s)
	}
	if len(svcs) != 1 {
		t.Fatalf("want 1 Service, got %d", len(svcs))
	}
	svc := svcs[0]
	for _, p := range objectsOf[policyv1.PodDisruptionBudget](r) {
		matches("PodDisruptionBudget "+p.Name, p.Spec.Selector.MatchLabels)
	}
	for _, n := range objectsOf[networkingv1.NetworkPolicy](r) {
		matches("NetworkPolicy "+n.Name, n.Spec.PodSelector.MatchLabels)
	}
	for _, sm := range objectsOf[monitoringv1.ServiceMonitor](r) {
		for k, v := range sm.Spec.Selector.MatchLabels {
			if svc.Labels[k] != v {
				t.Errorf("ServiceMonitor %s: selector %s=%s does not match Service %s", sm.Name, k, v, svc.Name)
			}
		}
		for _, ep := range sm.Spec.Endpoints {
			if ep.Port != svc.Spec.Ports[0].Name {
				t.Errorf("ServiceMonitor %s: endpoint port %q is not the Service's %q", sm.Name, ep.Port, svc.Spec.Ports[0].Name)
			}
		}
	}
	for _, ing := range objectsOf[networkingv1.Ingress](r) {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if b := p.Backend.Service; b == nil || b.Name != svc.Name {
					t.Errorf("Ingress %s: path %s does not go to Service %s", ing.Name, p.Path, svc.Name)
				}
			}
		}
	}
	spec := dep.Spec.Template.Spec
	if spec.ServiceAccountName != "" && spec.ServiceAccountName != "default" {
		found := false
		for _, sa := range objectsOf[corev1.ServiceAccount](r) {
			found = found || sa.Name == spec.ServiceAccountName
		}
		if !found {
			t.Errorf("Deployment %s: service account %q is not rendered", dep.Name, spec.ServiceAccountName)
		}
	}
}

// checkConfigMaps runs `klaxon check-config` on the klaxon.yml the chart
// renders, and checks the Deployment mounts that ConfigMap.
func checkConfigMaps(t *testing.T, r rendered, dep *appsv1.Deployment) {
	t.Helper()
	mounted := map[string]bool{}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			mounted[v.ConfigMap.Name] = true
		}
	}
	cms := objectsOf[corev1.ConfigMap](r)
	if len(cms) == 0 {
		t.Fatal("no ConfigMap rendered")
	}
	for _, cm := range cms {
		if !mounted[cm.Name] {
			t.Errorf("ConfigMap %s is not mounted by the Deployment", cm.Name)
		}
		cfg, ok := cm.Data["klaxon.yml"]
		if !ok {
			t.Errorf("ConfigMap %s has no klaxon.yml", cm.Name)
			continue
		}
		f := filepath.Join(t.TempDir(), "klaxon.yml")
		if err := os.WriteFile(f, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		runKlaxon(t, "check-config", f)
	}
}

// checkPrometheusRule checks the alerts' expressions with `klaxon rules
// check` and their metric names against Klaxon's.
func checkPrometheusRule(t *testing.T, pr *monitoringv1.PrometheusRule, replicated bool) {
	t.Helper()
	want := []string{"KlaxonDown", "KlaxonNotificationsFailing", "KlaxonOutboxBacklog", "KlaxonRuleEvaluationFailures"}
	if replicated {
		want = append(want, "KlaxonReplicasLow")
	}
	var alerts []string
	for _, g := range pr.Spec.Groups {
		for _, rule := range g.Rules {
			if rule.Alert == "" {
				continue
			}
			alerts = append(alerts, rule.Alert)
			if rule.Annotations["runbook_url"] == "" || rule.Annotations["summary"] == "" {
				t.Errorf("alert %s: needs summary and runbook_url annotations", rule.Alert)
			}
			if rule.Labels["severity"] == "" {
				t.Errorf("alert %s: no severity label", rule.Alert)
			}
			for _, m := range metricNames(rule.Expr.String()) {
				checkMetricName(t, "alert "+rule.Alert, m)
			}
		}
	}
	for _, w := range want {
		if !slices.Contains(alerts, w) {
			t.Errorf("PrometheusRule %s: no alert %s (have %v)", pr.Name, w, alerts)
		}
	}
	data, err := yaml.Marshal(pr)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "prometheusrule.yaml")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	runKlaxon(t, "rules", "check", f)
}

// runKlaxon runs the klaxon binary from $KLAXON_BINARY and fails the test
// if it exits non-zero. Without the variable the check is skipped.
func runKlaxon(t *testing.T, args ...string) {
	t.Helper()
	bin := os.Getenv("KLAXON_BINARY")
	if bin == "" {
		t.Logf("KLAXON_BINARY not set: skipping klaxon %s", strings.Join(args, " "))
		return
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("klaxon %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}

// TestDecodeStrict shows that the strict decoding catches what a lenient
// one would let through.
func TestDecodeStrict(t *testing.T) {
	for name, tc := range map[string]struct {
		manifest string
		wantErr  string
	}{
		"valid": {manifest: `
apiVersion: v1
kind: Service
metadata: {name: a}
spec:
  ports: [{name: http, port: 9093}]`},
		"unknown field": {wantErr: `unknown field "spec.ports[0].prot"`, manifest: `
apiVersion: v1
kind: Service
metadata: {name: a}
spec:
  ports: [{name: http, prot: 9093}]`},
		"misplaced field": {wantErr: `unknown field "spec.template.spec.containers[0].readOnlyRootFilesystem"`, manifest: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: a}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: i, readOnlyRootFilesystem: true}]`},
		"wrong case": {wantErr: `unknown field "spec.Replicas"`, manifest: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: a}
spec: {Replicas: 2, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}}}`},
		"wrong type": {wantErr: "cannot unmarshal", manifest: `
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: a}
spec: {maxUnavailable: [1]}`},
		"duplicate field": {wantErr: `key "name" already set`, manifest: `
apiVersion: v1
kind: ConfigMap
metadata: {name: a, name: b}`},
		"unknown kind": {wantErr: "unknown kind apps/v1 StatefulSet", manifest: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: a}`},
		"PrometheusRule field": {wantErr: `unknown field "spec.groups[0].rules[0].expression"`, manifest: `
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: a}
spec:
  groups: [{name: g, rules: [{alert: A, expression: up == 0}]}]`},
	} {
		t.Run(name, func(t *testing.T) {
			docs := splitDocuments([]byte("# Source: x\n---" + tc.manifest + "\n---\n# only a comment\n"))
			if len(docs) != 1 {
				t.Fatalf("want 1 document, got %d", len(docs))
			}
			_, err := decodeStrict(docs[0])
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("want error containing %q, got %v", tc.wantErr, err)
			}
		})
	}
}
