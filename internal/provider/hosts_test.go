package provider

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/converge"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

// The walk's read cache: a plan starts from the remembered read, an apply
// takes it once.
func TestWalkReads(t *testing.T) {
	pd := &providerData{reads: walkReads{reads: map[string]any{}}}
	read := 0
	v := 42
	pd.reads.remember("k", &v)
	got := readHost(t.Context(), pd, connectionModel{}, "k", planned, wording{}, &diag.Diagnostics{},
		func(converge.Host) (*int, error) { read++; return nil, nil })
	if got != &v || read != 0 {
		t.Fatalf("planned read %v after %d reads, want the remembered one without reading", got, read)
	}
	if takeRead[int](pd, "k") != &v || takeRead[int](pd, "k") != nil {
		t.Fatal("an apply takes the read once")
	}
	if takeRead[string](pd, "other") != nil {
		t.Fatal("no read, no base")
	}
}

func TestHostErrorWording(t *testing.T) {
	cause := errors.New("boom")
	for _, tc := range []struct {
		err     error
		w       wording
		summary string
		attr    bool
	}{
		{&converge.ReadError{Object: converge.ObjLimits, Err: cause}, wording{}, "Cannot read conntrack limits of h", false},
		{&converge.ReadError{Object: converge.ObjFirewall, Err: cause}, wording{}, "Cannot read the firewall of h", false},
		{&converge.ReadError{Object: converge.ObjModules, Err: cause}, wording{}, "Cannot read the modules of h", false},
		{&converge.ReadError{Object: converge.ObjServices, Err: cause}, wording{}, "Cannot read the firewall services of h", false},
		{&converge.ReadError{Object: converge.ObjFacts, Err: cause}, wording{}, "Cannot read conntrack facts from h", false},
		{&converge.ReadError{Object: converge.ObjFile, Path: "/etc/x", Err: cause}, wording{}, "Cannot read /etc/x on h", false},
		{&converge.ReadError{Object: converge.ObjLimits, Answer: true, Err: cause}, wording{}, "Unexpected answer from h", false},
		{&converge.ReadError{Object: converge.ObjFacts, Answer: true, Err: cause}, wording{}, "Unexpected facts from h", false},
		{&converge.DirError{Path: "/etc/x"}, wording{}, "/etc/x is a directory on h", false},
		{&converge.DirError{Path: "/etc/x"}, wording{dirAttr: path.Root("file")}, "/etc/x is a directory on h", true},
		{&converge.WriteError{Path: "/etc/x", Err: cause}, wording{}, "Cannot write /etc/x on h", false},
		{&converge.WriteError{Path: "/etc/x", Err: cause}, limitsWording, "Cannot persist conntrack limits on h", false},
		{&converge.StepError{Op: converge.OpUnload, Err: cause}, wording{}, "Cannot unload modules on h", false},
	} {
		var diags diag.Diagnostics
		hostError(&diags, "h", tc.err, tc.w)
		if len(diags) != 1 || diags[0].Summary() != tc.summary {
			t.Errorf("%T: %v, want %q", tc.err, diags, tc.summary)
			continue
		}
		if _, attr := diags[0].(diag.DiagnosticWithPath); attr != tc.attr {
			t.Errorf("%q: attribute error %v, want %v", tc.summary, attr, tc.attr)
		}
	}
	var diags diag.Diagnostics
	hostError(&diags, "h", &converge.WriteError{Path: "/etc/x", Err: sshx.ErrNotFound}, notrackWording)
	if d := diags[0].Detail(); len(d) == 0 || !strings.Contains(d, "install iptables-persistent") {
		t.Errorf("no hint for a missing directory: %q", d)
	}
}
