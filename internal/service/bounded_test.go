package service

import (
	"regexp"
	"strings"
	"testing"
)

// TestBoundedPatterns checks what each bounded pattern accepts against the bounded
// repetition it stands for, at and around its limit.
func TestBoundedPatterns(t *testing.T) {
	cases := []struct {
		name    string
		got     bounded
		want    string
		first   string // a valid first character
		rest    string // a valid later character
		invalid string // an invalid later character
	}{
		{"env name", envNameRE, `^[A-Za-z_][A-Za-z0-9_]{0,127}$`, "A", "9", "-"},
		{"image", imageRE, `^[A-Za-z0-9][A-Za-z0-9._\-/:@]{0,255}$`, "a", ":", " "},
		{"label key", labelKey, `^[A-Za-z0-9][A-Za-z0-9._\-/]{0,127}$`, "k", "/", ":"},
		{"branch", branchRE, `^[A-Za-z0-9_][A-Za-z0-9._/\-]{0,254}$`, "_", "-", "~"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := regexp.MustCompile(tc.want)
			inputs := []string{"", tc.first, tc.rest + tc.first, tc.first + tc.invalid, "é"}
			for n := tc.got.max - 2; n <= tc.got.max+2; n++ {
				inputs = append(inputs, tc.first+strings.Repeat(tc.rest, n-1))
				inputs = append(inputs, tc.first+strings.Repeat(tc.rest, n-2)+tc.invalid)
			}
			for _, in := range inputs {
				if g, w := tc.got.check("f", in, "x") == nil, want.MatchString(in); g != w {
					t.Errorf("%d bytes %.12q...: match %v, %s gives %v", len(in), in, g, tc.want, w)
				}
			}
		})
	}
}
