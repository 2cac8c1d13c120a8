package provider

import (
	"context"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// hostileServer answers every RPC with diagnostics carrying what a host
// can send: terminal escapes (a title change, a screen clear, a colour),
// a carriage return that overwrites the line, a bidi override, invalid
// UTF-8, NULs, and megabytes of it.
type hostileServer struct{ tfprotov6.ProviderServer }

const hostileText = "iptables: \x1b]0;pwned\x07\x1b[2J\x1b[31mred\r\u202eevil\x00\xff ok\r\nnext line\tend"

func hostileDiags() []*tfprotov6.Diagnostic {
	return []*tfprotov6.Diagnostic{{Severity: tfprotov6.DiagnosticSeverityError, Summary: "Failed on 10.0.0.1 " + hostileText,
		Detail: hostileText + strings.Repeat("x", 4<<20) + "\n\nWhat to do: run again."}}
}

func (hostileServer) ReadDataSource(context.Context, *tfprotov6.ReadDataSourceRequest) (*tfprotov6.ReadDataSourceResponse, error) {
	return &tfprotov6.ReadDataSourceResponse{Diagnostics: hostileDiags()}, nil
}

func (hostileServer) ApplyResourceChange(context.Context, *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	return &tfprotov6.ApplyResourceChangeResponse{Diagnostics: hostileDiags()}, nil
}

// Every diagnostic the shipped server returns is safe to print: no control
// character but newline and tab, no format character, valid UTF-8, each
// shown as a visible escape; summary and detail capped, the detail's end
// (what to do) kept.
func TestServerCleansHostTextInDiagnostics(t *testing.T) {
	t.Parallel()
	s := releasingServer{hostileServer{}}
	r1, _ := s.ReadDataSource(t.Context(), &tfprotov6.ReadDataSourceRequest{})
	r2, _ := s.ApplyResourceChange(t.Context(), &tfprotov6.ApplyResourceChangeRequest{})
	for _, d := range append(r1.Diagnostics, r2.Diagnostics...) {
		for what, text := range map[string]string{"summary": d.Summary, "detail": d.Detail} {
			if !utf8.ValidString(text) {
				t.Errorf("%s is not valid UTF-8", what)
			}
			for _, r := range text {
				if (unicode.IsControl(r) && r != '\n' && r != '\t') || unicode.Is(unicode.Cf, r) {
					t.Fatalf("%s holds %U: %q", what, r, text[:min(len(text), 200)])
				}
			}
			// Each shown as a visible escape; CRLF is a line end.
			if want := `iptables: \x1b]0;pwned\x07\x1b[2J\x1b[31mred\r\u202eevil\x00\xff ok` + "\nnext line\tend"; !strings.Contains(text, want) {
				t.Fatalf("%s does not show %q: %q", what, want, text[:min(len(text), 200)])
			}
		}
		if len(d.Summary) > maxDiagnosticSummary || len(d.Detail) > maxDiagnosticDetail {
			t.Fatalf("not capped: summary %d bytes, detail %d bytes", len(d.Summary), len(d.Detail))
		}
		if !strings.HasSuffix(d.Detail, "What to do: run again.") || !strings.Contains(d.Detail, "bytes not shown") || !strings.Contains(d.Detail, "ok\nnext line\tend") {
			t.Fatalf("detail lost its end, or does not say it was cut: ...%q", d.Detail[len(d.Detail)-200:])
		}
	}
}

func FuzzCleanText(f *testing.F) {
	f.Add(hostileText, 64)
	f.Add("plain text\nwith lines\tand tabs", 16)
	f.Add("\xe2\x80\xae\xf0\x9f\x98\x80\r\r\n\x9b31m", 8)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = 64 + abs(limit)%4096
		got := cleanText(s, limit)
		if !utf8.ValidString(got) {
			t.Fatalf("not UTF-8: %q", got)
		}
		for i := 0; i < len(got); {
			r, size := utf8.DecodeRuneInString(got[i:])
			if unprintable(r, size) {
				t.Fatalf("%U left in %q", r, got)
			}
			i += size
		}
		if len(got) > limit {
			t.Fatalf("%d bytes, limit %d", len(got), limit)
		}
		if again := cleanText(got, limit); again != got {
			t.Fatalf("not idempotent: %q -> %q", got, again)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// Through real Terraform and the shipped server: a host whose iptables
// refuses a rule with terminal escapes and 200 KB on stderr. The error
// shows the escapes as visible text (a raw ESC would not match), cut in
// the middle, and still ends with what to do.
func TestAccDiagnosticsShowHostTextCleaned(t *testing.T) {
	t.Parallel()
	requireAcc(t)
	h := testhost.New(t, testhost.Options{})
	hostValue(t, h, "mkdir -p /etc/iptables && printf '# before\\n' > /etc/iptables/rules.v4")
	hostValue(t, h, `printf '#!/bin/sh\ncase " $* " in *" -A PREROUTING "*) printf "refused \\033]0;pwned\\007\\033[2J\\033[31mred\\r" >&2; head -c 200000 /dev/zero | tr "\\0" x >&2; echo " the end" >&2; exit 1 ;; esac\nexec /usr/sbin/iptables-nft "$@"\n' > /etc/ct-refuse && `+
		`chmod 755 /etc/ct-refuse && ln -sf /etc/ct-refuse /etc/alternatives/iptables`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      notrackConfig(t, h, `protocol = "udp"`+"\n"+`port = "53"`),
			ExpectError: errorLike("iptables refused a rule on "+h.Addr, `refused \x1b]0;pwned\x07\x1b[2J\x1b[31mred\rxxx`, "bytes not shown", "xxx the end"),
		}},
	})
}
