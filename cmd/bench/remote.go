package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
)

// remoteCommandMsg is the message the provider logs at DEBUG before every
// remote command, with the fields host and op (its sshx Trace hook).
const remoteCommandMsg = "remote command"

// opRPC is what a remote command did and for which of the provider's RPCs
// (ReadDataSource, ReadResource, PlanResourceChange, ApplyResourceChange).
type opRPC struct{ op, rpc string }

type remoteCommand struct {
	host string
	opRPC
}

// Terraform writes a provider's log lines in hclog's text format:
//
//	2026-11-25T14:00:03.123Z [DEBUG] provider.terraform-provider-conntrack: remote command: tf_rpc=ReadDataSource host=10.200.0.3 op="read host facts" ...
//
// with the fields in any order and a value quoted (Go syntax) when it needs it.
var (
	remoteCommandLine = regexp.MustCompile(`^\S+ \[DEBUG\] +provider\.[^:]+: ` + regexp.QuoteMeta(remoteCommandMsg) + `: (.*)$`)
	logField          = regexp.MustCompile(`(?:^| )([\w@.]+)=("(?:[^"\\]|\\.)*"|\S*)`)
)

// remoteCommands reads the remote commands from a terraform log file; a run
// that started no provider leaves none.
func remoteCommands(path string) ([]remoteCommand, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cmds []remoteCommand
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		m := remoteCommandLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		fields := map[string]string{}
		for _, kv := range logField.FindAllStringSubmatch(m[1], -1) {
			v := kv[2]
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			fields[kv[1]] = v
		}
		c := remoteCommand{host: fields["host"], opRPC: opRPC{op: fields["op"], rpc: fields["tf_rpc"]}}
		if c.host == "" || c.op == "" || c.rpc == "" {
			return nil, fmt.Errorf("%s:%d: a %q line without host, op or tf_rpc: %s", path, line, remoteCommandMsg, sc.Text())
		}
		cmds = append(cmds, c)
	}
	return cmds, sc.Err()
}
