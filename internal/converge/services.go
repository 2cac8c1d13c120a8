package converge

import (
	"context"
	"strings"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

// ReadServices reads what the init systems say about services.
func ReadServices(ctx context.Context, h Host, services []string) (*conntrack.ServiceHost, error) {
	script, args := conntrack.ServicesScript(services)
	s, err := read(ctx, h, ObjServices, "read firewall services", script, args, conntrack.ParseServices)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// ServicesChange is a conntrack_firewall_service apply.
type ServicesChange struct {
	Services []string
	// InitSystem is the declared init system; empty: the one the host runs.
	InitSystem string
	// Enabled and Running are the declared states; nil: unmanaged.
	Enabled, Running *bool
	// Rollback is how long the host waits for a new login to confirm a
	// service start before it undoes it (0: 30 seconds); Label names the
	// change in the host's record of a rollback.
	Rollback time.Duration
	Label    string
}

// InitSystemOf is the declared init system, else the one the host runs.
func InitSystemOf(declared string, h *conntrack.ServiceHost) string {
	switch {
	case declared != "":
		return declared
	case h.Systemd:
		return conntrack.InitSystemd
	}
	return conntrack.InitSysV
}

// ServicesResult is what a firewall service apply did.
type ServicesResult struct {
	// Read is the services' state after the change.
	Read       *conntrack.ServiceHost
	InitSystem string
	// Actions are the changes made; Failed maps "SERVICE ACTION" of each
	// that failed to why.
	Actions []conntrack.ServiceAction
	Failed  map[string]string
	// Guard is how a guarded start ended (Armed false: no service
	// started, so nothing was guarded).
	Guard GuardReport
}

// Services starts, stops, enables and disables the services as declared,
// in one remote command, then reads them back (base is this walk's read).
func Services(ctx context.Context, h Host, ch ServicesChange, base *conntrack.ServiceHost) (ServicesResult, error) {
	sh := base
	if sh == nil {
		var err error
		if sh, err = ReadServices(ctx, h, ch.Services); err != nil {
			return ServicesResult{}, err
		}
	}
	init := InitSystemOf(ch.InitSystem, sh)
	res := ServicesResult{Read: sh, InitSystem: init}
	res.Actions = conntrack.ServiceActions(ch.Services, sh.States(init), ch.Enabled, ch.Running)
	if len(res.Actions) == 0 {
		return res, nil
	}
	unlock, err := h.Lock(mayGuard(ctx))
	if err != nil {
		return res, err
	}
	defer unlock()
	tool := init
	if init == conntrack.InitSysV {
		tool = sh.SysVTool
	}
	script, args := conntrack.ServiceApplyScript(tool, res.Actions)
	if g, ok := serviceGuard(ch, tool, res.Actions); ok {
		// A started firewall loads persisted rules that can cut SSH.
		gr, rep, err := guarded(ctx, h, g, nil, OpChangeServices, script, args)
		res.Failed, res.Guard = gr.Failed, rep
		if err != nil || !rep.Confirmed {
			// Not confirmed: rolled back, or being rolled back; the
			// session the start ran on may be cut.
			return res, err
		}
	} else {
		if err := unguarded(ctx, h); err != nil {
			return res, err
		}
		out, err := h.Script(ctx, OpChangeServices, script, nil, args...)
		if err != nil {
			return res, &StepError{Op: OpChangeServices, Err: err}
		}
		res.Failed = conntrack.ParseFailures(string(out))
	}
	if res.Read, err = ReadServices(ctx, h, ch.Services); err != nil {
		return res, err
	}
	return res, nil
}

// serviceGuard is the guard of actions when they start a service: the
// host saves every iptables and ip6tables table, and a rollback stops the
// started services and disables the enabled ones, then restores the
// tables.
func serviceGuard(ch ServicesChange, tool string, actions []conntrack.ServiceAction) (conntrack.Guard, bool) {
	var started []string
	var stops, disables []conntrack.GuardService
	for _, a := range actions {
		switch a.Action {
		case "start":
			started = append(started, a.Service)
			stops = append(stops, conntrack.GuardService{Tool: tool, Name: a.Service, Action: "stop"})
		case "enable":
			disables = append(disables, conntrack.GuardService{Tool: tool, Name: a.Service, Action: "disable"})
		}
	}
	if len(started) == 0 {
		return conntrack.Guard{}, false
	}
	seconds := int(ch.Rollback / time.Second)
	if seconds == 0 {
		seconds = 30
	}
	label := ch.Label
	if label == "" {
		label = "starting " + strings.Join(started, ", ")
	}
	return conntrack.Guard{Seconds: seconds, Kind: conntrack.GuardServices, Label: label,
		Tables: []conntrack.GuardTable{{Cmd: "iptables", Table: "*"}, {Cmd: "ip6tables", Table: "*"}},
		Undo:   append(stops, disables...)}, true
}
