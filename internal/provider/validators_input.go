package provider

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"golang.org/x/crypto/ssh"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/modprobe"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

// Input hardening (issue #12): every string a configuration can set passes
// one of the validators below at plan time. Each refuses control characters
// and invalid UTF-8, bounds the length, and skips unknown and null values
// (they may come from variables or other resources and are checked when
// known). Errors point at the attribute, except for secrets (see
// secretValidator).

// Length limits, in bytes.
const (
	maxPathLen   = 4096 // PATH_MAX
	maxHostLen   = 253  // a DNS name
	maxListLen   = 1024 // iptables-config word lists
	maxSecretLen = 1024 // a password or passphrase
	maxKeyLen    = 64 << 10
	maxImportLen = 1024
)

// unsafeRune reports runes no attribute accepts: C0 and C1 controls, DEL,
// Unicode format characters (bidi overrides, zero-width joiners, BOM), line
// and paragraph separators, and U+FFFD (what mangled bytes decode to).
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
}

// checkText is the baseline of every string attribute: valid UTF-8, no
// unsafe rune (see unsafeRune), at most limit bytes. The error never quotes
// the value, so it can serve secrets too.
func checkText(s string, limit int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8")
	}
	if len(s) > limit {
		return fmt.Errorf("is %d bytes long, more than the %d allowed", len(s), limit)
	}
	for i, r := range s {
		if unsafeRune(r) {
			return fmt.Errorf("contains the control or format character %U at byte %d", r, i)
		}
	}
	return nil
}

// quoted shows a value in a message, cut short.
func quoted(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q... (%d bytes)", s[:64], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// checkFunc is a validator written as one function over a known value.
type checkFunc struct {
	desc  string
	check func(string) error
	title string // diagnostic summary
}

func (v checkFunc) Description(context.Context) string             { return v.desc }
func (v checkFunc) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v checkFunc) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, v.title, fmt.Sprintf("%s %s: it %s.", req.Path, v.desc, err))
	}
}

// ---- hosts, users, import IDs

var (
	hostValidator = checkFunc{title: "Invalid host", check: checkHost,
		desc: "must be a host name, an IPv4 address or an IPv6 address (no brackets, no port)"}
	userValidator = checkFunc{title: "Invalid user", check: checkUser,
		desc: "must be a login name (letters, digits, _ . -, not starting with - or a digit)"}
)

var (
	hostLabel   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	zonePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$`)
	userPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)
)

// checkHost accepts a DNS name (labels of letters, digits and inner
// hyphens) or an IP address. An IPv6 zone is allowed here (an SSH login to a
// link-local address needs it) but only as an interface name; it only ever
// reaches net.Dial.
func checkHost(s string) error {
	if err := checkText(s, maxHostLen); err != nil {
		return err
	}
	if s == "" || s[0] == '-' || strings.ContainsFunc(s, unicode.IsSpace) {
		return fmt.Errorf("is %s: empty, or starts with '-', or holds a space", quoted(s))
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if z := a.Zone(); z != "" && !zonePattern.MatchString(z) {
			return fmt.Errorf("has the zone %s, which is not an interface name", quoted(z))
		}
		return nil
	}
	for _, label := range strings.Split(s, ".") {
		if !hostLabel.MatchString(label) {
			return fmt.Errorf("is %s", quoted(s))
		}
	}
	return nil
}

func checkUser(s string) error {
	if err := checkText(s, 32); err != nil {
		return err
	}
	if !userPattern.MatchString(s) {
		return fmt.Errorf("is %s", quoted(s))
	}
	return nil
}

// hostValidatorCheck applies the host rule outside a schema (import IDs).
func hostValidatorCheck(host string) error {
	if err := checkHost(host); err != nil {
		return fmt.Errorf("the host %s", err)
	}
	return nil
}

// checkImportID is the baseline of every import ID, before its own parse: no
// control character, whitespace or leading '-'.
func checkImportID(id string) error {
	if err := checkText(id, maxImportLen); err != nil {
		return fmt.Errorf("the import ID %s", err)
	}
	if id == "" || id[0] == '-' || strings.ContainsFunc(id, unicode.IsSpace) {
		return fmt.Errorf("the import ID %s is empty, starts with '-' or holds whitespace", quoted(id))
	}
	return nil
}

// importHostCheck checks an import ID that is a host.
func importHostCheck(id string) error {
	if err := checkImportID(id); err != nil {
		return err
	}
	return hostValidatorCheck(id)
}

// checkNotrackImportID checks host,ip_version,protocol,port,source,destination
// beyond its shape: the port and the addresses as the attributes would be.
func checkNotrackImportID(id string) error {
	if err := checkImportID(id); err != nil {
		return err
	}
	parts := strings.Split(id, ",")
	if len(parts) != 6 {
		return fmt.Errorf("%s has %d fields, not 6", quoted(id), len(parts))
	}
	version := 4
	if parts[1] == "6" {
		version = 6
	}
	if parts[3] != "" {
		if err := conntrack.ValidatePort(parts[3]); err != nil {
			return err
		}
	}
	for _, a := range parts[4:] {
		if a != "" {
			if err := conntrack.ValidateCIDR(a, version); err != nil {
				return err
			}
		}
	}
	return nil
}

// ---- paths

// pathRule says where a path attribute may point.
type pathRule struct {
	// dirs are the directories the path must be under (any depth); files
	// are exact paths also allowed. Neither: anywhere.
	dirs, files []string
	// suffix, when set, is the required file name ending (".conf").
	suffix string
	// local paths name files on the machine running Terraform: a leading
	// "~/" is allowed, and letters of any script, digits and _ . + - / @ , : =.
	// Remote paths are limited to [A-Za-z0-9_.+/-]. No name starts with '-'.
	local bool
	what  string // "must be ..." sentence, also in the docs
}

// Allowed places of every path attribute (also in DECISIONS.md).
var (
	rulesFileRule      = pathRule{dirs: []string{"/etc"}, what: "must be a file under /etc"}
	sysconfigFileRule  = pathRule{dirs: []string{"/etc/sysconfig"}, what: "must be a file under /etc/sysconfig"}
	sysctlFileRule     = pathRule{dirs: []string{"/etc/sysctl.d"}, files: []string{"/etc/sysctl.conf"}, suffix: ".conf", what: "must be /etc/sysctl.conf or a /etc/sysctl.d/*.conf file"}
	modprobeFileRule   = pathRule{dirs: []string{"/etc/modprobe.d"}, suffix: ".conf", what: "must be a /etc/modprobe.d/*.conf file"}
	remoteProgramRule  = pathRule{what: "must be an absolute path on the host"}
	localFileRule      = pathRule{local: true, what: "must be an absolute path or start with ~/ (use abspath() for a path relative to the configuration)"}
	remotePathChars    = regexp.MustCompile(`^[A-Za-z0-9_.+/-]+$`)
	localPathChars     = regexp.MustCompile(`^[\p{L}\p{N}_.+/@,:=-]+$`)
	rulesFileValidator = pathValidator(rulesFileRule)
)

func pathValidator(r pathRule) checkFunc {
	return checkFunc{title: "Invalid path", desc: r.what + ", canonical (no . or .. parts, no doubled or trailing /)", check: r.check}
}

func (r pathRule) check(s string) error {
	if err := checkText(s, maxPathLen); err != nil {
		return err
	}
	p := s
	if r.local && strings.HasPrefix(s, "~/") {
		p = s[1:] // the home directory is absolute
	}
	if !filepath.IsAbs(p) {
		return fmt.Errorf("is %s, not an absolute path", quoted(s))
	}
	if c := filepath.Clean(p); c != p || p == "/" {
		return fmt.Errorf("is %s, not canonical (cleaned: %s)", quoted(s), quoted(c))
	}
	for _, part := range strings.Split(p[1:], "/") {
		if part == ".." || part == "." {
			return fmt.Errorf("is %s: it has a %q part", quoted(s), part)
		}
		if strings.HasPrefix(part, "-") {
			return fmt.Errorf("is %s: a name starts with '-'", quoted(s))
		}
	}
	if !r.local && !remotePathChars.MatchString(p) {
		return fmt.Errorf("is %s: only letters, digits and _ . + - / are allowed", quoted(s))
	}
	if r.local && !localPathChars.MatchString(p) {
		return fmt.Errorf("is %s: only letters, digits and _ . + - / @ , : = are allowed (no spaces or shell characters)", quoted(s))
	}
	if len(r.dirs)+len(r.files) == 0 {
		return nil
	}
	for _, f := range r.files {
		if p == f {
			return nil
		}
	}
	for _, d := range r.dirs {
		if strings.HasPrefix(p, d+"/") && (r.suffix == "" || strings.HasSuffix(p, r.suffix) && !strings.Contains(p[len(d)+1:], "/")) {
			return nil
		}
	}
	return fmt.Errorf("is %s", quoted(s))
}

// localPathDoc ends the description of a path on the machine running Terraform.
const localPathDoc = " Must be absolute (or start with `~/`) and canonical (no `.` or `..` parts): use `abspath()` for a path relative to the configuration."

// ---- iptables-config word lists

var (
	modulesListValidator = checkFunc{title: "Invalid module list", check: checkModuleList,
		desc: "must be module names separated by single spaces (no quotes, newlines or shell characters)"}
	sysctlListValidator = checkFunc{title: "Invalid sysctl list", check: checkSysctlList,
		desc: "must be sysctl keys separated by single spaces (no quotes, newlines or shell characters)"}
	sysctlListWord = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_./-]*$`)
)

// words splits a list of single-space separated words ("" is no word).
func words(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	ws := strings.Split(s, " ")
	for _, w := range ws {
		if w == "" {
			return nil, fmt.Errorf("is %s: words must be separated by single spaces", quoted(s))
		}
	}
	return ws, nil
}

func checkModuleList(s string) error {
	if err := checkText(s, maxListLen); err != nil {
		return err
	}
	ws, err := words(s)
	for _, w := range ws {
		if err == nil {
			err = modprobe.ValidModuleName(w)
		}
	}
	return err
}

func checkSysctlList(s string) error {
	if err := checkText(s, maxListLen); err != nil {
		return err
	}
	ws, err := words(s)
	for _, w := range ws {
		if err == nil && (!sysctlListWord.MatchString(w) || strings.Contains(w, "..") || strings.Contains(w, "//")) {
			err = fmt.Errorf("has the word %s, which is not a sysctl key", quoted(w))
		}
	}
	return err
}

// ---- SSH settings

// hostKeyValidator accepts a public key line or its SHA256 fingerprint.
var hostKeyValidator = checkFunc{title: "Invalid host_key", check: checkHostKey,
	desc: `must be a public key line ("ssh-ed25519 AAAA...") or its SHA256 fingerprint ("SHA256:...")`}

var fingerprintPattern = regexp.MustCompile(`^SHA256:[A-Za-z0-9+/]{43}=?$`)

func checkHostKey(s string) error {
	if err := checkText(s, 16<<10); err != nil {
		return err
	}
	if strings.HasPrefix(s, "SHA256:") {
		// The pattern, then the digest itself: 43 characters whose last
		// carries bits beyond 32 bytes can never match a host (issue #24).
		if _, ok := sshx.CanonicalFingerprint(s); !fingerprintPattern.MatchString(s) || !ok {
			return fmt.Errorf("is not a public key line or a SHA256 fingerprint (SHA256: and the 43 base64 characters of a SHA-256 digest, as ssh-keygen -lf prints it)")
		}
		return nil
	}
	if _, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(s)); err != nil || len(strings.TrimSpace(string(rest))) > 0 {
		return fmt.Errorf("is not a public key line or a SHA256 fingerprint")
	}
	return nil
}

// secretValidator checks a secret without attaching the error to the
// attribute: Terraform would print the configuration line, which may hold
// the secret literally (DECISIONS.md). The message names the setting and
// never the value. Shell characters are fine in secrets: they only travel
// inside the SSH protocol, never through a shell.
type secretValidator struct {
	name  string // "password", "bastion.password"
	check func(string) error
}

func (v secretValidator) Description(context.Context) string {
	return "valid UTF-8 without control characters"
}
func (v secretValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v secretValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddError("Invalid "+v.name+" in the conntrack provider",
			fmt.Sprintf("The provider setting `%s` %s. (The value is not shown: it is a secret.)", v.name, err))
	}
}

func secretText(name string) secretValidator {
	return secretValidator{name: name, check: func(s string) error { return checkText(s, maxSecretLen) }}
}

func privateKeyValidator(name string) secretValidator {
	return secretValidator{name: name, check: checkPrivateKey}
}

// checkPrivateKey accepts what ssh.ParsePrivateKey reads (an encrypted key
// too: its passphrase is checked at Configure), made of printable ASCII and
// line ends, with nothing after the key but white space.
func checkPrivateKey(s string) error {
	if len(s) > maxKeyLen {
		return fmt.Errorf("is %d bytes long, more than the %d allowed", len(s), maxKeyLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' || c > '~') && c != '\n' && c != '\r' && c != '\t' {
			return fmt.Errorf("holds the byte 0x%02x at %d: a key is printable ASCII and line ends", c, i)
		}
	}
	end := strings.LastIndex(s, "-----END ")
	if !strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN ") || end < 0 {
		return fmt.Errorf("is not a PEM or OpenSSH private key (from its -----BEGIN line to its -----END line)")
	}
	tail := s[end+len("-----END "):]
	if i := strings.Index(tail, "-----"); i < 0 || strings.TrimSpace(tail[i+5:]) != "" {
		return fmt.Errorf("has text after its -----END line")
	}
	_, err := ssh.ParsePrivateKey([]byte(s))
	var missing *ssh.PassphraseMissingError
	if err != nil && !errors.As(err, &missing) {
		return fmt.Errorf("is not a valid PEM or OpenSSH private key")
	}
	return nil
}
