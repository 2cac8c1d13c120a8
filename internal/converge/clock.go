package converge

import "time"

// Clock is the time the guarded changes read and wait on: when a guard's
// deadline falls, when a batch closes (batch.go), how long to wait for a
// host's own rollback. It is the real clock unless the Host provides
// another (Clocked), as terraform-provider-time injects its clock: tests
// drive the batch's bounds with a fake one instead of sleeping.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed, and a
	// function that stops the timer.
	NewTimer(d time.Duration) (<-chan time.Time, func())
}

// Clocked is a Host with a clock of its own.
type Clocked interface {
	Clock() Clock
}

// realClock is the machine's clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// clockOf returns h's clock: its own (Clocked), else the real one.
func clockOf(h Host) Clock {
	if c, ok := h.(Clocked); ok {
		if clk := c.Clock(); clk != nil {
			return clk
		}
	}
	return realClock{}
}
