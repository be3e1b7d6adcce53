package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsyaml "sigs.k8s.io/yaml"
)

// manifests are the objects of deploy/kubernetes, decoded into the API
// types. kubeconform would validate against the OpenAPI schemas, which it
// downloads at run time; without internet, strict decoding into the Go
// types of the same API version is the check: an unknown or misspelt field,
// or a value of the wrong type, fails.
type manifests struct {
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	services        []*corev1.Service
	statefulSets    []*appsv1.StatefulSet
	pdbs            []*policyv1.PodDisruptionBudget
	serviceMonitors []*monitoringv1.ServiceMonitor
}

type kustomization struct {
	APIVersion string           `yaml:"apiVersion"`
	Kind       string           `yaml:"kind"`
	Resources  []string         `yaml:"resources"`
	Labels     []map[string]any `yaml:"labels"`
	Images     []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

func checkKubernetes(dir string) error {
	if dir == "" {
		return errors.New("usage: deploycheck k8s DIR")
	}
	kdata, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return err
	}
	var k kustomization
	dec := yaml.NewDecoder(bytes.NewReader(kdata))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		return fmt.Errorf("kustomization.yaml: %w", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var errs []error
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(k.Resources, base) {
			errs = append(errs, fmt.Errorf("%s is not listed in kustomization.yaml resources", base))
		}
	}
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	objects := 0
	for _, res := range k.Resources {
		n, err := m.load(filepath.Join(dir, res))
		objects += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	errs = append(errs, m.crossCheck()...)
	if len(errs) == 0 {
		fmt.Printf("%s: %d objects decode strictly into the API types and reference each other correctly\n", dir, objects)
	}
	return errors.Join(errs...)
}

func (m *manifests) load(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			return n, nil
		} else if err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
		n++
		doc, err := yaml.Marshal(&node)
		if err != nil {
			return n, err
		}
		var head struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
		}
		if err := node.Decode(&head); err != nil {
			return n, fmt.Errorf("%s: document %d: %w", path, n, err)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 Secret":
			obj = &corev1.Secret{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "apps/v1 StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "monitoring.coreos.com/v1 ServiceMonitor":
			obj = &monitoringv1.ServiceMonitor{}
		default:
			return n, fmt.Errorf("%s: document %d: %s %s is not a kind this check knows; add it to deploycheck", path, n, head.APIVersion, head.Kind)
		}
		if err := sigsyaml.UnmarshalStrict(doc, obj); err != nil {
			return n, fmt.Errorf("%s: %s: %w", path, head.Kind, err)
		}
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			m.configMaps[o.Name] = o
		case *corev1.Secret:
			m.secrets[o.Name] = o
		case *corev1.Service:
			m.services = append(m.services, o)
		case *appsv1.StatefulSet:
			m.statefulSets = append(m.statefulSets, o)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, o)
		case *monitoringv1.ServiceMonitor:
			m.serviceMonitors = append(m.serviceMonitors, o)
		}
	}
}

// crossCheck checks what the API server would accept but what would not
// run: references between objects, probes, volumes and selectors.
func (m *manifests) crossCheck() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(m.statefulSets) != 1 {
		bad("want exactly one StatefulSet, found %d", len(m.statefulSets))
		return errs
	}
	ss := m.statefulSets[0]
	pod := ss.Spec.Template
	podLabels := labels.Set(pod.Labels)
	sel, err := metav1LabelSelector(ss.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		bad("StatefulSet %s: selector does not match its pod labels", ss.Name)
	}
	if len(ss.Spec.VolumeClaimTemplates) == 0 {
		bad("StatefulSet %s: no volumeClaimTemplates: each pod needs its own Pebble volume", ss.Name)
	}
	var headless *corev1.Service
	for _, s := range m.services {
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) || len(s.Spec.Selector) == 0 {
			bad("Service %s: selector %v does not select the Kairos pods", s.Name, s.Spec.Selector)
		}
		if s.Name == ss.Spec.ServiceName {
			headless = s
		}
	}
	if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone {
		bad("StatefulSet %s: serviceName %q must name a headless Service (clusterIP: None)", ss.Name, ss.Spec.ServiceName)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
		if v.ConfigMap != nil && m.configMaps[v.ConfigMap.Name] == nil {
			bad("volume %s: ConfigMap %s is not in the manifests", v.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil {
			s := m.secrets[v.Secret.SecretName]
			if s == nil {
				bad("volume %s: Secret %s is not in the manifests", v.Name, v.Secret.SecretName)
			}
			for _, it := range v.Secret.Items {
				if s != nil && s.StringData[it.Key] == "" && s.Data[it.Key] == nil {
					bad("volume %s: Secret %s has no key %s", v.Name, v.Secret.SecretName, it.Key)
				}
			}
		}
	}
	for _, t := range ss.Spec.VolumeClaimTemplates {
		volumes[t.Name] = corev1.Volume{Name: t.Name}
	}
	if len(pod.Spec.Containers) == 0 {
		bad("StatefulSet %s: no container", ss.Name)
		return errs
	}
	c := pod.Spec.Containers[0]
	for _, vm := range c.VolumeMounts {
		if _, ok := volumes[vm.Name]; !ok {
			bad("container %s mounts %s, which is neither a volume nor a claim template", c.Name, vm.Name)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		s := m.secrets[ref.Name]
		if s == nil || (s.StringData[ref.Key] == "" && s.Data[ref.Key] == nil) {
			bad("env %s: Secret %s key %s is not in the manifests", e.Name, ref.Name, ref.Key)
		}
	}
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
			bad("container %s: %s probe must GET %s", c.Name, what, path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		bad("container %s: set CPU and memory requests", c.Name)
	}
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	for _, s := range m.services {
		for _, p := range s.Spec.Ports {
			if p.TargetPort.StrVal != "" && !ports[p.TargetPort.StrVal] {
				bad("Service %s: targetPort %s is not a container port", s.Name, p.TargetPort.StrVal)
			}
		}
	}
	for _, p := range m.pdbs {
		sel, err := metav1LabelSelector(p.Spec.Selector)
		if err != nil || !sel.Matches(podLabels) {
			bad("PodDisruptionBudget %s does not select the Kairos pods", p.Name)
		}
	}
	for _, sm := range m.serviceMonitors {
		sel, err := metav1LabelSelector(&sm.Spec.Selector)
		found := 0
		for _, s := range m.services {
			if err == nil && sel.Matches(labels.Set(s.Labels)) {
				found++
				for _, ep := range sm.Spec.Endpoints {
					if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
						bad("ServiceMonitor %s: Service %s has no port named %s", sm.Name, s.Name, ep.Port)
					}
				}
			}
		}
		if found != 1 {
			bad("ServiceMonitor %s selects %d Services; want exactly one, or pods are scraped twice or not at all", sm.Name, found)
		}
	}
	// The config file the container is told to read is mounted.
	for _, a := range c.Args {
		if p, ok := strings.CutPrefix(a, "--config="); ok && !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.MountPath == p }) {
			bad("container %s: --config=%s is not mounted", c.Name, p)
		}
	}
	return errs
}
