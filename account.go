package credbroker

import (
	"fmt"
	"strings"
)

// MaxAllowedAccounts bounds an allow-list of AWS accounts (an agent's
// --allowed-account-id, a connector's allowed_account_ids).
const MaxAllowedAccounts = 100

// FieldAllowedAccounts is the field of an account allow-list, in errors
// (the agent's flags form names it --allowed-account-id).
const FieldAllowedAccounts = "allowed_account_ids"

// ValidAccountID reports whether s is an AWS account ID: 12 decimal
// digits.
func ValidAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CheckAccountIDs refuses an account allow-list holding anything but
// 12-digit account IDs, or more than MaxAllowedAccounts of them. The error
// is CodeInvalid and names the element at fault (field[2]). The value is
// repeated only when it is short and printable, since it may be a
// mistyped variable's value.
func CheckAccountIDs(field string, ids []string) error {
	if len(ids) > MaxAllowedAccounts {
		return Errorf(CodeInvalid, field, "%d accounts; at most %d are allowed", len(ids), MaxAllowedAccounts).
			WithFix("list the accounts the credentials may belong to, no more")
	}
	for i, id := range ids {
		if ValidAccountID(id) {
			continue
		}
		msg := "not an AWS account ID"
		if len(id) <= 20 && safeASCII(id) {
			msg = fmt.Sprintf("%q is %s", id, msg)
		}
		return Errorf(CodeInvalid, fmt.Sprintf("%s[%d]", field, i), "%s", msg).
			WithFix("give the 12 digits of the account, as in 123456789012 (no dashes)")
	}
	return nil
}

// SplitAccountIDs splits one value of an account allow-list at commas and
// white space, so that a variable or a flag can hold several accounts
// ("111111111111, 222222222222").
func SplitAccountIDs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// AccountOfARN returns the account of an ARN (arn:PARTITION:SERVICE:
// REGION:ACCOUNT:RESOURCE) when it is an account ID, else "". STS names
// the sessions it issues so: arn:aws:sts::123456789012:assumed-role/R/S.
func AccountOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" || !ValidAccountID(parts[4]) {
		return ""
	}
	return parts[4]
}

// CheckAccount returns nil when allowed is empty or holds account, and
// otherwise a CodeForbidden *Error naming both: account, the account of
// what ("the credentials", "connector deploy's session"), is not one of
// allowed. field names the allow-list. An empty account, one that could
// not be learned, is refused too: a guard that cannot see the account
// does not let the credentials through.
func CheckAccount(field string, allowed []string, account, what string) error {
	if len(allowed) == 0 {
		return nil
	}
	for _, a := range allowed {
		if a == account {
			return nil
		}
	}
	list := strings.Join(allowed, ", ")
	if account == "" {
		return Errorf(CodeUnprocessable, field, "the account of %s is not known, so it cannot be checked against the allowed accounts (%s)", what, list).
			WithFix("use an STS that names the account (AWS STS does, in the assumed-role ARN and with GetCallerIdentity), or remove the account guard for this source")
	}
	return Errorf(CodeForbidden, field, "account %s of %s is not an allowed account (%s)", account, what, list).
		WithFix("check the role ARN and the source for a mistyped account; if account " + account + " is meant, add it to the allowed accounts")
}
