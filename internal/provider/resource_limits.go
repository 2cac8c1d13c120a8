package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/sysctl"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/converge"
)

var (
	_ resource.ResourceWithConfigure        = (*limitsResource)(nil)
	_ resource.ResourceWithImportState      = (*limitsResource)(nil)
	_ resource.ResourceWithModifyPlan       = (*limitsResource)(nil)
	_ resource.ResourceWithConfigValidators = (*limitsResource)(nil)
)

const (
	// A drop-in of our own: every systemd host reads /etc/sysctl.d at boot,
	// and since Debian 13 not /etc/sysctl.conf (DECISIONS.md).
	defaultSysctlFile      = "/etc/sysctl.d/90-conntrack.conf"
	defaultModprobeFile    = "/etc/modprobe.d/iptables.conf"
	defaultModulesLoadFile = "/etc/modules-load.d/conntrack.conf"
	maxSysctlInt           = 1<<31 - 1
)

// namedSysctls are the settings with attributes of their own, by short name.
var namedSysctls = []string{"max", "tcp_timeout_established", "tcp_timeout_close_wait", "tcp_timeout_fin_wait", "tcp_timeout_time_wait"}

// NewLimitsResource is the conntrack_limits resource.
func NewLimitsResource() resource.Resource { return &limitsResource{} }

type limitsResource struct {
	data *providerData
}

func (r *limitsResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_limits"
}

func (r *limitsResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	unmanaged := " Unset means unmanaged: the state shows the host's running value and nothing is written. A value this resource " +
		"managed and the configuration no longer declares is released: the apply removes its line from the file, the running value " +
		"stays, and the plan shows the attribute as known after apply with a warning naming the line."
	timeout := func(short, state string, kernelDefault int) schema.Attribute {
		return schema.Int64Attribute{Optional: true, Computed: true,
			Validators:    []validator.Int64{int64validator.Between(1, maxSysctlInt)},
			PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			MarkdownDescription: fmt.Sprintf("Seconds a TCP connection %s stays tracked (`net.netfilter.nf_conntrack_%s`; kernel default %d).%s",
				state, short, kernelDefault, unmanaged)}
	}
	attrs := connectionResourceAttributes()
	for name, a := range map[string]schema.Attribute{
		"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The host.",
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
		"max": schema.Int64Attribute{Optional: true, Computed: true,
			Validators:    []validator.Int64{int64validator.Between(1, maxSysctlInt)},
			PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			MarkdownDescription: "Connection tracking table size, `net.netfilter.nf_conntrack_max`. Size a fleet per host with " +
				"`data.conntrack_host.<name>.recommended_max` (RAM bytes / 16384 / (arch bits / 32)). Global: it can only be changed " +
				"in the initial network namespace." + unmanaged},
		"buckets": schema.Int64Attribute{Optional: true, Computed: true,
			Validators:    []validator.Int64{int64validator.Between(1, 1<<30)},
			PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			MarkdownDescription: "Hash table buckets: written live to `/sys/module/nf_conntrack/parameters/hashsize` and persisted as " +
				"`options nf_conntrack hashsize=N` in `modprobe_file`; from 1 to 2^30. The plan judges it by the host's kernel " +
				"(`data.conntrack_host.<name>.sizing_rule`) against `max` (the declared one, else the running one): on Linux >= 5.15, and " +
				"on any kernel whose /proc/net/stat/nf_conntrack has the `chainlength` column, the kernel's own default is `buckets = max` " +
				"(`recommended_buckets`), more is fine, and a warning is shown when the load factor of a full table, `2 x max / buckets`, " +
				fmt.Sprintf("is above %d (fewer than `max / 4` buckets), since those kernels refuse to insert into a hash chain that grew too long. ", conntrack.MaxLoadFactor) +
				"On older kernels the classic rule applies: `max / 8`, with a warning outside `max / 8 .. max / 2`. Where the plan cannot read " +
				"the host (its address is not known yet), no sizing warning is shown. Changing it live on a host tracking at least " +
				fmt.Sprintf("%d connections warns that the kernel rehashes the whole table under all conntrack locks.", conntrack.ResizeWarnCount) + unmanaged},
		"tcp_timeout_established": timeout("tcp_timeout_established", "that is established but idle", 432000),
		"tcp_timeout_close_wait":  timeout("tcp_timeout_close_wait", "in CLOSE_WAIT", 60),
		"tcp_timeout_fin_wait":    timeout("tcp_timeout_fin_wait", "in FIN_WAIT", 120),
		"tcp_timeout_time_wait":   timeout("tcp_timeout_time_wait", "in TIME_WAIT", 120),
		"sysctls": schema.MapAttribute{Optional: true, ElementType: types.Int64Type,
			Validators: []validator.Map{
				mapvalidator.KeysAre(stringvalidator.RegexMatches(shortSysctlPattern, "must be the part of a net.netfilter.nf_conntrack_* key after nf_conntrack_, such as udp_timeout")),
				mapvalidator.ValueInt64sAre(int64validator.Between(0, maxSysctlInt)),
			},
			MarkdownDescription: "Any other `net.netfilter.nf_conntrack_*` setting by the part after `nf_conntrack_`, e.g. " +
				"`{ udp_timeout = 30, generic_timeout = 120, tcp_loose = 0 }`. Keys are checked against what the host exposes at plan time. " +
				"Settings with an attribute of their own (`max`, `tcp_timeout_*`) and `buckets` are not allowed here. Keys not listed are unmanaged."},
		"sysctl_file": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(defaultSysctlFile),
			Validators: []validator.String{pathValidator(sysctlFileRule)},
			MarkdownDescription: "File the sysctls persist in: a file under `/etc/sysctl.d/` ending in `.conf`, or `/etc/sysctl.conf`. " +
				"Only the managed keys change; duplicates of a managed key are removed so the declared value is the one applied; every other " +
				"byte stays. The plan fails when the host does not read the file at boot: systemd-sysctl reads `/etc/sysctl.conf` only through " +
				"a link in `/etc/sysctl.d` (Debian 12 and RHEL ship `99-sysctl.conf`; Debian 13 and Ubuntu 24.10 ship none), and a same-named " +
				"file or a `/dev/null` link can mask a sysctl.d name. A warning names any file read later at boot that sets a managed key to " +
				"another value. Defaults to `" + defaultSysctlFile + "`."},
		"modprobe_file": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(defaultModprobeFile),
			Validators:          []validator.String{pathValidator(modprobeFileRule)},
			MarkdownDescription: "File under `/etc/modprobe.d/` that persists `buckets` as `options nf_conntrack hashsize=N`. Defaults to `" + defaultModprobeFile + "`."},
		"apply_live": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
			MarkdownDescription: "Also set the running kernel's values, and verify each by reading it back. When `false`, values are only " +
				"persisted (they apply at the next boot or module load), and the state tracks the persisted values. Where a key is read-only " +
				"(a container or a network namespace for the global `max` and `buckets`), `true` is an error naming the key. Defaults to `true`."},
		"load_module_at_boot": schema.BoolAttribute{Optional: true, Computed: true,
			MarkdownDescription: "List the conntrack module in `" + defaultModulesLoadFile + "` so it loads early at boot and the persisted " +
				"sysctls apply: conntrack sysctls do not exist until the module loads, the most common reason values are lost at reboot. " +
				"Defaults to `true` on systemd hosts with a modular conntrack, `false` otherwise (built in, or no systemd); `true` on a host " +
				"without systemd is a plan-time error, since nothing would read the file."},
	} {
		attrs[name] = a
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Raises the connection tracking limits of a host (remedy 2 for `nf_conntrack: table full, dropping packet`): " +
			"the table size, the hash table size and the conntrack timeouts, applied to the running kernel and persisted so they survive a " +
			"reboot. One per host. Every plan reads the host, so a value changed by hand (`sysctl -w`, an edited file, a value lost at " +
			"reboot) shows as drift, with a warning saying whether the running or the persisted value drifted. Destroying the resource " +
			"removes its lines from the files and leaves the running values as they are.",
		Attributes: attrs,
	}
}

var (
	shortSysctlPattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
)

func (r *limitsResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{limitsConfigValidator{}}
}

// limitsConfigValidator checks relations between attributes at plan time.
type limitsConfigValidator struct{}

func (limitsConfigValidator) Description(context.Context) string {
	return "sysctls must not repeat named attributes"
}

func (v limitsConfigValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (limitsConfigValidator) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m limitsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// buckets against max depends on the host's kernel: ModifyPlan judges it.
	for short := range m.mapSysctls(ctx, &resp.Diagnostics) {
		switch {
		case short == "buckets" || short == "count" || slices.Contains(namedSysctls, short):
			resp.Diagnostics.AddAttributeError(path.Root("sysctls").AtMapKey(short), "Setting managed by its own attribute",
				fmt.Sprintf("Set %q with the attribute of that name (buckets with `buckets`; count is read-only), not in sysctls: two places must not manage one key.", short))
		case sysctl.ValidKey(conntrack.SysctlKey(conntrack.NamingModern, short)) != nil:
			resp.Diagnostics.AddAttributeError(path.Root("sysctls").AtMapKey(short), "Invalid sysctl name", short+" is not a valid sysctl name.")
		}
	}
}

// checkBuckets warns when buckets does not suit conntrackMax on a kernel
// that sizes by rule (release names the kernel in the warning).
func checkBuckets(rule conntrack.SizingRule, release, host string, buckets, conntrackMax int64, diags *diag.Diagnostics) {
	a := conntrack.AdviseBuckets(rule, buckets, conntrackMax)
	switch {
	case a.TooFew && rule == conntrack.SizingModern:
		diags.AddAttributeWarning(path.Root("buckets"), fmt.Sprintf("buckets gives a high load factor on %s", host),
			fmt.Sprintf("With max = %d and buckets = %d, a full table puts 2 x max / buckets = %g entries in each hash chain (every connection is hashed "+
				"once per direction). %s runs Linux %s, which refuses to insert into a chain that grew too long (the chaintoolong counter, "+
				"since 5.15), so it can drop new connections long before the table is full. Its own default is buckets = max = %d (recommended_buckets); "+
				"keep the load factor at %d or less (at least max / 4 = %d buckets). More buckets cost 8 bytes each.",
				conntrackMax, buckets, a.LoadFactor, host, release, a.Recommended, conntrack.MaxLoadFactor, (conntrackMax+3)/4))
	case a.TooFew || a.TooMany:
		diags.AddAttributeWarning(path.Root("buckets"), "buckets outside the usual range",
			fmt.Sprintf("%s runs Linux %s, older than 5.15, where the rule of thumb is buckets between max / 8 = %d and max / 2 = %d for max = %d; "+
				"%d makes lookups slower (fewer) or wastes memory (more).", host, release, a.Recommended, a.Most, conntrackMax, buckets))
	}
}

// checkResize warns when writing buckets live rehashes a table big enough
// to hold new connections up (a non-initial netns cannot resize: the plan
// has failed already).
func checkResize(host string, f conntrack.Facts, buckets int64, diags *diag.Diagnostics) {
	if (f.InitialNetns != nil && !*f.InitialNetns) || !conntrack.ResizeStalls(f.Count, f.Buckets, buckets) {
		return
	}
	diags.AddAttributeWarning(path.Root("buckets"), fmt.Sprintf("Resizing the hash table of %s live", host),
		fmt.Sprintf("%s tracks %d connections now. Changing buckets from %d to %d live rehashes the whole table in one go: the kernel takes "+
			"every conntrack lock and moves every entry to the new table, and new connections wait on every CPU until it is done (milliseconds "+
			"per ten thousand entries). Apply in a quiet moment, or set apply_live = false to size the table at the next boot.",
			host, *f.Count, *f.Buckets, buckets))
}

func known(v types.Int64) bool { return !v.IsNull() && !v.IsUnknown() }

func (r *limitsResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *limitsResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m limitsModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = tflog.SetField(ctx, "host", m.Host.ValueString())
	managed := loadManaged(ctx, req.Private, &resp.Diagnostics)
	l := r.readLimits(ctx, &m, &resp.Diagnostics)
	if l == nil {
		return
	}
	r.data.guardWarnings(&resp.Diagnostics, m.Host.ValueString(), l.Guard)
	m.observe(ctx, l, managed, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *limitsResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.data == nil {
		return // destroy, or validation without a configured provider
	}
	var plan limitsModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || plan.Host.IsUnknown() {
		return
	}
	host := plan.Host.ValueString()
	if other := r.data.claimLimits(host); other {
		resp.Diagnostics.AddAttributeError(path.Root("host"), "Two conntrack_limits resources manage one host",
			fmt.Sprintf("More than one conntrack_limits resource names host %s. They would fight over the same keys; declare one conntrack_limits per host.", host))
		return
	}
	l := r.readLimits(ctx, &plan, &resp.Diagnostics)
	if l == nil {
		return
	}
	r.data.guardWarnings(&resp.Diagnostics, host, l.Guard)
	if file := plan.paths().SysctlFile; !plan.SysctlFile.IsUnknown() {
		if ok, why := l.ReadAtBoot(file); !ok {
			resp.Diagnostics.AddAttributeError(path.Root("sysctl_file"), fmt.Sprintf("%s is not read at boot on %s", file, host),
				fmt.Sprintf("The values would be lost at the next reboot: %s. Persist them in a file under /etc/sysctl.d/ instead, such as the default %s.", why, defaultSysctlFile))
			return
		}
	}
	live := plan.ApplyLive.ValueBool()
	if !l.Facts.HasConntrack() && live {
		resp.Diagnostics.AddError(fmt.Sprintf("Connection tracking is not active on %s", host),
			fmt.Sprintf("The conntrack sysctls do not exist until the module loads (conntrack module: %s). Load it (`modprobe nf_conntrack`, or a stateful firewall rule), "+
				"or set apply_live = false to only persist the values for the next boot.", l.Facts.Module))
		return
	}
	// Global settings are read-only outside the initial network namespace.
	if live && l.Facts.InitialNetns != nil && !*l.Facts.InitialNetns {
		for _, a := range []struct {
			name string
			v    types.Int64
		}{{"max", plan.Max}, {"buckets", plan.Buckets}} {
			if declared(req.Config, a.name) {
				resp.Diagnostics.AddAttributeError(path.Root(a.name), fmt.Sprintf("%s cannot be changed live on %s", a.name, host),
					fmt.Sprintf("%s is global to the kernel and read-only here: the SSH session on %s runs in a container or a non-initial network namespace. "+
						"Manage it from the host itself, or set apply_live = false to only persist it.", conntrack.SysctlKey(l.Facts.Naming, a.name), host))
			}
		}
	}
	if l.Facts.HasConntrack() {
		for short := range plan.mapSysctls(ctx, &resp.Diagnostics) {
			if _, ok := l.Running[short]; !ok {
				resp.Diagnostics.AddAttributeError(path.Root("sysctls").AtMapKey(short), "Unknown conntrack setting",
					fmt.Sprintf("%s has no %s. It has: %s.", host, conntrack.SysctlKey(l.Facts.Naming, short), strings.Join(slices.Sorted(maps.Keys(l.Running)), ", ")))
			}
		}
	}
	// buckets against the max the host will have, by the host's kernel.
	if known(plan.Buckets) && declared(req.Config, "buckets") {
		buckets := plan.Buckets.ValueInt64()
		m := intOrNull(optional(l.Running, "max"))
		if declared(req.Config, "max") {
			m = plan.Max
		}
		if known(m) {
			checkBuckets(l.Facts.Sizing(), l.Facts.KernelRelease, host, buckets, m.ValueInt64(), &resp.Diagnostics)
		}
		if live {
			checkResize(host, l.Facts, buckets, &resp.Diagnostics)
		}
	}
	// Files read later at boot that would undo a managed value.
	var config limitsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	want := config.managed(ctx, &plan, &resp.Diagnostics)
	for _, short := range slices.Sorted(maps.Keys(want.Sysctls)) {
		key := l.Key(short)
		if later := l.LaterOverrides(plan.paths().SysctlFile, key, want.Sysctls[short]); len(later) > 0 {
			resp.Diagnostics.AddWarning(fmt.Sprintf("%s is overridden at boot on %s", key, host),
				fmt.Sprintf("%s is read after %s at boot and sets %s to another value, so after a reboot the declared %s would not hold. Remove the line there, or manage that file with sysctl_file.",
					strings.Join(later, ", "), plan.paths().SysctlFile, key, want.Sysctls[short]))
		}
	}
	if !req.State.Raw.IsNull() {
		prev := loadManaged(ctx, req.Private, &resp.Diagnostics)
		r.planReleases(ctx, req.Config, &plan, prev, l, resp)
	}
	if plan.LoadModuleAtBoot.IsUnknown() {
		def := l.Systemd && (l.Facts.Module == conntrack.ModuleLoaded || l.Facts.Module == conntrack.ModuleAvailable)
		plan.LoadModuleAtBoot = types.BoolValue(def)
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("load_module_at_boot"), plan.LoadModuleAtBoot)...)
	} else if plan.LoadModuleAtBoot.ValueBool() && !l.Systemd {
		resp.Diagnostics.AddAttributeError(path.Root("load_module_at_boot"), fmt.Sprintf("%s does not run systemd", host),
			"Only systemd reads "+defaultModulesLoadFile+" at boot. On a SysV host list the module in /etc/modules (Debian) or "+
				"/etc/sysconfig/modules (RHEL), or set load_module_at_boot = false.")
	}
}

// declared reports whether the configuration sets a number attribute.
func declared(config interface {
	GetAttribute(context.Context, path.Path, any) diag.Diagnostics
}, name string) bool {
	var v types.Int64
	return !config.GetAttribute(context.Background(), path.Root(name), &v).HasError() && !v.IsNull()
}

func (r *limitsResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan, config limitsModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	want := config.managed(ctx, &plan, &resp.Diagnostics)
	r.converge(ctx, &plan, want, conntrack.Managed{}, nil, resp.Private, &resp.State, &resp.Diagnostics)
}

func (r *limitsResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, config, prior limitsModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	want := config.managed(ctx, &plan, &resp.Diagnostics)
	prev := loadManaged(ctx, req.Private, &resp.Diagnostics)
	r.converge(ctx, &plan, want, prev, &prior, resp.Private, &resp.State, &resp.Diagnostics)
}

type stateSetter interface {
	Set(context.Context, any) diag.Diagnostics
}

type privateSetter interface {
	SetKey(ctx context.Context, key string, value []byte) diag.Diagnostics
}

// converge persists, then applies live, then records the state: the
// declared values (verified by read-back) and the host's unmanaged ones.
func (r *limitsResource) converge(ctx context.Context, plan *limitsModel, want, prev conntrack.Managed, prior *limitsModel,
	private privateSetter, state stateSetter, diags *diag.Diagnostics) {
	host := plan.Host.ValueString()
	ctx = tflog.SetField(ctx, "host", host)
	if diags.HasError() {
		return
	}
	h := r.data.host(ctx, plan.connectionModel, diags)
	if h == nil {
		return
	}
	ch := converge.LimitsChange{Paths: plan.paths(), Want: want, Prev: prev, ApplyLive: plan.ApplyLive.ValueBool()}
	if prior != nil {
		old := prior.paths()
		ch.OldPaths = &old
	}
	// Announced: the host's guarded changes of this walk wait for it to
	// share one confirming login.
	ctx, done := converge.Expect(ctx, h)
	defer done()
	res, err := converge.Limits(ctx, h, ch, baseRead(ctx, r.data, plan.connectionModel, plan.snapRead()))
	r.data.changed(plan.connectionModel, limitsScopes(ch.Paths, ch.ApplyLive)...)
	if ch.OldPaths != nil {
		r.data.changed(plan.connectionModel, limitsScopes(*ch.OldPaths, false)...)
	}
	if res.Guard.Armed && !res.Guard.Confirmed {
		for _, res := range res.Refused {
			diags.AddError(fmt.Sprintf("Cannot set %s on %s", res.Path, host), fmt.Sprintf("Writing %s to %s failed: %s.", res.Value, res.Path, refusedReason(res)))
		}
		guardDiagnostics(diags, host, "The conntrack_limits change",
			"A max below the number of tracked connections, or short timeouts under a stateful filter, stop new connections: check the values.",
			res.Guard, converge.LimitsGuardSeconds)
		return
	}
	l := res.Read
	if l == nil {
		hostError(diags, host, err, limitsWording)
		return
	}
	b, _ := json.Marshal(want)
	diags.Append(private.SetKey(ctx, privateManaged, b)...)
	if err != nil {
		hostError(diags, host, err, limitsWording)
	}
	for _, res := range res.Refused {
		reason := refusedReason(res)
		if l.Facts.InitialNetns != nil && !*l.Facts.InitialNetns {
			reason += "; the session runs outside the initial network namespace, where global conntrack settings are read-only"
		}
		diags.AddError(fmt.Sprintf("Cannot set %s on %s", res.Path, host),
			fmt.Sprintf("Writing %s to %s failed: %s.\n\nThe value is persisted and applies at the next boot or module load; "+
				"set apply_live = false to only persist it.", res.Value, res.Path, reason))
	}
	// The state: declared values as applied; unmanaged ones as planned where
	// the plan knew them (a value another run changed since is drift for the
	// next refresh, not this apply's result), else as the host has them.
	seen := *plan
	seen.observe(ctx, l, conntrack.Managed{}, diags)
	for _, short := range namedSysctls {
		if v := plan.named(short); v.IsUnknown() {
			*v = *seen.named(short)
		}
	}
	if plan.Buckets.IsUnknown() {
		plan.Buckets = seen.Buckets
	}
	plan.ID = seen.ID
	for short, v := range want.Sysctls {
		if slices.Contains(namedSysctls, short) {
			*plan.named(short) = intOrNull(&v)
		}
	}
	if want.Buckets != "" {
		plan.Buckets = intOrNull(&want.Buckets)
	}
	if !plan.Sysctls.IsNull() {
		values := map[string]attr.Value{}
		for short := range plan.mapSysctls(ctx, diags) {
			v := want.Sysctls[short]
			values[short] = intOrNull(&v)
		}
		plan.Sysctls, _ = types.MapValue(types.Int64Type, values)
	}
	plan.LoadModuleAtBoot = types.BoolValue(want.LoadModule)
	// Saved even after a failed live apply, so the files written are known
	// (a failed create leaves a tainted resource that destroy cleans up).
	diags.Append(state.Set(ctx, plan)...)
}

var limitsWording = wording{write: "Cannot persist conntrack limits on %s"}

func (r *limitsResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m limitsModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	prev := loadManaged(ctx, req.Private, &resp.Diagnostics)
	host := m.Host.ValueString()
	h := r.data.host(ctx, m.connectionModel, &resp.Diagnostics)
	if h == nil {
		return
	}
	ch := converge.LimitsChange{Paths: m.paths(), Prev: prev}
	_, err := converge.Limits(tflog.SetField(ctx, "host", host), h, ch, nil)
	r.data.changed(m.connectionModel, limitsScopes(ch.Paths, false)...)
	if err != nil {
		hostError(&resp.Diagnostics, host, err, limitsWording)
	}
}

// ImportState takes the host name as the ID; the files are the defaults.
func (r *limitsResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := importHostCheck(req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("Import conntrack_limits by host name or address, e.g. `terraform import conntrack_limits.web 10.0.0.11`: %v", err))
		return
	}
	for name, v := range map[string]attr.Value{
		"host": types.StringValue(req.ID), "id": types.StringValue(req.ID),
		"sysctl_file": types.StringValue(defaultSysctlFile), "modprobe_file": types.StringValue(defaultModprobeFile),
		"apply_live": types.BoolValue(true), "sysctls": types.MapNull(types.Int64Type),
	} {
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root(name), v)...)
	}
}

// refusedReason says why the kernel did not take a live write.
func refusedReason(res conntrack.LiveResult) string {
	if res.Err != "" {
		return res.Err
	}
	return fmt.Sprintf("the kernel kept %q (it accepted the write but rejected or clamped the value)", res.Now)
}
