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
		// form k of a secret, so that the fuzzer finds occurrences.
		var forms []string
		for _, s := range secrets {
			forms = append(forms, Forms(s)...)
		}
		var tb strings.Builder
		for i := 0; i < len(input); i++ {
			if input[i] == 1 && i+1 < len(input) && len(forms) > 0 {
				tb.WriteString(forms[int(input[i+1])%len(forms)])
				i++
				continue
			}
			tb.WriteByte(input[i])
		}
		text := tb.String()

		opts := Options{Secrets: secrets}
		whole := maskAll(t, opts, text)
		for _, s := range secrets {
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
