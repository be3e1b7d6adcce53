package torch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-engine/kairos/models/features"
)

// Errors callers branch on.
var (
	// ErrTorchUnavailable: the binary was built without -tags torch, so
	// TorchScript files cannot be loaded (the manifest itself is still
	// validated).
	ErrTorchUnavailable = errors.New("TorchScript models need a kairos binary built with -tags torch (see models/torch/README.md)")
	// ErrNoModel: no loaded model has the name asked for.
	ErrNoModel = errors.New("no such model")
	// ErrShape: the model does not take [batch, features.Len] or does not
	// return one value per row.
	ErrShape = errors.New("model input/output shape does not fit the feature vector")
	// errReleased: the model was replaced by a reload while the caller
	// held it; Registry.Score retries with the current one.
	errReleased = errors.New("model was replaced by a reload")
)

// MaxModelSize bounds a TorchScript file; a feature-vector model is small.
const MaxModelSize = 256 << 20

// Config configures a Registry.
type Config struct {
	// Dir is the models directory: every *.yaml or *.yml file in it is a
	// Manifest. Required.
	Dir string
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Model is one loaded TorchScript model. It is immutable except that a
// reload that replaces it releases its libtorch module; Score on a
// released Model returns an error, so serve through Registry.Score.
type Model struct {
	Manifest Manifest
	Digest   string    // SHA-256 (hex) of the manifest and the TorchScript file
	LoadedAt time.Time // when this version was loaded

	s *script
}

// Score returns the model's output for one feature vector: a probability
// for probability and logit outputs (the logistic function applied to a
// logit), the raw value for score outputs.
func (m *Model) Score(v *features.Vector) (float64, error) {
	var out [1]float64
	if err := m.ScoreBatch(unsafeOne(v), out[:]); err != nil {
		return 0, err
	}
	return out[0], nil
}

// ScoreBatch scores len(vs) vectors in one forward pass into out, which
// must have the same length.
func (m *Model) ScoreBatch(vs []features.Vector, out []float64) error {
	if len(out) != len(vs) {
		return fmt.Errorf("model %s: %d vectors but %d outputs", m.Manifest.Name, len(vs), len(out))
	}
	if len(vs) == 0 {
		return nil
	}
	if err := m.s.forward(vs, out); err != nil {
		return fmt.Errorf("model %s: %w", m.Manifest.Name, err)
	}
	for i, x := range out {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("model %s: output %d is %v", m.Manifest.Name, i, x)
		}
		if m.Manifest.Output == OutputLogit {
			out[i] = 1 / (1 + math.Exp(-x))
		}
	}
	return nil
}

// unsafeOne views one vector as a batch of one without copying it.
func unsafeOne(v *features.Vector) []features.Vector { return unsafe.Slice(v, 1) }

// modelSet is one immutable generation of loaded models.
type modelSet struct {
	list     []*Model // sorted by name
	byName   map[string]*Model
	byAction map[string]*Model
	byFile   map[string]*Model // manifest path → model, to keep a model when its files go bad
}

// Registry holds the models of a models directory and swaps them on
// Reload. Reads (Get, Score, Models) take no lock; Reload is serialised.
type Registry struct {
	dir     string
	reload  sync.Mutex
	current atomic.Pointer[modelSet]
	metrics *metrics
}

// Open loads every manifest of cfg.Dir. A directory that cannot be read is
// an error and no Registry. Models that fail to load are left out and
// their errors returned, joined, beside a usable Registry holding the
// others: the caller decides whether a bad model at start is fatal.
func Open(cfg Config) (*Registry, error) {
	if cfg.Dir == "" {
		return nil, errors.New("torch models: Config.Dir is empty: give the models directory")
	}
	if fi, err := os.Stat(cfg.Dir); err != nil {
		return nil, fmt.Errorf("torch models: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("torch models: %s is not a directory", cfg.Dir)
	}
	r := &Registry{dir: cfg.Dir, metrics: newMetrics(cfg.Registerer)}
	r.current.Store(&modelSet{byName: map[string]*Model{}, byAction: map[string]*Model{}, byFile: map[string]*Model{}})
	return r, r.Reload()
}

// Reload re-reads the models directory. Unchanged models (same manifest
// and file digests) are kept as they are; changed ones are loaded anew
// and validated before they replace the old version. When a manifest or
// its TorchScript file is bad, the error says which and why, and the
// model that manifest loaded before stays in service. A manifest that was
// removed removes its model. The returned error joins every problem; the
// new set of models is in place either way.
func (r *Registry) Reload() error {
	r.reload.Lock()
	defer r.reload.Unlock()
	old := r.current.Load()
	files, err := manifestFiles(r.dir)
	if err != nil {
		r.metrics.reloads.WithLabelValues("error").Inc()
		return fmt.Errorf("torch models: %w", err)
	}
	next := &modelSet{byName: map[string]*Model{}, byAction: map[string]*Model{}, byFile: map[string]*Model{}}
	var errs []error
	add := func(file string, m *Model) error {
		if other := next.byName[m.Manifest.Name]; other != nil {
			return fmt.Errorf("%s: name %q is already used by %s; give each model its own name", file, m.Manifest.Name, other.Manifest.File)
		}
		if a := m.Manifest.Action; a != "" && next.byAction[a] != nil {
			return fmt.Errorf("%s: action %q already takes its propensity from model %s; one model per action", file, a, next.byAction[a].Manifest.Name)
		}
		next.byName[m.Manifest.Name] = m
		if a := m.Manifest.Action; a != "" {
			next.byAction[a] = m
		}
		next.byFile[file] = m
		next.list = append(next.list, m)
		return nil
	}
	for _, file := range files {
		prev := old.byFile[file]
		m, err := r.load(file, prev)
		if err != nil {
			r.metrics.loadErrors.Inc()
			if prev != nil {
				err = fmt.Errorf("%w (still serving the previous version of model %s, loaded %s)", err, prev.Manifest.Name, prev.LoadedAt.UTC().Format(time.RFC3339))
				m = prev
			}
			errs = append(errs, err)
			if m == nil {
				continue
			}
		}
		if err := add(file, m); err != nil {
			errs = append(errs, err)
			if m != prev {
				m.s.release()
			}
		}
	}
	slices.SortFunc(next.list, func(a, b *Model) int { return strings.Compare(a.Manifest.Name, b.Manifest.Name) })
	r.current.Store(next)
	for _, m := range old.list {
		if next.byFile[m.Manifest.File] != m {
			// Readers that loaded the old set before the swap may still
			// hold m: release waits for their forward passes, and Score
			// retries on the new set.
			m.s.release()
		}
	}
	r.metrics.models.Set(float64(len(next.list)))
	if len(errs) > 0 {
		r.metrics.reloads.WithLabelValues("error").Inc()
		return errors.Join(errs...)
	}
	r.metrics.reloads.WithLabelValues("ok").Inc()
	return nil
}

// load parses a manifest and loads its model, unless both files are
// unchanged since prev was loaded.
func (r *Registry) load(file string, prev *Model) (*Model, error) {
	data, err := readLimited(file, MaxManifestSize)
	if err != nil {
		return nil, err
	}
	man, err := ParseManifest(file, data)
	if err != nil {
		return nil, err
	}
	body, err := readLimited(man.Model, MaxModelSize)
	if err != nil {
		return nil, fmt.Errorf("%s: model: %w", file, err)
	}
	h := sha256.New()
	h.Write(data)
	h.Write(body)
	digest := hex.EncodeToString(h.Sum(nil))
	if prev != nil && prev.Digest == digest {
		return prev, nil
	}
	s, err := loadScript(body)
	if err != nil {
		return nil, fmt.Errorf("%s: model %s (%s): %w", file, man.Name, man.Model, err)
	}
	return &Model{Manifest: *man, Digest: digest, LoadedAt: time.Now(), s: s}, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

func manifestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if ext := filepath.Ext(e.Name()); ext == ".yaml" || ext == ".yml" {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}

// Get returns the current version of a model.
func (r *Registry) Get(name string) (*Model, bool) {
	m, ok := r.current.Load().byName[name]
	return m, ok
}

// ForAction returns the model whose manifest names action as the action
// it supplies propensities for.
func (r *Registry) ForAction(action string) (*Model, bool) {
	m, ok := r.current.Load().byAction[action]
	return m, ok
}

// Models returns the loaded models, sorted by name. The slice is shared:
// do not modify it.
func (r *Registry) Models() []*Model { return r.current.Load().list }

// Score scores v with the current version of the named model; the error
// wraps ErrNoModel when there is none.
func (r *Registry) Score(name string, v *features.Vector) (float64, error) {
	for range 3 {
		m, ok := r.Get(name)
		if !ok {
			return 0, fmt.Errorf("%w: %q", ErrNoModel, name)
		}
		x, err := m.Score(v)
		if errors.Is(err, errReleased) {
			continue // a reload swapped it out under us
		}
		if err != nil {
			r.metrics.scoreErrors.Inc()
		}
		return x, err
	}
	return 0, fmt.Errorf("model %s: replaced by reloads three times during one call", name)
}

// Close releases every model. The Registry must not be used afterwards.
func (r *Registry) Close() error {
	r.reload.Lock()
	defer r.reload.Unlock()
	for _, m := range r.current.Load().list {
		m.s.release()
	}
	r.current.Store(&modelSet{})
	return nil
}

type metrics struct {
	reloads     *prometheus.CounterVec
	loadErrors  prometheus.Counter
	scoreErrors prometheus.Counter
	models      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_torch_reloads_total",
			Help: "Reloads of the TorchScript models directory, by result (ok, error: at least one model failed to load).",
		}, []string{"result"}),
		loadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_torch_load_errors_total",
			Help: "Manifests or TorchScript files that failed to load; the previous version of the model, if any, kept serving.",
		}),
		scoreErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_torch_score_errors_total",
			Help: "Forward passes of a TorchScript model that failed or returned a non-finite value.",
		}),
		models: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kairos_torch_models",
			Help: "TorchScript models currently loaded.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.reloads, m.loadErrors, m.scoreErrors, m.models)
	}
	return m
}
