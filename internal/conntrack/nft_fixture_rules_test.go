package conntrack

// nftFixtureRules are the rules whose File() output, loaded by nft,
// testdata/nft-ruleset.json lists (with the tables of fwFixture).
var nftFixtureRules = []NftRule{
	{Name: "a", Protocol: "tcp", Port: "8080", Chains: []string{"output", "prerouting"}},
	{Name: "b", Protocol: "udp", Port: "1000:2000", Source: "10.0.0.0/8", Destination: "10.1.2.3", Chains: []string{"prerouting"}},
	{Name: "c", Protocol: "all", Source: "fd00::/8", Destination: "fd00::1/128", Chains: []string{"output", "prerouting"}},
	{Name: "d", Protocol: "tcp", Destination: "192.168.7.9/16", Chains: []string{"output"}},
	{Name: "e", Protocol: "udp", Port: "53", Source: "2001:db8:0:0:0:0:0:1", Chains: []string{"prerouting"}},
	{Name: "f", Protocol: "udp", Port: "53", Destination: "10.9.0.0/16", Chains: []string{"output", "prerouting"}, Direction: DirectionForward},
	{Name: "g", Protocol: "tcp", Port: "3128", Chains: []string{"output", "prerouting"}, Direction: DirectionClient},
	{Name: "h", Protocol: "udp", Port: "1000:2000", Source: "fd00::/8", Chains: []string{"output", "prerouting"}, Direction: DirectionBoth},
	{Name: "i", Protocol: "tcp", Chains: []string{"output", "prerouting"}, Direction: DirectionForward},
}
