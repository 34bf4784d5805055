package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

var flagName = regexp.MustCompile(`(?:^|[^\w-])--([a-z][a-z0-9-]*)`)

// flagsIn lists the --flags that text names.
func flagsIn(text string) []string {
	var out []string
	for _, m := range flagName.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// ownFlags is the flags of c that its synopsis must list: its own,
// without help and hidden ones.
func ownFlags(c *cobra.Command) []string {
	var out []string
	c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !f.Hidden {
			out = append(out, f.Name)
		}
	})
	slices.Sort(out)
	return out
}

// hasFlag reports whether c takes --name (its own, or the root's).
func hasFlag(c *cobra.Command, name string) bool {
	return c.Flags().Lookup(name) != nil || c.InheritedFlags().Lookup(name) != nil || name == "help" || name == "version" && c.Root() == c
}

// synopses returns, per command, the synopsis under README's "## Use":
// the indented block that starts "thingpress NAME", with its continued
// lines.
func synopses(t *testing.T, readme string) map[string]string {
	t.Helper()
	start := strings.Index(readme, "\n## Use\n")
	if start < 0 {
		t.Fatal(`README.md has no "## Use" section`)
	}
	use := readme[start+1:]
	if end := strings.Index(use[1:], "\n## "); end >= 0 {
		use = use[:end+1]
	}
	out := map[string]string{}
	lines := strings.Split(use, "\n")
	for i := 0; i < len(lines); i++ {
		f := strings.Fields(lines[i])
		if !strings.HasPrefix(lines[i], "    thingpress ") || len(f) < 2 {
			continue
		}
		block := lines[i]
		for strings.HasSuffix(strings.TrimSpace(lines[i]), `\`) && i+1 < len(lines) {
			i++
			block += "\n" + lines[i]
		}
		if _, seen := out[f[1]]; !seen {
			out[f[1]] = block
		}
	}
	return out
}

// TestDocumentedFlags checks that README.md, each command's --help and
// docs/ agree on the flags: README's synopsis of every command on the root
// (new ones too) lists exactly its flags, and every --flag that README,
// docs/ or a command's help text names after "thingpress COMMAND" or in
// that command's help is one the command has.
func TestDocumentedFlags(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard)
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{"README.md": string(readme)}
	paths, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.Join("docs", filepath.Base(p))] = string(data)
	}
	syn := synopses(t, string(readme))
	commands := map[string]*cobra.Command{}
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		commands[c.Name()] = c
		t.Run(c.Name(), func(t *testing.T) {
			s, ok := syn[c.Name()]
			if !ok {
				t.Fatalf("README.md has no synopsis of %q under ## Use (an indented line \"    thingpress %s [--flag ...] ...\" listing its flags)", c.Name(), c.Name())
			}
			documented := flagsIn(s)
			slices.Sort(documented)
			for _, f := range ownFlags(c) {
				if !slices.Contains(documented, f) {
					t.Errorf("README.md's synopsis of %s lacks --%s:\n%s", c.Name(), f, s)
				}
			}
			for _, f := range documented {
				if !hasFlag(c, f) {
					t.Errorf("README.md's synopsis of %s names --%s, which it does not have:\n%s", c.Name(), f, s)
				}
			}
			for _, f := range flagsIn(c.Long) {
				if !hasFlag(c, f) && !otherCommandsFlag(root, c, f) {
					t.Errorf("%s --help names --%s, which it does not have (nor another command its text names)", c.Name(), f)
				}
			}
		})
	}
	// Each line of README.md and docs/ that runs "thingpress COMMAND"
	// names only that command's flags.
	run := regexp.MustCompile(`thingpress ([a-z]+)\b([^` + "`" + `]*)`)
	for name, text := range docs {
		lines := strings.Split(text, "\n")
		for i := 0; i < len(lines); i++ {
			line := lines[i]
			for strings.HasSuffix(strings.TrimSpace(line), `\`) && i+1 < len(lines) {
				i++
				line += " " + lines[i]
			}
			for _, m := range run.FindAllStringSubmatch(line, -1) {
				c, ok := commands[m[1]]
				if !ok {
					continue
				}
				for _, f := range flagsIn(m[2]) {
					if !hasFlag(c, f) {
						t.Errorf("%s:%d: thingpress %s --%s: %s has no such flag", name, i+1, m[1], f, m[1])
					}
				}
			}
		}
	}
}

// otherCommandsFlag reports whether flag f is another command's that
// c's help text names ("import --register-only" in bind's).
func otherCommandsFlag(root, c *cobra.Command, f string) bool {
	for _, o := range root.Commands() {
		if o != c && hasFlag(o, f) && regexp.MustCompile(`\b`+o.Name()+`\b`).MatchString(c.Long) {
			return true
		}
	}
	return false
}
