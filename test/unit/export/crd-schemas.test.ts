// The manifests `rustless export` writes for Knative and the Gateway API, validated against the
// published CRD schemas of Knative Serving and the Gateway API (test/fixtures/crds, with their
// source and version). Unknown fields are errors, as with `kubectl apply --validate=strict`:
// the API server would otherwise drop them without a word.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { loadManifest } from '../../../src/manifest/manifest.js';
import { appSpec, type AppSpec } from '../../../src/export/app-spec.js';
import { httpRoutes } from '../../../src/export/http-route.js';
import { knativeService } from '../../../src/export/knative.js';
import { toYaml, type YamlValue } from '../../../src/export/yaml.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'crds');
const EXAMPLES = join(ROOT, 'runner', 'examples');

type Schema = Record<string, unknown>;

function crdSchema(file: string, version: string): Schema {
  const crd = parseYaml(readFileSync(join(FIXTURES, file), 'utf8'), { maxAliasCount: -1 }) as { spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: Schema } }> } };
  const found = crd.spec.versions.find((v) => v.name === version);
  if (!found) throw new Error(`${file} has no version ${version}`);
  return strict(structuredClone(found.schema.openAPIV3Schema));
}

/**
 * Every object with `properties` and no `x-kubernetes-preserve-unknown-fields` refuses other
 * fields. Walks every nested value, so the maps under `properties` are visited too.
 */
function strict(schema: Schema): Schema {
  if (schema.properties && !schema['x-kubernetes-preserve-unknown-fields'] && schema.additionalProperties === undefined) schema.additionalProperties = false;
  for (const value of Object.values(schema)) {
    if (Array.isArray(value)) value.forEach((item) => typeof item === 'object' && item !== null && strict(item as Schema));
    else if (typeof value === 'object' && value !== null) strict(value as Schema);
  }
  return schema;
}

function validator(schema: Schema): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  return ajv.compile(schema);
}

function check(t: Test, validate: ValidateFunction, doc: YamlValue, what: string): void {
  // Through the YAML writer and back: what validates is the text a cluster would read.
  const [parsed] = toYaml([doc]).split(/^---\n/m).filter(Boolean).map((text) => parseYaml(text));
  const ok = validate(parsed);
  t.ok(ok, `${what} validates`, { errors: validate.errors });
}

const knative = validator(crdSchema('knative-serving-service.yaml', 'v1'));
const httpRoute = validator(crdSchema('gateway-api-httproute.yaml', 'v1'));

const specs: AppSpec[] = [];
for (const app of ['hello', 'echo', 'todo', 'testbed']) {
  specs.push(appSpec(await loadManifest(join(EXAMPLES, app)), { image: `registry.example:5000/apps/${app}:3` }));
}

t.test('each example app as a Knative Service validates against Knative Serving', async (t) => {
  for (const spec of specs) check(t, knative, knativeService(spec, 'default'), `Knative Service ${spec.name}`);
  t.ok(specs.some((spec) => spec.data), 'the todo example has a data directory');
  const withConfig = { ...specs[0]!, env: { GREETING: 'hi' }, secrets: ['API_KEY', 'DB_PASSWORD'], data: true };
  check(t, knative, knativeService(withConfig, 'apps'), 'a Knative Service with env, a Secret volume and a data claim');
});

t.test('the HTTPRoutes across the apps validate against the Gateway API', async (t) => {
  check(t, httpRoute, httpRoutes(specs, { kind: 'knative', namespace: 'default', gateway: { name: 'rustless' } })[0]!, 'HTTPRoute for Knative');
  const forDeployments = httpRoutes(specs, { kind: 'deployment', namespace: 'apps', gateway: { name: 'edge', namespace: 'gateways' }, hostname: 'pi.example.org' });
  check(t, httpRoute, forDeployments[0]!, 'HTTPRoute for Deployments with a hostname and a Gateway in another namespace');
  const many = Array.from({ length: 20 }, (_, i) => ({ ...specs[0]!, name: `app${i}`, routes: [{ ...specs[0]!.routes[0]!, path: `/a${i}` }] }));
  const split = httpRoutes(many, { kind: 'knative', namespace: 'default', gateway: { name: 'rustless' } });
  t.equal(split.length, 2, '20 apps need two HTTPRoutes of at most 16 rules');
  for (const route of split) check(t, httpRoute, route, 'each split HTTPRoute');
});

t.test('the validators do fail: a wrong field, a wrong type, a schema that changed', async (t) => {
  const service = knativeService(specs[0]!, 'default') as any;
  service.spec.template.spec.containers[0].securityContext.dropAllCapabilities = true;
  t.notOk(knative(service), 'an unknown field in the container securityContext is refused');
  const route = httpRoutes(specs, { kind: 'knative', namespace: 'default', gateway: { name: 'rustless' } })[0] as any;
  route.spec.rules[0].matches[0].path.type = 'Prefix';
  t.notOk(httpRoute(route), 'a path match type the Gateway API does not know is refused');

  // A schema in which containerConcurrency became a string: the generated Service no longer fits.
  const changed = crdSchema('knative-serving-service.yaml', 'v1') as any;
  changed.properties.spec.properties.template.properties.spec.properties.containerConcurrency = { type: 'string' };
  t.notOk(validator(changed)(knativeService(specs[0]!, 'default')), 'a schema change that breaks the Service fails');
});
