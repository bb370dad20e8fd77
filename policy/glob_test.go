package policy

import "testing"

func TestGlobCovers(t *testing.T) {
	tests := []struct {
		b, a string
		want bool
	}{
		{"*", "", true},
		{"*", "anything*?", true},
		{"", "", true},
		{"", "a", false},
		{"a", "", false},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"ab*", "abc", true},
		{"ab*", "ab", true},
		{"ab*", "ab*", true},
		{"ab*", "a*", false}, // a* matches "a", which ab* does not
		{"a*c", "a*b*c", true},
		{"a*c", "a?c", true},
		{"a?c", "abc", true},
		{"a?c", "a?c", true},
		{"a?c", "a*c", false}, // a*c matches "ac"
		{"a?c", "ac", false},
		{"?", "*", false},
		{"abc", "a?c", false}, // a?c matches "axc"
		{"*b*", "abc", true},
		{"*b*", "a*c", false},
		{"**", "x", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b", "a*b*b", true},
		{"é?", "éx", true},
		{"?", "é", true}, // one character, two bytes
		{"??", "é", false},
	}
	for _, tt := range tests {
		if got := globCovers([]rune(tt.b), []rune(tt.a)); got != tt.want {
			t.Errorf("globCovers(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestCoversAction(t *testing.T) {
	tests := []struct {
		b, a string
		want bool
	}{
		{"*", "s3:GetObject", true},
		{"s3:*", "s3:GetObject", true},
		{"s3:*", "S3:getobject", true},
		{"S3:Get*", "s3:getobject", true},
		{"s3:Get*", "s3:*", false},
		{"s3:Get*", "s3:PutObject", false},
		{"s3:GetObject", "s3:GetObject*", false},
		{"s*", "s3:GetObject", false}, // may not cross the colon
		{"*:GetObject", "s3:GetObject", true},
		{"s3:*Object", "s3:Get*Object", true},
		{"s3:GetObject", "*", false},
	}
	for _, tt := range tests {
		if got := coversAction(tt.b, tt.a); got != tt.want {
			t.Errorf("coversAction(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestCoversResource(t *testing.T) {
	tests := []struct {
		b, a string
		want bool
	}{
		{"*", "arn:aws:s3:::b", true},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b/logs/*", true},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b", false},
		{"arn:aws:s3:::B/*", "arn:aws:s3:::b/x", false}, // case-sensitive
		{"arn:aws:s3:::*", "*", false},
		{"arn:aws:dynamodb:*:123456789012:table/*", "arn:aws:dynamodb:us-east-1:123456789012:table/T", true},
		{"arn:aws:dynamodb:*:123456789012:table/*", "arn:aws:dynamodb:*:*:table/T", false},
		// A '*' that crosses segments in one reading and not in the other.
		{"arn:aws:s3:*:123:x", "arn:aws:s3:us-east-1:b:123:x", false},
		{"arn:aws:s3:::b*", "arn:aws:s3:::b:c", true}, // colons in the last segment are plain
		{"arn:aws:s3:::b/*", "arn:aws:*", false},
		// Policy variables.
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b/${aws:username}/*", true},
		{"arn:aws:s3:::b/x*", "arn:aws:s3:::b/${aws:username}", false},
		{"arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/${aws:username}/*", true},
		{"arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/alice/*", false},
		{"arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/${aws:username}/x", false},
		{"arn:aws:s3:::b/${*}", "arn:aws:s3:::b/${?}", false},
		// A variable in an early segment may hold colons.
		{"arn:aws:sqs:*:*:q*", "arn:aws:sqs:${aws:userid}:1:q", false},
		{"*", "arn:aws:sqs:${aws:userid}:1:q", true},
	}
	for _, tt := range tests {
		if got := coversResource(tt.b, tt.a); got != tt.want {
			t.Errorf("coversResource(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}
