package api

import (
	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/torch"
	"github.com/kairos-engine/kairos/state"
)

// LearnedModels is where the API finds the bring-your-own models a data
// team dropped into the models directory: *torch.Registry in kairos serve
// (both builds; without the torch tag it holds no model), an in-memory
// set in tests.
type LearnedModels interface {
	// Models returns the loaded models, sorted by name.
	Models() []*torch.Model
	// Score scores v with the current version of the named model.
	Score(name string, v *features.Vector) (float64, error)
}

// appendLearned reopens the scores object that dst ends with and adds
// "models": one entry per loaded model, its output for the contact's
// feature vector at the request's instant (features.Compute(c, at), the
// same vector the model was trained on) and what the output means:
//
//	"models":{"churn_risk":{"value":0.137,"output":"probability"}}
//
// A model whose forward pass fails gets "value":null and the error text,
// and the rest of the profile is served.
func (s *Server) appendLearned(dst []byte, c *state.Contact, at int64) []byte {
	l := s.cfg.Learned
	if l == nil || len(dst) == 0 || dst[len(dst)-1] != '}' {
		return dst
	}
	dst = append(dst[:len(dst)-1], `,"models":{`...)
	ms := l.Models()
	if len(ms) > 0 {
		v := features.Compute(c, at)
		for i, m := range ms {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, m.Manifest.Name)
			dst = append(dst, `:{"value":`...)
			x, err := l.Score(m.Manifest.Name, &v)
			if err != nil {
				dst = append(dst, `null,"error":`...)
				dst = appendJSONString(dst, err.Error())
			} else {
				dst = appendScore(dst, x)
			}
			dst = append(dst, `,"output":`...)
			dst = appendJSONString(dst, m.Manifest.Output.String())
			dst = append(dst, '}')
		}
	}
	return append(dst, "}}"...)
}

// adminReload answers POST /v1/admin/reload: it calls Config.Reload (the
// models directory, and whatever else kairos serve reloads on SIGHUP) and
// lists the models in service afterwards. A model that failed to reload
// keeps its previous version; the answer is then 422 reload_incomplete
// with every problem in the message, and the list still shows what
// serves.
func (s *Server) adminReload(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, allowPost)
		writeError(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "method not allowed; use POST")
		return
	}
	if s.cfg.Reload == nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "unavailable", "this server has nothing to reload")
		return
	}
	err := s.cfg.Reload()
	b := ctx.Response.SwapBody(nil)[:0]
	status := fasthttp.StatusOK
	if err != nil {
		s.cfg.Logger.Warn("api: reload incomplete", "err", err)
		status = fasthttp.StatusUnprocessableEntity
		b = append(b, `{"error":{"code":"reload_incomplete","message":`...)
		b = appendJSONString(b, err.Error()+" (each model that failed keeps serving its previous version)")
		b = append(b, `},"models":[`...)
	} else {
		b = append(b, `{"status":"reloaded","models":[`...)
	}
	if s.cfg.Learned != nil {
		for i, m := range s.cfg.Learned.Models() {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONString(b, m.Manifest.Name)
			b = append(b, `,"output":`...)
			b = appendJSONString(b, m.Manifest.Output.String())
			b = append(b, `,"action":`...)
			b = appendOptString(b, m.Manifest.Action)
			b = append(b, `,"digest":`...)
			b = appendJSONString(b, m.Digest)
			b = append(b, `,"loaded_at":`...)
			b = appendTime(b, m.LoadedAt.UnixMilli())
			b = append(b, '}')
		}
	}
	b = append(b, "]}"...)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.SwapBody(b)
}
