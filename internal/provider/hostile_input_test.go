package provider

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	fwprovider "github.com/hashicorp/terraform-plugin-framework/provider"
	pschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"golang.org/x/crypto/ssh"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// hostileEntry is one value of the shared hostile-value corpus. Each is
// tried bare and appended to a valid value of the attribute (suffix), so a
// validator that only looks at the start of a value is caught too.
type hostileEntry struct {
	name, bare, suffix string
	// harmless lists the attributes where this value is legitimate by
	// design and must be accepted (DECISIONS.md): shell characters in a
	// secret (it only travels inside the SSH protocol), '..' or '-' inside
	// a rule comment (it follows the owner tag and is passed as one
	// argument). Key "attr" means both forms; "attr/suffix" only the suffix.
	harmless []string
}

var secretsAcceptPrintable = []string{"password", "private_key_passphrase", "bastion.password", "bastion.private_key_passphrase"}

// hostileCorpus is the shared corpus (issue #12 item 4).
var hostileCorpus = []hostileEntry{
	{name: "newline", bare: "\n", suffix: "\n-A INPUT -j DROP", harmless: []string{}},
	{name: "CR", bare: "\r", suffix: "\r"},
	{name: "CRLF", bare: "\r\n", suffix: "\r\n"},
	{name: "NUL", bare: "\x00", suffix: "\x00x"},
	{name: "unit separator", bare: "\x1f", suffix: "\x1f-j\x1fDROP"},
	{name: "DEL", bare: "\x7f", suffix: "\x7f"},
	{name: "tab", bare: "\t", suffix: "\tx"},
	{name: "escape sequence", bare: "\x1b[2J", suffix: "\x1b[2J"},
	{name: "C1 NEL", bare: "\u0085", suffix: "\u0085"},
	{name: "command substitution", bare: "$(id)", suffix: "$(id)", harmless: secretsAcceptPrintable},
	{name: "backticks", bare: "`id`", suffix: "`id`", harmless: secretsAcceptPrintable},
	{name: "semicolon", bare: ";reboot", suffix: ";reboot", harmless: secretsAcceptPrintable},
	{name: "pipe", bare: "|sh", suffix: "|sh", harmless: secretsAcceptPrintable},
	{name: "and", bare: "&&id", suffix: "&&id", harmless: secretsAcceptPrintable},
	{name: "redirect", bare: ">/etc/passwd", suffix: ">/etc/passwd", harmless: secretsAcceptPrintable},
	{name: "quotes", bare: `'"`, suffix: `'"`, harmless: secretsAcceptPrintable},
	{name: "glob", bare: "*", suffix: "*", harmless: secretsAcceptPrintable},
	{name: "dotdot", bare: "..", suffix: "/../../root/x", harmless: append([]string{"comment"}, secretsAcceptPrintable...)},
	{name: "leading dash", bare: "-oProxyCommand=id", suffix: " -oProxyCommand=id", harmless: append([]string{"comment"}, secretsAcceptPrintable...)},
	{name: "zone", bare: "%eth0", suffix: "%eth0", harmless: secretsAcceptPrintable},
	{name: "10 kB", bare: strings.Repeat("a", 10240), suffix: strings.Repeat("a", 10240)},
	{name: "bidi override", bare: "\u202e", suffix: "\u202ex"},
	{name: "zero width space", bare: "\u200b", suffix: "\u200b"},
	{name: "line separator", bare: "\u2028", suffix: "\u2028"},
	{name: "BOM", bare: "\ufeff", suffix: "\ufeff"},
	{name: "replacement character", bare: "\ufffd", suffix: "\ufffd"},
	{name: "fullwidth solidus", bare: "\uff0f", suffix: "\uff0f..\uff0f", harmless: secretsAcceptPrintable},
}

// White space after a private key's -----END line is part of a normal key
// file: the suffix forms made of line ends are harmless there.
var harmlessKeySuffix = map[string]bool{"CR": true, "CRLF": true}

func (e hostileEntry) harmlessIn(attrName, form string) bool {
	if attrName == "private_key" || attrName == "bastion.private_key" {
		if form == "suffix" && harmlessKeySuffix[e.name] {
			return true
		}
	}
	for _, h := range e.harmless {
		if h == attrName || h == attrName+"/"+form {
			return true
		}
	}
	return false
}

// Targeted values of issue #11/#12 on top of the corpus.
var targetedCases = []struct{ typ, attr, value, extra string }{
	{"conntrack_notrack_rule", "destination", "fe80::1%eth0", "ip_version = 6"},
	{"conntrack_notrack_rule", "destination", "fe80::1%eth0\n-A INPUT -j DROP", "ip_version = 6"},
	{"conntrack_notrack_rule", "destination", "fe80::1%\x1f-j\x1fDROP", "ip_version = 6"},
	{"conntrack_notrack_rule", "source", "fe80::1%lo", "ip_version = 6"},
	{"conntrack_notrack_rule", "rules_file", "/etc/../root/x", ""},
	{"conntrack_notrack_rule", "rules_file", "/etc/iptables//rules.v4", ""},
	{"conntrack_notrack_rule", "rules_file", "/etc/iptables/./rules.v4", ""},
	{"conntrack_notrack_rule", "rules_file", "/etc/iptables/", ""},
	{"conntrack_notrack_rule", "rules_file", "etc/iptables/rules.v4", ""},
	{"conntrack_iptables_config", "file", "/etc/sysconfig/../../root/x", ""},
	{"conntrack_iptables_config", "file", "/etc/sysconfig/-x", ""},
	{"conntrack_limits", "sysctl_file", "/etc/sysctl.d/../sysctl.conf", ""},
	{"conntrack_module_blacklist", "file", "/etc/modprobe.d/../x.conf", ""},
	{"conntrack_module_blacklist", "modules", "-r", ""},
	{"conntrack_iptables_config", "modules", "nf_conntrack -r", ""},
	{"conntrack_iptables_config", "sysctl_load_list", "-e", ""},
	{"conntrack_limits", "host", "..", ""},
	{"conntrack_limits", "user", "-oProxyCommand=id", ""},
	{"provider", "known_hosts_file", "/root/../etc/shadow", ""},
	{"provider", "private_key_file", "id_ed25519", ""},
}

// attrRef is one configurable string attribute, or the string elements or
// keys of one, found in a schema.
type attrRef struct {
	typ  string // resource type, "data.conntrack_host", or "provider"
	name string // "file"; "bastion.host" inside the provider's block
	kind string // "string", "set", "map"
	// mapValue is a valid HCL value for a map element.
	mapValue string
}

// stringAttributes enumerates every configurable string attribute of every
// resource, data source and the provider, so a new attribute cannot escape
// the corpus.
func stringAttributes(t *testing.T) []attrRef {
	t.Helper()
	ctx := t.Context()
	p := New("test")()
	var refs []attrRef
	add := func(typ, prefix string, attrs map[string]interface {
		GetType() attr.Type
		IsRequired() bool
		IsOptional() bool
	}) {
		for name, a := range attrs {
			if !a.IsRequired() && !a.IsOptional() {
				continue // computed only: no configuration sets it
			}
			ref := attrRef{typ: typ, name: prefix + name}
			switch ty := a.GetType().(type) {
			case basetypes.StringType:
				ref.kind = "string"
			case types.SetType:
				if ty.ElemType != types.StringType {
					t.Fatalf("%s.%s: a set of %s: teach the hostile corpus about it", typ, name, ty.ElemType)
				}
				ref.kind = "set"
			case types.ListType:
				t.Fatalf("%s.%s: a list: teach the hostile corpus about it", typ, name)
			case types.MapType:
				ref.kind = "map"
				switch ty.ElemType {
				case types.Int64Type:
					ref.mapValue = "1"
				case types.StringType:
					ref.mapValue = `"x"`
				default:
					t.Fatalf("%s.%s: a map of %s: teach the hostile corpus about it", typ, name, ty.ElemType)
				}
			default:
				if strings.Contains(fmt.Sprint(a.GetType()), "String") {
					t.Fatalf("%s.%s: type %s holds strings: teach the hostile corpus about it", typ, name, a.GetType())
				}
				continue
			}
			refs = append(refs, ref)
		}
	}
	type attrIface = interface {
		GetType() attr.Type
		IsRequired() bool
		IsOptional() bool
	}
	for _, newRes := range p.Resources(ctx) {
		r := newRes()
		var md resource.MetadataResponse
		r.Metadata(ctx, resource.MetadataRequest{ProviderTypeName: "conntrack"}, &md)
		var sr resource.SchemaResponse
		r.Schema(ctx, resource.SchemaRequest{}, &sr)
		if len(sr.Schema.Blocks) > 0 {
			t.Fatalf("%s has blocks: teach the hostile corpus about them", md.TypeName)
		}
		m := map[string]attrIface{}
		for k, v := range sr.Schema.Attributes {
			m[k] = v
		}
		add(md.TypeName, "", m)
	}
	for _, newDS := range p.DataSources(ctx) {
		d := newDS()
		var md datasource.MetadataResponse
		d.Metadata(ctx, datasource.MetadataRequest{ProviderTypeName: "conntrack"}, &md)
		var sr datasource.SchemaResponse
		d.Schema(ctx, datasource.SchemaRequest{}, &sr)
		if len(sr.Schema.Blocks) > 0 {
			t.Fatalf("%s has blocks: teach the hostile corpus about them", md.TypeName)
		}
		m := map[string]attrIface{}
		for k, v := range sr.Schema.Attributes {
			m[k] = v
		}
		add("data."+md.TypeName, "", m)
	}
	var ps fwprovider.SchemaResponse
	p.Schema(ctx, fwprovider.SchemaRequest{}, &ps)
	m := map[string]attrIface{}
	for k, v := range ps.Schema.Attributes {
		m[k] = v
	}
	add("provider", "", m)
	for name, b := range ps.Schema.Blocks {
		nb, ok := b.(pschema.SingleNestedBlock)
		if !ok {
			t.Fatalf("provider block %s: teach the hostile corpus about %T", name, b)
		}
		m := map[string]attrIface{}
		for k, v := range nb.Attributes {
			m[k] = v
		}
		add("provider", name+".", m)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].typ+refs[i].name < refs[j].typ+refs[j].name })
	return refs
}

// hclString writes s as an HCL string literal that Terraform decodes back
// to exactly s (escapes for quotes, backslashes, controls, template
// sequences).
func hclString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case (r == '$' || r == '%') && strings.HasPrefix(s[i+1:], "{"):
			b.WriteRune(r)
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unsafeRune(r) || r > 0xffff:
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// hostileCase is one value in one attribute.
type hostileCase struct {
	ref      attrRef
	entry    string
	form     string
	value    string
	extra    string // more attributes of the block (ip_version = 6)
	harmless bool
	line     int // of the attribute in main.tf
	refused  bool
}

func (c *hostileCase) String() string {
	return fmt.Sprintf("%s %s = %s (%s, %s)", c.ref.typ, c.ref.name, quoted(c.value), c.entry, c.form)
}

func isSecret(name string) bool {
	n := strings.TrimPrefix(name, "bastion.")
	return n == "password" || n == "private_key_passphrase" || n == "private_key"
}

// TestAccHostileInput tries every value of the hostile corpus in every
// string attribute (and string set/map element) of every resource, the data
// source and the provider block, through the real Terraform CLI: each must
// be a plan-time error at the attribute (secrets: naming the setting, with
// no source snippet), the plugin never panics (the provider is served in
// this process: a panic would end the test binary), and the test host is
// byte for byte unchanged, with no SSH login at all.
func TestAccHostileInput(t *testing.T) {
	t.Parallel()
	requireAcc(t)
	started := time.Now()
	h := testhost.New(t, testhost.Options{})
	kh := testhost.KnownHostsFile(t, h)
	sshConfig := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(sshConfig, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fingerprint := hostState(t, h)
	loginsBefore, _ := h.Logins()

	good := map[string]string{
		"host": h.Addr, "user": "root", "port": "80", "protocol": "tcp", "source": "10.0.0.1", "destination": "10.0.0.2",
		"chains": "OUTPUT", "direction": "server", "target": "CT", "comment": "ok", "rules_file": "/etc/iptables/rules.v4",
		"conntrack_iptables_config.file": "/etc/sysconfig/iptables-config", "conntrack_module_blacklist.file": "/etc/modprobe.d/x.conf",
		"conntrack_iptables_config.modules": "nf_conntrack", "conntrack_module_blacklist.modules": "nf_conntrack",
		"sysctl_load_list": ".nf_conntrack", "sysctl_file": "/etc/sysctl.d/x.conf", "modprobe_file": "/etc/modprobe.d/x.conf",
		"sysctls": "udp_timeout", "services": "iptables", "init_system": "systemd",
		"conntrack_nft_notrack_rule.name": "web", "conntrack_nft_notrack_rule.chains": "output",
		"conntrack_nft_notrack_rule.rules_file": "/etc/nftables.d/x.nft", "conntrack_nft_notrack_rule.config_file": "/etc/nftables.conf",
		"provider.user": "root", "provider.private_key": string(h.ClientKeyPEM), "provider.private_key_file": h.ClientKeyFile(),
		"provider.private_key_passphrase": "pp", "provider.password": "pw", "provider.known_hosts_file": kh,
		"provider.host_key": ssh.FingerprintSHA256(h.HostKey), "provider.connect_timeout": "10s", "provider.command_timeout": "1m",
		"provider.sftp_server": "/usr/lib/openssh/sftp-server", "provider.ssh_config_file": sshConfig,
	}
	goodValue := func(r attrRef) string {
		name := strings.TrimPrefix(r.name, "bastion.")
		for _, k := range []string{r.typ + "." + r.name, r.typ + "." + name, strings.TrimPrefix(r.typ, "data.") + "." + name, name} {
			if v, ok := good[k]; ok {
				return v
			}
		}
		t.Fatalf("no valid value for %s %s: add one to the table so the hostile corpus covers it", r.typ, r.name)
		return ""
	}

	refs := stringAttributes(t)
	var cases []*hostileCase
	for _, r := range refs {
		for _, e := range hostileCorpus {
			for _, form := range []string{"bare", "suffix"} {
				v := e.bare
				if form == "suffix" {
					v = goodValue(r) + e.suffix
				}
				cases = append(cases, &hostileCase{ref: r, entry: e.name, form: form, value: v, harmless: e.harmlessIn(r.name, form)})
			}
		}
	}
	byName := map[string]attrRef{}
	for _, r := range refs {
		byName[r.typ+" "+r.name] = r
	}
	for _, tc := range targetedCases {
		r, ok := byName[tc.typ+" "+tc.attr]
		if !ok {
			t.Fatalf("targeted case: no attribute %s %s", tc.typ, tc.attr)
		}
		cases = append(cases, &hostileCase{ref: r, entry: "targeted", form: "bare", value: tc.value, extra: tc.extra})
	}

	// One block per (type, value, form) holds every attribute of the type,
	// each with the value and on a line of its own, so one plan reports all
	// of them; the provider's private_key goes in a block of its own (it
	// conflicts with private_key_file).
	type block struct {
		typ, extra string
		cases      []*hostileCase
	}
	var blocks []*block
	index := map[string]*block{}
	for _, c := range cases {
		group := c.ref.typ
		if c.ref.typ == "provider" && strings.HasSuffix(c.ref.name, "private_key") {
			group += " key"
		}
		key := fmt.Sprintf("%s|%s|%s|%s", group, c.entry, c.form, c.extra)
		b := index[key]
		if b == nil || c.entry == "targeted" {
			b = &block{typ: c.ref.typ, extra: c.extra}
			index[key] = b
			blocks = append(blocks, b)
		}
		b.cases = append(b.cases, c)
	}

	// Plans of a few dozen blocks each: Terraform's time grows faster than
	// the configuration (it took minutes for one of 400 blocks).
	type lineKey struct{ chunk, line int }
	errLines := map[lineKey]bool{}
	secretErrors := map[string]int{}
	secretLines := map[lineKey]bool{} // where secrets' errors point
	caseChunk := map[*hostileCase]int{}
	var allDiags []planDiagnostic
	// Chunks of at most 40 blocks or about 24 kB of values (Terraform's
	// time per diagnostic grows with the file).
	var chunks [][]*block
	for rest := blocks; len(rest) > 0; {
		n, size := 0, 0
		for n < len(rest) && n < 40 && (n == 0 || size < 24<<10) {
			for _, c := range rest[n].cases {
				size += len(c.value)
			}
			n++
		}
		chunks = append(chunks, rest[:n])
		rest = rest[n:]
	}
	for chunkIndex, chunk := range chunks {
		for _, b := range chunk {
			for _, c := range b.cases {
				caseChunk[c] = chunkIndex
			}
		}
		var cfg bytes.Buffer
		line := 5 // newTerraformCLI prepends a 5-line terraform block
		w := func(format string, args ...any) {
			s := fmt.Sprintf(format, args...)
			cfg.WriteString(s)
			line += strings.Count(s, "\n")
		}
		attrLine := func(c *hostileCase, name, indent string) {
			c.line = line + 1
			switch c.ref.kind {
			case "string":
				w("%s%s = %s\n", indent, name, hclString(c.value))
			case "set":
				w("%s%s = [%s]\n", indent, name, hclString(c.value))
			case "map":
				w("%s%s = { %s = %s }\n", indent, name, hclString(c.value), c.ref.mapValue)
			}
		}
		w("provider \"conntrack\" {\n  private_key_file = %s\n  known_hosts_file = %s\n}\n", hclString(h.ClientKeyFile()), hclString(kh))
		for i, b := range chunk {
			tested := map[string]bool{}
			for _, c := range b.cases {
				tested[c.ref.name] = true
			}
			if b.typ == "provider" {
				alias := fmt.Sprintf("p%d", i)
				w("provider \"conntrack\" {\n  alias = %q\n", alias)
				if !tested["private_key_file"] && !tested["private_key"] {
					w("  private_key_file = %s\n", hclString(h.ClientKeyFile()))
				}
				if !tested["known_hosts_file"] {
					w("  known_hosts_file = %s\n", hclString(kh))
				}
				var inBastion []*hostileCase
				for _, c := range b.cases {
					if strings.HasPrefix(c.ref.name, "bastion.") {
						inBastion = append(inBastion, c)
					} else {
						attrLine(c, c.ref.name, "  ")
					}
				}
				if len(inBastion) > 0 {
					w("  bastion {\n")
					if !tested["bastion.host"] {
						w("    host = %s\n", hclString(h.Addr))
					}
					for _, c := range inBastion {
						attrLine(c, strings.TrimPrefix(c.ref.name, "bastion."), "    ")
					}
					w("  }\n")
				}
				w("}\ndata \"conntrack_host\" %q {\n  provider = conntrack.%s\n  host = %s\n}\n", alias, alias, hclString(h.Addr))
				continue
			}
			kind, typ := "resource", b.typ
			if strings.HasPrefix(typ, "data.") {
				kind, typ = "data", strings.TrimPrefix(typ, "data.")
			}
			w("%s %q \"c%d\" {\n", kind, typ, i)
			if !tested["host"] {
				w("  host = %s\n", hclString(h.Addr))
			}
			if typ == "conntrack_notrack_rule" && !tested["protocol"] {
				w("  protocol = \"tcp\"\n")
			}
			if b.extra != "" {
				w("  %s\n", b.extra)
			}
			for _, c := range b.cases {
				attrLine(c, c.ref.name, "  ")
			}
			w("}\n")
		}
		planStarted := time.Now()
		tf := newTerraformCLI(t, cfg.String())
		diags := parseDiagnostics(t, tf.run("plan", "-json", "-input=false", "-lock=false", "-refresh=false"))
		allDiags = append(allDiags, diags...)
		t.Logf("%d blocks in one configuration (%d bytes): init and plan took %s, %d diagnostics",
			len(chunk), cfg.Len(), time.Since(planStarted).Round(time.Millisecond), len(diags))
		for _, d := range diags {
			if d.Severity != "error" {
				continue
			}
			if strings.Contains(d.Summary, "plugin crashed") || strings.Contains(d.Detail, "panic") {
				t.Fatalf("the provider panicked: %s: %s", d.Summary, d.Detail)
			}
			if name, ok := strings.CutSuffix(strings.TrimPrefix(d.Summary, "Invalid "), " in the conntrack provider"); ok && isSecret(name) {
				secretErrors[name]++
				for _, c := range cases {
					if isSecret(c.ref.name) && len(c.value) >= 4 && !c.harmless &&
						(strings.Contains(d.Detail, c.value) || d.Snippet != nil && strings.Contains(d.Snippet.Code, c.value)) {
						t.Errorf("the error about %s shows the secret value of %s", name, c.ref.name)
					}
				}
				if d.Range != nil {
					secretLines[lineKey{chunkIndex, d.Range.Start.Line}] = true
				}
				continue
			}
			if d.Range != nil {
				errLines[lineKey{chunkIndex, d.Range.Start.Line}] = true
				continue
			}
			t.Errorf("an error points at no attribute: %s: %s", d.Summary, d.Detail)
		}
	}
	// No diagnostic at all, warnings and other attributes' errors included,
	// shows a secret's value. A bare corpus value is also given to the
	// non-secret attributes of the same block, whose errors may quote it:
	// only values no other attribute was given count.
	givenElsewhere := map[string]bool{}
	for _, c := range cases {
		if !isSecret(c.ref.name) {
			givenElsewhere[c.value] = true
		}
	}
	for _, d := range allDiags {
		for _, c := range cases {
			if isSecret(c.ref.name) && len(c.value) >= 4 && !c.harmless && !givenElsewhere[c.value] &&
				(strings.Contains(d.Detail, c.value) || d.Snippet != nil && strings.Contains(d.Snippet.Code, c.value)) {
				t.Errorf("a diagnostic (%s: %s) shows the value of the secret %s", d.Severity, d.Summary, c.ref.name)
			}
		}
	}
	wantSecret := map[string]int{}
	for _, c := range cases {
		if !isSecret(c.ref.name) {
			c.refused = errLines[lineKey{caseChunk[c], c.line}]
		} else if !c.harmless {
			wantSecret[c.ref.name]++
		}
	}
	for name, n := range wantSecret {
		if secretErrors[name] != n {
			t.Errorf("%d errors name the secret %s, want %d (one per hostile value)", secretErrors[name], name, n)
		}
	}
	for _, c := range cases {
		if isSecret(c.ref.name) {
			c.refused = !c.harmless && secretErrors[c.ref.name] == wantSecret[c.ref.name]
			if k := (lineKey{caseChunk[c], c.line}); errLines[k] || secretLines[k] {
				t.Errorf("an error points at the line of the secret %s (Terraform would print it)", c.ref.name)
			}
		}
	}
	// Tally, and fail for every value refused where it should pass or
	// passed where it should be refused.
	var tried, refused, harmlessAccepted int
	var slipped []*hostileCase
	for _, c := range cases {
		tried++
		switch {
		case c.refused && c.harmless:
			t.Errorf("refused a legitimate value: %s", c)
		case c.refused:
			refused++
		case c.harmless:
			harmlessAccepted++
		default:
			slipped = append(slipped, c)
			t.Errorf("not refused at plan time: %s", c)
		}
	}
	if after := hostState(t, h); after != fingerprint {
		t.Errorf("the test host changed:\nbefore %s\nafter  %s", fingerprint, after)
	}
	if n, _ := h.Logins(); n != loginsBefore {
		t.Errorf("%d SSH logins to the test host during the corpus, want none: validation must refuse before any host is contacted", n-loginsBefore)
	}
	t.Logf("hostile corpus: %d values (x2 forms) + %d targeted; %d attributes; %d cases tried, %d refused at plan time, %d legitimate by design accepted, %d slipped; panics 0; host unchanged; %s",
		len(hostileCorpus), len(targetedCases), len(refs), tried, refused, harmlessAccepted, len(slipped), time.Since(started).Round(time.Second))
	var names []string
	for _, r := range refs {
		names = append(names, r.typ+"."+r.name+"("+r.kind+")")
	}
	t.Logf("attributes covered: %s", strings.Join(names, " "))
}

// hostState fingerprints what a hostile value could change on the host: every
// file under /etc (path, type, mode, size, link target, content hash) and
// the IPv4 and IPv6 rulesets.
func hostState(t *testing.T, h *testhost.Host) string {
	t.Helper()
	out := hostValue(t, h, `set -e
{
find /etc -xdev -printf '%p %y %m %s %l\n' | LC_ALL=C sort
find /etc -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
iptables-save | grep -v '^#'
ip6tables-save | grep -v '^#'
} | sha256sum`)
	return out
}
