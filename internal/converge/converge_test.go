package converge

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

// stubHost is a Host whose files live in a map and whose scripts answer
// from a table by op, as k0sproject/rig tests remotefs against a stub
// runner: converging is tested for what it asks of the host and what it
// makes of the answers.
type stubHost struct {
	mu      sync.Mutex
	files   map[string]string
	answers map[string]func(args []string) (string, error)
	// conflicts makes the next n writes fail as if someone else had
	// written the file in between; each also changes the file (edit).
	conflicts int
	edit      func(string) string
	ops       []string // every script and write, in order
	locked    int      // Lock calls
	held      bool
	fresh     int // DialFresh calls
	dialErr   error
	// dialFails makes the next n DialFresh calls fail.
	dialFails int
	writeErr  error
	// logins is every DialFresh call, in order.
	logins []*login
	// clock is the host's clock (Clocked; nil: the real one).
	clock Clock
	// gated: Lock takes the host's change lock (hostGate) as SSH.Lock
	// does, so changes of the host can batch their confirmations.
	gated bool
}

// login is one DialFresh call: when (on the host's clock), with what
// context, and what ran over it.
type login struct {
	at time.Time
	// ctx is the login's context; live whether it was not done when the
	// login was made.
	ctx  context.Context
	live bool
	err  error
	// ops and args are the scripts run over the new connection, and
	// liveOps whether each one's context was not done when it ran.
	ops     []string
	args    [][]string
	liveOps []bool
}

func newStub() *stubHost {
	return &stubHost{files: map[string]string{}, answers: map[string]func([]string) (string, error){}}
}

func (s *stubHost) Script(_ context.Context, op, _ string, _ []byte, args ...string) ([]byte, error) {
	s.mu.Lock()
	s.ops = append(s.ops, op)
	answer := s.answers[op]
	s.mu.Unlock()
	if answer == nil {
		return nil, errors.New("stub: no answer for " + op)
	}
	out, err := answer(args)
	return []byte(out), err
}

func (s *stubHost) ReadFile(_ context.Context, path string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = append(s.ops, "read "+path)
	b, ok := s.files[path]
	if !ok {
		return nil, sshx.ErrNotFound
	}
	return []byte(b), nil
}

func (s *stubHost) WriteFile(_ context.Context, path string, data []byte, opts sshx.WriteOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = append(s.ops, "write "+path)
	if s.writeErr != nil {
		return s.writeErr
	}
	if s.conflicts > 0 {
		s.conflicts--
		if s.edit != nil {
			s.files[path] = s.edit(s.files[path])
		}
		return sshx.ErrConflict
	}
	now, exists := s.files[path]
	switch {
	case opts.IfUnchanged == sshx.Absent && exists, opts.IfUnchanged != nil && opts.IfUnchanged != sshx.Absent && string(*opts.IfUnchanged) != now:
		return sshx.ErrConflict
	}
	s.files[path] = string(data)
	return nil
}

func (s *stubHost) Clock() Clock { return s.clock }

func (s *stubHost) Lock(ctx context.Context) (func(), error) {
	if s.gated {
		g := gateOf(s)
		unlock, err := g.lock(ctx, nil)
		if err != nil {
			g.release()
			return nil, err
		}
		s.mu.Lock()
		s.locked++
		s.mu.Unlock()
		return func() { unlock(); g.release() }, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		panic("stub: lock taken twice")
	}
	s.locked++
	s.held = true
	return func() { s.mu.Lock(); s.held = false; s.mu.Unlock() }, nil
}

func (s *stubHost) DialFresh(ctx context.Context) (Host, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fresh++
	l := &login{at: clockOf(s).Now(), ctx: ctx, live: ctx.Err() == nil, err: s.dialErr}
	s.logins = append(s.logins, l)
	if s.dialFails > 0 {
		s.dialFails--
		l.err = sshx.ErrUnreachable
	}
	if l.err != nil {
		return nil, nil, l.err
	}
	return &freshStub{stubHost: s, login: l}, func() {}, nil
}

// freshStub is a new connection to a stub host: it records what runs
// over it in its login.
type freshStub struct {
	*stubHost
	login *login
}

func (f *freshStub) Script(ctx context.Context, op, script string, stdin []byte, args ...string) ([]byte, error) {
	f.mu.Lock()
	f.login.ops = append(f.login.ops, op)
	f.login.args = append(f.login.args, args)
	f.login.liveOps = append(f.login.liveOps, ctx.Err() == nil)
	f.mu.Unlock()
	return f.stubHost.Script(ctx, op, script, stdin, args...)
}

// sections renders a read script's answer.
func sections(kv ...string) string {
	var b strings.Builder
	b.WriteString("\n@@ctfacts:begin")
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString("\n@@ctfacts:" + kv[i] + "\n" + kv[i+1])
	}
	b.WriteString("\n@@ctfacts:end\n")
	return b.String()
}

// fileSection is how a read script reports a file.
func fileSection(content string, exists bool) string {
	if !exists {
		return "none"
	}
	return "file\n" + content + "x"
}

func TestEditFileRetriesConflicts(t *testing.T) {
	h := newStub()
	h.files["/etc/f"] = "A=1\n"
	h.conflicts, h.edit = 2, func(s string) string { return s + "B=2\n" }
	got, err := EditFile(t.Context(), h, "/etc/f", 0o600, func(b []byte) []byte { return append(b, "C=3\n"...) })
	if err != nil {
		t.Fatal(err)
	}
	if want := "A=1\nB=2\nB=2\nC=3\n"; string(got) != want || h.files["/etc/f"] != want {
		t.Fatalf("content %q, file %q, want %q: the edit must start again from the other writer's file", got, h.files["/etc/f"], want)
	}
	if h.locked != 1 || h.held {
		t.Fatalf("locked %d times, held after: %v", h.locked, h.held)
	}
}

func TestEditFileGivesUpAfterThreeConflicts(t *testing.T) {
	h := newStub()
	h.conflicts = 3
	_, err := EditFile(t.Context(), h, "/etc/f", 0o600, func(b []byte) []byte { return []byte("x") })
	var we *WriteError
	if !errors.As(err, &we) || !errors.Is(err, sshx.ErrConflict) || we.Path != "/etc/f" {
		t.Fatalf("err = %v, want a WriteError of /etc/f wrapping ErrConflict", err)
	}
	if n := strings.Count(strings.Join(h.ops, ","), "write"); n != 3 {
		t.Fatalf("%d writes, want 3", n)
	}
}

func TestEditFileUnchangedWritesNothing(t *testing.T) {
	h := newStub()
	h.files["/etc/f"] = "same"
	if _, err := EditFile(t.Context(), h, "/etc/f", 0o600, func(b []byte) []byte { return b }); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(h.ops, ","), "write") {
		t.Fatalf("an unchanged file was written: %v", h.ops)
	}
}

func TestReadErrorsSayWhat(t *testing.T) {
	h := newStub()
	h.answers["read host facts"] = func([]string) (string, error) { return "garbage", nil }
	_, err := ReadFacts(t.Context(), h)
	var re *ReadError
	if !errors.As(err, &re) || !re.Answer || re.Object != ObjFacts {
		t.Fatalf("unparsable answer: %#v", err)
	}
	h.answers["read firewall services"] = func([]string) (string, error) { return "", sshx.ErrUnreachable }
	_, err = ReadServices(t.Context(), h, []string{"iptables"})
	if !errors.As(err, &re) || re.Answer || re.Object != ObjServices || !errors.Is(err, sshx.ErrUnreachable) {
		t.Fatalf("failed command: %#v", err)
	}
}

var rule = conntrack.NotrackRule{IPVersion: 4, Protocol: "udp", Port: "53", Chains: []string{"OUTPUT", "PREROUTING"}, Target: "CT"}

// firewallStub answers the firewall read from its rules file and the
// running raw table in *raw.
func firewallStub(raw *string) *stubHost {
	h := newStub()
	h.answers["read firewall"] = func(args []string) (string, error) {
		content, ok := h.files["/etc/rules"]
		return sections("file_rules_rhel", fileSection(content, ok), "live_raw", *raw), nil
	}
	h.answers[OpArmGuard] = func([]string) (string, error) { return "@@armed\t" + guardDir + "\tsetsid\n", nil }
	return h
}

const guardDir = "/run/conntrack-tf-guard.1.firewall4.abc"

func TestNotrackAppliesWritesAndConfirms(t *testing.T) {
	raw := ""
	h := firewallStub(&raw)
	var armed, applied, settled []string
	h.answers[OpArmGuard] = func(args []string) (string, error) {
		armed = args
		if _, ok := h.files["/etc/rules"]; ok {
			t.Error("the rules file was written before the guard saved it")
		}
		return "@@armed\t" + guardDir + "\tsetsid\n", nil
	}
	h.answers[OpApplyNotrack] = func(args []string) (string, error) {
		applied = args
		return "@@done\n", nil
	}
	h.answers["settle a guarded change"] = func(args []string) (string, error) { settled = args; return "confirmed\n", nil }
	res, err := Notrack(t.Context(), h, NotrackChange{Plan: &conntrack.OwnedRules{Rule: rule}, RulesFile: "/etc/rules", IPVersion: 4,
		Rollback: 30 * time.Second, Label: "adding x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Guard.Armed || !res.Guard.Confirmed || res.RulesFile != "/etc/rules" {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(h.files["/etc/rules"], "--dport 53") {
		t.Fatalf("rules file not written: %q", h.files["/etc/rules"])
	}
	// seconds, kind, label, 1 table (iptables raw), 1 file, no service,
	// no running value.
	want := []string{"30", "firewall4", "adding x", "1", "iptables", "raw", "1", "/etc/rules", "0", "0"}
	if strings.Join(armed, ",") != strings.Join(want, ",") {
		t.Fatalf("guard arguments %q", armed)
	}
	if len(applied) != 3 || applied[0] != "iptables" {
		t.Fatalf("apply arguments %q", applied)
	}
	if got := strings.Join(h.ops, ","); !strings.HasPrefix(got, "read firewall,"+OpArmGuard+",write /etc/rules") {
		t.Fatalf("ops %s: want the guard armed, then the file written", got)
	}
	if h.fresh != 1 || strings.Join(settled, ",") != guardDir+",confirm" {
		t.Fatalf("settled %q over %d fresh connections, want one confirm", settled, h.fresh)
	}
}

func TestNotrackNothingToDo(t *testing.T) {
	raw := ""
	h := firewallStub(&raw)
	res, err := Notrack(t.Context(), h, NotrackChange{RulesFile: "/etc/rules", IPVersion: 4}, nil)
	if err != nil || res.Guard.Armed {
		t.Fatalf("res %+v, err %v", res, err)
	}
	if got := strings.Join(h.ops, ","); got != "read firewall" {
		t.Fatalf("ops %s: nothing to write or apply", got)
	}
}

// No new login: the provider waits for the host's own rollback, then
// learns its outcome.
func TestNotrackCutOffWaitsForTheHostsRollback(t *testing.T) {
	raw := ""
	h := firewallStub(&raw)
	h.files["/etc/rules"] = "*raw\nCOMMIT\n"
	h.answers[OpApplyNotrack] = func([]string) (string, error) { return "@@done\n", nil }
	var modes []string
	h.answers["settle a guarded change"] = func(args []string) (string, error) {
		modes = append(modes, args[1])
		if len(modes) == 1 {
			return "", sshx.ErrUnreachable
		}
		return "rolled-back\nrestored\n", nil
	}
	start := time.Now()
	// A one-second window: the provider waits for it plus two seconds.
	res, err := Notrack(t.Context(), h, NotrackChange{Plan: &conntrack.OwnedRules{Rule: rule}, RulesFile: "/etc/rules", IPVersion: 4, Rollback: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := res.Guard
	if g.Confirmed || g.Cause != CauseNoLogin || !g.RolledBack || g.Outcome != "restored" || g.Pending {
		t.Fatalf("guard %+v", g)
	}
	if strings.Join(modes, ",") != "confirm,rollback" {
		t.Fatalf("settle modes %v", modes)
	}
	if took := time.Since(start); took < 3*time.Second {
		t.Fatalf("asked after %s, before the host's rollback", took)
	}
}

// A rule iptables refuses: the rest and the file are rolled back at once,
// nothing is confirmed.
func TestNotrackRefusedIsRolledBack(t *testing.T) {
	raw := ""
	h := firewallStub(&raw)
	h.answers[OpApplyNotrack] = func([]string) (string, error) {
		return "@@fail\tOUTPUT\tNo chain/target/match by that name.\n", nil
	}
	var modes []string
	h.answers["settle a guarded change"] = func(args []string) (string, error) {
		modes = append(modes, args[1])
		return "rolled-back\nrestored", nil
	}
	res, err := Notrack(t.Context(), h, NotrackChange{Plan: &conntrack.OwnedRules{Rule: rule}, RulesFile: "/etc/rules", IPVersion: 4}, nil)
	if err != nil || res.Refused["OUTPUT"] == "" || res.Guard.Cause != CauseRefused || !res.Guard.RolledBack || res.Guard.Confirmed {
		t.Fatalf("res %+v err %v: want OUTPUT refused and rolled back", res, err)
	}
	if strings.Join(modes, ",") != "rollback" {
		t.Fatalf("settle modes %v, want one rollback", modes)
	}
}

// An apply that never said @@done (cut, timed out) is never confirmed.
func TestNotrackIncompleteIsNeverConfirmed(t *testing.T) {
	raw := ""
	h := firewallStub(&raw)
	h.answers[OpApplyNotrack] = func([]string) (string, error) {
		return "", errors.New("session cut")
	}
	var modes []string
	h.answers["settle a guarded change"] = func(args []string) (string, error) {
		modes = append(modes, args[1])
		return "rolled-back\nrestore-failed: iptables-restore -T raw: boom", nil
	}
	res, err := Notrack(t.Context(), h, NotrackChange{Plan: &conntrack.OwnedRules{Rule: rule}, RulesFile: "/etc/rules", IPVersion: 4}, nil)
	if err != nil || res.Guard.Cause != CauseIncomplete || res.Guard.Confirmed || res.Guard.Outcome != "restore-failed: iptables-restore -T raw: boom" {
		t.Fatalf("res %+v err %v", res, err)
	}
	if strings.Join(modes, ",") != "rollback" {
		t.Fatalf("settle modes %v, want one rollback", modes)
	}
}

func TestNotrackDirectory(t *testing.T) {
	raw := ""
	h := firewallStub(&raw)
	h.answers["read firewall"] = func([]string) (string, error) { return sections("file_rules_rhel", "dir"), nil }
	_, err := Notrack(t.Context(), h, NotrackChange{Plan: &conntrack.OwnedRules{Rule: rule}, RulesFile: "/etc/rules", IPVersion: 4}, nil)
	var de *DirError
	if !errors.As(err, &de) || de.Path != "/etc/rules" {
		t.Fatalf("err %v, want a DirError", err)
	}
}

// modulesStub answers the modules read from its file and the loaded
// modules.
func modulesStub(procModules string) *stubHost {
	h := newStub()
	h.answers["read modules"] = func(args []string) (string, error) {
		content, ok := h.files[args[0]]
		return sections("file_blacklist", fileSection(content, ok), "proc_modules_all", procModules,
			"module_kind", "nf_conntrack module\nnf_nat module"), nil
	}
	return h
}

func TestBlacklistUnloadAndRebuild(t *testing.T) {
	h := modulesStub("nf_nat 1 0 - Live 0x0\nnf_conntrack 1 1 nf_nat, Live 0x0\n")
	var unloaded []string
	h.answers[OpUnload] = func(args []string) (string, error) { unloaded = args; return "", nil }
	h.answers[OpRebuild] = func([]string) (string, error) { return "", nil }
	plan := &conntrack.Blacklist{Modules: []string{"nf_conntrack"}, Disable: true}
	ch := BlacklistChange{File: "/etc/modprobe.d/b.conf", Plan: plan, Unload: true, Rebuild: true}

	res, err := Blacklist(t.Context(), h, ch, nil)
	if err == nil && len(res.Holders) == 0 {
		t.Fatalf("nf_nat holds nf_conntrack: the unload must stop without force: %+v", res)
	}
	if res.Built != nil || unloaded != nil {
		t.Fatalf("stopped unload must neither unload nor rebuild: %+v %v", res, unloaded)
	}

	ch.Force = true
	res, err = Blacklist(t.Context(), h, ch, nil)
	if err != nil || strings.Join(unloaded, " ") != "nf_nat nf_conntrack" {
		t.Fatalf("err %v, unloaded %v: holders first", err, unloaded)
	}
	if res.Built == nil || *res.Built != conntrack.BuildOf(ch.File, []byte(h.files[ch.File])) {
		t.Fatalf("rebuild not recorded: %+v", res.Built)
	}
	// Built from this content already: no second rebuild.
	ch.LastBuild, ch.Unload = *res.Built, false
	h.ops = nil
	if res, err = Blacklist(t.Context(), h, ch, nil); err != nil || res.Built != nil {
		t.Fatalf("rebuilt again: %+v %v", res, err)
	}
}

func TestBlacklistFailedUnloadSkipsRebuild(t *testing.T) {
	h := modulesStub("nf_conntrack 1 0 - Live 0x0\n")
	h.answers[OpUnload] = func([]string) (string, error) { return "@@fail\tnf_conntrack\tModule is in use\n", nil }
	ch := BlacklistChange{File: "/etc/b.conf", Plan: &conntrack.Blacklist{Modules: []string{"nf_conntrack"}}, Unload: true, Rebuild: true}
	res, err := Blacklist(t.Context(), h, ch, nil)
	if err != nil || res.Failed["nf_conntrack"] != "Module is in use" || res.Built != nil {
		t.Fatalf("res %+v err %v", res, err)
	}
	if strings.Contains(strings.Join(h.ops, ","), OpRebuild) {
		t.Fatal("rebuilt after a failed unload")
	}
}

func TestServicesChangeThenReadBack(t *testing.T) {
	h := newStub()
	running := "yes"
	h.answers["read firewall services"] = func([]string) (string, error) {
		return sections("systemd", "yes", "units", "Id=iptables.service\nLoadState=loaded\nUnitFileState=enabled\nActiveState="+
			map[string]string{"yes": "active", "no": "inactive"}[running]), nil
	}
	var actions []string
	h.answers[OpChangeServices] = func(args []string) (string, error) {
		h.mu.Lock()
		held := h.held
		h.mu.Unlock()
		if !held {
			return "", errors.New("services changed without the host lock")
		}
		actions = args
		running = "no"
		return "", nil
	}
	off := false
	res, err := Services(t.Context(), h, ServicesChange{Services: []string{"iptables"}, Running: &off}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.InitSystem != conntrack.InitSystemd || len(res.Actions) != 1 || res.Actions[0].Action != "stop" {
		t.Fatalf("result %+v", res)
	}
	if len(actions) == 0 || res.Read.Units["iptables"].Running {
		t.Fatalf("not stopped, or not read back: %v %+v", actions, res.Read.Units)
	}
	if h.locked != 1 || h.held {
		t.Fatalf("locked %d times, held after: %v", h.locked, h.held)
	}
}

// Ctrl-C during the live change: the change is rolled back at once over a
// new login (with a context of its own), and reported as interrupted, not
// as a cut.
func TestNotrackInterruptedIsRolledBackNow(t *testing.T) {
	raw := ""
	h := firewallStub(&raw)
	ctx, cancel := context.WithCancel(t.Context())
	h.answers[OpApplyNotrack] = func([]string) (string, error) { cancel(); return "", context.Canceled }
	var modes []string
	h.answers["settle a guarded change"] = func(args []string) (string, error) {
		modes = append(modes, args[1])
		return "rolled-back\nrestored", nil
	}
	start := time.Now()
	res, err := Notrack(ctx, h, NotrackChange{Plan: &conntrack.OwnedRules{Rule: rule}, RulesFile: "/etc/rules", IPVersion: 4}, nil)
	if err != nil || res.Guard.Cause != CauseInterrupted || !res.Guard.RolledBack || res.Guard.Confirmed {
		t.Fatalf("res %+v err %v", res, err)
	}
	if strings.Join(modes, ",") != "rollback" {
		t.Fatalf("settle modes %v, want one rollback", modes)
	}
	// The rollback went over one new login, not the shared connection,
	// and that login and its script had a live context of their own,
	// bounded (min(window/2, 10 s)), though the apply's was cancelled.
	if len(h.logins) != 1 {
		t.Fatalf("%d new logins, want 1 for the rollback", len(h.logins))
	}
	l := h.logins[0]
	if strings.Join(l.ops, ",") != opSettle {
		t.Fatalf("over the new login ran %v, want the settle alone", l.ops)
	}
	if ctx.Err() == nil || !l.live || !l.liveOps[0] {
		t.Fatalf("apply context done: %v; login context live: %v, settle's: %v: want the login's own context live", ctx.Err() != nil, l.live, l.liveOps[0])
	}
	if dl, ok := l.ctx.Deadline(); !ok || dl.Sub(start) > 10*time.Second+time.Since(start) {
		t.Fatalf("login context deadline %v (set: %v), want at most 10 s ahead", dl.Sub(start), ok)
	}
}

// limitsBase is a read of a host whose sysctl file sets one timeout.
func limitsBase() *conntrack.Limits {
	return &conntrack.Limits{Facts: conntrack.Facts{Naming: conntrack.NamingModern},
		Running: map[string]string{"max": "262144", "udp_timeout": "30"},
		Sysctl:  conntrack.File{Path: "/etc/sysctl.conf"}, Modprobe: conntrack.File{Path: "/etc/modprobe.d/c.conf"},
		ModulesLoad: conntrack.File{Path: "/etc/modules-load.d/c.conf"}}
}

var limitsPaths = conntrack.LimitsPaths{SysctlFile: "/etc/sysctl.conf", ModprobeFile: "/etc/modprobe.d/c.conf", ModulesLoadFile: "/etc/modules-load.d/c.conf"}

// Raising a limit cannot stop connections: no guard, no extra login.
func TestLimitsRaiseIsNotGuarded(t *testing.T) {
	h := newStub()
	h.answers[OpApplyLimits] = func(args []string) (string, error) {
		return "@@now\t" + args[0] + "\t" + args[1] + "\n", nil
	}
	res, err := Limits(t.Context(), h, LimitsChange{Paths: limitsPaths, Want: conntrack.Managed{Sysctls: map[string]string{"max": "524288"}}, ApplyLive: true}, limitsBase())
	if err != nil || res.Guard.Armed || len(res.Refused) > 0 || h.fresh != 0 {
		t.Fatalf("res %+v err %v, %d fresh logins: want an unguarded apply", res, err, h.fresh)
	}
	if !strings.Contains(h.files["/etc/sysctl.conf"], "nf_conntrack_max = 524288") {
		t.Fatalf("sysctl.conf %q", h.files["/etc/sysctl.conf"])
	}
}

// Lowering a limit runs guarded: the host saves the files and the running
// values before anything is written, and a new login confirms.
func TestLimitsLoweringIsGuarded(t *testing.T) {
	h := newStub()
	var armed []string
	h.answers[OpArmGuard] = func(args []string) (string, error) {
		armed = args
		if len(h.files) > 0 {
			t.Error("a file was written before the guard saved it")
		}
		return "@@armed\t" + guardDir + "\tsetsid\n", nil
	}
	h.answers[OpApplyLimits] = func(args []string) (string, error) {
		return "@@now\t" + args[0] + "\t" + args[1] + "\n@@done\n", nil
	}
	h.answers["settle a guarded change"] = func([]string) (string, error) { return "confirmed\n", nil }
	res, err := Limits(t.Context(), h, LimitsChange{Paths: limitsPaths, Want: conntrack.Managed{Sysctls: map[string]string{"max": "1024"}}, ApplyLive: true}, limitsBase())
	if err != nil || !res.Guard.Confirmed || len(res.Refused) > 0 || res.Read == nil {
		t.Fatalf("res %+v err %v: want a confirmed guarded apply", res, err)
	}
	want := []string{"30", "limits", "lowering max (conntrack_limits)", "0", "3", "/etc/modprobe.d/c.conf", "/etc/modules-load.d/c.conf", "/etc/sysctl.conf", "0",
		"1", "/proc/sys/net/netfilter/nf_conntrack_max"}
	if strings.Join(armed, ",") != strings.Join(want, ",") {
		t.Fatalf("guard arguments %q, want %q", armed, want)
	}
}

// A lowered value the kernel refuses is rolled back with the files.
func TestLimitsLoweringRefusedIsRolledBack(t *testing.T) {
	h := newStub()
	h.answers[OpArmGuard] = func([]string) (string, error) { return "@@armed\t" + guardDir + "\tsetsid\n", nil }
	h.answers[OpApplyLimits] = func(args []string) (string, error) {
		return "@@fail\t" + args[0] + "\tInvalid argument\n@@now\t" + args[0] + "\t262144\n@@done\n", nil
	}
	var modes []string
	h.answers["settle a guarded change"] = func(args []string) (string, error) {
		modes = append(modes, args[1])
		return "rolled-back\nrestored", nil
	}
	res, err := Limits(t.Context(), h, LimitsChange{Paths: limitsPaths, Want: conntrack.Managed{Sysctls: map[string]string{"max": "1"}}, ApplyLive: true}, limitsBase())
	if err != nil || len(res.Refused) != 1 || res.Guard.Cause != CauseRefused || !res.Guard.RolledBack {
		t.Fatalf("res %+v err %v: want max refused and rolled back", res, err)
	}
	if strings.Join(modes, ",") != "rollback" {
		t.Fatalf("settle modes %v, want one rollback", modes)
	}
}

// A guarded apply that times out is rolled back whole, and its writes are
// not reported as refused by the kernel ("the kernel kept """), which they
// were not: the guard report says what happened.
func TestLimitsLoweringTimedOutIsNotARefusal(t *testing.T) {
	h := newStub()
	h.answers[OpArmGuard] = func([]string) (string, error) { return "@@armed\t" + guardDir + "\tsetsid\n", nil }
	h.answers[OpApplyLimits] = func([]string) (string, error) { return "", errors.New("timed out: no answer after 10s") }
	h.answers["settle a guarded change"] = func([]string) (string, error) { return "rolled-back\nrestored", nil }
	res, err := Limits(t.Context(), h, LimitsChange{Paths: limitsPaths, Want: conntrack.Managed{Sysctls: map[string]string{"max": "1024"}}, ApplyLive: true}, limitsBase())
	if err != nil || !res.Guard.RolledBack || len(res.Refused) != 0 {
		t.Fatalf("res %+v err %v: want rolled back and nothing refused", res, err)
	}
}

// An unguarded apply that reports nothing for a write says so.
func TestLimitsUnreportedWriteIsNamed(t *testing.T) {
	bad := refused("@@now\t/proc/a\t1\n", []conntrack.LiveWrite{{Path: "/proc/a", Value: "1"}, {Path: "/proc/b", Value: "2"}})
	if len(bad) != 1 || bad[0].Path != "/proc/b" || !strings.Contains(bad[0].Err, "reported nothing") {
		t.Fatalf("%+v", bad)
	}
}
