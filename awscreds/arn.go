package awscreds

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/credbroker/credbroker"
)

// MaxPolicyARNs is how many managed session policies STS accepts.
const MaxPolicyARNs = 10

// CheckRoleARN checks that s is an IAM role ARN,
// arn:PARTITION:iam::ACCOUNT:role/PATH/NAME, in partition p. An ARN of
// another partition is CodeUnprocessable and names both partitions; a
// malformed ARN is CodeInvalid. field names the input in the error.
func CheckRoleARN(field, s string, p Partition) error {
	a, err := parseIAMARN(field, "role", s, p)
	if err != nil {
		return err
	}
	if !credbroker.ValidAccountID(a.AccountID) {
		return credbroker.Errorf(credbroker.CodeInvalid, field,
			"the account of role ARN %q must be 12 digits", s).WithFix(roleARNExample(p))
	}
	rest, ok := strings.CutPrefix(a.Resource, "role/")
	if !ok {
		return credbroker.Errorf(credbroker.CodeInvalid, field, "%q is not a role ARN (its resource does not start with role/)", s).
			WithFix(roleARNExample(p))
	}
	if msg := checkPathName(rest, 64); msg != "" {
		return credbroker.Errorf(credbroker.CodeInvalid, field, "role ARN %q: %s", s, msg).WithFix(roleARNExample(p))
	}
	return nil
}

// CheckPolicyARNs checks managed session policy ARNs: at most
// MaxPolicyARNs, each arn:PARTITION:iam::ACCOUNT:policy/PATH/NAME (ACCOUNT
// is 12 digits, or "aws" for AWS managed policies) in partition p. Errors
// name the element, as in "policy_arns[2]".
func CheckPolicyARNs(field string, arns []string, p Partition) error {
	if len(arns) > MaxPolicyARNs {
		return credbroker.Errorf(credbroker.CodeInvalid, field,
			"%d managed policy ARNs given; STS accepts at most %d", len(arns), MaxPolicyARNs).
			WithFix("combine policies, or use an inline session policy")
	}
	for i, s := range arns {
		f := fmt.Sprintf("%s[%d]", field, i)
		a, err := parseIAMARN(f, "policy", s, p)
		if err != nil {
			return err
		}
		if a.AccountID != "aws" && !credbroker.ValidAccountID(a.AccountID) {
			return credbroker.Errorf(credbroker.CodeInvalid, f,
				`the account of policy ARN %q must be 12 digits, or "aws" for an AWS managed policy`, s).
				WithFix(policyARNExample(p))
		}
		rest, ok := strings.CutPrefix(a.Resource, "policy/")
		if !ok {
			return credbroker.Errorf(credbroker.CodeInvalid, f, "%q is not a policy ARN (its resource does not start with policy/)", s).
				WithFix(policyARNExample(p))
		}
		if msg := checkPathName(rest, 128); msg != "" {
			return credbroker.Errorf(credbroker.CodeInvalid, f, "policy ARN %q: %s", s, msg).WithFix(policyARNExample(p))
		}
	}
	return nil
}

// parseIAMARN parses s and checks the parts common to role and policy
// ARNs: the partition (against p), the service iam and an empty region.
func parseIAMARN(field, kind, s string, p Partition) (arn.ARN, error) {
	example := roleARNExample(p)
	if kind == "policy" {
		example = policyARNExample(p)
	}
	a, err := arn.Parse(s)
	if err != nil {
		return a, credbroker.Errorf(credbroker.CodeInvalid, field, "%q is not an ARN", s).WithFix(example)
	}
	if a.Partition != p.ID {
		if _, known := partitionByID(a.Partition); !known {
			return a, credbroker.Errorf(credbroker.CodeInvalid, field,
				"%s ARN %q names partition %q, which is not one of %s", kind, s, a.Partition, partitionIDs()).
				WithFix(example)
		}
		where := fmt.Sprintf("region %s is in %q", p.Region, p.ID)
		if p.Region == "" {
			where = fmt.Sprintf("the region's partition is %q", p.ID)
		}
		return a, credbroker.Errorf(credbroker.CodeUnprocessable, field,
			"%s ARN is in partition %q but %s", kind, a.Partition, where).
			WithFix(fmt.Sprintf("use arn:%s:iam::... or a region of %q", p.ID, a.Partition))
	}
	if a.Service != "iam" {
		return a, credbroker.Errorf(credbroker.CodeInvalid, field, "%q is not an IAM ARN (service %q)", s, a.Service).WithFix(example)
	}
	if a.Region != "" {
		return a, credbroker.Errorf(credbroker.CodeInvalid, field, "%q has a region, but IAM ARNs have none", s).WithFix(example)
	}
	return a, nil
}

func roleARNExample(p Partition) string {
	return fmt.Sprintf("a role ARN looks like arn:%s:iam::123456789012:role/NAME", orAWS(p.ID))
}

func policyARNExample(p Partition) string {
	return fmt.Sprintf("a policy ARN looks like arn:%s:iam::123456789012:policy/NAME or arn:%s:iam::aws:policy/NAME", orAWS(p.ID), orAWS(p.ID))
}

func orAWS(id string) string {
	if id == "" {
		return "aws"
	}
	return id
}

// checkPathName checks "PATH/NAME" after "role/" or "policy/": the name is
// 1 to max characters of [\w+=,.@-], the path (if any) printable ASCII
// without spaces, at most 512 characters with its slashes. It returns a
// problem, or "".
func checkPathName(rest string, max int) string {
	path, name := "", rest
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		path, name = "/"+rest[:i+1], rest[i+1:]
	}
	if name == "" {
		return "the name is empty"
	}
	if len(name) > max {
		return fmt.Sprintf("the name is %d characters long; IAM allows at most %d", len(name), max)
	}
	for _, r := range name {
		if !nameChar(r) {
			return fmt.Sprintf("the name holds %q; IAM names use letters, digits and +=,.@_-", r)
		}
	}
	if len(path) > 512 {
		return "the path is longer than 512 characters"
	}
	for _, r := range path {
		if r < 0x21 || r > 0x7e {
			return fmt.Sprintf("the path holds %q; IAM paths use printable ASCII without spaces", r)
		}
	}
	return ""
}

// nameChar reports whether r is in [\w+=,.@-].
func nameChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("_+=,.@-", r)
}
