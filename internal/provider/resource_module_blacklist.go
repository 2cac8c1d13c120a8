package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/setdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/modprobe"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/converge"
)

var (
	_ resource.ResourceWithConfigure   = (*blacklistResource)(nil)
	_ resource.ResourceWithImportState = (*blacklistResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*blacklistResource)(nil)
)

const (
	defaultBlacklistFile = "/etc/modprobe.d/blacklist.conf"
)

// NewModuleBlacklistResource is the conntrack_module_blacklist resource.
func NewModuleBlacklistResource() resource.Resource { return &blacklistResource{} }

type blacklistResource struct {
	data *providerData
}

type blacklistModel struct {
	connectionModel
	ID               types.String `tfsdk:"id"`
	Modules          types.Set    `tfsdk:"modules"`
	File             types.String `tfsdk:"file"`
	Disable          types.Bool   `tfsdk:"disable"`
	Unload           types.Bool   `tfsdk:"unload"`
	Force            types.Bool   `tfsdk:"force"`
	RebuildInitramfs types.Bool   `tfsdk:"rebuild_initramfs"`
	Builtin          types.Set    `tfsdk:"builtin"`
	States           types.Map    `tfsdk:"states"`
}

// How far a module's blacklist holds, in order: each level includes the
// ones before it. states reads each module up to the level the resource
// wants for it, so a drifted module plans `~ "nf_conntrack" = "blacklisted"
// -> "disabled"`.
const (
	moduleNotBlacklisted = "not blacklisted"
	moduleBlacklisted    = "blacklisted"
	moduleDisabled       = "disabled"
	moduleUnloaded       = "unloaded"
)

var moduleLevels = []string{moduleNotBlacklisted, moduleBlacklisted, moduleDisabled, moduleUnloaded}

// wantLevel is the level the model asks of a module: unloaded with unload
// (unless built in, which cannot be), else disabled with disable, else
// blacklisted.
func (m *blacklistModel) wantLevel(builtin bool) string {
	switch {
	case m.Unload.ValueBool() && !builtin:
		return moduleUnloaded
	case m.Disable.ValueBool():
		return moduleDisabled
	}
	return moduleBlacklisted
}

// wantStates is states as the apply leaves it: every module at the level
// the model asks of it.
func (m *blacklistModel) wantStates(ctx context.Context, h *conntrack.ModuleHost) types.Map {
	mods := m.modules(ctx)
	builtin := h.Builtins(mods)
	elems := map[string]attr.Value{}
	for _, mod := range mods {
		elems[mod] = types.StringValue(m.wantLevel(slices.Contains(builtin, mod)))
	}
	return types.MapValueMust(types.StringType, elems)
}

func (m *blacklistModel) modules(ctx context.Context) []string {
	var mods []string
	if !m.Modules.IsNull() && !m.Modules.IsUnknown() {
		m.Modules.ElementsAs(ctx, &mods, false)
	}
	slices.Sort(mods)
	return mods
}

func stringSet(values []string) types.Set {
	elems := make([]attr.Value, len(values))
	for i, v := range values {
		elems[i] = types.StringValue(v)
	}
	return types.SetValueMust(types.StringType, elems)
}

func (r *blacklistResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_module_blacklist"
}

// moduleNameValidator applies modprobe's rule for module names.
type moduleNameValidator struct{}

func (moduleNameValidator) Description(context.Context) string {
	return "a kernel module name: letters, digits, _ and -"
}
func (v moduleNameValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (moduleNameValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := modprobe.ValidModuleName(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid module name", err.Error())
	}
}

func (r *blacklistResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := connectionResourceAttributes()
	for name, a := range map[string]schema.Attribute{
		"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The host.",
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
		"modules": schema.SetAttribute{Optional: true, Computed: true, ElementType: types.StringType,
			Default:    setdefault.StaticValue(stringSet(conntrack.ClassicBlacklist)),
			Validators: []validator.Set{setvalidator.SizeAtLeast(1), setvalidator.ValueStringsAre(moduleNameValidator{})},
			MarkdownDescription: "Modules to blacklist. Defaults to the conntrack family of the classic recipe: " + enumDoc(conntrack.ClassicBlacklist) +
				". `nf_conntrack_ipv4` and `nf_conntrack_ipv6` only exist before Linux 4.19 (they merged into `nf_conntrack`); listing them " +
				"on a newer kernel is harmless."},
		"file": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(defaultBlacklistFile),
			Validators:    []validator.String{pathValidator(modprobeFileRule)},
			PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			MarkdownDescription: "The modprobe.d file for the `blacklist` and `install` lines. Only those lines of the listed modules change; " +
				"every other byte stays. Changing it replaces the resource: the lines move from the old file to the new one. Must be a canonical " +
				"`/etc/modprobe.d/*.conf` path. Defaults to `" + defaultBlacklistFile + "`."},
		"disable": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
			MarkdownDescription: "Also write `install <module> " + conntrack.DisabledCommand + "`. `blacklist` alone only stops loading by alias (hardware " +
				"autoload): a module is still loaded by name (`modprobe nf_conntrack`) or as a dependency (an iptables rule with `-m state` loads " +
				"`xt_state`, which loads `nf_conntrack`). The `install` line makes every such load fail. Defaults to `true`."},
		"unload": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
			MarkdownDescription: "Unload the listed modules now, holders first (the order comes from /proc/modules: `rmmod nf_conntrack` fails " +
				"while nf_nat, xt_CT or xt_conntrack hold it). The plan fails listing what holds them (other modules, firewall rules) unless " +
				"`force`. When `true`, a listed module loaded again shows as drift. Defaults to `false`."},
		"force": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
			MarkdownDescription: "With `unload`, also unload modules outside the list that hold a listed one (xt_CT, xt_MASQUERADE, ...). " +
				"Firewall rules that use a module still keep it loaded: remove stateful rules first. Defaults to `false`."},
		"rebuild_initramfs": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
			MarkdownDescription: "Regenerate the initramfs (`update-initramfs -u` or `dracut -f`) so that the blacklist also holds in early " +
				"boot when a listed module is in the initramfs: whenever the file's content is not what the initramfs was last rebuilt from " +
				"(the file changed, a rebuild failed, or this was just turned on), and on destroy. Reads as `false` while a rebuild is due, " +
				"so the plan shows it. Defaults to `false`."},
		"builtin": schema.SetAttribute{Computed: true, ElementType: types.StringType,
			MarkdownDescription: "Listed modules that are built into the kernel: they can be neither blacklisted nor unloaded (a warning says so)."},
		"states": schema.MapAttribute{Computed: true, ElementType: types.StringType,
			MarkdownDescription: "How far the blacklist of each listed module holds on the host, one of " + enumDoc(moduleLevels) + " in that " +
				"order, each including the ones before it (`disabled`: the `install` line is in place too; `unloaded`: and the module is " +
				"not loaded). Read up to the level the other attributes ask for: `unloaded` with `unload` (except for a built-in module, " +
				"which cannot be unloaded), else `disabled` with `disable`, else `blacklisted`. A removed line or a module loaded again shows as a change " +
				"of its module here, e.g. `~ \"nf_conntrack\" = \"blacklisted\" -> \"disabled\"`; `modules` stays as declared."},
	} {
		attrs[name] = a
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Blacklists, disables and optionally unloads the conntrack kernel modules (remedy 4: remove connection tracking). " +
			"Reads the modprobe.d file and /proc/modules only, never loading anything; a removed line or a module loaded again shows as drift. " +
			"Destroy removes the resource's lines and loads nothing back.",
		Attributes: attrs,
	}
}

func (r *blacklistResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// readModules is the model's file and modules, from the walk's snapshot
// of the host.
func (r *blacklistResource) readModules(ctx context.Context, m *blacklistModel, diags *diag.Diagnostics) *conntrack.ModuleHost {
	return readHost(ctx, r.data, m.connectionModel, m.snapRead(ctx), blacklistWording, diags)
}

var blacklistWording = wording{dirAttr: path.Root("file")}

func (m *blacklistModel) file() string { return stringOr(m.File, "", defaultBlacklistFile) }

// owned is what the model owns in its file.
func (m *blacklistModel) owned(ctx context.Context) *conntrack.Blacklist {
	if m == nil {
		return nil
	}
	return &conntrack.Blacklist{Modules: m.modules(ctx), Disable: m.Disable.ValueBool()}
}

// snapRead is the model's read in the host's snapshot: its file, the
// loaded modules and how each listed module is present.
func (m *blacklistModel) snapRead(ctx context.Context) snapRead[conntrack.ModuleHost] {
	file, modules := m.file(), m.modules(ctx)
	return snapRead[conntrack.ModuleHost]{obj: converge.ObjModules,
		need: conntrack.SnapshotRequest{Modules: []conntrack.ModulesRead{{File: file, Modules: modules}}},
		deps: append([]string{scopeKernel}, fileScopes(file)...),
		view: func(s *conntrack.Snapshot) (*conntrack.ModuleHost, error) {
			return converge.ModulesOf(s, file, modules)
		}}
}

func (r *blacklistResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m blacklistModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	h := r.readModules(ctx, &m, &resp.Diagnostics)
	if h == nil {
		return
	}
	// modules stays as declared; states reads each module up to the level
	// wanted (see wantLevel), so a module that drifted plans a change of its
	// own state back to that level.
	f := modprobe.Parse(h.File.Content)
	states := map[string]attr.Value{}
	builtin := h.Builtins(m.modules(ctx))
	for _, mod := range m.modules(ctx) {
		cmd, hasInstall := f.Install(mod)
		level := m.wantLevel(slices.Contains(builtin, mod))
		switch {
		case !f.Blacklisted(mod):
			level = moduleNotBlacklisted
			resp.Diagnostics.AddWarning(fmt.Sprintf("%s is no longer blacklisted on %s", mod, m.Host.ValueString()),
				fmt.Sprintf("%s has no `blacklist %s` line any more. Apply to write it again.", h.File.Path, mod))
		case m.Disable.ValueBool() && (!hasInstall || cmd != conntrack.DisabledCommand):
			level = moduleBlacklisted
			resp.Diagnostics.AddWarning(fmt.Sprintf("%s is no longer disabled on %s", mod, m.Host.ValueString()),
				fmt.Sprintf("%s has no `install %s %s` line any more, so the module loads by name or as a dependency. Apply to write it again.", h.File.Path, mod, conntrack.DisabledCommand))
		case level == moduleUnloaded && h.IsLoaded(mod):
			level = moduleBlacklisted
			if m.Disable.ValueBool() {
				level = moduleDisabled
			}
			resp.Diagnostics.AddWarning(fmt.Sprintf("%s is loaded again on %s", mod, m.Host.ValueString()),
				fmt.Sprintf("/proc/modules lists %s. Apply to unload it again.", mod))
		}
		states[mod] = types.StringValue(level)
	}
	m.States = types.MapValueMust(types.StringType, states)
	m.Builtin = stringSet(builtin)
	// rebuild_initramfs reads false while the initramfs was not rebuilt from
	// the file as it is now (a rebuild failed, or the file was edited since),
	// so the plan shows the rebuild still to do.
	if m.RebuildInitramfs.ValueBool() && lastBuild(ctx, req.Private) != conntrack.BuildOf(h.File.Path, h.File.Content) {
		resp.Diagnostics.AddWarning(fmt.Sprintf("The initramfs of %s is not rebuilt from %s", m.Host.ValueString(), h.File.Path),
			fmt.Sprintf("%s changed since the initramfs was last rebuilt from it (a rebuild failed, or the file was edited), so early boot "+
				"does not see its present lines. Apply to rebuild it.", h.File.Path))
		m.RebuildInitramfs = types.BoolValue(false)
	}
	m.File = types.StringValue(h.File.Path)
	m.ID = m.Host
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *blacklistResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.data == nil {
		return
	}
	var plan blacklistModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || plan.Host.IsUnknown() || plan.Modules.IsUnknown() || plan.File.IsUnknown() {
		return
	}
	h := r.readModules(ctx, &plan, &resp.Diagnostics)
	if h == nil {
		return
	}
	mods := plan.modules(ctx)
	if b := h.Builtins(mods); len(b) > 0 {
		resp.Diagnostics.AddAttributeWarning(path.Root("modules"), fmt.Sprintf("Built-in modules on %s", plan.Host.ValueString()),
			fmt.Sprintf("%s %s built into the kernel of %s: they cannot be blacklisted or unloaded, so connection tracking stays available. "+
				"Their lines are still written, for a later kernel that has them as modules.", strings.Join(b, ", "), isAre(len(b)), plan.Host.ValueString()))
	}
	if changing := req.State.Raw.IsNull() || !req.State.Raw.Equal(req.Plan.Raw); changing {
		persistedRulesWarning(&resp.Diagnostics, plan.Host.ValueString(), mods, h)
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("builtin"), stringSet(h.Builtins(mods)))...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("states"), plan.wantStates(ctx, h))...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("id"), plan.Host)...)
	if !plan.Unload.ValueBool() {
		return
	}
	// With force, only references no module accounts for remain: rules
	// that use a module, which no rmmod can release.
	switch _, holders := conntrack.UnloadOrder(h.Loaded, mods, plan.Force.ValueBool()); {
	case len(holders) == 0:
	case !plan.Force.ValueBool():
		resp.Diagnostics.AddAttributeError(path.Root("unload"), fmt.Sprintf("The conntrack modules of %s are in use", plan.Host.ValueString()),
			"Cannot unload while something holds them: "+describeHolders(holders)+". Remove the stateful, NAT and CT rules that use "+
				"them, or set force = true to unload the holding modules too.")
	default:
		resp.Diagnostics.AddAttributeWarning(path.Root("force"), fmt.Sprintf("The unload will fail on %s", plan.Host.ValueString()),
			"force unloads holding modules, but not what firewall rules hold: "+describeHolders(holders)+". The blacklist will be "+
				"written and the unload will fail until the rules that use these modules are removed.")
	}
}

// persistedRulesWarning warns when mods take away connection tracking
// that a persisted ruleset on the host needs at boot, naming its lines.
func persistedRulesWarning(diags *diag.Diagnostics, host string, mods []string, h *conntrack.ModuleHost) {
	var taken []string
	for _, m := range mods {
		if conntrack.ConntrackModule(m) && h.Kind[m] != "builtin" {
			taken = append(taken, m)
		}
	}
	if len(taken) == 0 || len(h.ConntrackUsers) == 0 {
		return
	}
	var lines []string
	for _, u := range h.ConntrackUsers {
		lines = append(lines, fmt.Sprintf("%s line %d: %s", u.Path, u.Line, u.Text))
	}
	diags.AddAttributeWarning(path.Root("modules"), fmt.Sprintf("The firewall of %s needs connection tracking at boot", host),
		fmt.Sprintf("Blacklisting %s stops connection tracking from loading, but these persisted rules need it:\n\n%s\n\n"+
			"At the next boot (or firewall restart) the firewall fails to load them and the host runs with no firewall at all; "+
			"Docker and Kubernetes NAT break too. Remove or change these lines first (stop the firewall service with "+
			"conntrack_firewall_service, or drop its stateful rules), or leave connection tracking enabled.",
			strings.Join(taken, ", "), strings.Join(lines, "\n")))
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func describeHolders(holders []conntrack.Holder) string {
	var parts []string
	for _, h := range holders {
		if h.By != "" {
			parts = append(parts, fmt.Sprintf("%s is held by the module %s", h.Module, h.By))
		} else {
			parts = append(parts, fmt.Sprintf("%s has %d reference(s) no module accounts for (firewall rules using it)", h.Module, h.Refs))
		}
	}
	return strings.Join(parts, "; ")
}

func (r *blacklistResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan blacklistModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if !resp.Diagnostics.HasError() && r.converge(ctx, &plan, nil, resp.Private, &resp.Diagnostics) {
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

func (r *blacklistResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior blacklistModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if !resp.Diagnostics.HasError() && r.converge(ctx, &plan, &prior, resp.Private, &resp.Diagnostics) {
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

func (r *blacklistResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var prior blacklistModel
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if !resp.Diagnostics.HasError() {
		r.converge(ctx, nil, &prior, resp.Private, &resp.Diagnostics)
	}
}

// privateInitramfs is the private-state key recording the file, and the
// SHA-256 of its content, that the initramfs was last rebuilt from.
const privateInitramfs = "initramfs"

type privateStore interface {
	privateState
	privateSetter
}

// lastBuild is what the initramfs was last rebuilt from; zero if never.
func lastBuild(ctx context.Context, private privateState) conntrack.InitramfsBuild {
	var last conntrack.InitramfsBuild
	if b, d := private.GetKey(ctx, privateInitramfs); !d.HasError() && len(b) > 0 {
		_ = json.Unmarshal(b, &last)
	}
	return last
}

// converge writes plan's lines instead of prior's (none when plan is nil),
// then unloads and rebuilds the initramfs as asked (see converge.Blacklist).
// A failed unload leaves the file change in place and says which module
// failed and why.
func (r *blacklistResource) converge(ctx context.Context, plan, prior *blacklistModel, private privateStore, diags *diag.Diagnostics) bool {
	m := plan
	if m == nil {
		m = prior
	}
	host := m.Host.ValueString()
	ctx = tflog.SetField(ctx, "host", host)
	h := r.data.host(ctx, m.connectionModel, diags)
	if h == nil {
		return false
	}
	file := m.file()
	ch := converge.BlacklistChange{File: file, Plan: plan.owned(ctx), Prior: prior.owned(ctx),
		Unload: m.Unload.ValueBool(), Force: m.Force.ValueBool(), Rebuild: m.RebuildInitramfs.ValueBool(), LastBuild: lastBuild(ctx, private)}
	res, err := converge.Blacklist(ctx, h, ch, baseRead(ctx, r.data, m.connectionModel, m.snapRead(ctx)))
	if scopes := fileScopes(file); len(res.Unloaded) > 0 || err != nil {
		r.data.changed(m.connectionModel, append(scopes, scopeKernel)...)
	} else {
		r.data.changed(m.connectionModel, scopes...)
	}
	if res.Built != nil {
		b, _ := json.Marshal(*res.Built)
		diags.Append(private.SetKey(ctx, privateInitramfs, b)...)
	}
	var step *converge.StepError
	switch {
	case errors.As(err, &step) && step.Op == converge.OpRebuild && plan == nil:
		diags.AddError(fmt.Sprintf("Cannot rebuild the initramfs of %s", host), detail(step.Err)+"\n\n"+
			"The lines are removed from "+file+"; the initramfs still has them, for early boot only, until it is rebuilt. "+
			"Apply the destroy again to retry.")
		return false
	case errors.As(err, &step) && step.Op == converge.OpRebuild:
		diags.AddError(fmt.Sprintf("Cannot rebuild the initramfs of %s", host), detail(step.Err)+"\n\n"+
			"The blacklist is written; it holds from the root file system on, but not in early boot until the initramfs is "+
			"rebuilt. The next apply retries the rebuild.")
		return false
	case err != nil:
		hostError(diags, host, err, blacklistWording)
		return false
	case len(res.Holders) > 0:
		diags.AddError(fmt.Sprintf("The conntrack modules of %s are in use", host),
			"Cannot unload: "+describeHolders(res.Holders)+". The blacklist is written; set force = true, or remove the rules that hold them.")
		return false
	}
	for _, mod := range res.Unloaded {
		if reason, ok := res.Failed[mod]; ok {
			diags.AddError(fmt.Sprintf("Cannot unload %s on %s", mod, host),
				fmt.Sprintf("rmmod said: %s\n\nThe blacklist is written, so the module will not load again at boot.", reason))
		}
	}
	if len(res.Failed) > 0 {
		return false
	}
	if plan != nil {
		plan.Builtin = stringSet(res.Read.Builtins(plan.modules(ctx)))
		if plan.States.IsUnknown() {
			plan.States = plan.wantStates(ctx, res.Read)
		}
		plan.File = types.StringValue(file)
		plan.ID = plan.Host
	}
	return true
}

// ImportState takes the host; modules become those of the classic family
// that the default file blacklists.
func (r *blacklistResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := importHostCheck(req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("Import conntrack_module_blacklist by host: %v", err))
		return
	}
	m := blacklistModel{
		connectionModel: connectionModel{Host: types.StringValue(req.ID), Port: types.Int64Null(), User: types.StringNull()},
		ID:              types.StringValue(req.ID), Modules: stringSet(conntrack.ClassicBlacklist),
		File: types.StringValue(defaultBlacklistFile), Disable: types.BoolValue(true), Unload: types.BoolValue(false),
		Force: types.BoolValue(false), RebuildInitramfs: types.BoolValue(false), Builtin: types.SetNull(types.StringType),
		States: types.MapNull(types.StringType),
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
