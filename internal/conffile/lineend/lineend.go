// Package lineend picks the line ending for lines an editor adds, so that
// a CRLF file stays CRLF.
package lineend

// Dominant returns "\r\n" when more of the lines end in it than in "\n",
// else "\n" (also on a tie and for an empty file).
func Dominant[L any](lines []L, eol func(L) string) string {
	crlf, lf := 0, 0
	for _, l := range lines {
		switch eol(l) {
		case "\r\n":
			crlf++
		case "\n":
			lf++
		}
	}
	if crlf > lf {
		return "\r\n"
	}
	return "\n"
}
