package broker

import "time"

// FleetObserver is told what a broker of a fleet (Options.Fleet) decides
// on its way to a session and of each turn in the STS budget, so that
// metrics can count them. Its methods are called on the vend path: they
// must be quick, safe for concurrent use, and never block. Every argument
// is a bounded value, never a key, token, plan or build.
// Options.FleetObserver sets it; the metrics package implements it.
type FleetObserver interface {
	// FleetSession is told, for each session the broker looked for among
	// those of the brokers on its database, how it got it, and how long
	// it waited for another broker's STS call.
	FleetSession(o FleetOutcome, waited time.Duration)
	// BudgetTurn is told of each STS attempt's turn in the STS budget:
	// how long it waited for it, whether it was refused, and whether the
	// budget was the fleet's (shared by the brokers on the database) or,
	// without a fleet or with its database out of reach, this broker's
	// own.
	BudgetTurn(waited time.Duration, refused, fleet bool)
}

// FleetOutcome says how a broker of a fleet got a session it had not
// cached.
type FleetOutcome int

// The outcomes of a fleet session.
const (
	// FleetShared: another broker's session was stored; served at once.
	FleetShared FleetOutcome = iota
	// FleetLed: none was stored and no broker was calling STS for it;
	// this one did, holding the session's lock, and shared the result.
	FleetLed
	// FleetWaited: another broker was calling STS for it; this one
	// waited and served that broker's session.
	FleetWaited
	// FleetFallback: the broker that was calling STS for it went away
	// (died, or its call failed) without a session; this one then called
	// STS itself.
	FleetFallback
	// FleetTimeout: the other broker's call outlasted the wait
	// (Options.FleetWait); this one called STS itself.
	FleetTimeout
	// FleetUnavailable: the database could not be asked; this broker
	// called STS itself, without the fleet.
	FleetUnavailable
)

// String names the outcome: "shared", "led", "waited", "fallback",
// "timeout" or "unavailable".
func (o FleetOutcome) String() string {
	switch o {
	case FleetShared:
		return "shared"
	case FleetLed:
		return "led"
	case FleetWaited:
		return "waited"
	case FleetFallback:
		return "fallback"
	case FleetTimeout:
		return "timeout"
	case FleetUnavailable:
		return "unavailable"
	}
	return "unknown"
}

// noFleetObserver is the FleetObserver of a broker that has none.
type noFleetObserver struct{}

func (noFleetObserver) FleetSession(FleetOutcome, time.Duration) {}
func (noFleetObserver) BudgetTurn(time.Duration, bool, bool)     {}
