package window

import (
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"Mon-Fri 01:00-05:00 Asia/Shanghai":        "Mon-Fri 01:00-05:00 Asia/Shanghai",
		"  mon-FRI\t01:00-05:00   Asia/Shanghai  ": "Mon-Fri 01:00-05:00 Asia/Shanghai",
		"Monday-Friday 01:00-05:00 UTC":            "Mon-Fri 01:00-05:00 UTC",
		"Mon,Tue,Wed,Thu,Fri 22:00-00:00 UTC":      "Mon-Fri 22:00-24:00 UTC",
		"Fri-Mon 22:00-02:00 Europe/Berlin":        "Fri-Mon 22:00-02:00 Europe/Berlin",
		"Sat,Sun,Mon 22:00-02:00 Europe/Berlin":    "Sat-Mon 22:00-02:00 Europe/Berlin",
		"Mon,Wed,Sat 01:00-05:00 Asia/Shanghai":    "Mon,Wed,Sat 01:00-05:00 Asia/Shanghai",
		"Sun,Mon 01:00-05:00 Asia/Shanghai":        "Sun-Mon 01:00-05:00 Asia/Shanghai",
		"Mon-Wed,Fri,Wed-Thu 01:00-05:00 UTC":      "Mon-Fri 01:00-05:00 UTC",
		"Mon-Wed,Fri 01:00-05:00 UTC":              "Mon-Wed,Fri 01:00-05:00 UTC",
		"Sun 23:00-01:00 America/New_York":         "Sun 23:00-01:00 America/New_York",
		"daily 00:00-24:00 UTC":                    "daily 00:00-24:00 UTC",
		"* 00:00-24:00 UTC":                        "daily 00:00-24:00 UTC",
		"DAILY 23:59-00:00 UTC":                    "daily 23:59-24:00 UTC",
		"Mon-Sun 09:30-17:45 Asia/Kolkata":         "daily 09:30-17:45 Asia/Kolkata",
		"Tue-Mon 09:30-17:45 Asia/Kolkata":         "daily 09:30-17:45 Asia/Kolkata",
		"Sun-Sat 01:00-02:00 UTC":                  "daily 01:00-02:00 UTC",
		"Sat-Sun 01:00-02:00 Etc/GMT-8":            "Sat-Sun 01:00-02:00 Etc/GMT-8",
	} {
		sp, err := Parse(in)
		require.NoError(t, err, in)
		require.Equal(t, want, sp.String(), in)
		again, err := Parse(sp.String())
		require.NoError(t, err)
		require.True(t, again.Equal(sp))
		require.Equal(t, want, again.String())
	}
}

func TestParseErrorsNameTheFieldAndWhatIsAllowed(t *testing.T) {
	for in, want := range map[string]string{
		"Mon-Fri 25:00-05:00 Asia/Shanghai":       `window "Mon-Fri 25:00-05:00 Asia/Shanghai": start time "25:00" must be HH:MM, 00:00..23:59`,
		"Mon-Fri 24:00-05:00 Asia/Shanghai":       `window "Mon-Fri 24:00-05:00 Asia/Shanghai": start time "24:00" must be HH:MM, 00:00..23:59`,
		"Mon-Fri 1:00-05:00 Asia/Shanghai":        `window "Mon-Fri 1:00-05:00 Asia/Shanghai": start time "1:00" must be HH:MM, 00:00..23:59`,
		"Mon-Fri 01:60-05:00 Asia/Shanghai":       `window "Mon-Fri 01:60-05:00 Asia/Shanghai": start time "01:60" must be HH:MM, 00:00..23:59`,
		"Mon-Fri 01:00-24:01 Asia/Shanghai":       `window "Mon-Fri 01:00-24:01 Asia/Shanghai": end time "24:01" must be HH:MM, 00:00..24:00`,
		"Mon-Fri 01:00-5am Asia/Shanghai":         `window "Mon-Fri 01:00-5am Asia/Shanghai": end time "5am" must be HH:MM, 00:00..24:00`,
		"Mon-Fri 01:00 Asia/Shanghai":             `window "Mon-Fri 01:00 Asia/Shanghai": time range "01:00" must be HH:MM-HH:MM, e.g. 01:00-05:00 (22:00-02:00 crosses midnight)`,
		"Mon-Fri 01:00-02:00-03:00 UTC":           `window "Mon-Fri 01:00-02:00-03:00 UTC": time range "01:00-02:00-03:00" must be HH:MM-HH:MM, e.g. 01:00-05:00 (22:00-02:00 crosses midnight)`,
		"Mon-Fri 01:00-01:00 Asia/Shanghai":       `window "Mon-Fri 01:00-01:00 Asia/Shanghai": time range "01:00-01:00" is empty (it starts and ends at the same time); a whole day is 00:00-24:00`,
		"Mon-Fri 00:00-00:00 UTC":                 `window "Mon-Fri 00:00-00:00 UTC": time range "00:00-00:00" is empty (it starts and ends at the same time); a whole day is 00:00-24:00`,
		"Mon-Fry 01:00-05:00 UTC":                 `window "Mon-Fry 01:00-05:00 UTC": days "Mon-Fry" must be a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun), a range (Mon-Fri, Fri-Mon), a comma list (Mon,Wed,Sat or Mon-Wed,Fri), or daily (*)`,
		"Mon-Mon 01:00-05:00 UTC":                 `window "Mon-Mon 01:00-05:00 UTC": days "Mon-Mon" must be a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun), a range (Mon-Fri, Fri-Mon), a comma list (Mon,Wed,Sat or Mon-Wed,Fri), or daily (*)`,
		"Mon,,Fri 01:00-05:00 UTC":                `window "Mon,,Fri 01:00-05:00 UTC": days "Mon,,Fri" must be a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun), a range (Mon-Fri, Fri-Mon), a comma list (Mon,Wed,Sat or Mon-Wed,Fri), or daily (*)`,
		"daily,Mon 01:00-05:00 UTC":               `window "daily,Mon 01:00-05:00 UTC": days "daily,Mon" must be a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun), a range (Mon-Fri, Fri-Mon), a comma list (Mon,Wed,Sat or Mon-Wed,Fri), or daily (*)`,
		"Mon-Fri 01:00-05:00 Asia/Shangai":        `window "Mon-Fri 01:00-05:00 Asia/Shangai": zone "Asia/Shangai" must be an IANA time zone name such as Asia/Shanghai, Europe/Berlin or UTC`,
		"Mon-Fri 01:00-05:00 Local":               `window "Mon-Fri 01:00-05:00 Local": zone "Local" must be an IANA time zone name such as Asia/Shanghai, Europe/Berlin or UTC`,
		"Mon-Fri 01:00-05:00 ../etc/passwd":       `window "Mon-Fri 01:00-05:00 ../etc/passwd": zone "../etc/passwd" must be an IANA time zone name such as Asia/Shanghai, Europe/Berlin or UTC`,
		"Mon-Fri 01:00-05:00":                     `window "Mon-Fri 01:00-05:00": must be "<days> <HH:MM-HH:MM> <zone>", e.g. "Mon-Fri 01:00-05:00 Asia/Shanghai"; got 2 fields`,
		"":                                        `window "": must be "<days> <HH:MM-HH:MM> <zone>", e.g. "Mon-Fri 01:00-05:00 Asia/Shanghai"; got 0 fields`,
		"Mon-Fri 01:00-05:00 Asia/Shanghai extra": `window "Mon-Fri 01:00-05:00 Asia/Shanghai extra": must be "<days> <HH:MM-HH:MM> <zone>", e.g. "Mon-Fri 01:00-05:00 Asia/Shanghai"; got 4 fields`,
	} {
		_, err := Parse(in)
		require.Error(t, err, in)
		require.Equal(t, want, err.Error())
		var pe *ParseError
		require.True(t, errors.As(err, &pe))
	}
	long := "Mon-Fri 01:00-05:00 " + strings.Repeat("A", MaxSpecLen)
	_, err := Parse(long)
	require.EqualError(t, err, `window "Mon-Fri 01:00-05:00 AAAAAAAAAAAAAAAAAAAA…": is `+strconv.Itoa(len(long))+` bytes long; at most 200`)
}

func TestFieldOfEachError(t *testing.T) {
	for in, field := range map[string]string{
		"Xyz 01:00-05:00 UTC":      FieldDays,
		"Mon 0100 UTC":             FieldRange,
		"Mon 01:00-01:00 UTC":      FieldRange,
		"Mon 99:00-05:00 UTC":      FieldStart,
		"Mon 01:00-99:00 UTC":      FieldEnd,
		"Mon 01:00-05:00 Mars/Sol": FieldZone,
	} {
		_, err := Parse(in)
		var pe *ParseError
		require.True(t, errors.As(err, &pe), in)
		require.Equal(t, field, pe.Field, in)
	}
}

func TestJSONIsTheSpecString(t *testing.T) {
	type input struct {
		Windows Set `json:"windows"`
	}
	in := input{Windows: Set{MustParse("mon-fri 01:00-05:00 Asia/Shanghai"), MustParse("Sat 22:00-02:00 Europe/Berlin")}}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	require.JSONEq(t, `{"windows":["Mon-Fri 01:00-05:00 Asia/Shanghai","Sat 22:00-02:00 Europe/Berlin"]}`, string(b))
	var out input
	require.NoError(t, json.Unmarshal(b, &out))
	require.Len(t, out.Windows, 2)
	for i := range in.Windows {
		require.True(t, in.Windows[i].Equal(out.Windows[i]))
	}
	require.Equal(t, in.Windows.String(), out.Windows.String())

	err = json.Unmarshal([]byte(`{"windows":["Mon-Fri 25:00-05:00 Asia/Shanghai"]}`), &out)
	require.EqualError(t, err, `window "Mon-Fri 25:00-05:00 Asia/Shanghai": start time "25:00" must be HH:MM, 00:00..23:59`)
	err = json.Unmarshal([]byte(`{"windows":[42]}`), &out)
	require.ErrorContains(t, err, `window: a spec must be a JSON string such as "Mon-Fri 01:00-05:00 Asia/Shanghai"`)

	_, err = json.Marshal(Spec{})
	require.ErrorContains(t, err, "cannot marshal the zero Spec")
	require.Equal(t, "", Spec{}.String())
}

func TestParseSet(t *testing.T) {
	s, err := ParseSet("Mon-Fri 01:00-05:00 Asia/Shanghai", "Sat 22:00-02:00 Europe/Berlin")
	require.NoError(t, err)
	require.Equal(t, "Mon-Fri 01:00-05:00 Asia/Shanghai; Sat 22:00-02:00 Europe/Berlin", s.String())
	_, err = ParseSet("Mon-Fri 01:00-05:00 Asia/Shanghai", "Sat 22:00-02:00 Europe/Berln")
	require.EqualError(t, err, `window "Sat 22:00-02:00 Europe/Berln": zone "Europe/Berln" must be an IANA time zone name such as Asia/Shanghai, Europe/Berlin or UTC`)
}

// TestImportsOnlyTheStandardLibrary: the package is imported by
// deterministic workflow code, and embeds its zone data.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	tzdata := false
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		parsed, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			require.NotContains(t, first, ".", "%s imports %s: the window package takes the standard library only", f, path)
			tzdata = tzdata || path == "time/tzdata"
		}
	}
	require.True(t, tzdata, "the package must import time/tzdata so a minimal container knows every zone")
}
