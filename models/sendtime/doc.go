// Package sendtime predicts when a contact is most likely to engage with a
// message: the best moment in a window, the expected engagement
// probability of every hour in it with its uncertainty, and whether the
// answer rests on the contact's own history or on the population prior.
// It is pure: no I/O, no package-level state; it registers no metrics
// (Filter counts its verdicts; the caller exports them, for example as
// kairos_sendtime_opens_total{verdict}).
//
// # Place in the data flow
//
//	fold, email "opened":  Filter.Check(delivered, opened, ua, ip) == Human
//	                       → add the open to state.EmailStats.HourOfWeek (stream/fold)
//	population job:        per partition, Prior.Add(each contact's histogram, opens, delivered);
//	                       merge the partitions' Priors (Merge), Fit() → *Fit, publish
//	API send-time, trigger send_at:
//	                       Predict(Input{Hist, Opens, Delivered, Zone}, fit, from, within, Options, buf)
//
// One Prior per segment (for example per RFM segment or language) gives
// segment priors; fall back to the population's Fit when a segment's
// Fit.Contacts is small.
//
// # Model
//
// A contact's engagement over the 168 hours of its local week (Monday
// 00:00 is bin 0) is a distribution θ. Its prior is nested, because
// people keep hours more than weekdays: the hour-of-day profile (24
// bins, the days pooled) is Dirichlet around the population's (or
// segment's) with strength β, and the split of each hour over the seven
// days is Dirichlet around the population's split with strength γ. π, β
// and γ are estimated from the population by the method of moments on
// the Dirichlet-multinomial (Prior.Fit documents the estimator). The
// posterior mean of θ is the contact's decayed counts shrunk towards the
// prior: a contact with two opens gets mostly the population's answer,
// nudged towards its hours on every day, one with two hundred its own. A message sent at
// the start of hour h engages with probability 1 − (1 − r)^L_h, with the
// lift L_h = 1 − κ + κ·168·θ_h (κ the timing-sensitive share of
// engagement, an assumption: the state holds no sends per hour to
// estimate it) and r the contact's opens per delivery shrunk towards the
// population's rate with a Beta prior (strength also by the method of
// moments). A share of
// answers (Options.Explore) picks a plausible non-best hour, so the
// model keeps learning outside the contact's habit.
//
// # Cost
//
// Predict allocates nothing beyond the caller's []Hour
// (TestPredictAllocs) and takes a few microseconds for a 24-hour window
// (BenchmarkPredict). Filter.Check allocates nothing.
package sendtime
