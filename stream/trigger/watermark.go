package trigger

import "time"

// Watermark is a partition's event-time clock for firing timers. It
// follows the newest event time seen on each input topic of the partition:
// the watermark is the smallest of those (a topic that lags holds timers
// back, so that an order still on its way can cancel an abandoned-cart
// timer), minus Lateness. A topic that has been silent for Idle of wall
// time stops holding it back, and when every topic is silent the wall
// clock (minus Lateness) drives it, so that timers of an idle partition
// still fire. It never goes back. It is owned by one partition worker.
type Watermark struct {
	// Lateness is how long timers wait for late events. Default 0.
	Lateness time.Duration
	// Idle is the wall time after which a silent topic no longer holds the
	// watermark back. Default 30s.
	Idle time.Duration

	topics map[string]*topicClock
	mark   int64
}

type topicClock struct {
	eventMax int64     // newest event time seen
	seen     time.Time // wall time of the last event
}

// Observe records an event of topic with event time at (Unix ms), seen at
// wall time wall.
func (w *Watermark) Observe(topic string, at int64, wall time.Time) {
	if w.topics == nil {
		w.topics = make(map[string]*topicClock)
	}
	tc := w.topics[topic]
	if tc == nil {
		tc = &topicClock{eventMax: at}
		w.topics[topic] = tc
	}
	tc.eventMax = max(tc.eventMax, at)
	tc.seen = wall
}

// At returns the watermark at wall time wall (Unix ms): timers due at or
// before it fire.
func (w *Watermark) At(wall time.Time) int64 {
	idle := w.Idle
	if idle <= 0 {
		idle = 30 * time.Second
	}
	late := w.Lateness.Milliseconds()
	m, active := int64(0), false
	for _, tc := range w.topics {
		if wall.Sub(tc.seen) >= idle {
			continue
		}
		if !active || tc.eventMax < m {
			m = tc.eventMax
		}
		active = true
	}
	if active {
		m -= late
	} else {
		m = wall.UnixMilli() - late
	}
	w.mark = max(w.mark, m)
	return w.mark
}
