package provider

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

// detail is a diagnostic detail for a transport error: what happened, then
// what to do. Transport errors never carry secrets.
func detail(err error) string {
	if hint := sshx.HintOf(err); hint != "" {
		return err.Error() + "\n\n" + hint
	}
	return err.Error()
}

// settingPath points a provider-settings error at the attribute at fault
// ("bastion.private_key" -> bastion.private_key); empty means the block.
// Secrets get no path: Terraform would print their source line, and with it
// a key or password written literally in the configuration.
func settingPath(err error) path.Path {
	setting := sshx.SettingOf(err)
	if setting == "" || secretSettings[setting[strings.LastIndex(setting, ".")+1:]] {
		return path.Empty()
	}
	parts := strings.Split(setting, ".")
	p := path.Root(parts[0])
	for _, name := range parts[1:] {
		p = p.AtName(name)
	}
	return p
}

var secretSettings = map[string]bool{"private_key": true, "private_key_passphrase": true, "password": true}

// Caps of a diagnostic's summary and detail, in bytes.
const (
	maxDiagnosticSummary = 1 << 10
	maxDiagnosticDetail  = 16 << 10
)

// cleanDiagnostics makes every diagnostic safe to print (cleanText): the
// provider's server applies it to each RPC's answer (server.go), so host
// text (a command's stderr, a file's bytes, a restore's reason) never
// reaches the terminal raw, whichever diagnostic words it.
func cleanDiagnostics(diags []*tfprotov6.Diagnostic) {
	for _, d := range diags {
		if d != nil {
			d.Summary = cleanText(d.Summary, maxDiagnosticSummary)
			d.Detail = cleanText(d.Detail, maxDiagnosticDetail)
		}
	}
}

// cleanText shows s safely in a terminal, at most about limit bytes: every
// control character but newline and tab (so every terminal escape, which
// starts with ESC or a C1 control, and a carriage return that would
// overwrite the line; CRLF is a line end), every Unicode format character
// (bidi overrides, zero-width characters), the line and paragraph
// separators and each byte that is not UTF-8 are shown as a visible
// escape (\x1b, \r, \u202e, \xff). Longer text keeps its start and its end
// (the hint, what to do) and says how much was cut between. Cleaning clean
// text changes nothing.
func cleanText(s string, limit int) string {
	clean := true
	for i := 0; i < len(s) && clean; {
		r, size := utf8.DecodeRuneInString(s[i:])
		clean = !unprintable(r, size)
		i += size
	}
	if !clean {
		var b strings.Builder
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				fmt.Fprintf(&b, `\x%02x`, s[i])
			case r == '\r' && strings.HasPrefix(s[i+1:], "\n"):
			case r == '\r':
				b.WriteString(`\r`)
			case r < 0x80 && unprintable(r, size):
				fmt.Fprintf(&b, `\x%02x`, r)
			case unprintable(r, size):
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				b.WriteString(s[i : i+size])
			}
			i += size
		}
		s = b.String()
	}
	if len(s) <= limit {
		return s
	}
	// The note's length with len(s) in it bounds the real note's, so the
	// result stays within limit (and cleaning it again changes nothing).
	budget := max(limit-len(fmt.Sprintf(cutNote, len(s))), 0)
	head := runeStart(s, budget*3/4)
	tail := len(s) - (budget - budget*3/4)
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	return s[:head] + fmt.Sprintf(cutNote, tail-head) + s[tail:]
}

const cutNote = "\n[... %d bytes not shown ...]\n"

// unprintable: the rune r, size bytes of host text, must not reach a
// terminal as it is: unsafeRune (validators_input.go) but newline and tab,
// and a real U+FFFD is fine; an invalid byte is not.
func unprintable(r rune, size int) bool {
	switch r {
	case '\n', '\t':
		return false
	case utf8.RuneError:
		return size == 1
	}
	return unsafeRune(r)
}

// runeStart moves i back to the start of the rune it falls in.
func runeStart(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}
