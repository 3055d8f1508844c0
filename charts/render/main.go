// Command render renders a Helm chart's templates the way `helm template` does,
// for the tests and for users without helm: Go's text/template with the sprig
// functions (the engine Helm uses) plus Helm's include, tpl, required, toYaml,
// fromYaml and the .Values, .Release, .Chart and .Capabilities objects.
// Everything comes from Debian packages; build it offline with
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off go build -o render charts/render/main.go
//
// Usage: render [-f values.yaml]... [--name RELEASE] [--namespace NS] CHART_DIR
// Each rendered file is printed as `---` + `# Source: CHART/templates/FILE`
// then its content; files that render to nothing are left out, as Helm does.
// Not implemented: subcharts, lookup, hooks, --set, .Files, NOTES.txt.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	// Debian keeps sprig v3 at this path of /usr/share/gocode; GOPATH mode finds it here, not at .../v3.
	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

func main() {
	var overlays valueFiles
	flag.Var(&overlays, "f", "a values file merged over the chart's values.yaml (repeatable)")
	name := flag.String("name", "release", "the release name (.Release.Name)")
	namespace := flag.String("namespace", "default", "the release namespace (.Release.Namespace)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: render [-f values.yaml]... [--name RELEASE] [--namespace NS] CHART_DIR")
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), overlays, *name, *namespace)
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

func render(chartDir string, overlays []string, name, namespace string) (string, error) {
	chart, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range overlays {
		overlay, err := readYAML(f)
		if err != nil {
			return "", err
		}
		values = merge(values, overlay)
	}
	chartName, _ := chart["name"].(string)
	top := map[string]interface{}{
		"Values": values,
		"Chart": map[string]interface{}{
			"Name": chartName, "Version": chart["version"], "AppVersion": chart["appVersion"],
			"Description": chart["description"], "Type": chart["type"],
		},
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.28.0", "Major": "1", "Minor": "28"},
		},
	}

	files, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	root := template.New(chartName)
	root.Funcs(funcs(root)).Option("missingkey=zero")
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		if _, err := root.New(chartName + "/templates/" + filepath.Base(f)).Parse(string(text)); err != nil {
			return "", err
		}
	}

	var out strings.Builder
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasPrefix(base, "_") || !(strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")) {
			continue
		}
		source := chartName + "/templates/" + base
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, source, top); err != nil {
			return "", err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", source, strings.TrimSpace(text))
	}
	return out.String(), nil
}

// funcs is sprig's function map plus the functions Helm adds; include and tpl
// need the template set itself.
func funcs(root *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	f["toYaml"] = toYAML
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		if t, err = t.New("tpl").Parse(text); err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return strings.ReplaceAll(buf.String(), "<no value>", ""), err
	}
	return f
}

// toYAML is Helm's toYaml: two-space block YAML without the final newline.
func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func readYAML(path string) (map[string]interface{}, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(text, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return m, nil
}

// merge lays overlay over base as Helm merges values files: maps merge key by
// key, anything else is replaced, and a null in the overlay deletes the key.
func merge(base, overlay map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range overlay {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]interface{})
		om, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = merge(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}
