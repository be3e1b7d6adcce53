package propensity

import (
	"sync/atomic"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/torch"
)

// MLPName is how decision records name the in-engine trained model.
const MLPName = "propensity"

// ActionModels are bring-your-own models a data team dropped into the
// models directory: *torch.Registry in kairos serve.
type ActionModels interface {
	// Models returns the loaded models.
	Models() []*torch.Model
	// Score scores v with the current version of the named model.
	Score(name string, v *features.Vector) (float64, error)
}

// Source supplies next-best-action arbitration with learned propensities
// for one contact (nba.Context.Learned): the promoted MLP for every action
// it was trained on and, taking precedence for its action, a
// bring-your-own model whose manifest names the action and whose output
// is a probability or a logit. A data team that ships a model for one
// action has said it knows that action better than the general model.
// A Source is safe for concurrent use; the MLP and the models may be
// swapped underneath it at any time.
type Source struct {
	mlp *atomic.Pointer[MLP]
	byo ActionModels
	// index maps the current catalogue's actions to the current MLP's
	// logits; rebuilt (once) when either changes.
	index atomic.Pointer[catalogueIndex]
}

type catalogueIndex struct {
	mlp   *MLP
	cat   *nba.Catalogue
	logit []int // per catalogue action, its logit in mlp, or -1
}

// NewSource serves from mlp (nil, or pointing at nil: no MLP) and byo
// (nil: none).
func NewSource(mlp *atomic.Pointer[MLP], byo ActionModels) *Source {
	return &Source{mlp: mlp, byo: byo}
}

// Estimate writes into out, one entry per action of cat (len(out) must be
// len(cat.Actions())), the learned propensity of each action for the
// contact whose feature vector is v, with Model "" where no model has
// one. It reports whether any entry has one. A bring-your-own model whose
// forward pass fails is skipped (its registry counts the error). With the
// MLP alone it does not allocate.
func (s *Source) Estimate(cat *nba.Catalogue, v *features.Vector, out []nba.Learned) bool {
	clear(out)
	found := false
	if s.mlp != nil {
		if m := s.mlp.Load(); m != nil && m.FeatureVersion == features.Version {
			ix := s.indexFor(m, cat)
			var p [MaxWidth]float64
			m.Predict(v, p[:len(m.Actions)])
			for i, j := range ix.logit {
				if j >= 0 && i < len(out) {
					out[i] = nba.Learned{P: p[j], Model: MLPName}
					found = true
				}
			}
		}
	}
	if s.byo != nil {
		for _, bm := range s.byo.Models() {
			mf := &bm.Manifest
			if mf.Action == "" || !mf.Output.IsPropensity() || mf.FeatureVersion != features.Version {
				continue
			}
			a := cat.Action(mf.Action)
			if a == nil || a.Index() >= len(out) {
				continue
			}
			p, err := s.byo.Score(mf.Name, v)
			if err != nil || p < 0 || p > 1 {
				continue
			}
			out[a.Index()] = nba.Learned{P: p, Model: mf.Name}
			found = true
		}
	}
	return found
}

func (s *Source) indexFor(m *MLP, cat *nba.Catalogue) *catalogueIndex {
	if ix := s.index.Load(); ix != nil && ix.mlp == m && ix.cat == cat {
		return ix
	}
	ix := &catalogueIndex{mlp: m, cat: cat, logit: make([]int, len(cat.Actions()))}
	for i, a := range cat.Actions() {
		ix.logit[i] = -1
		if j, ok := m.ActionIndex(a.ID); ok {
			ix.logit[i] = j
		}
	}
	s.index.Store(ix)
	return ix
}
