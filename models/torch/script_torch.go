//go:build torch

package torch

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/kairos-engine/kairos/models/features"
)

// script is a loaded TorchScript module in evaluation mode.
//
// Concurrency: TorchScript inference is safe from several threads, so
// forward passes share a read lock; release takes the write lock, so a
// module is freed only after the passes that started on it finished.
type script struct {
	mu sync.RWMutex
	m  *ts.CModule // nil once released
}

// loadScript loads a serialised TorchScript module and checks that it takes
// [batch, features.Len] float32 and returns one value per row, with batches
// of 1 and 3.
func loadScript(body []byte) (*script, error) {
	var m *ts.CModule
	err := onThread(func() error {
		var err error
		m, err = ts.ModuleLoadData(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("not a TorchScript module libtorch can load (save it with torch.jit.save): %w", err)
		}
		m.SetEval()
		return nil
	})
	if err != nil {
		return nil, err
	}
	s := &script{m: m}
	for _, n := range []int{1, 3} {
		out := make([]float64, n)
		if err := s.forward(make([]features.Vector, n), out); err != nil {
			s.release()
			return nil, err
		}
	}
	return s, nil
}

// forward runs one batch. The vectors are contiguous float32 rows already,
// so they are handed to libtorch without reshaping.
func (s *script) forward(vs []features.Vector, out []float64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.m == nil {
		return errReleased
	}
	flat := unsafe.Slice((*float32)(unsafe.Pointer(&vs[0])), len(vs)*features.Len)
	return onThread(func() error {
		// Inference builds no autograd graph. gotch v0.7.0's GradSetEnabled
		// misreads the previous mode (it reads a C int as a Go int), so the
		// mode is restored to enabled, libtorch's default, which nothing in
		// Kairos changes.
		if _, err := ts.GradSetEnabled(false); err != nil {
			return err
		}
		defer ts.GradSetEnabled(true)
		// OfDataSize copies bytes; NewTensorFromData would inspect every
		// element by reflection.
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&flat[0])), len(flat)*4)
		x, err := ts.OfDataSize(raw, []int64{int64(len(vs)), features.Len}, gotch.Float)
		if err != nil {
			return fmt.Errorf("input tensor: %w", err)
		}
		defer x.Drop()
		y, err := s.m.ForwardTs([]ts.Tensor{*x})
		if err != nil {
			return fmt.Errorf("%w: the model must take a float32 tensor [batch, %d] (feature vector version %d) and return [batch] or [batch, 1]; libtorch says: %v",
				ErrShape, features.Len, features.Version, err)
		}
		defer y.Drop()
		shape, err := y.Size()
		if err != nil {
			return err
		}
		if !oneValuePerRow(shape, len(vs)) {
			return fmt.Errorf("%w: for input [%d, %d] the model returned %v; it must return [batch] or [batch, 1]", ErrShape, len(vs), features.Len, shape)
		}
		switch y.DType() {
		case gotch.Double:
			return y.CopyData(out, uint(len(out)))
		case gotch.Float:
			// Through a byte view: gotch's CopyData inspects every
			// element of dst by reflection.
			buf := make([]float32, len(out))
			bv, err := y.ViewDtype(gotch.Uint8, false)
			if err != nil {
				return err
			}
			defer bv.Drop()
			if err := bv.CopyDataUint8(unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*4), uint(len(buf)*4)); err != nil {
				return err
			}
			for i, v := range buf {
				out[i] = float64(v)
			}
			return nil
		default:
			return fmt.Errorf("%w: the model returned %v values; return float32 or float64", ErrShape, y.DType())
		}
	})
}

func oneValuePerRow(shape []int64, n int) bool {
	switch len(shape) {
	case 1:
		return shape[0] == int64(n)
	case 2:
		return shape[0] == int64(n) && shape[1] == 1
	}
	return false
}

func (s *script) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m != nil {
		_ = onThread(func() error { s.m.Drop(); return nil })
		s.m = nil
	}
}

// onThread runs f locked to one OS thread: libtorch keeps the last error
// and the grad mode in thread-local storage, and a goroutine may otherwise
// move between threads between two cgo calls of one operation.
func onThread(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return f()
}
