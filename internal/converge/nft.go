package converge

import (
	"context"
	"errors"
	"path"
	"time"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/nftinclude"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

// ObjNft is the nftables read of a conntrack_nft_notrack_rule.
const ObjNft Object = "nft"

// OpApplyNft is the guarded live change of an nft NOTRACK rule.
const OpApplyNft = "apply nft notrack rules"

// NftPaths are the files of one rule: declared, or "" for the layout's.
type NftPaths struct{ RulesFile, ConfigFile string }

// Resolve fills the layout's defaults for name.
func (p NftPaths) Resolve(layout, name string) NftPaths {
	if p.RulesFile == "" {
		p.RulesFile = conntrack.NftRulesFile(layout, name)
	}
	if p.ConfigFile == "" {
		p.ConfigFile = conntrack.NftConfigFile(layout)
	}
	return p
}

// NftRequest is what a rule's read asks of the snapshot: the ruleset, and
// its files under both layouts unless declared.
func NftRequest(name string, p NftPaths) conntrack.SnapshotRequest {
	req := conntrack.SnapshotRequest{Nft: true}
	for _, layout := range []string{"debian", "rhel"} {
		r := p.Resolve(layout, name)
		for _, f := range []string{r.RulesFile, r.ConfigFile} {
			if !containsStr(req.Files, f) {
				req.Files = append(req.Files, f)
			}
		}
	}
	return req
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// NftOf is a rule's read from a snapshot (see NftRequest).
func NftOf(s *conntrack.Snapshot, name string, p NftPaths) (*conntrack.NftHost, error) {
	v, ok, err := s.Nft()
	h, err := view(ObjNft, v, ok, err)
	if err != nil {
		return nil, err
	}
	r := p.Resolve(h.Layout, name)
	for _, f := range []struct {
		path string
		into *conntrack.File
	}{{r.RulesFile, &h.Rules}, {r.ConfigFile, &h.Config}} {
		file, ok, err := s.File(f.path)
		switch {
		case !ok:
			return nil, ErrNotInSnapshot
		case err != nil:
			return nil, &ReadError{Object: ObjNft, Answer: true, Err: err}
		case file.IsDir:
			return nil, &DirError{Path: f.path}
		}
		*f.into = file
	}
	return h, nil
}

// ReadNft reads a rule's host alone, as NftOf does from a snapshot.
func ReadNft(ctx context.Context, h Host, name string, p NftPaths) (*conntrack.NftHost, error) {
	snap, err := ReadSnapshot(ctx, h, NftRequest(name, p))
	if err != nil {
		var re *ReadError
		if errors.As(err, &re) {
			re.Object = ObjNft
		}
		return nil, err
	}
	return NftOf(snap, name, p)
}

// NftChange is a conntrack_nft_notrack_rule apply: Plan instead of Prior
// (Plan nil: delete; Prior nil: create). Name and Paths are the same in
// both (a change of either replaces the resource).
type NftChange struct {
	Plan, Prior *conntrack.NftRule
	Name        string
	Paths       NftPaths
	Rollback    time.Duration
	Label       string
}

// NftResult is what an nft rule apply did.
type NftResult struct {
	RulesFile, ConfigFile string
	// Kept is the rules file a delete left in place: it was not this
	// rule's (someone else's file at that path).
	Kept string
	// Refused is nft's message when it refused the change.
	Refused string
	Guard   GuardReport
}

// ErrNoNft is a host without the nft program.
var ErrNoNft = errors.New("the nft program is not installed (install the nftables package)")

// Nft makes the host hold Plan's table, rules file and include line
// instead of Prior's. A change of the running table is guarded: the host
// saves the table, the rules file and the configuration, arms its timer;
// then the files are written and the table is loaded from the rules file
// with nft -f (atomic), or deleted; only a new login confirms. A change
// of the files alone is written as is.
func Nft(ctx context.Context, h Host, ch NftChange, base *conntrack.NftHost) (NftResult, error) {
	unlock, err := h.Lock(mayGuard(ctx))
	if err != nil {
		return NftResult{}, err
	}
	defer unlock()
	host := base
	if host == nil {
		if host, err = ReadNft(ctx, h, ch.Name, ch.Paths); err != nil {
			return NftResult{}, err
		}
	}
	paths := ch.Paths.Resolve(host.Layout, ch.Name)
	res := NftResult{RulesFile: paths.RulesFile, ConfigFile: paths.ConfigFile}
	if host.Nft == "" {
		if ch.Plan == nil {
			return res, nil // nothing of ours can be running
		}
		return res, &StepError{Op: OpApplyNft, Err: ErrNoNft}
	}
	if host.ListError != "" {
		return res, &StepError{Op: OpApplyNft, Err: errors.New("nft -j list ruleset: " + host.ListError)}
	}
	reread := func() (*conntrack.NftHost, error) { return ReadNft(ctx, h, ch.Name, ch.Paths) }
	// write makes the files what Plan wants (or removes the include line
	// on delete; the rules file goes with the table, or below).
	write := func() error {
		_, err := edit(host, reread, func(cur *conntrack.NftHost) error {
			if ch.Plan != nil {
				if _, err := h.Script(ctx, "make the directory of "+paths.RulesFile, conntrack.NftPrepareScript, nil, path.Dir(paths.RulesFile)); err != nil {
					return &WriteError{Path: paths.RulesFile, Err: err}
				}
				if want := ch.Plan.File(); !cur.Rules.Exists || string(cur.Rules.Content) != string(want) {
					if err := writeOver(ctx, h, cur.Rules, want, 0o600); err != nil {
						return err
					}
				}
				if want := nftinclude.Ensure(cur.Config.Content, paths.RulesFile); string(want) != string(cur.Config.Content) || !cur.Config.Exists {
					return writeOver(ctx, h, cur.Config, want, 0o755)
				}
				return nil
			}
			if want := nftinclude.Remove(cur.Config.Content, paths.RulesFile); cur.Config.Exists && string(want) != string(cur.Config.Content) {
				return writeOver(ctx, h, cur.Config, want, 0o755)
			}
			return nil
		})
		return err
	}
	var live bool
	switch {
	case ch.Plan != nil:
		live = !conntrack.ObserveNft(*ch.Plan, *host).LiveExact
	default:
		live = host.Ruleset.HasTable("inet", conntrack.NftTablePrefix+ch.Name)
	}
	if !live {
		if err := unguarded(ctx, h); err != nil {
			return res, err
		}
		if err := write(); err != nil {
			return res, err
		}
		if ch.Plan == nil && host.Rules.Exists {
			out, err := h.Script(ctx, "remove "+paths.RulesFile, conntrack.NftRemoveScript, nil, paths.RulesFile, conntrack.NftFileHeader(ch.Name))
			if err != nil {
				return res, &WriteError{Path: paths.RulesFile, Err: err}
			}
			res.Kept = conntrack.NftKept(string(out))
		}
		return res, nil
	}
	seconds := int(ch.Rollback / time.Second)
	if seconds == 0 {
		seconds = 30
	}
	rule := ch.Plan
	if rule == nil {
		rule = ch.Prior
	}
	if rule == nil {
		rule = &conntrack.NftRule{}
	}
	named := *rule
	named.Name = ch.Name
	body, args := conntrack.NftApplyScript(named, paths.RulesFile, ch.Plan != nil)
	g := conntrack.Guard{Seconds: seconds, Kind: conntrack.GuardNft, Label: ch.Label,
		Tables: []conntrack.GuardTable{{Cmd: "nft", Table: rule.FamilyTable()}}, Files: []string{paths.RulesFile, paths.ConfigFile}}
	gr, rep, err := guarded(ctx, h, g, write, OpApplyNft, body, args)
	res.Refused, res.Guard = gr.Failed["nft"], rep
	if ch.Plan == nil {
		res.Kept = conntrack.NftKept(gr.Output)
	}
	return res, err
}
