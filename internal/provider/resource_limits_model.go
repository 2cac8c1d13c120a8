package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/converge"
)

// The conntrack_limits model and its mapping to and from what the
// converge layer reads and writes.

type limitsModel struct {
	connectionModel
	ID                    types.String `tfsdk:"id"`
	Max                   types.Int64  `tfsdk:"max"`
	Buckets               types.Int64  `tfsdk:"buckets"`
	TCPTimeoutEstablished types.Int64  `tfsdk:"tcp_timeout_established"`
	TCPTimeoutCloseWait   types.Int64  `tfsdk:"tcp_timeout_close_wait"`
	TCPTimeoutFinWait     types.Int64  `tfsdk:"tcp_timeout_fin_wait"`
	TCPTimeoutTimeWait    types.Int64  `tfsdk:"tcp_timeout_time_wait"`
	Sysctls               types.Map    `tfsdk:"sysctls"`
	SysctlFile            types.String `tfsdk:"sysctl_file"`
	ModprobeFile          types.String `tfsdk:"modprobe_file"`
	ApplyLive             types.Bool   `tfsdk:"apply_live"`
	LoadModuleAtBoot      types.Bool   `tfsdk:"load_module_at_boot"`
}

// named returns the attribute of a named sysctl (one of namedSysctls, the
// only names callers pass); any other name gets a value of its own that no
// attribute reads, rather than a crash.
func (m *limitsModel) named(short string) *types.Int64 {
	switch short {
	case "max":
		return &m.Max
	case "tcp_timeout_established":
		return &m.TCPTimeoutEstablished
	case "tcp_timeout_close_wait":
		return &m.TCPTimeoutCloseWait
	case "tcp_timeout_fin_wait":
		return &m.TCPTimeoutFinWait
	case "tcp_timeout_time_wait":
		return &m.TCPTimeoutTimeWait
	}
	return new(types.Int64)
}

func (m *limitsModel) paths() conntrack.LimitsPaths {
	return conntrack.LimitsPaths{
		SysctlFile:      stringOr(m.SysctlFile, "", defaultSysctlFile),
		ModprobeFile:    stringOr(m.ModprobeFile, "", defaultModprobeFile),
		ModulesLoadFile: defaultModulesLoadFile,
	}
}

// mapSysctls returns the sysctls map by short name. A value may be unknown
// while planning (a variable or another resource's output), so it is not
// decoded into int64 here: callers use known() on each value.
func (m *limitsModel) mapSysctls(ctx context.Context, diags *diag.Diagnostics) map[string]types.Int64 {
	out := map[string]types.Int64{}
	if m.Sysctls.IsNull() || m.Sysctls.IsUnknown() {
		return out
	}
	diags.Append(m.Sysctls.ElementsAs(ctx, &out, false)...)
	return out
}

// managed is what a configuration declares: the settings it sets (a
// computed value in the plan of an unset attribute is the host's, not ours),
// and whether the module is loaded at boot as planned.
func (m *limitsModel) managed(ctx context.Context, plan *limitsModel, diags *diag.Diagnostics) conntrack.Managed {
	want := conntrack.Managed{Sysctls: map[string]string{}, LoadModule: plan.LoadModuleAtBoot.ValueBool()}
	for _, short := range namedSysctls {
		if v := m.named(short); known(*v) {
			want.Sysctls[short] = strconv.FormatInt(v.ValueInt64(), 10)
		}
	}
	for short, v := range m.mapSysctls(ctx, diags) {
		if known(v) {
			want.Sysctls[short] = strconv.FormatInt(v.ValueInt64(), 10)
		}
	}
	if known(m.Buckets) {
		want.Buckets = strconv.FormatInt(m.Buckets.ValueInt64(), 10)
	}
	return want
}

// snapRead is the model's read in the host's snapshot: the running
// settings, the model's files and the boot files.
func (m *limitsModel) snapRead() snapRead[conntrack.Limits] {
	p := m.paths()
	return snapRead[conntrack.Limits]{obj: converge.ObjLimits,
		need: conntrack.SnapshotRequest{Limits: []conntrack.LimitsPaths{p}},
		deps: append([]string{scopeKernel, scopeSysctl, scopeBoot}, fileScopes(p.SysctlFile, p.ModprobeFile, p.ModulesLoadFile)...),
		view: func(s *conntrack.Snapshot) (*conntrack.Limits, error) { return converge.LimitsOf(s, p) }}
}

// limitsScopes are what a limits change to paths changes.
func limitsScopes(p conntrack.LimitsPaths, live bool) []string {
	scopes := fileScopes(p.SysctlFile, p.ModprobeFile, p.ModulesLoadFile)
	if live {
		scopes = append(scopes, scopeSysctl)
	}
	return scopes
}

// readLimits is the model's read, from the walk's snapshot of the host.
func (r *limitsResource) readLimits(ctx context.Context, m *limitsModel, diags *diag.Diagnostics) *conntrack.Limits {
	return readHost(ctx, r.data, m.connectionModel, m.snapRead(), wording{}, diags)
}

// privateManaged is the private-state key that remembers which settings
// this resource manages, so that Read can tell drift of a managed value
// (compared with running and persisted) from an unmanaged one (running only).
const privateManaged = "managed"

type privateState interface {
	GetKey(ctx context.Context, key string) ([]byte, diag.Diagnostics)
}

func loadManaged(ctx context.Context, p privateState, diags *diag.Diagnostics) conntrack.Managed {
	var m conntrack.Managed
	b, d := p.GetKey(ctx, privateManaged)
	diags.Append(d...)
	if len(b) > 0 {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

// observe sets the model to what the host has. A managed value is the
// declared one only when both the running kernel (with apply_live) and the
// file agree with it; otherwise it is the drifted value, and a warning says
// which side drifted, so the plan shows an update.
func (m *limitsModel) observe(ctx context.Context, l *conntrack.Limits, managed conntrack.Managed, diags *diag.Diagnostics) {
	host := m.Host.ValueString()
	live := m.ApplyLive.IsNull() || m.ApplyLive.ValueBool()
	settle := func(key, prior string, running *string, persisted string, persistedOK bool) types.Int64 {
		if prior == "" { // unmanaged: what the kernel runs with
			return intOrNull(running)
		}
		if live && running != nil && *running != prior {
			diags.AddWarning(fmt.Sprintf("%s drifted on %s (running value)", key, host),
				fmt.Sprintf("The running kernel has %s = %s; the declared value is %s (someone ran sysctl -w, or the module reloaded). Apply to set it again.", key, *running, prior))
		}
		switch {
		case !persistedOK:
			diags.AddWarning(fmt.Sprintf("%s drifted on %s (persisted value)", key, host),
				fmt.Sprintf("%s no longer sets %s (the line or the file was removed), so the value would be lost at reboot. Apply to write it again.", l.Sysctl.Path, key))
		case persisted != prior:
			diags.AddWarning(fmt.Sprintf("%s drifted on %s (persisted value)", key, host),
				fmt.Sprintf("The persisted file sets %s = %s; the declared value is %s. Apply to write it again.", key, persisted, prior))
		}
		switch {
		case live && running != nil && (!persistedOK || *running != persisted):
			// The two sides disagree: no one value is the host's, and
			// null never equals a declaration, so the plan is an update
			// whatever the configuration now says (after an interrupted
			// apply the file may hold the new value, the kernel the old).
			return types.Int64Null()
		case live && running != nil:
			return intOrNull(running)
		case !persistedOK:
			return types.Int64Null()
		}
		return intOrNull(&persisted)
	}
	for _, short := range namedSysctls {
		running := optional(l.Running, short)
		persisted, ok := l.PersistedSysctl(short)
		*m.named(short) = settle(l.Key(short), managed.Sysctls[short], running, persisted, ok)
	}
	var running *string
	if l.Facts.Buckets != nil {
		s := strconv.FormatInt(*l.Facts.Buckets, 10)
		running = &s
	}
	persisted, ok := l.PersistedBuckets()
	if managed.Buckets != "" && !ok {
		// The hashsize lives in the modprobe file, not the sysctl file.
		diags.AddWarning(fmt.Sprintf("buckets drifted on %s (persisted value)", host),
			fmt.Sprintf("%s no longer sets `options %s hashsize`. Apply to write it again.", l.Modprobe.Path, conntrack.ModuleName(l.Facts.Naming)))
		m.Buckets = types.Int64Null()
	} else {
		m.Buckets = settle("buckets (hashsize)", managed.Buckets, running, persisted, ok)
	}

	if !m.Sysctls.IsNull() {
		values := map[string]attr.Value{}
		for short := range m.mapSysctls(ctx, diags) {
			running := optional(l.Running, short)
			persisted, ok := l.PersistedSysctl(short)
			values[short] = settle(l.Key(short), managed.Sysctls[short], running, persisted, ok)
		}
		mv, d := types.MapValue(types.Int64Type, values)
		diags.Append(d...)
		m.Sysctls = mv
	}
	m.LoadModuleAtBoot = types.BoolValue(l.ModuleLoadedAtBoot())
	m.ID = m.Host
}

func optional(values map[string]string, key string) *string {
	if v, ok := values[key]; ok {
		return &v
	}
	return nil
}

func intOrNull(s *string) types.Int64 {
	if s == nil {
		return types.Int64Null()
	}
	n, err := strconv.ParseInt(strings.TrimSpace(*s), 10, 64)
	if err != nil {
		return types.Int64Null()
	}
	return types.Int64Value(n)
}

// planReleases shows what the apply does to a setting the configuration
// no longer declares: its line leaves the file it was persisted in, and the
// state then holds the running value. The attribute is planned unknown, so
// the plan is an update even when the running value equals the declared
// one, and a warning names the line that goes.
func (r *limitsResource) planReleases(ctx context.Context, config tfsdk.Config, plan *limitsModel, prev conntrack.Managed, l *conntrack.Limits, resp *resource.ModifyPlanResponse) {
	host := plan.Host.ValueString()
	var cfg limitsModel
	resp.Diagnostics.Append(config.Get(ctx, &cfg)...)
	inMap := cfg.mapSysctls(ctx, &resp.Diagnostics)
	release := func(attr path.Path, line, file string) {
		resp.Diagnostics.AddAttributeWarning(attr, fmt.Sprintf("%s is no longer managed on %s", line, host),
			fmt.Sprintf("It is no longer declared, so the apply removes `%s` from %s. The running value stays until the next boot or module load, "+
				"and the state then shows it. To keep the line, declare the value again.", line, file))
	}
	for _, short := range slices.Sorted(maps.Keys(prev.Sysctls)) {
		line := l.Key(short) + " = " + prev.Sysctls[short]
		if slices.Contains(namedSysctls, short) {
			if cfg.named(short).IsNull() {
				*plan.named(short) = types.Int64Unknown()
				resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root(short), types.Int64Unknown())...)
				release(path.Root(short), line, plan.paths().SysctlFile)
			}
			continue
		}
		if _, ok := inMap[short]; !ok && !cfg.Sysctls.IsUnknown() {
			release(path.Root("sysctls"), line, plan.paths().SysctlFile)
		}
	}
	if prev.Buckets != "" && cfg.Buckets.IsNull() {
		plan.Buckets = types.Int64Unknown()
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("buckets"), types.Int64Unknown())...)
		release(path.Root("buckets"), fmt.Sprintf("options %s hashsize=%s", conntrack.ModuleName(l.Facts.Naming), prev.Buckets), plan.paths().ModprobeFile)
	}
}
