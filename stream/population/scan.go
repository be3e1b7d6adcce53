package population

import (
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
)

// Scan evaluates every contact of a partition at instant at with models m.
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
