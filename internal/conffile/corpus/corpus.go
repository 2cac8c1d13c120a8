// Package corpus loads the real-world config files an editor's tests run
// over: unmodified copies of ../shared/testdata kept in the editor's own
// testdata/ with their attribution (README.md).
package corpus

import (
	"os"
	"path/filepath"
	"testing"
)

// File is one corpus file.
type File struct {
	Name string
	Data []byte
}

// Load returns every file directly under testdata/ except README.md, and
// fails the test when there are fewer than atLeast (a lost file must not pass
// for a smaller corpus).
func Load(tb testing.TB, atLeast int) []File {
	tb.Helper()
	entries, err := os.ReadDir("testdata")
	if err != nil {
		tb.Fatal(err)
	}
	var files []File
	for _, e := range entries {
		if e.IsDir() || e.Name() == "README.md" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("testdata", e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		files = append(files, File{e.Name(), b})
	}
	if len(files) < atLeast {
		tb.Fatalf("testdata holds %d corpus files, want at least %d", len(files), atLeast)
	}
	return files
}
