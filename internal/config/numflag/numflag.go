// Package numflag is numeric command-line flags with an allowed range, for
// the standard flag package and for cobra (pflag) alike: a value outside
// the range, a malformed one, or a bad FLEETMEND_* variable behind it is
// refused with a message that names the flag (or variable) and the range.
// It depends on nothing but the standard library, so the simulator's
// command can use it without linking the Temporal SDK.
package numflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Number is what a range-checked flag holds (time.Duration is an int64).
type Number interface {
	~int | ~int64 | ~float64
}

// Range is the values a numeric flag allows: Min..Max, both included, or
// (Min, Max] when OpenMin is set (e.g. a time scale that must be above 0).
// A value of 0 with a meaning of its own ("no limit", "any free port") is
// simply inside the range, and the flag's help says what it means.
type Range[T Number] struct {
	Min, Max T
	OpenMin  bool
}

func (r Range[T]) contains(v T) bool {
	if r.OpenMin {
		return v > r.Min && v <= r.Max
	}
	// Written so that a NaN is outside every range.
	return v >= r.Min && v <= r.Max
}

func (r Range[T]) text(format func(T) string) string {
	if r.OpenMin {
		return fmt.Sprintf("(%s, %s]", format(r.Min), format(r.Max))
	}
	return format(r.Min) + ".." + format(r.Max)
}

// kind is how one Go type is parsed and shown.
type kind[T Number] struct {
	typ    string // the flag's type in help: int, float, duration
	what   string // "not <what>" in the error for a malformed value
	parse  func(string) (T, error)
	format func(T) string
}

func intKind() kind[int] {
	return kind[int]{typ: "int", what: "an integer", parse: strconv.Atoi, format: strconv.Itoa}
}

func int64Kind() kind[int64] {
	return kind[int64]{typ: "int", what: "an integer",
		parse:  func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) },
		format: func(v int64) string { return strconv.FormatInt(v, 10) }}
}

func floatKind() kind[float64] {
	return kind[float64]{typ: "float", what: "a number",
		parse:  func(s string) (float64, error) { return strconv.ParseFloat(s, 64) },
		format: FormatFloat}
}

func durationKind() kind[time.Duration] {
	return kind[time.Duration]{typ: "duration", what: "a duration (such as 500ms, 30s, 5m, 2h)", parse: time.ParseDuration, format: FormatDuration}
}

// Num is a numeric flag that must lie in a Range. It is a flag.Value, a
// flag.Getter and a pflag.Value, so the standard flag package and cobra
// both take it.
//
// Set never fails: a malformed or out-of-range value is kept as an error
// that Check returns after parsing. So every mistake gets the same message
// naming the flag (or the FLEETMEND_* variable that set it) and the allowed
// range, instead of each flag package's own wording and, for the standard
// package, a full usage dump.
type Num[T Number] struct {
	p      *T
	name   string
	env    string
	r      Range[T]
	k      kind[T]
	err    error // the command line's value
	envErr error // the environment variable's value
}

func newNum[T Number](p *T, name string, def T, r Range[T], k kind[T]) *Num[T] {
	*p = def
	return &Num[T]{p: p, name: name, r: r, k: k}
}

// NewInt is an int flag --name in r, default def, stored in *p.
func NewInt(p *int, name string, def int, r Range[int]) *Num[int] {
	return newNum(p, name, def, r, intKind())
}

// NewInt64 is NewInt for an int64.
func NewInt64(p *int64, name string, def int64, r Range[int64]) *Num[int64] {
	return newNum(p, name, def, r, int64Kind())
}

// NewFloat is NewInt for a float64. NaN and infinities are outside every range.
func NewFloat(p *float64, name string, def float64, r Range[float64]) *Num[float64] {
	return newNum(p, name, def, r, floatKind())
}

// NewDuration is NewInt for a time.Duration ("30s", "5m").
func NewDuration(p *time.Duration, name string, def time.Duration, r Range[time.Duration]) *Num[time.Duration] {
	return newNum(p, name, def, r, durationKind())
}

// FromEnv makes the environment variable env the flag's default when it is
// set and not empty (the command line still wins). A bad value is an error
// naming the variable, reported by Check even when the flag is also given:
// a misconfigured environment should not go unnoticed.
func (n *Num[T]) FromEnv(env string) *Num[T] {
	n.env = env
	if s, ok := os.LookupEnv(env); ok && s != "" {
		v, err := n.parse(env, s)
		if err != nil {
			n.envErr = fmt.Errorf("%w (the variable sets --%s)", err, n.name)
		} else {
			*n.p = v
		}
	}
	return n
}

func (n *Num[T]) parse(who, s string) (T, error) {
	v, err := n.k.parse(strings.TrimSpace(s))
	switch {
	case errors.Is(err, strconv.ErrRange):
		return v, fmt.Errorf("%s is %s, out of range; allowed range is %s", who, s, n.Allowed())
	case err != nil:
		return v, fmt.Errorf("%s is %q, not %s; allowed range is %s", who, s, n.k.what, n.Allowed())
	case !n.r.contains(v):
		return v, fmt.Errorf("%s is %s, allowed range is %s", who, n.k.format(v), n.Allowed())
	}
	return v, nil
}

// Name is the flag's name without dashes.
func (n *Num[T]) Name() string { return n.name }

// Env is the environment variable that sets the flag, if any.
func (n *Num[T]) Env() string { return n.env }

// Allowed is the range as the help and the errors show it, e.g. "2..1000",
// "1s..1h" or "(0, 3600]".
func (n *Num[T]) Allowed() string { return n.r.text(n.k.format) }

// Check reports a bad value of the variable or the flag.
func (n *Num[T]) Check() error {
	if n.envErr != nil {
		return n.envErr
	}
	return n.err
}

// Set takes the command line's value; see Check.
func (n *Num[T]) Set(s string) error {
	v, err := n.parse("--"+n.name, s)
	n.err = err
	if err == nil {
		*n.p = v
	}
	return nil
}

// String shows the current value. The flag package calls it on a zero Num
// to tell whether a default is worth printing.
func (n *Num[T]) String() string {
	if n == nil || n.p == nil {
		return ""
	}
	return n.k.format(*n.p)
}

// Get is the value, for flag.Getter.
func (n *Num[T]) Get() any { return *n.p }

// Type is the type name pflag (cobra) shows in help.
func (n *Num[T]) Type() string { return n.k.typ }

// Checker is a flag value that reports a bad value after parsing.
type Checker interface {
	Check() error
}

// Register adds n to fs with usage, followed by the allowed range and the
// variable that sets it, so the help cannot drift from what is checked.
func Register[T Number](fs *flag.FlagSet, n *Num[T], usage string) {
	fs.Var(n, n.name, Usage(n, usage))
}

// Usage is usage with the allowed range (and the variable, if any) added.
func Usage[T Number](n *Num[T], usage string) string {
	s := usage + ", " + n.Allowed()
	if n.env != "" {
		s += " (" + n.env + ")"
	}
	return s
}

// Parse parses args into fs and then checks every range-checked flag, so
// that the first bad value (in flag name order) is the error. fs should be
// flag.ContinueOnError.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	return CheckFlags(fs)
}

// CheckFlags returns the first error of fs's range-checked flags.
func CheckFlags(fs *flag.FlagSet) error {
	var first error
	fs.VisitAll(func(f *flag.Flag) {
		if c, ok := f.Value.(Checker); ok && first == nil {
			first = c.Check()
		}
	})
	return first
}

// PrintFlags writes fs's flags the way the README spells them (--name),
// with each flag's type, help and default. It replaces flag.PrintDefaults,
// which shows a custom value's type as "value".
func PrintFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		typ := ""
		switch v := f.Value.(type) {
		case interface{ Type() string }:
			typ = " " + v.Type()
		case interface{ IsBoolFlag() bool }:
		default:
			typ = " " + flagType(f)
		}
		fmt.Fprintf(w, "  --%s%s\n    \t%s", f.Name, typ, f.Usage)
		if f.DefValue != "" && !(isBoolFlag(f) && f.DefValue == "false") {
			fmt.Fprintf(w, " (default %s)", quoteIfString(f))
		}
		fmt.Fprintln(w)
	})
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagType names the type of a standard flag package value.
func flagType(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return "value"
	}
	switch g.Get().(type) {
	case string:
		return "string"
	case int, int64, uint, uint64:
		return "int"
	case float64:
		return "float"
	case time.Duration:
		return "duration"
	}
	return "value"
}

func quoteIfString(f *flag.Flag) string {
	if g, ok := f.Value.(flag.Getter); ok {
		if _, isString := g.Get().(string); isString {
			return strconv.Quote(f.DefValue)
		}
	}
	return f.DefValue
}

// FormatFloat is a float as a person writes it: 0.5, 100000, 1000000000
// (whole numbers without an exponent), 1e-06.
func FormatFloat(v float64) string {
	switch {
	case math.IsInf(v, 0) || math.IsNaN(v):
		return fmt.Sprint(v)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// FormatDuration is a duration without the zero units time.Duration.String
// adds: 10m rather than 10m0s, 744h rather than 744h0m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
