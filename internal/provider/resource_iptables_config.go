package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/shellvars"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/converge"
)

var (
	_ resource.ResourceWithConfigure   = (*iptablesConfigResource)(nil)
	_ resource.ResourceWithImportState = (*iptablesConfigResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*iptablesConfigResource)(nil)
)

// NewIptablesConfigResource is the conntrack_iptables_config resource.
func NewIptablesConfigResource() resource.Resource { return &iptablesConfigResource{} }

type iptablesConfigResource struct {
	data *providerData
}

// iptablesSetting is one key of iptables-config: its attribute (the key
// without the IPTABLES_/IP6TABLES_ prefix, in lower case) and what the
// service assumes when the key is absent.
type iptablesSetting struct {
	attr, absent, doc string
	boolean           bool
}

var iptablesSettings = []iptablesSetting{
	{"modules", `""`, "Space-separated modules the service loads on start (`IPTABLES_MODULES`). Empty loads none, which remedy 4 needs: " +
		"a listed conntrack helper (`nf_conntrack_ftp`) loads conntrack itself.", false},
	{"modules_unload", `"yes"`, "Unload the netfilter modules on stop and restart (`IPTABLES_MODULES_UNLOAD`). " +
		"**Trap**: with `yes` every firewall restart unloads conntrack, and with it every conntrack sysctl set by `conntrack_limits`, " +
		"which return at their defaults when the module loads again.", true},
	{"save_on_stop", `"no"`, "Save the running rules to the rules file on stop (`IPTABLES_SAVE_ON_STOP`).", true},
	{"save_on_restart", `"no"`, "Save the running rules to the rules file on restart (`IPTABLES_SAVE_ON_RESTART`).", true},
	{"save_counter", `"no"`, "Save and restore rule and chain counters (`IPTABLES_SAVE_COUNTER`).", true},
	{"status_numeric", `"yes"`, "`service iptables status` prints numeric addresses and ports (`IPTABLES_STATUS_NUMERIC`).", true},
	{"status_verbose", `"no"`, "`service iptables status` prints packet counters and interfaces (`IPTABLES_STATUS_VERBOSE`).", true},
	{"status_linenumbers", `"yes"`, "`service iptables status` prints rule numbers (`IPTABLES_STATUS_LINENUMBERS`).", true},
	{"sysctl_load_list", `""`, "Sysctl keys the service sets again after loading modules on start (`IPTABLES_SYSCTL_LOAD_LIST`). " +
		"`\".nf_conntrack\"` re-applies every conntrack sysctl from /etc/sysctl.conf and /etc/sysctl.d: the fix for \"a firewall restart " +
		"resets the conntrack sysctls\".", false},
}

type iptablesConfigModel struct {
	connectionModel
	ID        types.String `tfsdk:"id"`
	IPVersion types.Int64  `tfsdk:"ip_version"`
	File      types.String `tfsdk:"file"`
	// Values by attribute name, as strings ("yes"/"no" for booleans).
	Modules           types.String `tfsdk:"modules"`
	ModulesUnload     types.Bool   `tfsdk:"modules_unload"`
	SaveOnStop        types.Bool   `tfsdk:"save_on_stop"`
	SaveOnRestart     types.Bool   `tfsdk:"save_on_restart"`
	SaveCounter       types.Bool   `tfsdk:"save_counter"`
	StatusNumeric     types.Bool   `tfsdk:"status_numeric"`
	StatusVerbose     types.Bool   `tfsdk:"status_verbose"`
	StatusLinenumbers types.Bool   `tfsdk:"status_linenumbers"`
	SysctlLoadList    types.String `tfsdk:"sysctl_load_list"`
}

// values maps attribute names to the model's fields.
func (m *iptablesConfigModel) strings() map[string]*types.String {
	return map[string]*types.String{"modules": &m.Modules, "sysctl_load_list": &m.SysctlLoadList}
}

func (m *iptablesConfigModel) bools() map[string]*types.Bool {
	return map[string]*types.Bool{
		"modules_unload": &m.ModulesUnload, "save_on_stop": &m.SaveOnStop, "save_on_restart": &m.SaveOnRestart,
		"save_counter": &m.SaveCounter, "status_numeric": &m.StatusNumeric, "status_verbose": &m.StatusVerbose,
		"status_linenumbers": &m.StatusLinenumbers,
	}
}

func (m *iptablesConfigModel) prefix() string {
	if m.IPVersion.ValueInt64() == 6 {
		return "IP6TABLES_"
	}
	return "IPTABLES_"
}

func (m *iptablesConfigModel) path() string {
	if !m.File.IsNull() && !m.File.IsUnknown() && m.File.ValueString() != "" {
		return m.File.ValueString()
	}
	return defaultIptablesConfig(m.IPVersion.ValueInt64())
}

// defaultIptablesConfig is iptables-services' configuration file of an IP
// version.
func defaultIptablesConfig(ipVersion int64) string {
	if ipVersion == 6 {
		return "/etc/sysconfig/ip6tables-config"
	}
	return "/etc/sysconfig/iptables-config"
}

// snapRead is the model's read in the host's snapshot: the whole file (a
// directory or an unreadable file is read alone, which words the error).
func (m *iptablesConfigModel) snapRead(ctx context.Context) snapRead[conntrack.File] {
	p := m.path()
	return snapRead[conntrack.File]{obj: converge.ObjFile, path: p,
		need: conntrack.SnapshotRequest{Files: []string{p}},
		deps: fileScopes(p),
		view: func(s *conntrack.Snapshot) (*conntrack.File, error) { return converge.FileOf(s, p) },
		direct: func(h converge.Host) (*conntrack.File, error) {
			f, err := converge.ReadFile(ctx, h, p)
			return &f, err
		}}
}

// declared returns the file value of every setting the model sets.
func (m *iptablesConfigModel) declared() map[string]string {
	out := map[string]string{}
	for name, v := range m.strings() {
		if !v.IsNull() && !v.IsUnknown() {
			out[name] = v.ValueString()
		}
	}
	for name, v := range m.bools() {
		if !v.IsNull() && !v.IsUnknown() {
			out[name] = yesNo(v.ValueBool())
		}
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (r *iptablesConfigResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_iptables_config"
}

func (r *iptablesConfigResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := connectionResourceAttributes()
	attrs["id"] = schema.StringAttribute{Computed: true, MarkdownDescription: "`host` for IPv4, `host,6` for IPv6: the import ID.",
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
	attrs["ip_version"] = schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(4),
		Validators:          []validator.Int64{int64validator.OneOf(4, 6)},
		PlanModifiers:       []planmodifier.Int64{int64planmodifier.RequiresReplace()},
		MarkdownDescription: "4 for `/etc/sysconfig/iptables-config` (`IPTABLES_*` keys), 6 for `ip6tables-config` (`IP6TABLES_*`). Defaults to `4`."}
	attrs["file"] = schema.StringAttribute{Optional: true, Computed: true,
		Validators:          []validator.String{pathValidator(sysconfigFileRule)},
		PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace(), stringplanmodifier.UseStateForUnknown()},
		MarkdownDescription: "The file, when not the one `ip_version` names. Must be an absolute path under `/etc/sysconfig`, canonical (no `.` or `..` parts, no doubled or trailing `/`)."}
	unmanaged := " Unset means unmanaged: the state shows the file's value (null when the key is absent) and the key is left alone."
	for _, s := range iptablesSettings {
		desc := s.doc + " When the key is absent the service assumes " + "`" + s.absent + "`." + unmanaged
		if s.boolean {
			attrs[s.attr] = schema.BoolAttribute{Optional: true, Computed: true, MarkdownDescription: desc,
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()}}
			continue
		}
		list := modulesListValidator
		if s.attr == "sysctl_load_list" {
			list = sysctlListValidator
		}
		attrs[s.attr] = schema.StringAttribute{Optional: true, Computed: true, MarkdownDescription: desc,
			Validators:    []validator.String{list},
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Manages the iptables service's own settings in `/etc/sysconfig/iptables-config` (RHEL's iptables-services): " +
			"which modules it loads and unloads, and whether it re-applies the conntrack sysctls after a restart. Part of remedy 4 " +
			"(`modules = \"\"`, so the service loads no conntrack module) and the fix for a restart that resets the limits of remedy 2 " +
			"(`modules_unload = false`, `sysctl_load_list = \".nf_conntrack\"`). Only the managed keys change; the quoting style, comments " +
			"and every other key stay byte for byte. A key no longer declared is left as it is. Destroy removes the keys the resource added and " +
			"still manages, and leaves those it found, with their current values.",
		Attributes: attrs,
	}
}

func (r *iptablesConfigResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// observe sets every setting from the file.
func (m *iptablesConfigModel) observe(content []byte, diags *diag.Diagnostics) {
	f := shellvars.Parse(content)
	for name, v := range m.strings() {
		*v = types.StringNull()
		if got, ok := f.Get(m.prefix() + settingKey(name)); ok {
			*v = types.StringValue(got)
		}
	}
	for name, v := range m.bools() {
		*v = types.BoolNull()
		got, ok := f.Get(m.prefix() + settingKey(name))
		switch {
		case !ok:
		case got == "yes" || got == "no":
			*v = types.BoolValue(got == "yes")
		default:
			diags.AddWarning(fmt.Sprintf("%s%s is neither yes nor no in %s", m.prefix(), settingKey(name), m.path()),
				fmt.Sprintf("It is %q; the service treats anything but \"yes\" as no. It reads as null here.", got))
		}
	}
	m.File = types.StringValue(m.path())
	m.ID = m.Host
	if m.IPVersion.ValueInt64() == 6 {
		m.ID = types.StringValue(m.Host.ValueString() + ",6")
	}
}

// settingKey is an attribute's key without the IPTABLES_/IP6TABLES_ prefix.
func settingKey(attr string) string { return strings.ToUpper(attr) }

func (r *iptablesConfigResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m iptablesConfigModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	f := readHost(ctx, r.data, m.connectionModel, m.snapRead(ctx), wording{}, &resp.Diagnostics)
	if f == nil {
		return
	}
	m.observe(f.Content, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// ModifyPlan shows a key the resource added and the configuration no
// longer declares: the key stays in the file as it is, but destroy would
// no longer remove it. That needs an apply to record, so the attribute is
// planned unknown (it reads back as the file's value) and a warning says
// what happens; without it the plan would be empty and a later destroy
// would remove a line the user stopped managing.
func (r *iptablesConfigResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || req.State.Raw.IsNull() {
		return
	}
	var config, plan iptablesConfigModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	var added []string
	b, d := req.Private.GetKey(ctx, privateAdded)
	resp.Diagnostics.Append(d...)
	_ = json.Unmarshal(b, &added)
	if resp.Diagnostics.HasError() {
		return
	}
	for _, name := range added {
		declared := false
		if v, ok := config.strings()[name]; ok {
			declared = !v.IsNull()
		}
		if v, ok := config.bools()[name]; ok {
			declared = !v.IsNull()
		}
		if declared {
			continue
		}
		var unknown attr.Value = types.StringUnknown()
		if _, ok := config.bools()[name]; ok {
			unknown = types.BoolUnknown()
		}
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root(name), unknown)...)
		key := plan.prefix() + settingKey(name)
		resp.Diagnostics.AddAttributeWarning(path.Root(name), fmt.Sprintf("%s is no longer managed on %s", key, plan.Host.ValueString()),
			fmt.Sprintf("It is no longer declared: %s keeps it as it is, and destroying this resource will no longer remove it. "+
				"Remove the line by hand if it should go.", plan.path()))
	}
}

// privateAdded remembers the keys the resource added (absent before), which
// destroy removes; keys it only changed stay.
const privateAdded = "added"

func (r *iptablesConfigResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.write(ctx, req.Plan, req.Config, nil, resp.Private, &resp.State, &resp.Diagnostics)
}

func (r *iptablesConfigResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.write(ctx, req.Plan, req.Config, req.Private, resp.Private, &resp.State, &resp.Diagnostics)
}

type stateGetter interface {
	Get(context.Context, any) diag.Diagnostics
}

// write converges the file to the configuration's settings.
func (r *iptablesConfigResource) write(ctx context.Context, planIn, configIn stateGetter, priorPrivate privateState, private privateSetter, state stateSetter, diags *diag.Diagnostics) {
	var plan, config iptablesConfigModel
	diags.Append(planIn.Get(ctx, &plan)...)
	diags.Append(configIn.Get(ctx, &config)...)
	if diags.HasError() {
		return
	}
	ctx = tflog.SetField(ctx, "host", plan.Host.ValueString())
	config.IPVersion = plan.IPVersion
	want := config.declared()
	var added []string
	if priorPrivate != nil {
		b, d := priorPrivate.GetKey(ctx, privateAdded)
		diags.Append(d...)
		_ = json.Unmarshal(b, &added)
	}
	h := r.data.host(ctx, plan.connectionModel, diags)
	if h == nil {
		return
	}
	keys := map[string]string{}
	for name, v := range want {
		keys[plan.prefix()+settingKey(name)] = v
	}
	content, addedKeys, err := converge.ShellVars(ctx, h, plan.path(), keys, plan.keys(added), baseRead(ctx, r.data, plan.connectionModel, plan.snapRead(ctx)))
	r.data.changed(plan.connectionModel, fileScopes(plan.path())...)
	if err != nil {
		hostError(diags, plan.Host.ValueString(), err, wording{})
		return
	}
	added = plan.names(addedKeys)
	b, _ := json.Marshal(added)
	diags.Append(private.SetKey(ctx, privateAdded, b)...)
	plan.observe(content, diags)
	diags.Append(state.Set(ctx, &plan)...)
}

// keys are the file's keys of attribute names; names the reverse.
func (m *iptablesConfigModel) keys(names []string) []string {
	keys := make([]string, len(names))
	for i, name := range names {
		keys[i] = m.prefix() + settingKey(name)
	}
	return keys
}

func (m *iptablesConfigModel) names(keys []string) []string {
	names := make([]string, 0, len(keys))
	for _, key := range keys {
		for _, s := range iptablesSettings {
			if m.prefix()+settingKey(s.attr) == key {
				names = append(names, s.attr)
			}
		}
	}
	return names
}

func (r *iptablesConfigResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m iptablesConfigModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	var added []string
	b, d := req.Private.GetKey(ctx, privateAdded)
	resp.Diagnostics.Append(d...)
	_ = json.Unmarshal(b, &added)
	if resp.Diagnostics.HasError() || len(added) == 0 {
		return
	}
	h := r.data.host(ctx, m.connectionModel, &resp.Diagnostics)
	if h == nil {
		return
	}
	err := converge.DeleteShellVars(ctx, h, m.path(), m.keys(added))
	r.data.changed(m.connectionModel, fileScopes(m.path())...)
	if err != nil {
		hostError(&resp.Diagnostics, m.Host.ValueString(), err, wording{})
	}
}

// ImportState takes "host" (IPv4) or "host,6".
func (r *iptablesConfigResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	host, version, _ := strings.Cut(req.ID, ",")
	if checkImportID(req.ID) != nil || hostValidatorCheck(host) != nil || (version != "" && version != "4" && version != "6") {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("%q: import conntrack_iptables_config as `host` or `host,6`.", req.ID))
		return
	}
	v := int64(4)
	if version == "6" {
		v = 6
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("host"), host)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("ip_version"), v)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}
