package propensity

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/kairos-engine/kairos/models/features"
)

// MaxWidth bounds every layer's width, so that inference runs on fixed
// scratch arrays on the stack and never allocates.
const MaxWidth = 256

// Layer is one fully connected layer. W is row-major [In][Out] (input-
// major, the layout libtorch's x·W uses), B is [Out].
type Layer struct {
	In, Out int
	W, B    []float32
}

// MLP is the pure-Go propensity model: standardised features, ReLU hidden
// layers, and one logit per action; the propensity of action a is
// sigmoid(logit_a). It is what serves, in both builds; the torch build
// trains it (Train) and exports it here. An *MLP is immutable and safe for
// concurrent use.
type MLP struct {
	// FeatureVersion is the features.Version of the vectors it was trained
	// on (0 for vectors that are not contact features, as in the Open
	// Bandit evaluation).
	FeatureVersion int
	// Actions are the action ids, in logit order.
	Actions []string
	// Mean and InvScale standardise the input: x' = (x − Mean)·InvScale.
	Mean, InvScale []float32
	// Layers from input to output; every layer but the last is followed
	// by a ReLU.
	Layers []Layer

	index map[string]int
}

// NewMLP validates the shapes of an MLP's parts and builds it.
func NewMLP(featureVersion int, actions []string, mean, invScale []float32, layers []Layer) (*MLP, error) {
	m := &MLP{FeatureVersion: featureVersion, Actions: actions, Mean: mean, InvScale: invScale, Layers: layers}
	if err := m.init(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *MLP) init() error {
	if len(m.Actions) == 0 {
		return errors.New("propensity model: no actions")
	}
	m.index = make(map[string]int, len(m.Actions))
	for i, a := range m.Actions {
		if a == "" {
			return fmt.Errorf("propensity model: action %d has an empty id", i)
		}
		if _, dup := m.index[a]; dup {
			return fmt.Errorf("propensity model: action %q listed twice", a)
		}
		m.index[a] = i
	}
	if len(m.Mean) != features.Len || len(m.InvScale) != features.Len {
		return fmt.Errorf("propensity model: standardisation has %d/%d values, want %d", len(m.Mean), len(m.InvScale), features.Len)
	}
	if len(m.Layers) == 0 {
		return errors.New("propensity model: no layers")
	}
	in := features.Len
	for i, l := range m.Layers {
		if l.In != in {
			return fmt.Errorf("propensity model: layer %d takes %d inputs, the previous gives %d", i, l.In, in)
		}
		if l.Out < 1 || l.Out > MaxWidth {
			return fmt.Errorf("propensity model: layer %d has %d outputs, want 1..%d", i, l.Out, MaxWidth)
		}
		if len(l.W) != l.In*l.Out || len(l.B) != l.Out {
			return fmt.Errorf("propensity model: layer %d has %d weights and %d biases, want %d and %d", i, len(l.W), len(l.B), l.In*l.Out, l.Out)
		}
		if !finite(l.W) || !finite(l.B) {
			return fmt.Errorf("propensity model: layer %d has a non-finite weight", i)
		}
		in = l.Out
	}
	if in != len(m.Actions) {
		return fmt.Errorf("propensity model: last layer gives %d logits for %d actions", in, len(m.Actions))
	}
	if !finite(m.Mean) || !finite(m.InvScale) {
		return errors.New("propensity model: non-finite standardisation")
	}
	return nil
}

func finite(xs []float32) bool {
	for _, x := range xs {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

// ActionIndex returns the logit index of an action id.
func (m *MLP) ActionIndex(action string) (int, bool) {
	i, ok := m.index[action]
	return i, ok
}

// Predict writes the propensity of every action (in Actions order) for one
// feature vector into out, which must hold len(Actions) values. It does
// not allocate.
func (m *MLP) Predict(v *features.Vector, out []float64) {
	var a, b [MaxWidth]float32
	x := a[:features.Len]
	for i := range x {
		x[i] = (v[i] - m.Mean[i]) * m.InvScale[i]
	}
	cur, next := a[:], b[:]
	n := features.Len
	for li := range m.Layers {
		l := &m.Layers[li]
		h := next[:l.Out]
		copy(h, l.B)
		for i, xi := range cur[:n] {
			if xi == 0 {
				continue // ReLU zeros and one-hot features are common
			}
			row := l.W[i*l.Out : (i+1)*l.Out]
			h := h[:len(row)] // lets the compiler drop the bounds check
			for j, w := range row {
				h[j] += xi * w
			}
		}
		if li < len(m.Layers)-1 {
			for j, y := range h {
				if y < 0 {
					h[j] = 0
				}
			}
		}
		cur, next, n = next, cur, l.Out
	}
	for j := range out[:len(m.Actions)] {
		out[j] = sigmoid(float64(cur[j]))
	}
}

// PredictAction returns one action's propensity, or false for an action
// the model was not trained on.
func (m *MLP) PredictAction(v *features.Vector, action string) (float64, bool) {
	k, ok := m.index[action]
	if !ok {
		return 0, false
	}
	var out [MaxWidth]float64
	m.Predict(v, out[:len(m.Actions)])
	return out[k], true
}

// batchRows is how many rows PredictBatch pushes through a layer together:
// each weight row is then read once per block instead of once per row.
const batchRows = 8

// PredictBatch writes the propensities of every action for each vector,
// row-major: out[r*len(Actions)+a]. out must hold len(vs)·len(Actions)
// values. It does not allocate.
func (m *MLP) PredictBatch(vs []features.Vector, out []float64) error {
	na := len(m.Actions)
	if len(out) < len(vs)*na {
		return fmt.Errorf("propensity: PredictBatch: out has %d values for %d rows × %d actions", len(out), len(vs), na)
	}
	var a, b [batchRows * MaxWidth]float32
	for start := 0; start < len(vs); start += batchRows {
		rows := min(batchRows, len(vs)-start)
		cur, next := a[:], b[:]
		n := features.Len
		for r := range rows {
			v := &vs[start+r]
			x := cur[r*MaxWidth : r*MaxWidth+n]
			for i := range x {
				x[i] = (v[i] - m.Mean[i]) * m.InvScale[i]
			}
		}
		for li := range m.Layers {
			l := &m.Layers[li]
			for r := range rows {
				copy(next[r*MaxWidth:r*MaxWidth+l.Out], l.B)
			}
			for i := range n {
				row := l.W[i*l.Out : (i+1)*l.Out]
				for r := range rows {
					xi := cur[r*MaxWidth+i]
					if xi == 0 {
						continue
					}
					h := next[r*MaxWidth : r*MaxWidth+len(row)]
					for j, w := range row {
						h[j] += xi * w
					}
				}
			}
			if li < len(m.Layers)-1 {
				for r := range rows {
					h := next[r*MaxWidth : r*MaxWidth+l.Out]
					for j, y := range h {
						if y < 0 {
							h[j] = 0
						}
					}
				}
			}
			cur, next, n = next, cur, l.Out
		}
		for r := range rows {
			o := out[(start+r)*na : (start+r+1)*na]
			for j := range o {
				o[j] = sigmoid(float64(cur[r*MaxWidth+j]))
			}
		}
	}
	return nil
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// fileFormat names the JSON encoding, so that a file of something else
// is refused with a clear message.
const fileFormat = "kairos-propensity-mlp/1"

type fileLayer struct {
	In  int       `json:"in"`
	Out int       `json:"out"`
	W   []float32 `json:"w"`
	B   []float32 `json:"b"`
}

type file struct {
	Format         string      `json:"format"`
	FeatureVersion int         `json:"feature_version"`
	Actions        []string    `json:"actions"`
	Mean           []float32   `json:"mean"`
	InvScale       []float32   `json:"inv_scale"`
	Layers         []fileLayer `json:"layers"`
}

// MaxFileSize bounds an encoded model.
const MaxFileSize = 64 << 20

// WriteTo writes the model as JSON (a few hundred KB at most): the
// format a trained model is promoted in and the pure-Go build loads.
func (m *MLP) WriteTo(w io.Writer) (int64, error) {
	f := file{Format: fileFormat, FeatureVersion: m.FeatureVersion, Actions: m.Actions, Mean: m.Mean, InvScale: m.InvScale}
	for _, l := range m.Layers {
		f.Layers = append(f.Layers, fileLayer(l))
	}
	b, err := json.Marshal(&f)
	if err != nil {
		return 0, fmt.Errorf("propensity model: encode: %w", err)
	}
	n, err := w.Write(b)
	return int64(n), err
}

// ReadMLP reads a model WriteTo wrote and validates it.
func ReadMLP(r io.Reader) (*MLP, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("propensity model: read: %w", err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("propensity model: larger than %d bytes", MaxFileSize)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("propensity model: not a model file: %w", err)
	}
	if f.Format != fileFormat {
		return nil, fmt.Errorf("propensity model: format %q, want %q", f.Format, fileFormat)
	}
	layers := make([]Layer, len(f.Layers))
	for i, l := range f.Layers {
		layers[i] = Layer(l)
	}
	return NewMLP(f.FeatureVersion, slices.Clone(f.Actions), f.Mean, f.InvScale, layers)
}
