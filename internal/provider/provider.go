// Package provider is the Terraform side of the conntrack provider:
// schemas, models, validators, plan modifiers, import, the per-walk read
// cache and the wording of every diagnostic. CRUD calls internal/converge,
// which reads and changes hosts; the provider never runs a remote command
// itself.
package provider

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

var (
	_ provider.Provider              = (*conntrackProvider)(nil)
	_ provider.ProviderWithFunctions = (*conntrackProvider)(nil)
)

// Defaults of the provider block, used in code and in the docs.
const (
	defaultUser           = "root"
	defaultPort           = 22
	defaultKnownHostsFile = "~/.ssh/known_hosts"
	defaultConnectTimeout = "30s"
	defaultCommandTimeout = "5m"
	defaultMaxSessions    = 8
)

type conntrackProvider struct {
	version string
}

// New returns the provider factory for a release version.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &conntrackProvider{version: version} }
}

type providerModel struct {
	User                  types.String  `tfsdk:"user"`
	Port                  types.Int64   `tfsdk:"port"`
	PrivateKey            types.String  `tfsdk:"private_key"`
	PrivateKeyFile        types.String  `tfsdk:"private_key_file"`
	PrivateKeyPassphrase  types.String  `tfsdk:"private_key_passphrase"`
	Password              types.String  `tfsdk:"password"`
	Agent                 types.Bool    `tfsdk:"agent"`
	KnownHostsFile        types.String  `tfsdk:"known_hosts_file"`
	HostKey               types.String  `tfsdk:"host_key"`
	InsecureIgnoreHostKey types.Bool    `tfsdk:"insecure_ignore_host_key"`
	InsecureAllowSSHRSA   types.Bool    `tfsdk:"insecure_allow_ssh_rsa_sha1"`
	Sudo                  types.Bool    `tfsdk:"sudo"`
	ConnectTimeout        types.String  `tfsdk:"connect_timeout"`
	CommandTimeout        types.String  `tfsdk:"command_timeout"`
	MaxSessionsPerHost    types.Int64   `tfsdk:"max_sessions_per_host"`
	Backup                types.Bool    `tfsdk:"backup"`
	SFTPServer            types.String  `tfsdk:"sftp_server"`
	Bastion               *bastionModel `tfsdk:"bastion"`
	SSHConfigFile         types.String  `tfsdk:"ssh_config_file"`
}

type bastionModel struct {
	Host                 types.String `tfsdk:"host"`
	Port                 types.Int64  `tfsdk:"port"`
	User                 types.String `tfsdk:"user"`
	PrivateKey           types.String `tfsdk:"private_key"`
	PrivateKeyFile       types.String `tfsdk:"private_key_file"`
	PrivateKeyPassphrase types.String `tfsdk:"private_key_passphrase"`
	Password             types.String `tfsdk:"password"`
	Agent                types.Bool   `tfsdk:"agent"`
	KnownHostsFile       types.String `tfsdk:"known_hosts_file"`
	HostKey              types.String `tfsdk:"host_key"`
}

func (p *conntrackProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "conntrack"
	resp.Version = p.version
}

func (p *conntrackProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Manages Linux netfilter connection tracking (conntrack) on hosts over SSH. " +
			"The settings here are the defaults for every host; each resource and data source names its `host` " +
			"(and may override `port` and `user`). One SSH connection per host is shared by every resource " +
			"during a Terraform run. Secrets live only here, never in resource state.",
		Attributes: map[string]schema.Attribute{
			"user": schema.StringAttribute{Optional: true, Validators: []validator.String{userValidator},
				MarkdownDescription: envDoc("SSH user for every host unless a resource sets `user`. Defaults to `"+defaultUser+"`.", envUser)},
			"port": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(1, 65535)},
				MarkdownDescription: envDoc("SSH port for every host unless a resource sets `port`. Defaults to `22`.", envPort)},
			"private_key": schema.StringAttribute{Optional: true, Sensitive: true,
				Validators:          []validator.String{stringvalidator.ConflictsWith(path.MatchRoot("private_key_file")), privateKeyValidator("private_key")},
				MarkdownDescription: envDoc("Private key (PEM or OpenSSH format) to log in with. Conflicts with `private_key_file`.", envPrivateKey)},
			"private_key_file": schema.StringAttribute{Optional: true, Validators: []validator.String{pathValidator(localFileRule)},
				MarkdownDescription: envDoc("Path of a private key file to log in with; a leading `~/` is expanded."+localPathDoc, envPrivateKeyFile)},
			"private_key_passphrase": schema.StringAttribute{Optional: true, Sensitive: true, Validators: []validator.String{secretText("private_key_passphrase")},
				MarkdownDescription: envDoc("Passphrase of an encrypted private key.", envPassphrase)},
			"password": schema.StringAttribute{Optional: true, Sensitive: true, Validators: []validator.String{secretText("password")},
				MarkdownDescription: envDoc("Password for password or keyboard-interactive authentication. Prefer keys.", envPassword)},
			"agent": schema.BoolAttribute{Optional: true,
				MarkdownDescription: envDoc("Use the ssh-agent at `SSH_AUTH_SOCK`. Defaults to `true` when no key or password is set and `SSH_AUTH_SOCK` is set.", envAgent)},
			"known_hosts_file": schema.StringAttribute{Optional: true, Validators: []validator.String{pathValidator(localFileRule)},
				MarkdownDescription: envDoc("known_hosts file that host keys are verified against. Defaults to `"+defaultKnownHostsFile+"`. "+
					"A host whose key is missing or different is refused with an error naming the host and the key's fingerprint."+localPathDoc, envKnownHosts)},
			"host_key": schema.StringAttribute{Optional: true,
				Validators: []validator.String{stringvalidator.ConflictsWith(path.MatchRoot("insecure_ignore_host_key")), hostKeyValidator},
				MarkdownDescription: envDoc("Pin the host key instead of using `known_hosts_file`: a public key line (`ssh-ed25519 AAAA...`) "+
					"or its fingerprint (`SHA256:` and 43 characters, as `ssh-keygen -lf` prints it; a trailing `=` is accepted). Useful for a single host; every host must present this key.", envHostKey)},
			"insecure_ignore_host_key": schema.BoolAttribute{Optional: true,
				MarkdownDescription: "Accept any host key of the target hosts. **Insecure**: anyone on the network path can impersonate the hosts. " +
					"Each host reached this way gets a warning the first time a plan or apply uses it. It does not apply to the `bastion`, " +
					"whose key is always verified (its `host_key` or `known_hosts_file`), nor to the jump hosts of an `ssh_config_file`'s `ProxyJump`, verified the same way. Defaults to `false`; for throwaway test machines only."},
			"insecure_allow_ssh_rsa_sha1": schema.BoolAttribute{Optional: true,
				MarkdownDescription: "Also accept host keys signed with `ssh-rsa`, RSA with SHA-1, from every host (targets, the `bastion`, jump hosts). " +
					"By default, as OpenSSH since 8.8, RSA host keys are accepted only with `rsa-sha2-256` or `rsa-sha2-512` signatures, and ed25519 and ECDSA keys as usual; " +
					"a host whose sshd offers nothing but `ssh-rsa` (OpenSSH before 7.2: RHEL/CentOS 6 and older) is refused with an error saying so. " +
					"**Insecure**: SHA-1 signatures can be forged at some cost. The key itself is still verified. Defaults to `false`."},
			"sudo": schema.BoolAttribute{Optional: true,
				MarkdownDescription: envDoc("Run privileged steps through `sudo -n` when `user` is not `root`. sudo must not ask for a password (NOPASSWD). Defaults to `false`.", envSudo)},
			"connect_timeout": schema.StringAttribute{Optional: true, Validators: []validator.String{durationValidator{}},
				MarkdownDescription: envDoc("How long to keep trying to connect to a host, including retries of network errors, as a Go duration (`10s`, `1m`). "+
					"Authentication and host key failures are never retried. Defaults to `"+defaultConnectTimeout+"`.", envConnectTimeout)},
			"command_timeout": schema.StringAttribute{Optional: true, Validators: []validator.String{durationValidator{}},
				MarkdownDescription: "Longest time one remote command may run, as a Go duration. Defaults to `" + defaultCommandTimeout + "`."},
			"max_sessions_per_host": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(1, 64)},
				MarkdownDescription: "Most SSH sessions (concurrent commands) on one host's shared connection. Keep it at or below the server's `MaxSessions` (10 by default). Defaults to `8`."},
			"backup": schema.BoolAttribute{Optional: true,
				MarkdownDescription: "Keep the previous content of every file the provider replaces as `FILE.conntrack-<time>.bak` beside it; only the newest 3 backups per file are kept, older ones are removed. Defaults to `false` (as Ansible's `backup: no`)."},
			"sftp_server": schema.StringAttribute{Optional: true, Validators: []validator.String{pathValidator(remoteProgramRule)},
				MarkdownDescription: "Path of the host's `sftp-server` program, run through `sudo -n` when `sudo` is on, to send file contents. Defaults to the host's `Subsystem sftp` line in /etc/ssh/sshd_config, then /usr/lib/openssh/sftp-server or /usr/libexec/openssh/sftp-server; without `sudo` the server's own sftp subsystem is used. Hosts with no SFTP server (dropbear, BusyBox) get file contents over the command's input, checked by length and sha256 before they are installed. " +
					"Must be an absolute, canonical path of letters, digits and `_ . + - /`."},
			"ssh_config_file": sshConfigFileAttribute(),
		},
		Blocks: map[string]schema.Block{
			"bastion": schema.SingleNestedBlock{
				MarkdownDescription: "Reach every host through this jump host (like `ssh -J`). It has its own credentials and host key verification; one connection to it is shared.",
				Attributes: map[string]schema.Attribute{
					"host": schema.StringAttribute{Optional: true, Validators: []validator.String{hostValidator},
						MarkdownDescription: "Bastion host name or address. Required when the block is present."},
					"port": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(1, 65535)},
						MarkdownDescription: "Bastion SSH port. Defaults to `22`."},
					"user": schema.StringAttribute{Optional: true, Validators: []validator.String{userValidator},
						MarkdownDescription: "Bastion user. Defaults to the provider's `user`."},
					"private_key": schema.StringAttribute{Optional: true, Sensitive: true,
						Validators:          []validator.String{stringvalidator.ConflictsWith(path.MatchRelative().AtParent().AtName("private_key_file")), privateKeyValidator("bastion.private_key")},
						MarkdownDescription: "Private key for the bastion. Conflicts with `private_key_file`."},
					"private_key_file": schema.StringAttribute{Optional: true, Validators: []validator.String{pathValidator(localFileRule)},
						MarkdownDescription: "Path of a private key file for the bastion." + localPathDoc},
					"private_key_passphrase": schema.StringAttribute{Optional: true, Sensitive: true, Validators: []validator.String{secretText("bastion.private_key_passphrase")},
						MarkdownDescription: "Passphrase of the bastion's encrypted private key."},
					"password": schema.StringAttribute{Optional: true, Sensitive: true, Validators: []validator.String{secretText("bastion.password")},
						MarkdownDescription: "Password for the bastion."},
					"agent": schema.BoolAttribute{Optional: true,
						MarkdownDescription: "Use the ssh-agent at `SSH_AUTH_SOCK` for the bastion. Defaults as for the provider."},
					"known_hosts_file": schema.StringAttribute{Optional: true, Validators: []validator.String{pathValidator(localFileRule)},
						MarkdownDescription: "known_hosts file for the bastion's key. Defaults to the provider's `known_hosts_file`." + localPathDoc},
					"host_key": schema.StringAttribute{Optional: true, Validators: []validator.String{hostKeyValidator},
						MarkdownDescription: "Pinned bastion host key (public key line or `SHA256:` fingerprint). The provider's `insecure_ignore_host_key` never replaces it."},
				},
			},
		},
	}
}

func (p *conntrackProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	opts := buildOptions(cfg, &resp.Diagnostics)
	opts.SSHConfig = sshConfigOption(cfg, &resp.Diagnostics)
	opts.KnownHostsDefaulted = knownHostsDefaulted(cfg)
	if resp.Diagnostics.HasError() {
		return
	}
	opts.Trace = func(ctx context.Context, e sshx.Endpoint, op string) {
		tflog.Debug(ctx, "remote command", map[string]any{"host": e.Host, "op": op})
	}
	pool, err := sshx.NewPool(opts)
	if err != nil {
		if p := settingPath(err); len(p.Steps()) > 0 {
			resp.Diagnostics.AddAttributeError(p, "Invalid SSH settings in the conntrack provider", detail(err))
		} else {
			resp.Diagnostics.AddError("Invalid SSH settings in the conntrack provider", detail(err))
		}
		return
	}
	data := newProviderData(pool)
	data.insecure = newInsecureHosts(opts.HostKeys.InsecureIgnore)
	resp.DataSourceData = data
	resp.ResourceData = data
}

// providerData is what every resource and data source receives.
type providerData struct {
	pool *sshx.Pool
	// reads is the walk's read cache (each provider configuration is one
	// walk): see walkReads.
	reads walkReads
	// insecure warns once per host reached without host key verification.
	insecure *insecureHosts
	// guardReported holds the rolled-back changes already reported.
	guardReported sync.Map

	mu sync.Mutex
	// limitsClaims counts the conntrack_limits resources planned per host
	// in this walk.
	limitsClaims map[string]int
}

func newProviderData(pool *sshx.Pool) *providerData {
	return &providerData{pool: pool, reads: newWalkReads(), limitsClaims: map[string]int{}}
}

// claimLimits records a conntrack_limits plan for host and reports whether
// another one already claimed it.
func (pd *providerData) claimLimits(host string) bool {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	pd.limitsClaims[host]++
	return pd.limitsClaims[host] > 1
}

func (p *conntrackProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewLimitsResource, NewNotrackRuleResource, NewNftNotrackRuleResource, NewIptablesConfigResource, NewModuleBlacklistResource, NewFirewallServiceResource}
}

func (p *conntrackProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewHostDataSource}
}

// Functions are the sizing rule without a host (Terraform >= 1.8, OpenTofu >= 1.7).
func (p *conntrackProvider) Functions(context.Context) []func() function.Function {
	return []func() function.Function{NewRecommendedMaxFunction, NewRecommendedBucketsFunction, NewTableMemoryBytesFunction}
}

// stringOr returns the configured value, else the environment variable, else def.
func stringOr(v types.String, env, def string) string {
	if !v.IsNull() && !v.IsUnknown() {
		return v.ValueString()
	}
	if e := os.Getenv(env); env != "" && e != "" {
		return e
	}
	return def
}

func durationOr(v types.String, env, def string) time.Duration {
	d, _ := time.ParseDuration(stringOr(v, env, def)) // validated at plan time
	return d
}
