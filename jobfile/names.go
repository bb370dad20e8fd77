package jobfile

// The name rules of a job file, checked by hand rather than by regular
// expressions: compiling those at package initialisation cost every
// credbroker command, the broker's included, a fifth of a millisecond at
// start-up. FuzzNames holds each to the expression it replaces.

// validTaskName reports whether s is a task or profile name:
// ^[A-Za-z0-9_.-]{1,64}$.
func validTaskName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !letterOrDigit(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-' {
			return false
		}
	}
	return true
}

// validVarName reports whether s is a variable name:
// ^[A-Za-z_][A-Za-z0-9_.-]*$.
func validVarName(s string) bool {
	if len(s) == 0 || !letter(s[0]) && s[0] != '_' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !letterOrDigit(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-' {
			return false
		}
	}
	return true
}

// validEnvName reports whether s is an environment variable's name:
// ^[A-Za-z_][A-Za-z0-9_]*$.
func validEnvName(s string) bool {
	if len(s) == 0 || !letter(s[0]) && s[0] != '_' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !letterOrDigit(s[i]) && s[i] != '_' {
			return false
		}
	}
	return true
}

func letter(c byte) bool        { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func letterOrDigit(c byte) bool { return letter(c) || c >= '0' && c <= '9' }
