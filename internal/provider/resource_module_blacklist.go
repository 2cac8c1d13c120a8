package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

var (
	_ resource.ResourceWithConfigure   = (*blacklistResource)(nil)
	_ resource.ResourceWithImportState = (*blacklistResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*blacklistResource)(nil)
)

const (
	defaultBlacklistFile = "/etc/modprobe.d/blacklist.conf"
	disabledCommand      = "/bin/false"
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
			MarkdownDescription: "Also write `install <module> " + disabledCommand + "`. `blacklist` alone only stops loading by alias (hardware " +
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

func (r *blacklistResource) read(ctx context.Context, c *sshx.Client, m *blacklistModel, diags *diag.Diagnostics) *conntrack.ModuleHost {
	file := stringOr(m.File, "", defaultBlacklistFile)
	script, args := conntrack.ModulesScript(file, m.modules(ctx))
	out, err := c.Script(ctx, "read modules", script, nil, args...)
	if err != nil {
		diags.AddError(fmt.Sprintf("Cannot read the modules of %s", m.Host.ValueString()), detail(err))
		return nil
	}
	h, err := conntrack.ParseModules(string(out), file)
	if err != nil {
		diags.AddError(fmt.Sprintf("Unexpected answer from %s", m.Host.ValueString()), err.Error())
		return nil
	}
	if h.File.IsDir {
		diags.AddAttributeError(path.Root("file"), fmt.Sprintf("%s is a directory on %s", file, m.Host.ValueString()), "Name a file.")
		return nil
	}
	return &h
}

// readKey names a resource's read in the per-walk cache: the plan after a
// refresh reuses the refresh's read.
func (m *blacklistModel) readKey(ctx context.Context) string {
	return fmt.Sprintf("module_blacklist %s:%d %s %s", m.Host.ValueString(), m.Port.ValueInt64(),
		stringOr(m.File, "", defaultBlacklistFile), strings.Join(m.modules(ctx), ","))
}

func builtins(h *conntrack.ModuleHost, modules []string) []string {
	var out []string
	for _, mod := range modules {
		if h.Kind[mod] == "builtin" {
			out = append(out, mod)
		}
	}
	return out
}

func (r *blacklistResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m blacklistModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c := r.data.client(ctx, m.connectionModel, &resp.Diagnostics)
	if c == nil {
		return
	}
	h := r.read(ctx, c, &m, &resp.Diagnostics)
	if h == nil {
		return
	}
	r.data.remember(m.readKey(ctx), h)
	// modules reads as the modules whose lines are in place (and that are
	// not loaded, with unload): a module that drifted drops out, so the plan
	// shows it coming back.
	f := modprobe.Parse(h.File.Content)
	var kept []string
	for _, mod := range m.modules(ctx) {
		cmd, hasInstall := f.Install(mod)
		switch {
		case !f.Blacklisted(mod):
			resp.Diagnostics.AddWarning(fmt.Sprintf("%s is no longer blacklisted on %s", mod, m.Host.ValueString()),
				fmt.Sprintf("%s has no `blacklist %s` line any more. Apply to write it again.", h.File.Path, mod))
		case m.Disable.ValueBool() && (!hasInstall || cmd != disabledCommand):
			resp.Diagnostics.AddWarning(fmt.Sprintf("%s is no longer disabled on %s", mod, m.Host.ValueString()),
				fmt.Sprintf("%s has no `install %s %s` line any more, so the module loads by name or as a dependency. Apply to write it again.", h.File.Path, mod, disabledCommand))
		case m.Unload.ValueBool() && h.Kind[mod] != "builtin" && isLoaded(h, mod):
			resp.Diagnostics.AddWarning(fmt.Sprintf("%s is loaded again on %s", mod, m.Host.ValueString()),
				fmt.Sprintf("/proc/modules lists %s. Apply to unload it again.", mod))
		default:
			kept = append(kept, mod)
		}
	}
	m.Modules = stringSet(kept)
	m.Builtin = stringSet(builtins(h, m.modules(ctx)))
	// rebuild_initramfs reads false while the initramfs was not rebuilt from
	// the file as it is now (a rebuild failed, or the file was edited since),
	// so the plan shows the rebuild still to do.
	if m.RebuildInitramfs.ValueBool() && lastBuild(ctx, req.Private) != buildOf(h.File.Path, h.File.Content) {
		resp.Diagnostics.AddWarning(fmt.Sprintf("The initramfs of %s is not rebuilt from %s", m.Host.ValueString(), h.File.Path),
			fmt.Sprintf("%s changed since the initramfs was last rebuilt from it (a rebuild failed, or the file was edited), so early boot "+
				"does not see its present lines. Apply to rebuild it.", h.File.Path))
		m.RebuildInitramfs = types.BoolValue(false)
	}
	m.File = types.StringValue(h.File.Path)
	m.ID = m.Host
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func isLoaded(h *conntrack.ModuleHost, mod string) bool {
	_, ok := h.Loaded[mod]
	return ok
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
	h, _ := r.data.take(plan.readKey(ctx)).(*conntrack.ModuleHost)
	if h == nil {
		c := r.data.client(ctx, plan.connectionModel, &resp.Diagnostics)
		if c == nil {
			return
		}
		if h = r.read(ctx, c, &plan, &resp.Diagnostics); h == nil {
			return
		}
	}
	mods := plan.modules(ctx)
	if b := builtins(h, mods); len(b) > 0 {
		resp.Diagnostics.AddAttributeWarning(path.Root("modules"), fmt.Sprintf("Built-in modules on %s", plan.Host.ValueString()),
			fmt.Sprintf("%s %s built into the kernel of %s: they cannot be blacklisted or unloaded, so connection tracking stays available. "+
				"Their lines are still written, for a later kernel that has them as modules.", strings.Join(b, ", "), isAre(len(b)), plan.Host.ValueString()))
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("builtin"), stringSet(builtins(h, mods)))...)
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

type initramfsBuild struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

type privateStore interface {
	privateState
	privateSetter
}

func buildOf(file string, content []byte) initramfsBuild {
	sum := sha256.Sum256(content)
	return initramfsBuild{File: file, SHA256: hex.EncodeToString(sum[:])}
}

// lastBuild is what the initramfs was last rebuilt from; zero if never.
func lastBuild(ctx context.Context, private privateState) initramfsBuild {
	var last initramfsBuild
	if b, d := private.GetKey(ctx, privateInitramfs); !d.HasError() && len(b) > 0 {
		_ = json.Unmarshal(b, &last)
	}
	return last
}

// converge writes plan's lines instead of prior's (none when plan is nil),
// then unloads and rebuilds the initramfs as asked. A failed unload leaves
// the file change in place and says which module failed and why.
//
// The initramfs is rebuilt when it was not last built from the file's
// present content, not only when this apply changes the file: after a
// failed rebuild the file already has its lines, and rebuild_initramfs may
// be turned on after they were written; a retried or later apply still
// rebuilds. Destroy rebuilds too, so early boot stops blacklisting as well.
func (r *blacklistResource) converge(ctx context.Context, plan, prior *blacklistModel, private privateStore, diags *diag.Diagnostics) bool {
	m := plan
	if m == nil {
		m = prior
	}
	host := m.Host.ValueString()
	ctx = tflog.SetField(ctx, "host", host)
	c := r.data.client(ctx, m.connectionModel, diags)
	if c == nil {
		return false
	}
	file := stringOr(m.File, "", defaultBlacklistFile)
	defer c.Lock(file)()
	var h *conntrack.ModuleHost
	var content []byte
	for attempt := 1; ; attempt++ {
		if h = r.read(ctx, c, m, diags); h == nil {
			return false
		}
		content = editBlacklist(ctx, h.File.Content, plan, prior)
		if string(content) == string(h.File.Content) {
			break
		}
		err := writeOver(ctx, c, h.File, content, 0o644)
		if errors.Is(err, sshx.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			diags.AddError(fmt.Sprintf("Cannot write %s on %s", file, host), detail(err))
			return false
		}
		break
	}
	built := buildOf(file, content)
	rebuild := func(done string) bool {
		if !m.RebuildInitramfs.ValueBool() || lastBuild(ctx, private) == built {
			return true
		}
		if _, err := c.Script(ctx, "rebuild initramfs", rebuildInitramfsScript, nil); err != nil {
			diags.AddError(fmt.Sprintf("Cannot rebuild the initramfs of %s", host), detail(err)+"\n\n"+done)
			return false
		}
		b, _ := json.Marshal(built)
		diags.Append(private.SetKey(ctx, privateInitramfs, b)...)
		return true
	}
	if plan == nil {
		return rebuild("The lines are removed from " + file + "; the initramfs still has them, for early boot only, until it is rebuilt. " +
			"Apply the destroy again to retry.")
	}
	mods := plan.modules(ctx)
	plan.Builtin = stringSet(builtins(h, mods))
	plan.File = types.StringValue(file)
	plan.ID = plan.Host
	if plan.Unload.ValueBool() && !r.unload(ctx, c, plan, h, mods, diags) {
		return false
	}
	return rebuild("The blacklist is written; it holds from the root file system on, but not in early boot until the initramfs is " +
		"rebuilt. The next apply retries the rebuild.")
}

const rebuildInitramfsScript = `if command -v update-initramfs >/dev/null; then exec update-initramfs -u
elif command -v dracut >/dev/null; then exec dracut -f
else echo "neither update-initramfs nor dracut is installed" >&2; exit 1; fi`

func (r *blacklistResource) unload(ctx context.Context, c *sshx.Client, plan *blacklistModel, h *conntrack.ModuleHost, mods []string, diags *diag.Diagnostics) bool {
	host := plan.Host.ValueString()
	order, holders := conntrack.UnloadOrder(h.Loaded, mods, plan.Force.ValueBool())
	if len(holders) > 0 && !plan.Force.ValueBool() {
		diags.AddError(fmt.Sprintf("The conntrack modules of %s are in use", host),
			"Cannot unload: "+describeHolders(holders)+". The blacklist is written; set force = true, or remove the rules that hold them.")
		return false
	}
	if len(order) == 0 {
		return true
	}
	out, err := c.Script(ctx, "unload modules", conntrack.UnloadScript(), nil, order...)
	if err != nil {
		diags.AddError(fmt.Sprintf("Cannot unload modules on %s", host), detail(err))
		return false
	}
	failed := conntrack.ParseFailures(string(out))
	for _, mod := range order {
		if reason, ok := failed[mod]; ok {
			diags.AddError(fmt.Sprintf("Cannot unload %s on %s", mod, host),
				fmt.Sprintf("rmmod said: %s\n\nThe blacklist is written, so the module will not load again at boot.", reason))
		}
	}
	return len(failed) == 0
}

// editBlacklist replaces prior's lines with plan's in a modprobe.d file.
// Only install lines that say /bin/false are the resource's to remove.
func editBlacklist(ctx context.Context, content []byte, plan, prior *blacklistModel) []byte {
	f := modprobe.Parse(content)
	if prior != nil {
		for _, mod := range prior.modules(ctx) {
			f.SetBlacklist(mod, false)
			if cmd, ok := f.Install(mod); ok && cmd == disabledCommand {
				f.DeleteInstall(mod)
			}
		}
	}
	if plan != nil {
		for _, mod := range plan.modules(ctx) {
			f.SetBlacklist(mod, true)
			if plan.Disable.ValueBool() {
				f.SetInstall(mod, disabledCommand)
			}
		}
	}
	return f.Bytes()
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
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
