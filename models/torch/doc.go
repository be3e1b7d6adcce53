// Package torch serves the models data teams train in PyTorch: a models
// directory of TorchScript files, each described by a small YAML manifest
// (Manifest), loaded at start and on reload into a Registry, and scored on
// the feature vector of models/features.
//
// # Place in the data flow
//
// The API computes features.Compute(contact, at) for the contact it reads
// and calls Registry.Score(name, &v) for each model to serve the result as
// a named score of GET /v1/contacts/{id}; next-best-action asks
// Registry.ForAction(action) for a model that supplies an action's
// propensity (manifest field action, output probability or logit). Nothing
// here touches Kafka or Pebble.
//
// # Reloading
//
// Reload re-reads the directory and swaps an immutable set of models
// behind an atomic pointer: reads take no lock. A model whose manifest and
// TorchScript file are unchanged (SHA-256) is kept as it is. A manifest or
// file that fails to parse, load or validate (the module must take a
// float32 tensor [batch, features.Len] and return [batch] or [batch, 1],
// checked with batches of 1 and 3 at load) gives an error naming the file,
// the line or the reason, and the version that manifest loaded before
// keeps serving. A replaced module is freed once the forward passes
// running on it have finished; Registry.Score retries on the new version.
//
// # Builds
//
// The libtorch-backed code (gotch v0.7.0, cgo) is behind the build tag
// torch. Without it the package still parses and validates manifests and
// loading a TorchScript file fails with ErrTorchUnavailable, so `go build
// ./...` and `go test ./...` need no libtorch. With it, models/torch/env.sh
// supplies the environment gotch needs to build against Debian's
// libtorch-dev 1.13.1 (see README.md in this directory).
//
// # Metrics
//
//   - kairos_torch_reloads_total{result}: reloads, result ok or error;
//   - kairos_torch_load_errors_total: manifests or files that failed to load;
//   - kairos_torch_score_errors_total: failed or non-finite forward passes;
//   - kairos_torch_models: models loaded.
package torch
