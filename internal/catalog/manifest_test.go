package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// exampleManifest is the manifest from the issue that introduced spacepods.yaml.
const exampleManifest = `name: catalog-api
repo: acme/catalog-api
kind: web                    # web | worker
port: 8080
health: /healthz
command: ["/app", "serve"]   # optional; default: the image's own entrypoint
dependencies: [pricing-api]  # their URLs are injected as PRICING_API_URL
database:
  engine: postgres
  seed: db/seed.sql          # file next to the manifest (the CLI uploads it), or: snapshot: NAME
migrate: ["/app", "migrate"]
env: {LOG_LEVEL: info}
rollout: {stages: [25, 50, 100], replicas: {default: 1, production: 4}}
workers:                     # auxiliary processes of the same image; they skip the slow rollout
  - {name: jobs, command: ["/app", "worker"]}
tests: {image: acme/catalog-api-tests, command: ["/tests"]}
`

// head is the start of a valid web manifest that problem cases extend.
const head = "name: catalog-api\nrepo: acme/catalog-api\nkind: web\nport: 8080\n"

// workerHead is the start of a valid worker manifest.
const workerHead = "name: mailer\nrepo: acme/mailer\nkind: worker\n"

func TestParseManifest_ExampleFromIssue(t *testing.T) {
	app, err := ParseManifest([]byte(exampleManifest))
	if err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	want := &spacepods.App{
		Name:         "catalog-api",
		Repo:         "acme/catalog-api",
		Kind:         spacepods.KindWeb,
		Port:         8080,
		Health:       "/healthz",
		Command:      []string{"/app", "serve"},
		Dependencies: []string{"pricing-api"},
		Database:     &spacepods.Database{Engine: "postgres", Seed: "db/seed.sql"},
		Migrate:      []string{"/app", "migrate"},
		Env:          map[string]string{"LOG_LEVEL": "info"},
		Rollout:      spacepods.Rollout{Stages: []int{25, 50, 100}, Replicas: map[string]int{"default": 1, "production": 4}},
		Workers:      []spacepods.Worker{{Name: "jobs", Command: []string{"/app", "worker"}}},
		Tests:        &spacepods.TestSuite{Image: "acme/catalog-api-tests", Command: []string{"/tests"}},
	}
	if !reflect.DeepEqual(app, want) {
		t.Errorf("got  %+v\nwant %+v", app, want)
	}
}

func TestParseManifest_ExampleSystem(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*/spacepods.yaml")
	if len(files) == 0 {
		t.Skip("no example manifests")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseManifest(data); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
	}
}

var validManifests = []struct {
	name string
	yaml string
	want spacepods.App
}{
	{
		name: "minimal web app",
		yaml: head,
		want: spacepods.App{Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080},
	},
	{
		name: "minimal worker",
		yaml: workerHead,
		want: spacepods.App{Name: "mailer", Repo: "acme/mailer", Kind: "worker"},
	},
	{
		name: "block style everywhere",
		yaml: `name: storefront
repo: acme/storefront
kind: web
port: 3000
command:
  - /app
  - serve
dependencies:
  - catalog-api
  - pricing-api
database:
  engine: postgres
  snapshot: nightly
env:
  LOG_LEVEL: debug
  GREETING: "hello: world"
rollout:
  stages:
    - 10
    - 100
  replicas:
    default: 2
workers:
  - name: jobs
    command:
      - /app
      - jobs
tests:
  image: acme/storefront-tests
`,
		want: spacepods.App{
			Name: "storefront", Repo: "acme/storefront", Kind: "web", Port: 3000,
			Command:      []string{"/app", "serve"},
			Dependencies: []string{"catalog-api", "pricing-api"},
			Database:     &spacepods.Database{Engine: "postgres", Snapshot: "nightly"},
			Env:          map[string]string{"LOG_LEVEL": "debug", "GREETING": "hello: world"},
			Rollout:      spacepods.Rollout{Stages: []int{10, 100}, Replicas: map[string]int{"default": 2}},
			Workers:      []spacepods.Worker{{Name: "jobs", Command: []string{"/app", "jobs"}}},
			Tests:        &spacepods.TestSuite{Image: "acme/storefront-tests"},
		},
	},
	{
		name: "document marker, comments, quotes and CRLF line ends",
		yaml: "---\r\n# the catalog\r\n'name': \"catalog-api\"\r\nrepo: 'acme/catalog-api'\r\nkind: web # serves HTTP\r\nport: 0x1F90\r\n",
		want: spacepods.App{Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080},
	},
	{
		name: "byte order mark",
		yaml: "\xef\xbb\xbf" + head,
		want: spacepods.App{Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080},
	},
	{
		name: "empty optional values",
		yaml: head + "health:\ncommand:\ndependencies: []\ndatabase:\nenv: {}\nrollout:\nworkers: []\ntests: ~\n",
		want: spacepods.App{Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080, Dependencies: []string{}, Env: map[string]string{}, Workers: []spacepods.Worker{}},
	},
	{
		name: "anchors and aliases",
		yaml: head + "command: &cmd [\"/app\", \"serve\"]\nworkers:\n  - {name: jobs, command: *cmd}\n",
		want: spacepods.App{
			Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080,
			Command: []string{"/app", "serve"},
			Workers: []spacepods.Worker{{Name: "jobs", Command: []string{"/app", "serve"}}},
		},
	},
	{
		name: "string tag and literal block",
		yaml: head + "env:\n  RETRIES: !!str 3\n  MOTD: |\n    hello\n    world\n",
		want: spacepods.App{
			Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080,
			Env: map[string]string{"RETRIES": "3", "MOTD": "hello\nworld\n"},
		},
	},
	{
		name: "quoted numbers and booleans in lists and env",
		yaml: head + "command: [\"sleep\", \"5\"]\nenv: {DEBUG: \"true\", WORKERS: \"4\"}\n",
		want: spacepods.App{
			Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080,
			Command: []string{"sleep", "5"},
			Env:     map[string]string{"DEBUG": "true", "WORKERS": "4"},
		},
	},
	{
		name: "args, timeouts",
		yaml: head + "args: [serve, --fast]\nmigrate: [/app, migrate]\nmigrate_timeout: 90s\n" +
			"workers:\n  - {name: jobs, args: [worker]}\n  - {name: cron, command: [/cron], args: [-v]}\n" +
			"tests: {image: acme/t, args: [-run, smoke], timeout: 1h30m}\n",
		want: spacepods.App{
			Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080,
			Args: []string{"serve", "--fast"}, Migrate: []string{"/app", "migrate"}, MigrateTimeout: "90s",
			Workers: []spacepods.Worker{{Name: "jobs", Args: []string{"worker"}}, {Name: "cron", Command: []string{"/cron"}, Args: []string{"-v"}}},
			Tests:   &spacepods.TestSuite{Image: "acme/t", Args: []string{"-run", "smoke"}, Timeout: "1h30m"},
		},
	},
	{
		name: "image repository",
		yaml: head + "image: {repository: acme/shop/catalog-api}\n",
		want: spacepods.App{Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080, Image: &spacepods.Image{Repository: "acme/shop/catalog-api"}},
	},
	{
		name: "build source",
		yaml: head + "build: {git: \"https://git.example.com/acme/catalog-api.git\", context: services/api, dockerfile: services/api/Dockerfile.prod}\n",
		want: spacepods.App{
			Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080,
			Build: &spacepods.BuildSource{Git: "https://git.example.com/acme/catalog-api.git", Context: "services/api", Dockerfile: "services/api/Dockerfile.prod"},
		},
	},
	{
		name: "build source, scp-like URL and file URL",
		yaml: head + "build:\n  git: git@git.example.com:acme/catalog-api.git\n",
		want: spacepods.App{
			Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080,
			Build: &spacepods.BuildSource{Git: "git@git.example.com:acme/catalog-api.git"},
		},
	},
	{
		// No git: the builder asks the forge for repo:'s clone URL.
		name: "build source from the forge",
		yaml: head + "build: {dockerfile: deploy/Dockerfile}\n",
		want: spacepods.App{
			Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080,
			Build: &spacepods.BuildSource{Dockerfile: "deploy/Dockerfile"},
		},
	},
	{
		name: "trailing empty document",
		yaml: head + "---\n",
		want: spacepods.App{Name: "catalog-api", Repo: "acme/catalog-api", Kind: "web", Port: 8080},
	},
}

func TestParseManifest_Valid(t *testing.T) {
	for _, tt := range validManifests {
		t.Run(tt.name, func(t *testing.T) {
			app, err := ParseManifest([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("ParseManifest: %v", err)
			}
			if !reflect.DeepEqual(*app, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *app, tt.want)
			}
		})
	}
}

// problemCases each hold a manifest with one problem, its line and a
// fragment of its rendered text ("line N: field: message").
var problemCases = []struct {
	name string
	yaml string
	line int
	want string
}{
	// name, repo, kind
	{"name missing", "repo: acme/x\nkind: worker\n", 1, `name: name is required`},
	{"name not a DNS label", "name: Catalog_API\nrepo: acme/x\nkind: worker\n", 1, `name: "Catalog_API" is not a valid name`},
	{"name reads as a release", "name: shop-r2\nrepo: acme/x\nkind: worker\n", 1, `name: "shop-r2" ends in -r and a number, which is how Spacepods names releases (shop-r2 is release 2 of app shop): choose another name`},
	{"name is a list", "name: [a]\nrepo: acme/x\nkind: worker\n", 1, `name: expected text, found a list: write e.g. name: catalog-api`},
	{"name is a number", "repo: acme/x\nkind: worker\nname: 42\n", 3, `name: expected text, found the number 42: write e.g. name: catalog-api, or quote the value: "42"`},
	{"repo missing", "name: x\nkind: worker\n", 1, `repo: repo is required`},
	{"repo not owner/name", "name: x\nrepo: catalog-api\nkind: worker\n", 2, `repo: "catalog-api" is not owner/name`},
	{"kind misspelled", "name: x\nrepo: acme/x\n\nkind: webb\nport: 1\n", 4, `line 4: kind: "webb" is not a kind: write web (serves HTTP) or worker (does not)`},
	{"kind missing", "name: x\nrepo: acme/x\n", 1, `kind: kind is required: web (serves HTTP) or worker (does not)`},
	// port and health
	{"port quoted", "name: x\nrepo: acme/x\nkind: web\nport: \"8080\"\n", 4, `port: expected a whole number, found the string "8080": write port: 8080 (without quotes)`},
	{"port out of range", head[:len(head)-len("port: 8080\n")] + "port: 70000\n", 4, `port: a web app needs a port between 1 and 65535`},
	{"port missing on a web app", "name: x\nrepo: acme/x\nkind: web\n", 3, `port: a web app needs a port`},
	{"port not whole", "name: x\nrepo: acme/x\nkind: web\nport: 80.5\n", 4, `port: expected a whole number, found the number 80.5: write e.g. port: 8080`},
	{"port overflows", "name: x\nrepo: acme/x\nkind: web\nport: 99999999999999999999\n", 4, `port: the number 99999999999999999999 is out of range`},
	{"port is a boolean", "name: x\nrepo: acme/x\nkind: web\nport: true\n", 4, `port: expected a whole number, found true (a boolean)`},
	{"port on a worker", workerHead + "port: 8080\n", 4, `port: a worker does not serve HTTP: remove port, or set kind: web`},
	{"health without slash", head + "health: healthz\n", 5, `health: "healthz" must be a path starting with '/'`},
	{"health on a worker", workerHead + "health: /healthz\n", 4, `health: a worker has no HTTP health check`},
	// build
	{"build is a string", head + "build: https://git.example.com/acme/x.git\n", 5, `build: build is a mapping: write build: {git: https://git.example.com/acme/x.git}`},
	{"build git not a URL", head + "build: {git: acme/x}\n", 5, `build.git: "acme/x" is not a clone URL`},
	{"build git ftp", head + "build: {git: \"ftp://h/x.git\"}\n", 5, `build.git: "ftp://h/x.git" is not a clone URL`},
	{"build context escapes", head + "build: {git: \"file:///srv/x.git\", context: ../other}\n", 5, `build.context: "../other" is not a directory of the repository`},
	{"build dockerfile absolute", head + "build: {git: \"file:///srv/x.git\", dockerfile: /etc/Dockerfile}\n", 5, `build.dockerfile: "/etc/Dockerfile" is not a file of the repository`},
	{"build dockerfile outside context", head + "build: {git: \"file:///srv/x.git\", context: api, dockerfile: web/Dockerfile}\n", 5, `build.dockerfile: "web/Dockerfile" is outside the build context api`},
	// command and migrate
	{"command is a string", head + "command: /app serve --fast\n", 5, `command: expected a list, found the string "/app serve --fast": write command: ["/app", "serve", "--fast"]`},
	{"command has an empty argument", head + "command: [\"/app\", \"\"]\n", 5, `command: empty argument`},
	{"command argument is a number", head + "command:\n  - sleep\n  - 5\n", 7, `command[1]: expected text, found the number 5: quote it, "5"`},
	{"command argument is a mapping", head + "command: [{a: b}]\n", 5, `command[0]: expected text, found a mapping`},
	{"migrate is a mapping", head + "migrate: {run: x}\n", 5, `migrate: expected a list, found a mapping: write e.g. migrate: ["/app", "migrate"]`},
	{"args is a string", head + "args: serve --fast\n", 5, `args: expected a list, found the string "serve --fast": write args: ["serve", "--fast"]`},
	{"args has an empty argument", head + "args: [serve, \"\"]\n", 5, `args: empty argument`},
	// image
	{"image is a reference", head + "image: registry.example:5000/acme/api:3\n", 5, `image: image is a mapping: write image: {repository: acme/api}`},
	{"image repository with a tag", head + "image: {repository: acme/api:3}\n", 5, `image.repository: "acme/api:3" is not a registry repository: write lowercase path elements separated by '/', without the registry host or a tag`},
	{"image repository in capitals", head + "image: {repository: Acme/API}\n", 5, `image.repository: "Acme/API" is not a registry repository`},
	// task timeouts
	{"migrate_timeout without a unit", head + "migrate: [/app, migrate]\nmigrate_timeout: 600\n", 6, `migrate_timeout: expected a duration with its unit, found the number 600: write e.g. migrate_timeout: 600s (s, m or h)`},
	{"migrate_timeout not a duration", head + "migrate: [/app, migrate]\nmigrate_timeout: ten minutes\n", 6, `migrate_timeout: "ten minutes" is not a timeout from 1s to 24h: write a duration such as 90s, 10m or 1h30m`},
	{"migrate_timeout too long", head + "migrate: [/app, migrate]\nmigrate_timeout: 48h\n", 6, `migrate_timeout: "48h" is not a timeout from 1s to 24h`},
	{"migrate_timeout too short", head + "migrate: [/app, migrate]\nmigrate_timeout: 10ms\n", 6, `migrate_timeout: "10ms" is not a timeout from 1s to 24h`},
	{"migrate_timeout without migrate", head + "migrate_timeout: 5m\n", 5, `migrate_timeout: there is no migrate command to time out`},
	{"tests timeout is a list", head + "tests: {image: acme/t, timeout: [5m]}\n", 5, `tests.timeout: expected a duration, found a list: write e.g. timeout: 10m`},
	{"tests timeout negative", head + "tests:\n  image: acme/t\n  timeout: -5m\n", 7, `tests.timeout: "-5m" is not a timeout from 1s to 24h`},
	{"timeout at the top level", head + "timeout: 5m\n", 5, `unknown key "timeout": the migration's timeout is migrate_timeout: 10m`},
	// dependencies
	{"dependency on itself", head + "dependencies: [pricing-api, catalog-api]\n", 5, `dependencies[1]: an app cannot depend on itself`},
	{"dependency listed twice", head + "dependencies:\n  - a\n  - b\n  - a\n", 8, `dependencies[2]: "a" is listed twice`},
	{"dependency not a name", head + "dependencies: [Pricing_API]\n", 5, `dependencies[0]: "Pricing_API" is not a valid app name`},
	{"dependencies is a string", head + "dependencies: pricing-api, tax-api\n", 5, `dependencies: expected a list, found the string "pricing-api, tax-api": write dependencies: [pricing-api, tax-api]`},
	// database
	{"database engine unsupported", head + "database:\n  engine: mysql\n", 6, `database.engine: "mysql" is not a supported engine: write engine: postgres`},
	{"database engine missing", head + "database:\n  seed: db/seed.sql\n", 5, `database.engine: "" is not a supported engine`},
	{"database seed and snapshot", head + "database:\n  engine: postgres\n  seed: a.sql\n  snapshot: nightly\n", 5, `database: seed and snapshot exclude each other`},
	{"database snapshot not a name", head + "database: {engine: postgres, snapshot: Nightly_1}\n", 5, `database.snapshot: "Nightly_1" is not a valid snapshot name`},
	{"database is a string", head + "database: postgres\n", 5, `database: database is a mapping: write database: {engine: postgres}`},
	{"database is a list", head + "database: [postgres]\n", 5, `database: expected a mapping of keys to values, found a list`},
	// env
	{"env name invalid", head + "env:\n  LOG_LEVEL: info\n  9LIVES: x\n", 7, `env.9LIVES: "9LIVES" is not a valid env var name`},
	{"env name standard", head + "env: {DATABASE_URL: postgres://x}\n", 5, `env.DATABASE_URL: DATABASE_URL is set by Spacepods itself: choose another name`},
	{"env sets a dependency URL", head + "dependencies: [pricing-api]\nenv:\n  PRICING_API_URL: http://localhost:9000\n", 7, `env.PRICING_API_URL: PRICING_API_URL is set by Spacepods to the URL of dependency pricing-api: choose another name`},
	{"env value number", head + "env:\n  WORKERS: 4\n", 6, `env.WORKERS: expected text, found the number 4: env values are strings, quote it: WORKERS: "4"`},
	{"env value boolean", head + "env:\n  DEBUG: true\n", 6, `env.DEBUG: expected text, found true (a boolean): env values are strings, quote it: DEBUG: "true"`},
	{"env value missing", head + "env:\n  DEBUG:\n", 6, `env.DEBUG: has no value: write DEBUG: "" for an empty value, or remove it`},
	{"env value list", head + "env: {HOSTS: [a, b]}\n", 5, `env.HOSTS: expected text, found a list`},
	{"env is a list", head + "env:\n  - LOG_LEVEL=info\n", 5, `env: expected a mapping of names to values, found a list: write env: {LOG_LEVEL: info}`},
	// rollout
	{"stages falling", head + "rollout:\n  stages: [50, 25, 100]\n", 6, `rollout.stages[1]: stages are rising percentages ending at 100`},
	{"stages not ending at 100", head + "rollout:\n  stages: [25, 50]\n", 6, `rollout.stages: the last stage must be 100`},
	{"stage with a percent sign", head + "rollout:\n  stages:\n    - 25\n    - 50%\n    - 100\n", 8, `rollout.stages[1]: expected a whole number, found "50%": write 50 (without the %)`},
	{"stage quoted", head + "rollout: {stages: [\"25\", 100]}\n", 5, `rollout.stages[0]: expected a whole number, found the string "25": write 25 (without quotes)`},
	{"stages is a number", head + "rollout: {stages: 100}\n", 5, `rollout.stages: expected a list of percentages, found the number 100: write e.g. stages: [25, 50, 100]`},
	{"replicas negative", head + "rollout:\n  replicas:\n    production: -1\n", 7, `rollout.replicas.production: replicas must be between 0 and 100`},
	{"replicas for a bad environment name", head + "rollout:\n  replicas: {Prod: 2}\n", 6, `rollout.replicas.Prod: "Prod" is not an environment name`},
	{"replicas is a number", head + "rollout:\n  replicas: 3\n", 6, `rollout.replicas: expected a mapping of environments to counts, found the number 3: write replicas: {default: 3}`},
	{"replicas count is text", head + "rollout: {replicas: {default: two}}\n", 5, `rollout.replicas.default: expected a whole number, found the string "two"`},
	{"rollout is a list", head + "rollout: [25, 50, 100]\n", 5, `rollout: expected a mapping of keys to values, found a list: write e.g. rollout: {stages: [25, 50, 100]`},
	// workers
	{"worker without command", head + "workers:\n  - name: jobs\n", 6, `workers[0].command: a worker needs a command`},
	{"worker args is a string", head + "workers: [{name: jobs, args: work}]\n", 5, `workers[0].args: expected a list, found the string "work": write args: ["work"]`},
	{"worker name invalid", head + "workers:\n  - {name: Jobs, command: [/app]}\n", 6, `workers[0].name: "Jobs" is not a valid worker name`},
	{"worker name missing", head + "workers:\n  - command: [/app]\n", 6, `workers[0].name: "" is not a valid worker name`},
	{"worker listed twice", head + "workers:\n  - {name: jobs, command: [/a]}\n  - {name: jobs, command: [/b]}\n", 7, `workers[1].name: worker "jobs" is listed twice`},
	{"worker is a string", head + "workers:\n  - jobs\n", 6, `workers[0]: expected a worker (a mapping with name and command), found the string "jobs"`},
	{"workers is a mapping", head + "workers:\n  name: jobs\n  command: [/app]\n", 5, `workers: expected a list of workers, found a mapping: start each worker with '- '`},
	{"worker command is a string", head + "workers: [{name: jobs, command: /app work}]\n", 5, `workers[0].command: expected a list, found the string "/app work": write command: ["/app", "work"]`},
	// tests
	{"tests without image", head + "tests:\n  command: [/tests]\n", 5, `tests.image: tests need an image`},
	{"tests is a string", head + "tests: acme/tests\n", 5, `tests: expected a mapping of keys to values, found the string "acme/tests": write e.g. tests: {image: acme/catalog-api-tests`},
	// YAML itself
	{"duplicate top-level key", head + "name: other\n", 5, `name: duplicate key "name" (first at line 1): keep one`},
	{"duplicate env key", head + "env:\n  A: x\n  A: y\n", 7, `env.A: duplicate key "A" (first at line 6): keep one`},
	{"syntax error", head + "command: [\"/app\", \"serve\"\n", 5, `this is not valid YAML`},
	{"tab indentation", head + "env:\n\tA: x\n", 6, `(YAML indents with spaces, not tabs)`},
	{"empty document", "", 1, `the manifest is empty`},
	{"only comments", "# nothing yet\n", 1, `the manifest is empty`},
	{"a list, not a mapping", "- name: x\n", 1, `the manifest must be a mapping of keys to values such as name: catalog-api, found a list`},
	{"a scalar, not a mapping", "catalog-api\n", 1, `the manifest must be a mapping of keys to values such as name: catalog-api, found the string "catalog-api"`},
	{"two documents", head + "---\nname: other\n", 5, `a manifest holds one document, but a second one starts at line 5`},
	{"undefined alias", head + "command: *cmd\n", 5, `command: expected a list, found the alias *cmd, whose anchor &cmd is not defined`},
	{"custom tag", head + "health: !path /healthz\n", 5, `health: expected text, found a value tagged !path (Spacepods knows no tags)`},
	{"merge key", head + "<<: {kind: web}\n", 5, `merge keys (<<) are not supported: write the keys out`},
	{"key is a number", head + "8080: x\n", 5, `a key must be a name, found the number 8080`},
	{"not UTF-8", head + "env: {A: \"\xff\"}\n", 5, `the manifest is not UTF-8 text`},
	{"nested too deep", head + "command: " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n", 5, `values are nested more than 32 levels deep`},
}

func TestParseManifest_Problems(t *testing.T) {
	for _, tt := range problemCases {
		t.Run(tt.name, func(t *testing.T) {
			assertProblem(t, tt.yaml, tt.line, tt.want)
		})
	}
}

// unknownKeyCases hold an unknown key at every depth of the manifest.
var unknownKeyCases = []struct {
	name string
	yaml string
	line int
	want string
}{
	{"top level, misspelled", "name: catalog-api\nrepo: acme/catalog-api\nkind: web\nport: 8080\n\n\ndependecies: [pricing-api]\n", 7,
		`line 7: unknown key "dependecies": did you mean "dependencies"? valid keys are name, repo, kind, port, health, command, args, dependencies, database, migrate, migrate_timeout, env, rollout, workers, tests, previews, pipeline, build`},
	{"top level, another tool's word", head + "depends_on: [pricing-api]\n", 5, `unknown key "depends_on": did you mean "dependencies"?`},
	{"top level, wrong case", head + "Health: /healthz\n", 5, `unknown key "Health": did you mean "health"?`},
	{"top level, belongs in a section", head + "engine: postgres\n", 5, `unknown key "engine": engine belongs under database: write database: {engine: postgres}; valid keys are name,`},
	{"tests, image repository", head + "tests: {image: acme/t, repository: acme/t}\n", 5, `tests: unknown key "repository": valid keys are image, command, args, timeout`},
	{"top level, nothing like it", head + "owner: team-a\n", 5, `line 5: unknown key "owner": valid keys are name, repo, kind,`},
	{"database", head + "database:\n  engine: postgres\n  seeds: db/seed.sql\n", 7, `line 7: database: unknown key "seeds": did you mean "seed"? valid keys are engine, seed, snapshot`},
	{"rollout", head + "rollout: {stage: [25, 100]}\n", 5, `line 5: rollout: unknown key "stage": did you mean "stages"? valid keys are stages, replicas`},
	{"workers[i]", head + "workers:\n  - name: jobs\n    cmd: [/app]\n", 7, `line 7: workers[0]: unknown key "cmd": did you mean "command"? valid keys are name, command, args`},
	{"second worker", head + "workers:\n  - {name: a, command: [/a]}\n  - {name: b, command: [/b], replicas: 2}\n", 7, `line 7: workers[1]: unknown key "replicas": valid keys are name, command, args`},
	{"build", head + "build:\n  git: file:///srv/git/x.git\n  docker_file: Dockerfile\n", 7, `line 7: build: unknown key "docker_file": did you mean "dockerfile"? valid keys are git, context, dockerfile`},
	{"top level, dockerfile", head + "dockerfile: Dockerfile\n", 5, `unknown key "dockerfile": dockerfile belongs under build: write build: {git: URL, dockerfile: Dockerfile}`},
	{"tests", head + "tests:\n  image: acme/t\n  cmd: [/tests]\n", 7, `line 7: tests: unknown key "cmd": did you mean "command"? valid keys are image, command, args, timeout`},
	{"store-only field", head + "version: 3\n", 5, `unknown key "version"`},
	{"database upload field", head + "database: {engine: postgres, seed_sql: \"select 1\"}\n", 5, `database: unknown key "seed_sql": did you mean "seed"?`},
}

func TestParseManifest_UnknownKeys(t *testing.T) {
	for _, tt := range unknownKeyCases {
		t.Run(tt.name, func(t *testing.T) {
			assertProblem(t, tt.yaml, tt.line, tt.want)
		})
	}
}

// assertProblem checks that yaml fails with a problem on line whose
// rendered text contains want.
func assertProblem(t *testing.T, yaml string, line int, want string) {
	t.Helper()
	app, err := ParseManifest([]byte(yaml))
	if err == nil {
		t.Fatalf("ParseManifest succeeded with %+v; want a problem on line %d containing %q", app, line, want)
	}
	var me *ManifestError
	if !errors.As(err, &me) {
		t.Fatalf("error %T %q is not a *ManifestError", err, err)
	}
	for _, p := range me.Problems {
		if p.Line == line && strings.Contains(p.String(), want) {
			return
		}
	}
	t.Errorf("no problem on line %d containing %q; got:\n%s", line, want, err)
}

func TestParseManifest_ReportsEveryProblemSortedByLine(t *testing.T) {
	yaml := `name: catalog-api
repo: acme/catalog-api
kind: webb
port: "8080"
dependecies: [pricing-api]
env: {LOG_LEVEL: 3}
rollout:
  stages: [50, 25]
`
	_, err := ParseManifest([]byte(yaml))
	want := `line 3: kind: "webb" is not a kind: write web (serves HTTP) or worker (does not)
line 4: port: expected a whole number, found the string "8080": write port: 8080 (without quotes)
line 5: unknown key "dependecies": did you mean "dependencies"? valid keys are name, repo, kind, port, health, command, args, dependencies, database, migrate, migrate_timeout, env, rollout, workers, tests, previews, pipeline, build, image
line 6: env.LOG_LEVEL: expected text, found the number 3: env values are strings, quote it: LOG_LEVEL: "3"
line 8: rollout.stages: the last stage must be 100, e.g. [25, 50, 100]
line 8: rollout.stages[1]: stages are rising percentages ending at 100, e.g. [25, 50, 100]`
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}

	var me *ManifestError
	if !errors.As(err, &me) {
		t.Fatalf("%T is not a *ManifestError", err)
	}
	if len(me.Problems) != 6 || me.Problems[0] != (Problem{Line: 3, Field: "kind", Message: `"webb" is not a kind: write web (serves HTTP) or worker (does not)`}) {
		t.Errorf("problems = %+v", me.Problems)
	}
	var se *spacepods.Error
	if !errors.As(err, &se) || se.Code != spacepods.EINVALID {
		t.Fatalf("errors.As *spacepods.Error = %+v; want code %s", se, spacepods.EINVALID)
	}
	if got := spacepods.ErrorCode(err); got != spacepods.EINVALID {
		t.Errorf("ErrorCode = %q", got)
	}
	if got := spacepods.ErrorMessage(err); got != want {
		t.Errorf("ErrorMessage = %q", got)
	}
}

func TestParseManifest_DoesNotRepeatTypeProblemsAsValueProblems(t *testing.T) {
	// port: "8080" leaves Port at 0, which App.Validate would also flag.
	_, err := ParseManifest([]byte("name: x\nrepo: acme/x\nkind: web\nport: \"8080\"\nrollout: {stages: [25, \"50\", 100]}\n"))
	var me *ManifestError
	if !errors.As(err, &me) || len(me.Problems) != 2 {
		t.Fatalf("want exactly 2 problems, got:\n%v", err)
	}
}

func TestParseManifest_FallingStageIsOneProblem(t *testing.T) {
	// The last stage is 100: only the falling one is wrong.
	_, err := ParseManifest([]byte(head + "rollout: {stages: [25, 10, 100]}\n"))
	want := "line 5: rollout.stages[1]: stages are rising percentages ending at 100, e.g. [25, 50, 100]"
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestParseManifest_RefusesHugeInput(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"over 1 MiB", head + "# " + strings.Repeat("x", MaxManifestBytes) + "\n", "over the limit of 1 MiB"},
		{"too many lines", head + strings.Repeat("#\n", MaxManifestLines), "lines, over the limit of 5000"},
		{"too many values", head + "command: [" + strings.Repeat("a,", MaxManifestTokens) + "a]\n", "more than 100000 keys, values and brackets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tt.data))
			if spacepods.ErrorCode(err) != spacepods.ETOOLARGE || !strings.Contains(spacepods.ErrorMessage(err), tt.want) {
				t.Fatalf("got %v; want %s containing %q", err, spacepods.ETOOLARGE, tt.want)
			}
		})
	}
}
