package mask

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func FuzzMask(f *testing.F) {
	f.Add("hunter2\x00p@ss w0rd", []byte("pw: \x01\x00 and \x01\x11 and hunt"), uint64(1))
	f.Add("aaaa\x00aaab\x00abab", []byte("aaaaabababaaab\x01\x01\x01\x02"), uint64(2))
	f.Add("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", []byte("key=\x01\x03\n\x01\x05 x\x01\x06"), uint64(3))
	f.Add("s3cr3t\x00s3cr3t-longer", []byte("s3cr3t-longe s3cr3t-longer s3cr3"), uint64(4))
	f.Add("", []byte("no secrets at all"), uint64(5))
	f.Add("wJalrXUtnFEMI/K7MDENG+bPxRfiCYKEY", []byte("q=\x02\x05&r=%2\x02\x93 %\x01\x00 %4\x02\xff"), uint64(6))
	f.Add("p@ss w0rd/é", []byte("\x02\x55\x02\xaa+\x01\x07"), uint64(7))
	f.Fuzz(func(t *testing.T, secretSpec string, input []byte, seed uint64) {
		// Secrets: the NUL-separated parts of secretSpec, without '*',
		// of at least 4 bytes.
		var secrets []string
		for _, s := range strings.Split(secretSpec, "\x00") {
			s = strings.ReplaceAll(s, "*", "")
			if len(s) >= 4 {
				secrets = append(secrets, s)
			}
		}
		if len(secrets) > 20 {
			secrets = secrets[:20]
		}
		// Text: the input, where \x01 followed by a byte k stands for
		// form k of a secret, and \x02 followed by k for a URL encoding
		// of form k that escapes some of its bytes (which, and in which
		// case, chosen by the input), so that the fuzzer finds them.
		var forms []string
		for _, s := range secrets {
			forms = append(forms, Forms(s)...)
		}
		var tb strings.Builder
		var encoded []string
		for i := 0; i < len(input); i++ {
			if (input[i] == 1 || input[i] == 2) && i+1 < len(input) && len(forms) > 0 {
				f := forms[int(input[i+1])%len(forms)]
				if input[i] == 2 {
					// Of the form as it reads (its own escapes decoded): an
					// escape of an escape is a second encoding, not masked.
					f = escapeSome(refDecode(f), input[i+1:])
					encoded = append(encoded, f)
				}
				tb.WriteString(f)
				i++
				continue
			}
			tb.WriteByte(input[i])
		}
		text := tb.String()

		opts := Options{Secrets: secrets}
		whole := maskAll(t, opts, text)
		for _, s := range append(secrets, encoded...) {
			if strings.Contains(whole, s) {
				t.Fatalf("output %q holds secret %q", whole, s)
			}
		}
		if want := refMask(text, refPatterns(secrets, nil), true); whole != want {
			t.Fatalf("output differs from the reference\ntext %q\ngot  %q\nwant %q", text, whole, want)
		}
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		var out bytes.Buffer
		w := New(&out, opts)
		rest := text
		for len(rest) > 0 {
			n := 1 + rng.IntN(len(rest))
			if rng.IntN(2) == 0 {
				n = 1 + rng.IntN(min(len(rest), 4))
			}
			w.Write([]byte(rest[:n]))
			rest = rest[n:]
		}
		w.Close()
		if out.String() != whole {
			t.Fatalf("output depends on the split\ntext  %q\nsplit %q\nwhole %q", text, out.String(), whole)
		}
	})
}

// escapeSome writes f with some bytes as %XX escapes: byte j is escaped
// when bit j of the choice bytes is set, in lower case when the bit after
// it is too.
func escapeSome(f string, choice []byte) string {
	var b strings.Builder
	bit := func(n int) bool { return len(choice) > 0 && choice[(n/8)%len(choice)]&(1<<(n%8)) != 0 }
	for j := 0; j < len(f); j++ {
		if !bit(2 * j) {
			b.WriteByte(f[j])
			continue
		}
		const upper, lower = "0123456789ABCDEF", "0123456789abcdef"
		digits := upper
		if bit(2*j + 1) {
			digits = lower
		}
		b.WriteByte('%')
		b.WriteByte(digits[f[j]>>4])
		b.WriteByte(digits[f[j]&15])
	}
	return b.String()
}
