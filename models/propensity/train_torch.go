//go:build torch

package propensity

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kairos-engine/kairos/models/features"
)

// Train fits an MLP with libtorch (gotch) on the examples: the most
// recent HoldoutFraction (by At) is held out, the rest trains it with Adam
// on the binary cross-entropy of the shown action's logit, the epoch with
// the best validation log-loss is kept, and the result is judged on the
// holdout against the Bayesian per-action baseline (and against current,
// the model in service, if not nil). The returned model is the pure-Go
// export; Report.Promoted says whether it should replace current.
func Train(ex []Example, current *MLP, cfg TrainConfig) (*MLP, *Report, error) {
	if err := cfg.defaults(ex); err != nil {
		return nil, nil, err
	}
	train, holdout, nval, err := split(ex, &cfg)
	if err != nil {
		return nil, nil, err
	}
	fit, val := train[:len(train)-nval], train[len(train)-nval:]
	mean, inv := standardisation(fit)

	// libtorch keeps the last error and the grad mode per thread: the
	// whole training runs on one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	n, err := newNet(len(cfg.Actions), cfg.Hidden, rng)
	if err != nil {
		return nil, nil, err
	}
	defer n.close()
	opt, err := ts.Adam(cfg.LearningRate, 0.9, 0.999, cfg.WeightDecay)
	if err != nil {
		return nil, nil, fmt.Errorf("propensity: optimiser: %w", err)
	}
	defer opt.Drop()
	if err := opt.AddParameters(n.params()); err != nil {
		return nil, nil, fmt.Errorf("propensity: optimiser: %w", err)
	}

	actionIdx := make(map[string]int64, len(cfg.Actions))
	for i, a := range cfg.Actions {
		actionIdx[a] = int64(i)
	}
	rep := &Report{Examples: len(ex), Train: len(train), Validation: nval, Holdout: len(holdout), HoldoutFrom: holdout[0].At}
	var best *MLP
	bestLoss, stale := math.Inf(1), 0
	order := make([]int, len(fit))
	for i := range order {
		order[i] = i
	}
	xb := make([]float32, cfg.BatchSize*features.Len)
	ab := make([]int64, cfg.BatchSize)
	yb := make([]float32, cfg.BatchSize)
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for start := 0; start < len(order); start += cfg.BatchSize {
			rows := min(cfg.BatchSize, len(order)-start)
			for r := range rows {
				e := &fit[order[start+r]]
				x := xb[r*features.Len : (r+1)*features.Len]
				for k := range x {
					x[k] = (e.Features[k] - mean[k]) * inv[k]
				}
				ab[r] = actionIdx[e.Action]
				yb[r] = 0
				if e.Outcome {
					yb[r] = 1
				}
			}
			if err := n.step(opt, xb[:rows*features.Len], ab[:rows], yb[:rows]); err != nil {
				return nil, nil, fmt.Errorf("propensity: epoch %d: %w", epoch, err)
			}
		}
		m, err := n.export(cfg.FeatureVersion, cfg.Actions, mean, inv)
		if err != nil {
			return nil, nil, err
		}
		rep.Epochs = epoch
		if l := logLossOn(m, val); l < bestLoss {
			best, bestLoss, stale, rep.BestEpoch = m, l, 0, epoch
		} else if stale++; stale >= cfg.Patience {
			break
		}
	}
	if best == nil {
		return nil, nil, errors.New("propensity: training diverged: no epoch had a finite validation log-loss")
	}
	base := FitBaseline(train, cfg.PriorStrength)
	rep.BaselineStrength = base.Strength
	evaluate(rep, best, base, current, holdout)
	return best, rep, nil
}

// net is the MLP as libtorch tensors: W[k] is [in, out] and B[k] is
// [out], the pure-Go Layer layout, so export is a copy. The optimiser
// holds the parameters directly (gotch's VarStore and nn.Optimizer cannot
// be freed).
type net struct {
	w, b []*ts.Tensor
	dims []int // features.Len, hidden..., actions
}

func (n *net) params() []ts.Tensor {
	var ps []ts.Tensor
	for k := range n.w {
		ps = append(ps, *n.w[k], *n.b[k])
	}
	return ps
}

// newNet initialises the layers in Go (Kaiming-uniform weights, zero
// biases, from rng) so that training is reproducible from the seed.
func newNet(actions int, hidden []int, rng *rand.Rand) (*net, error) {
	n := &net{dims: append(append([]int{features.Len}, hidden...), actions)}
	for k := 0; k+1 < len(n.dims); k++ {
		in, out := n.dims[k], n.dims[k+1]
		bound := math.Sqrt(6.0 / float64(in))
		w := make([]float32, in*out)
		for i := range w {
			w[i] = float32((rng.Float64()*2 - 1) * bound)
		}
		if err := n.add(w, make([]float32, out)); err != nil {
			n.close()
			return nil, err
		}
	}
	return n, nil
}

// add appends a layer's parameters, as tensors that require gradients.
func (n *net) add(w, b []float32) error {
	k := len(n.w)
	in, out := n.dims[k], n.dims[k+1]
	wt, err := param(w, []int64{int64(in), int64(out)})
	if err != nil {
		return fmt.Errorf("propensity: layer %d weights: %w", k, err)
	}
	bt, err := param(b, []int64{int64(out)})
	if err != nil {
		wt.Drop()
		return fmt.Errorf("propensity: layer %d biases: %w", k, err)
	}
	n.w, n.b = append(n.w, wt), append(n.b, bt)
	return nil
}

func param(data []float32, shape []int64) (*ts.Tensor, error) {
	t, err := tensorOf(data, shape)
	if err != nil {
		return nil, err
	}
	defer t.Drop()
	return t.SetRequiresGrad(true, false)
}

// forward returns the logits [rows, actions] of standardised inputs x
// [rows, features.Len]. The caller drops the result.
func (n *net) forward(x *ts.Tensor) (*ts.Tensor, error) {
	h := x
	for k := range n.w {
		mm, err := h.Matmul(n.w[k], h != x)
		if err != nil {
			return nil, err
		}
		if h, err = mm.Add(n.b[k], true); err != nil {
			return nil, err
		}
		if k < len(n.w)-1 {
			if h, err = h.Relu(true); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

// step takes one Adam step on the batch's binary cross-entropy of the
// shown actions' logits.
func (n *net) step(opt *ts.COptimizer, x []float32, actions []int64, y []float32) error {
	rows := int64(len(actions))
	xt, err := tensorOf(x, []int64{rows, features.Len})
	if err != nil {
		return err
	}
	defer xt.Drop()
	at, err := tensorOf(actions, []int64{rows, 1})
	if err != nil {
		return err
	}
	defer at.Drop()
	yt, err := tensorOf(y, []int64{rows, 1})
	if err != nil {
		return err
	}
	defer yt.Drop()
	logits, err := n.forward(xt)
	if err != nil {
		return err
	}
	shown, err := logits.Gather(1, at, false, true)
	if err != nil {
		return err
	}
	none := ts.NewTensor() // undefined: no weights
	defer none.Drop()
	loss, err := shown.BinaryCrossEntropyWithLogits(yt, none, none, 1 /* mean */, true)
	if err != nil {
		return err
	}
	defer loss.Drop()
	if err := opt.ZeroGrad(); err != nil {
		return err
	}
	if err := loss.Backward(); err != nil {
		return err
	}
	return opt.Step()
}

// export copies the current weights into a pure-Go MLP.
func (n *net) export(featureVersion int, actions []string, mean, inv []float32) (*MLP, error) {
	layers := make([]Layer, len(n.w))
	for k := range n.w {
		in, out := n.dims[k], n.dims[k+1]
		l := Layer{In: in, Out: out, W: make([]float32, in*out), B: make([]float32, out)}
		if err := copyOut(n.w[k], l.W); err != nil {
			return nil, fmt.Errorf("propensity: export layer %d: %w", k, err)
		}
		if err := copyOut(n.b[k], l.B); err != nil {
			return nil, fmt.Errorf("propensity: export layer %d: %w", k, err)
		}
		layers[k] = l
	}
	return NewMLP(featureVersion, append([]string(nil), actions...), append([]float32(nil), mean...), append([]float32(nil), inv...), layers)
}

// tensorOf copies a Go slice into a new libtorch tensor. gotch's
// NewTensorFromData inspects every element by reflection (most of the
// training time, measured); OfDataSize takes the bytes, a memmove.
func tensorOf[T float32 | int64](data []T, shape []int64) (*ts.Tensor, error) {
	dtype := gotch.Float
	var zero T
	if any(zero) == any(int64(0)) {
		dtype = gotch.Int64
	}
	if len(data) == 0 {
		return nil, errors.New("propensity: empty tensor")
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), len(data)*int(unsafe.Sizeof(zero)))
	return ts.OfDataSize(b, shape, dtype)
}

func (n *net) close() {
	for _, t := range append(n.w, n.b...) {
		t.Drop()
	}
}

// TorchMLP runs an MLP's forward pass in libtorch, batched: the torch
// build's alternative to MLP.PredictBatch (same outputs, see
// TestExportAgrees), measured against it in bench/RESULTS.md.
type TorchMLP struct {
	m *MLP
	n *net
}

// NewTorchMLP loads m's weights into libtorch tensors.
func NewTorchMLP(m *MLP) (*TorchMLP, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n := &net{dims: []int{features.Len}}
	for _, l := range m.Layers {
		n.dims = append(n.dims, l.Out)
	}
	for _, l := range m.Layers {
		if err := n.add(l.W, l.B); err != nil {
			n.close()
			return nil, err
		}
	}
	return &TorchMLP{m: m, n: n}, nil
}

// PredictBatch writes every action's propensity for each vector into out
// (row-major, len(vs)·len(Actions)).
func (t *TorchMLP) PredictBatch(vs []features.Vector, out []float64) error {
	na := len(t.m.Actions)
	if len(out) < len(vs)*na {
		return fmt.Errorf("propensity: PredictBatch: out has %d values for %d rows × %d actions", len(out), len(vs), na)
	}
	if len(vs) == 0 {
		return nil
	}
	x := make([]float32, len(vs)*features.Len)
	for r := range vs {
		for k := range features.Len {
			x[r*features.Len+k] = (vs[r][k] - t.m.Mean[k]) * t.m.InvScale[k]
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Inference builds no autograd graph. gotch v0.7.0's GradSetEnabled
	// misreads the previous mode (it reads a C int as a Go int), so the
	// mode is restored to enabled, libtorch's default, which nothing in
	// Kairos changes.
	if _, err := ts.GradSetEnabled(false); err != nil {
		return err
	}
	defer ts.GradSetEnabled(true)
	xt, err := tensorOf(x, []int64{int64(len(vs)), features.Len})
	if err != nil {
		return err
	}
	defer xt.Drop()
	logits, err := t.n.forward(xt)
	if err != nil {
		return err
	}
	p, err := logits.Sigmoid(true)
	if err != nil {
		return err
	}
	defer p.Drop()
	buf := make([]float32, len(vs)*na)
	if err := copyOut(p, buf); err != nil {
		return err
	}
	for i, v := range buf {
		out[i] = float64(v)
	}
	return nil
}

// copyOut copies a float32 tensor into dst through a byte view: gotch's
// CopyData inspects dst element by element by reflection.
func copyOut(t *ts.Tensor, dst []float32) error {
	bytesView, err := t.ViewDtype(gotch.Uint8, false)
	if err != nil {
		return err
	}
	defer bytesView.Drop()
	return bytesView.CopyDataUint8(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), len(dst)*4), uint(len(dst)*4))
}

// Close frees the libtorch tensors.
func (t *TorchMLP) Close() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t.n.close()
}
