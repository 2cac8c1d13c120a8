package testhost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// New starts a host for a test and removes it when the test ends, pass or
// fail. Without TF_ACC=1 it skips the test before starting anything: host
// tests need root, and `make unit` runs without either.
func New(t testing.TB, opts Options) *Host {
	t.Helper()
	SkipUnlessAcc(t)
	h, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start test host: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("remove test host %s: %v", h.Namespace, err)
		}
	})
	return h
}

// ForeignKeyFile writes a private key that no test host accepts.
func ForeignKeyFile(t testing.TB) string {
	t.Helper()
	_, pem, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "foreign_key")
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// KnownHostsFile writes a known_hosts file for hosts into the test's temp dir.
func KnownHostsFile(t testing.TB, hosts ...*Host) string {
	t.Helper()
	var lines []string
	for _, h := range hosts {
		lines = append(lines, h.KnownHostsLine())
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// SkipUnlessAcc skips a test that needs test hosts unless TF_ACC is set.
func SkipUnlessAcc(t testing.TB) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("host tests need TF_ACC=1 and root (make test)")
	}
}
