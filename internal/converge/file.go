package converge

import (
	"context"
	"errors"
	"os"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

// ReadFile reads one whole file; a missing file reads as not existing.
func ReadFile(ctx context.Context, h Host, path string) (conntrack.File, error) {
	f := conntrack.File{Path: path}
	b, err := h.ReadFile(ctx, path)
	switch {
	case errors.Is(err, sshx.ErrNotFound):
		return f, nil
	case err != nil:
		return f, &ReadError{Object: ObjFile, Path: path, Err: err}
	}
	f.Exists, f.Content = true, b
	return f, nil
}

// EditFile rewrites path with change's result, under the host lock, when
// it differs, retrying when someone else wrote the file in between. A new
// file gets mode. It returns the content now on the host.
func EditFile(ctx context.Context, h Host, path string, mode os.FileMode, change func([]byte) []byte) ([]byte, error) {
	return editFile(ctx, h, path, mode, nil, change)
}

// editFile is EditFile whose first attempt starts from base when it is not
// nil (a read of this walk: the write still checks the file is unchanged).
func editFile(ctx context.Context, h Host, path string, mode os.FileMode, base *conntrack.File, change func([]byte) []byte) ([]byte, error) {
	unlock, err := h.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var after []byte
	_, err = edit(base, func() (*conntrack.File, error) {
		f, err := ReadFile(ctx, h, path)
		return &f, err
	}, func(f *conntrack.File) error {
		after = change(f.Content)
		if string(after) == string(f.Content) {
			return nil
		}
		return writeOver(ctx, h, *f, after, mode)
	})
	if err != nil {
		return nil, err
	}
	return after, nil
}

// ReadFacts reads the host facts in one command that only reads files.
func ReadFacts(ctx context.Context, h Host) (conntrack.Facts, error) {
	return read(ctx, h, ObjFacts, "read host facts", conntrack.FactsScript(), nil, conntrack.ParseFacts)
}

// ShellVars sets want (key -> value) in the shell-variables file at path
// (iptables-config). added are the keys the resource added earlier; base,
// when not nil, is this walk's read of the file. It returns the content now
// on the host and the keys the resource added.
func ShellVars(ctx context.Context, h Host, path string, want map[string]string, added []string, base *conntrack.File) ([]byte, []string, error) {
	var now []string
	content, err := editFile(ctx, h, path, 0o600, base, func(b []byte) []byte {
		var out []byte
		out, now = conntrack.SetShellVars(b, want, added)
		return out
	})
	return content, now, err
}

// DeleteShellVars removes keys from the shell-variables file at path.
func DeleteShellVars(ctx context.Context, h Host, path string, keys []string) error {
	_, err := EditFile(ctx, h, path, 0o600, func(b []byte) []byte { return conntrack.DeleteShellVars(b, keys) })
	return err
}
