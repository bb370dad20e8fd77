package identity

// The name rules of bindings and trusted issuers, checked by hand: as
// regular expressions compiled at package initialisation they cost every
// credbroker command, the agent's exec included, about 0.2 ms and 110 KB
// at start-up ({1,64} and {0,63} unroll into long programs). FuzzNames
// holds each to the expression it replaces.

// validBindingName: ^[A-Za-z0-9_.-]{1,64}$.
func validBindingName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validIssuerName: ^[a-z0-9][a-z0-9-]{0,63}$.
func validIssuerName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
