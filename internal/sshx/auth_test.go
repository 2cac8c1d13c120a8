package sshx

import (
	"slices"
	"testing"
)

// TestPasswordChallenge: keyboard-interactive gets the password only for a
// password prompt with echo off; every other prompt gets an empty answer.
func TestPasswordChallenge(t *testing.T) {
	t.Parallel()
	const pw = "s3cret"
	answer := passwordChallenge(pw)
	for _, tc := range []struct {
		name      string
		questions []string
		echos     []bool
		want      []string
	}{
		{"password prompt", []string{"Password: "}, []bool{false}, []string{pw}},
		{"OpenSSH style", []string{"root@10.0.0.1's password:"}, []bool{false}, []string{pw}},
		{"PAM style", []string{"Password for root@host:"}, []bool{false}, []string{pw}},
		{"user names are not words", []string{"Password for pinto@hotpot:"}, []bool{false}, []string{pw}},
		{"echo on", []string{"Password: "}, []bool{true}, []string{""}},
		{"echo unknown", []string{"Password: "}, nil, []string{""}},
		{"one-time code", []string{"Verification code: "}, []bool{false}, []string{""}},
		{"OTP password", []string{"One-time password (OATH) for root: "}, []bool{false}, []string{""}},
		{"new password", []string{"New password: "}, []bool{false}, []string{""}},
		{"retype", []string{"Retype new password: "}, []bool{false}, []string{""}},
		{"question", []string{"What is your password? "}, []bool{false}, []string{""}},
		{"not a password", []string{"Username: "}, []bool{true}, []string{""}},
		{"two lines", []string{"Hello\nPassword:"}, []bool{false}, []string{""}},
		{"info only", nil, nil, []string{}},
		{"password then token", []string{"Password: ", "Token: "}, []bool{false, false}, []string{pw, ""}},
	} {
		got, err := answer("root", "", tc.questions, tc.echos)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: answers %q, want %q", tc.name, got, tc.want)
		}
		if len(got) != len(tc.questions) {
			t.Errorf("%s: %d answers to %d questions", tc.name, len(got), len(tc.questions))
		}
	}
}
