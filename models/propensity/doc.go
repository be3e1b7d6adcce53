// Package propensity learns, from next-best-action's own decision log,
// the probability that showing an action to a contact converts, with a
// small multi-layer perceptron over the contact's feature vector
// (models/features): one logit per action, so one forward pass scores the
// whole catalogue for a contact.
//
// # Place in the data flow
//
// Training (the torch build): next-best-action logs every decision with
// the feature vector at decision time and the propensity of each action
// shown (kairos.decisions); outcome events referencing the decision close
// the loop. Joined, they are Examples. `kairos train propensity` (and a
// schedule in serve) calls Train: the most recent slice of the examples
// (by event time) is held out; the rest trains the network with libtorch
// (gotch) and picks the epoch by validation log-loss; the result is
// judged on the holdout against the Bayesian per-action baseline
// (Baseline: the Beta posterior mean of each action, what
// next-best-action uses without a learned model) and against the model in
// service. Report.Promoted is true only when the new model has a lower
// log-loss than both and an AUC at least the baseline's.
//
// Serving (both builds): the trained network is exported to MLP, a pure-Go
// forward pass that computes the same outputs as libtorch (within 1e-5,
// TestExportAgrees), is written with WriteTo and read with ReadMLP, and
// predicts without allocating, one contact (Predict) or a batch
// (PredictBatch). The torch build also has TorchMLP, the same forward
// pass in libtorch, batched; the pure-Go one is faster for this size
// (bench/RESULTS.md), so it is what serves.
//
// Arbitration: Source hands next-best-action, per request, the learned
// propensity of every catalogue action for the contact (nba.Context.
// Learned): the promoted MLP's, overridden for an action by a
// bring-your-own TorchScript model (models/torch) whose manifest names
// that action. nba.Policy.Decide combines them with its per-group
// posteriors, and decision records name the model that spoke.
//
// Evaluation: LogLoss, AUC and EstimatePolicy (inverse propensity
// weighting of a policy's outcome rate from logged examples) are the
// measures Train reports; the tests apply them to a simulated
// next-best-action environment and, when ../shared/data/obd is present,
// to the Open Bandit Dataset sample.
//
// The package registers no metrics and keeps no package-level state.
// Without the torch build tag, Train returns ErrTorchUnavailable.
package propensity
