// Package modulesload edits /etc/modules-load.d/*.conf files: one module
// name per line, `#` and `;` comments. Only the lines of the modules asked
// for change; every other byte stays.
package modulesload

import (
	"bytes"
	"strings"
)

// File is a parsed modules-load.d file: its physical lines with their endings.
type File struct {
	lines []string // each with its line ending, if any
}

// Parse never fails; Bytes returns the input unchanged.
func Parse(b []byte) *File {
	f := &File{}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			f.lines = append(f.lines, string(b))
			break
		}
		f.lines = append(f.lines, string(b[:i+1]))
		b = b[i+1:]
	}
	return f
}

// Bytes renders the file.
func (f *File) Bytes() []byte { return []byte(strings.Join(f.lines, "")) }

// module returns the module a line loads, "" for comments and blank lines;
// '-' and '_' are the same to the kernel.
func module(line string) string {
	s := strings.TrimSpace(line)
	if s == "" || s[0] == '#' || s[0] == ';' {
		return ""
	}
	return strings.ReplaceAll(s, "-", "_")
}

// Has reports whether the file loads name.
func (f *File) Has(name string) bool {
	for _, l := range f.lines {
		if module(l) == strings.ReplaceAll(name, "-", "_") {
			return true
		}
	}
	return false
}

// Set adds name (once, at the end) or removes every line of it; it reports
// whether anything changed.
func (f *File) Set(name string, load bool) bool {
	if load == f.Has(name) {
		return false
	}
	if !load {
		kept := f.lines[:0]
		for _, l := range f.lines {
			if module(l) != strings.ReplaceAll(name, "-", "_") {
				kept = append(kept, l)
			}
		}
		f.lines = kept
		return true
	}
	eol := "\n"
	if n := len(f.lines); n > 0 {
		if strings.HasSuffix(f.lines[0], "\r\n") {
			eol = "\r\n"
		}
		if !strings.HasSuffix(f.lines[n-1], "\n") {
			f.lines[n-1] += eol
		}
	}
	f.lines = append(f.lines, name+eol)
	return true
}
