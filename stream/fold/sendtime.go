package fold

import (
	"github.com/kairos-engine/kairos/models/sendtime"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
)

// SetOpenFilter makes the folder check every email open with f before it
// enters the contact's hour-of-week histogram: mail privacy proxies and
// security scanners fetch the tracking pixel on delivery and would teach
// the send-time model that everybody reads their mail the second it
// arrives. nil counts every open. The open still counts in the contact's
// open total (the engagement rate and lead scoring see it); only its hour
// is not learned.
func (f *Folder) SetOpenFilter(filter *sendtime.Filter) { f.openFilter = filter }

// humanOpen reports whether open e on c should teach the send-time model.
// The contact's last send stands in for the delivery, which the record
// does not keep: a delivery comes seconds after its send.
func (f *Folder) humanOpen(c *state.Contact, e *event.Event) bool {
	if f.openFilter == nil {
		return true
	}
	return f.openFilter.Check(c.Engagement.LastSent, e.Time, e.Context.UserAgent, e.Context.IP) == sendtime.Human
}
