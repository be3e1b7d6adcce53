// Package decisionlog turns next-best-action's decision log into training
// examples for the propensity model, and runs the training: the code
// behind `kairos train propensity` and the schedule in `kairos serve`
// (config models.train_every).
//
// # Place in the data flow
//
//	kairos.decisions ──Read (start offsets → end offsets at the call)──► Builder
//	   DecisionRecord (with features, feature_version)  ┐
//	   OutcomeRecord  (type "outcome")                  ┴─► Builder.Examples ─► []propensity.Example
//	                                                          │
//	        propensity.EvaluateBaseline (both builds)  ◄──────┤
//	        propensity.Train (torch build)             ◄──────┘
//	                  │ Report.Promoted
//	                  ▼
//	        MLP.WriteTo(Config.Out), atomically (temp file + rename)
//
// The log is read from a plain consumer (no group, nothing committed):
// training never moves the engine's offsets, and it runs in its own
// goroutine with its own client, so ingestion never waits for it.
//
// # Examples
//
// A decision record is a training example source only when it carries
// the feature vector computed at its instant (features, feature_version
// equal to features.Version). Every shown, non-fallback choice of such a
// decision is one Example: the action, the decision's time, the choice's
// logging_probability (0 when not logged: no off-policy estimate then).
// Its outcome is true when an OutcomeRecord with the same decision_id and
// action_id, of kind click or order, has a timestamp within
// ExampleConfig.Attribution after the decision (the catalogue's default
// attribution window, 7 days, unless set). A dismissal or no outcome is
// false, except that a decision whose window is still open at the last
// timestamp of the log is left out: its outcome is not known yet.
// Malformed records are counted (Stats.Malformed) and skipped: one bad
// record does not stop training.
//
// # Metrics (Schedule only)
//
//   - kairos_decisionlog_train_runs_total{result}: scheduled runs by result
//     (promoted, kept, too_few, error);
//   - kairos_decisionlog_train_duration_seconds: duration of a run
//     (reading, training, evaluation, writing);
//   - kairos_decisionlog_examples: examples the last run built.
package decisionlog
