package lineend

import "testing"

func TestDominant(t *testing.T) {
	id := func(s string) string { return s }
	for _, tc := range []struct {
		eols []string
		want string
	}{
		{nil, "\n"},
		{[]string{"\r\n"}, "\r\n"},
		{[]string{"\r\n", "\n"}, "\n"},
		{[]string{"\r\n", "\r\n", "\n", ""}, "\r\n"},
		{[]string{""}, "\n"},
	} {
		if got := Dominant(tc.eols, id); got != tc.want {
			t.Errorf("Dominant(%q) = %q, want %q", tc.eols, got, tc.want)
		}
	}
}
