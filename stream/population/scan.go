package population

import (
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
)

// Scan evaluates every contact of a partition at instant at with models m
// in one pass: population statistics and score counts both (the counts
// then use m's cuts and fit).
func Scan(pt *state.Partition, at int64, m *scoring.Models) (*scoring.Summary, error) {
	s := scoring.NewSummary(at)
	s.Partitions = 1
	top := make([]lead.Contribution, 0, m.Lead.Top())
	err := pt.Contacts(func(c *state.Contact) error {
		return s.Add(c, m, top)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// scanPopulation is the first pass of a refresh: a partition's
// population statistics at instant at (scoring.Summary.AddPopulation).
func scanPopulation(pt *state.Partition, at int64, cfg scoring.Config) (*scoring.Summary, error) {
	s := scoring.NewSummary(at)
	s.Partitions = 1
	err := pt.Contacts(func(c *state.Contact) error {
		s.AddPopulation(c, cfg)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// scanScores is the second pass: it adds the partition's contacts'
// scores under the freshly fitted models m to s's counts and
// distributions (scoring.Summary.AddScores).
func scanScores(pt *state.Partition, m *scoring.Models, s *scoring.Summary) error {
	top := make([]lead.Contribution, 0, m.Lead.Top())
	return pt.Contacts(func(c *state.Contact) error {
		s.AddScores(c, m, top)
		return nil
	})
}
