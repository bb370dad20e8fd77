package credbroker

import "strings"

// STS allows these characters in RoleSessionName and SourceIdentity:
// letters, digits and +=,.@-  (and _ in \w).
func stsNameChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("_+=,.@-", r)
}

// CleanSTSName turns s into a string that STS accepts as a RoleSessionName
// or SourceIdentity: characters outside [\w+=,.@-] become '-', the result is
// cut to max characters, and a result shorter than two characters is padded
// so STS's minimum of 2 holds.
func CleanSTSName(s string, max int) string {
	out := cleanChars(s, max)
	for len(out) < 2 {
		out += "-"
	}
	return out
}

// cleanChars replaces characters STS refuses and cuts to max, without
// padding.
func cleanChars(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			break
		}
		if stsNameChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// ValidSTSName reports whether s already meets STS's rules for a
// RoleSessionName (2 to 64 characters of [\w+=,.@-]).
func ValidSTSName(s string, max int) bool {
	if len(s) < 2 || len(s) > max {
		return false
	}
	for _, r := range s {
		if !stsNameChar(r) {
			return false
		}
	}
	return true
}

// SessionName derives a RoleSessionName from the build: "PLAN-JOB-NUMBER"
// where known, "credbroker" otherwise; within STS's 64 characters. When the
// build identity is longer, the plan is kept whole where possible and the
// number always, because the number is what tells two builds apart.
func SessionName(b Build) string {
	const max = 64
	var parts []string
	for _, p := range []string{b.Plan, b.Job} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 && b.Number == "" {
		return "credbroker"
	}
	head := strings.Join(parts, "-")
	if b.Job != "" && b.Plan != "" && strings.HasPrefix(b.Job, b.Plan+"-") {
		// Bamboo job keys already start with the plan key.
		head = b.Job
	}
	if head == "" {
		head = "credbroker"
	}
	tail := ""
	if b.Number != "" {
		tail = "-" + cleanChars(b.Number, 20)
	}
	room := max - len(tail)
	return CleanSTSName(head, room) + tail
}
