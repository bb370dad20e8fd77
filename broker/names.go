package broker

// The name rules of connectors, project keys and tokens, checked by hand:
// their regular expressions, compiled at package initialisation, cost
// every credbroker command (the agent's exec included) 0.3 ms at start-up,
// {0,63} and {1,64} unrolling into programs of hundreds of instructions.
// FuzzNames holds each to the expression it replaces.

// validConnectorName: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$.
func validConnectorName(s string) bool {
	if len(s) == 0 || len(s) > 64 || !alnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// validProjectKey: ^[A-Z][A-Z0-9_]*$.
func validProjectKey(s string) bool {
	if len(s) == 0 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validTokenName: ^[A-Za-z0-9_.@ -]{1,64}$.
func validTokenName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '_' && c != '.' && c != '@' && c != ' ' && c != '-' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
