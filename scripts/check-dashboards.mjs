#!/usr/bin/env node
// Checks SOTP's provisioned Grafana dashboards (deploy/grafana/dashboards/*.json).
//
// Needs, once (pinned to the Grafana image of docker-compose.yml, grafana/grafana:11.3.0):
//
//   npm install --prefix target/node-check --save-exact @grafana/schema@11.3.0 typescript@5.5.4
//
// Usage: node scripts/check-dashboards.mjs [FILE.json ...]
//   default files: deploy/grafana/dashboards/*.json; SOTP_NODE_CHECK overrides the install
//   directory (default target/node-check). Exit 0 and "N dashboards valid", or exit 1 with
//   one line per problem: `FILE: $.json.path: message`.
//
// What it really checks (and what it does not):
//
// @grafana/schema 11.3.0 has no runtime validator: it ships TypeScript declarations (the
// types generated from Grafana's CUE schemas: Dashboard, Panel, FieldConfig, VariableModel,
// and per core panel plugin an `Options` and a `FieldConfig` interface) plus default
// objects. (PyPI's grafana-foundation-sdk does not validate either: its `from_json` copies
// known keys and ignores unknown ones and wrong types.) So this script validates each
// dashboard with the TypeScript compiler (typescript 5.5.4, the version @grafana/schema
// 11.3.0 is built with) against those declarations:
//
// 1. The dashboard object against `Dashboard` (required keys, types, no unknown keys),
//    with template variables against `VariableModel` and links against `DashboardLink`.
// 2. Every panel against `Panel` with `options` typed by that panel plugin's `Options` and
//    `fieldConfig.defaults.custom` by its `FieldConfig` (panels without one, like stat and
//    text, may not have `custom`): excess-property checks reject unknown keys, and missing
//    required keys and wrong types are errors.
// 3. Every field override: `properties[].id` must be a path into that panel's field config
//    (`unit`, `custom.cellOptions`, ...) and its `value` must have that path's type.
// 4. Every target against the package's `DataQuery` plus the fields Grafana's SQL data
//    sources read (`rawSql`, `rawQuery`, `editorMode`, `format`): the package has no type
//    for the PostgreSQL query model.
// Enums are compared by their values ("list", not LegendDisplayMode.List), as JSON has them.
// TypeScript reports at most one problem per object literal (its first wrong or unknown
// key), so a fixed file can show further problems on the next run.
//
// Then checks of its own (plain JavaScript, for SOTP's rules): panel types are core panel
// plugins that have a schema in the package (plus `row`), unique panel ids, grid positions
// inside 24 columns without overlaps, the SOTP data source on every panel, target and
// variable, `rawQuery`/`editorMode`/`format`, unique refIds, only the allowed Grafana macros
// and `'$device'`, $__timeFilter(time) in every query that reads metrics, metrics_1m or
// logs, a few PostgreSQL-only constructs that DataFusion lacks (`::`,
// `time_bucket`, ...), the column shape of time_series queries (time, [metric], value,
// ORDER BY 1 or time) read from the top-level select list, a unit on every data panel from
// a list of Grafana unit ids, and the dashboard settings (uid, tags, schemaVersion 39,
// time range now-6h, refresh 30s).
//
// It does not run the SQL (a test against a running SOTP does), does not know Grafana's
// runtime defaults or migrations, and the SQL checks are textual, not a SQL parser.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE_CHECK = path.resolve(process.env.SOTP_NODE_CHECK || path.join(REPO, 'target/node-check'));
const SCHEMA_VERSION_PIN = '11.3.0';
const INSTALL = `npm install --prefix ${NODE_CHECK} --save-exact @grafana/schema@${SCHEMA_VERSION_PIN} typescript@5.5.4`;

const DS = { type: 'grafana-postgresql-datasource', uid: 'sotp' };
const ALLOWED_FORMATS = ['time_series', 'table'];
// Grafana unit ids (grafana-data valueFormats/categories.ts) that suit SOTP's data; the
// package has no list of units.
const UNITS = new Set([
  'ms', 's', 'm', 'h', 'dtdurations', 'percentunit', 'percent', 'short', 'none', 'bps', 'Bps',
  'pps', 'bytes', 'decbytes', 'celsius', 'dateTimeAsIso', 'dateTimeFromNow', 'reqps', 'ops',
]);
const MATCHERS = new Set(['byName', 'byRegexp', 'byType', 'byFrameRefID', 'byValue', 'byNames']);
// Core panel plugin id -> its directory under dist/esm/raw/composable in @grafana/schema.
const PANEL_DIRS = {
  annolist: 'annotationslist', barchart: 'barchart', bargauge: 'bargauge',
  candlestick: 'candlestick', canvas: 'canvas', dashlist: 'dashboardlist', datagrid: 'datagrid',
  debug: 'debug', gauge: 'gauge', geomap: 'geomap', heatmap: 'heatmap', histogram: 'histogram',
  logs: 'logs', news: 'news', nodeGraph: 'nodegraph', piechart: 'piechart', stat: 'stat',
  'state-timeline': 'statetimeline', 'status-history': 'statushistory', table: 'table',
  text: 'text', timeseries: 'timeseries', trend: 'trend', xychart: 'xychart',
};
// PostgreSQL-only syntax that DataFusion 55 does not have (not exhaustive).
const PG_ONLY = [
  [/::/, "'::' casts (use CAST(x AS type))"],
  [/\btime_bucket\s*\(/i, 'time_bucket (TimescaleDB; use date_bin or $__timeGroupAlias)'],
  [/\bregclass\b/i, 'regclass'],
  [/\bto_char\s*\(/i, 'to_char'],
  [/\bgenerate_series\s*\(/i, 'generate_series'],
  [/\bpercentile_cont\s*\(/i, 'percentile_cont (use approx_percentile_cont)'],
  [/\bstring_agg\s*\(/i, 'string_agg'],
  [/\bILIKE\s+ANY\b/i, 'ILIKE ANY'],
];
const MACRO = /\$__(\w+)(\([^)]*\))?/g;
const ALLOWED_MACROS = [
  /^\$__timeFilter\(time\)$/,
  /^\$__timeGroupAlias\(time, ?'\d+[smhd]'\)$/,
  /^\$__time\(time\)$/,
  /^\$__timeFrom\(\)$/,
  /^\$__timeTo\(\)$/,
];

// ------------------------------------------------------------------ loading the tools

function loadTools() {
  const req = createRequire(path.join(NODE_CHECK, 'package.json'));
  let schemaPkg, ts;
  try {
    schemaPkg = req('@grafana/schema/package.json');
    req('@grafana/schema');
    ts = req('typescript');
  } catch (e) {
    console.error(`check-dashboards: @grafana/schema and typescript are not installed in ${NODE_CHECK} (${e.code || e.message}).\nInstall them with:\n  ${INSTALL}`);
    process.exit(2);
  }
  if (schemaPkg.version !== SCHEMA_VERSION_PIN) {
    console.error(`check-dashboards: @grafana/schema ${schemaPkg.version} is installed, this check is pinned to ${SCHEMA_VERSION_PIN} (Grafana's image in docker-compose.yml).\nInstall it with:\n  ${INSTALL}`);
    process.exit(2);
  }
  const composable = path.join(path.dirname(req.resolve('@grafana/schema/package.json')), 'dist/esm/raw/composable');
  const panels = {};
  for (const [id, dir] of Object.entries(PANEL_DIRS)) {
    const xdir = path.join(composable, dir, 'panelcfg/x');
    if (!fs.existsSync(xdir)) continue;
    const file = fs.readdirSync(xdir).find((f) => f.endsWith('_types.gen.d.ts'));
    if (!file) continue;
    const text = fs.readFileSync(path.join(xdir, file), 'utf8');
    panels[id] = {
      module: `@grafana/schema/dist/esm/raw/composable/${dir}/panelcfg/x/${file.replace(/\.d\.ts$/, '')}`,
      options: /export interface Options\b/.test(text),
      fieldConfig: /export interface FieldConfig\b/.test(text),
    };
  }
  return { ts, panels, version: schemaPkg.version };
}

// ------------------------------------------------------------------ helpers

const problems = [];
let current = '';
function problem(p, msg) {
  problems.push(`${current}: ${p}: ${msg}`);
}
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const key = (p, k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? `${p}.${k}` : `${p}[${JSON.stringify(k)}]`);

// `sql` with string literals and parenthesised text replaced by spaces of the same length
// (quoted identifiers at the top level are kept), so that regexes on the result only see
// the top level of the statement.
function topLevel(sql) {
  let out = '';
  let depth = 0;
  let quote = null;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (quote) {
      out += quote === '"' && !depth ? c : ' ';
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') {
      quote = c;
      out += c === '"' && !depth ? c : ' ';
    } else if (c === '(') {
      depth++;
      out += ' ';
    } else if (c === ')') {
      depth--;
      out += ' ';
    } else {
      out += depth ? ' ' : c;
    }
  }
  return out;
}

// The output column names of the top-level SELECT (macros count as `time`).
function selectNames(sql) {
  const flat = topLevel(sql);
  const sel = /\bSELECT\b/i.exec(flat);
  if (!sel) return null;
  const from = /\bFROM\b/i.exec(flat.slice(sel.index));
  const end = from ? sel.index + from.index : sql.length;
  const start = sel.index + 6;
  const names = [];
  let itemStart = start;
  for (let i = start; i <= end; i++) {
    if (i === end || flat[i] === ',') {
      const item = sql.slice(itemStart, i).trim();
      const itemFlat = flat.slice(itemStart, i).trim();
      let name;
      const as = /\bAS\s+("?)([\w]+)\1\s*$/i.exec(item);
      if (/^\$__(timeGroupAlias|time)\(/.test(item)) name = 'time';
      else if (as && /\bAS\b/i.test(itemFlat)) name = as[2];
      else if (/^[\w.]+$/.test(item)) name = item.split('.').pop();
      else name = item;
      names.push(name.toLowerCase());
      itemStart = i + 1;
    }
  }
  return names;
}

// ------------------------------------------------------------------ SOTP's own rules

function checkSql(p, sql, format, variables) {
  for (const m of sql.matchAll(MACRO)) {
    const text = m[0].replace(/\s+/g, ' ');
    if (!ALLOWED_MACROS.some((re) => re.test(text))) {
      problem(p, `macro ${m[0]} is not allowed (only $__timeFilter(time), $__timeGroupAlias(time, '1m'), $__time(time), $__timeFrom(), $__timeTo())`);
    }
  }
  const rest = sql.replace(MACRO, '');
  for (const m of rest.matchAll(/\$\{?(\w+)/g)) {
    const name = m[1];
    if (!variables.has(name)) problem(p, `$${name} is not a template variable of this dashboard`);
    else if (!rest.slice(m.index - 1, m.index + name.length + 2).match(new RegExp(`^'\\$${name}'$`))) {
      problem(p, `use the variable as '$${name}' (single-valued, in single quotes)`);
    }
  }
  if (/\[\[/.test(sql)) problem(p, 'the [[var]] syntax is deprecated');
  const unquoted = sql.replace(/'(?:[^']|'')*'/g, "''");
  for (const [re, what] of PG_ONLY) {
    if (re.test(unquoted)) problem(p, `${what} is PostgreSQL syntax that DataFusion does not have`);
  }
  if (/;\s*\S/.test(topLevel(sql))) problem(p, 'one statement per target');
  if (!/\bSELECT\b/i.test(sql)) problem(p, 'not a SELECT');
  if (/\bFROM\s+(metrics|metrics_1m|logs)\b/i.test(sql) && !/\$__timeFilter\(time\)/.test(sql)) {
    problem(p, 'a query of metrics, metrics_1m or logs is bounded by $__timeFilter(time)');
  }
  if (format === 'time_series') {
    const names = selectNames(sql);
    const ok = names && names[0] === 'time' && names[names.length - 1] === 'value' &&
      (names.length === 2 || (names.length === 3 && names[1] === 'metric'));
    if (!ok) {
      problem(p, `a time_series query returns time, [metric,] value; this one returns ${names ? names.join(', ') : 'nothing'}`);
    }
    if (!/\bORDER\s+BY\s+(1|"?time"?)\b/i.test(topLevel(sql))) {
      problem(p, 'a time_series query ends with ORDER BY 1 (or time)');
    }
  }
}

function checkUnit(p, unit) {
  if (typeof unit !== 'string' || !unit) return problem(p, 'a unit is required (ms, s, percentunit, short, ...)');
  if (!UNITS.has(unit)) problem(p, `unknown unit '${unit}' (known here: ${[...UNITS].join(', ')})`);
}

function checkDashboard(d, file, tools, uids) {
  if (!isObj(d)) return problem('$', 'a dashboard is a JSON object');
  if (typeof d.uid !== 'string' || d.uid.length < 1 || d.uid.length > 40) problem('$.uid', 'a uid of 1 to 40 characters is required');
  else if (uids.has(d.uid)) problem('$.uid', `uid ${d.uid} is also used by ${uids.get(d.uid)}`);
  else uids.set(d.uid, file);
  if (typeof d.title !== 'string' || !d.title) problem('$.title', 'a title is required');
  if (!Array.isArray(d.tags) || !d.tags.includes('sotp')) problem('$.tags', 'tags must include "sotp"');
  if (d.schemaVersion !== 39) problem('$.schemaVersion', `must be 39, is ${JSON.stringify(d.schemaVersion)}`);
  if (!same(d.time, { from: 'now-6h', to: 'now' })) problem('$.time', 'must be {"from": "now-6h", "to": "now"}');
  if (d.refresh !== '30s') problem('$.refresh', `must be "30s", is ${JSON.stringify(d.refresh)}`);

  const variables = new Set();
  const vars = d.templating && Array.isArray(d.templating.list) ? d.templating.list : [];
  vars.forEach((v, i) => {
    const p = `$.templating.list[${i}]`;
    if (!isObj(v)) return;
    variables.add(v.name);
    if (v.type === 'query') {
      if (!same(v.datasource, DS)) problem(`${p}.datasource`, `must be ${JSON.stringify(DS)}`);
      if (typeof v.query !== 'string' || !/\bSELECT\b/i.test(v.query)) problem(`${p}.query`, 'a SQL SELECT is required');
      else checkSql(`${p}.query`, v.query, 'table', new Set());
    }
    if (v.multi || v.includeAll) problem(p, "SOTP's queries use the variable as '$name': it must be single-valued (multi and includeAll false)");
  });

  const panels = Array.isArray(d.panels) ? d.panels : [];
  if (!panels.length) problem('$.panels', 'no panels');
  const ids = new Map();
  const boxes = [];
  const visit = (panel, p) => {
    if (!isObj(panel)) return problem(p, 'a panel is an object');
    if (!Number.isInteger(panel.id) || panel.id < 1) problem(`${p}.id`, 'a positive integer id is required');
    else if (ids.has(panel.id)) problem(`${p}.id`, `id ${panel.id} is also used by ${ids.get(panel.id)}`);
    else ids.set(panel.id, p);
    if (typeof panel.title !== 'string' || !panel.title.trim()) problem(`${p}.title`, 'a title is required');
    if (panel.type !== 'row' && !tools.panels[panel.type]) {
      problem(`${p}.type`, `'${panel.type}' is not a core panel plugin with a schema in @grafana/schema (${Object.keys(tools.panels).join(', ')})`);
    }
    const g = panel.gridPos;
    if (!isObj(g) || ![g.x, g.y, g.w, g.h].every(Number.isInteger)) problem(`${p}.gridPos`, 'integer x, y, w, h are required');
    else {
      if (g.x < 0 || g.y < 0 || g.w < 1 || g.h < 1 || g.x + g.w > 24) problem(`${p}.gridPos`, 'must lie within the 24 columns of the grid');
      for (const [q, o] of boxes) {
        if (g.x < o.x + o.w && o.x < g.x + g.w && g.y < o.y + o.h && o.y < g.y + g.h) problem(`${p}.gridPos`, `overlaps ${q}`);
      }
      boxes.push([p, g]);
    }
    if (panel.type === 'row') {
      (panel.panels || []).forEach((c, i) => visit(c, `${p}.panels[${i}]`));
      return;
    }
    if (!same(panel.datasource, DS)) problem(`${p}.datasource`, `must be ${JSON.stringify(DS)}`);
    if (panel.type === 'text') return;
    const defaults = panel.fieldConfig && panel.fieldConfig.defaults;
    checkUnit(`${p}.fieldConfig.defaults.unit`, defaults && defaults.unit);
    const overrides = (panel.fieldConfig && panel.fieldConfig.overrides) || [];
    overrides.forEach((o, i) => {
      const op = `${p}.fieldConfig.overrides[${i}]`;
      if (isObj(o) && isObj(o.matcher) && !MATCHERS.has(o.matcher.id)) problem(`${op}.matcher.id`, `unknown field matcher '${o.matcher.id}'`);
      ((isObj(o) && o.properties) || []).forEach((prop, j) => {
        if (isObj(prop) && prop.id === 'unit') checkUnit(`${op}.properties[${j}].value`, prop.value);
      });
    });
    const targets = panel.targets;
    if (!Array.isArray(targets) || !targets.length) return problem(`${p}.targets`, 'a data panel needs at least one target');
    const refIds = new Set();
    targets.forEach((t, i) => {
      const tp = `${p}.targets[${i}]`;
      if (!isObj(t)) return problem(tp, 'a target is an object');
      if (typeof t.refId !== 'string' || !/^[A-Z]$/.test(t.refId)) problem(`${tp}.refId`, 'a refId A..Z is required');
      else if (refIds.has(t.refId)) problem(`${tp}.refId`, `refId ${t.refId} is used twice in this panel`);
      else refIds.add(t.refId);
      if (!same(t.datasource, DS)) problem(`${tp}.datasource`, `must be ${JSON.stringify(DS)}`);
      if (t.rawQuery !== true) problem(`${tp}.rawQuery`, 'must be true');
      if (t.editorMode !== 'code') problem(`${tp}.editorMode`, 'must be "code"');
      if (!ALLOWED_FORMATS.includes(t.format)) problem(`${tp}.format`, `must be one of ${ALLOWED_FORMATS.join(', ')}`);
      if (typeof t.rawSql !== 'string' || !t.rawSql.trim()) problem(`${tp}.rawSql`, 'SQL is required');
      else checkSql(`${tp}.rawSql`, t.rawSql, t.format, variables);
    });
  };
  panels.forEach((panel, i) => visit(panel, `$.panels[${i}]`));
}

// ------------------------------------------------------------------ type checking

// Writes `value` as a TypeScript expression, recording for every value and every
// `key: value` pair its [start, end) span and JSON path. Panels, override property ids and
// override values are wrapped in `satisfies` checks.
function emit(dash, tools) {
  let out = '';
  const spans = [];
  const panelType = (panel) => (isObj(panel) && tools.panels[panel.type] ? panel.type : null);
  const write = (v, p, indent, ctx) => {
    const start = out.length;
    const wrap = ctx.wrap;
    if (wrap) out += '(';
    if (Array.isArray(v)) {
      out += '[';
      v.forEach((x, i) => {
        out += `\n${indent}  `;
        write(x, `${p}[${i}]`, `${indent}  `, child(ctx, p, i, x));
        if (i < v.length - 1) out += ',';
      });
      out += v.length ? `\n${indent}]` : ']';
    } else if (isObj(v)) {
      out += '{';
      const ks = Object.keys(v);
      ks.forEach((k, i) => {
        out += `\n${indent}  `;
        const ks0 = out.length;
        out += `${JSON.stringify(k)}: `;
        write(v[k], key(p, k), `${indent}  `, child(ctx, p, k, v[k], v));
        spans.push([ks0, out.length, key(p, k)]);
        if (i < ks.length - 1) out += ',';
      });
      out += ks.length ? `\n${indent}}` : '}';
    } else {
      out += JSON.stringify(v);
    }
    if (wrap) out += ` satisfies ${wrap})`;
    spans.push([start, out.length, p]);
  };
  // What to wrap a child value in, from where it is.
  const child = (ctx, p, k, v, parent) => {
    const c = { panel: ctx.panel };
    if ((p === '$.panels' || ctx.rowPanels) && isObj(v)) {
      if (v.type === 'row') return { row: true, panel: null, wrap: 'RowPanel' };
      const t = panelType(v);
      return { panel: t, wrap: t ? `Panel_${ident(t)}` : null };
    }
    if (ctx.row && k === 'panels') c.rowPanels = true;
    if (ctx.panel && /\.fieldConfig\.overrides\[\d+\]\.properties$/.test(p)) c.prop = true;
    if (ctx.prop && isObj(parent) && typeof parent.id === 'string') {
      const fc = `FC_${ident(ctx.panel)}`;
      const id = JSON.stringify(parent.id);
      if (k === 'id') return { ...c, wrap: `ValidId<${fc}, ${id}>` };
      if (k === 'value') return { ...c, wrap: `Loose<AtOr<${fc}, ${id}>>` };
    }
    return c;
  };
  write(dash, '$', '', { wrap: null, panel: null });
  return { text: out, spans };
}

const ident = (t) => String(t).replace(/[^A-Za-z0-9]/g, '_');

function header(tools) {
  const lines = [
    "import type * as S from '@grafana/schema';",
  ];
  for (const [id, info] of Object.entries(tools.panels)) {
    lines.push(`import type * as T_${ident(id)} from '${info.module}';`);
  }
  lines.push(`
// Enum-typed fields compare by value, as JSON has them.
type Loose<T> =
  T extends string ? \`\${T}\` :
  T extends number | boolean | null | undefined ? T :
  T extends ReadonlyArray<infer U> ? Array<Loose<U>> :
  T extends object ? { [K in keyof T]: Loose<T[K]> } :
  T;
type FieldConfigOf<F> = Omit<S.FieldConfig, 'custom'> & { custom?: F };
type At<T, P extends string> =
  P extends \`\${infer H}.\${infer R}\`
    ? (H extends keyof NonNullable<T> ? At<NonNullable<T>[H], R> : never)
    : (P extends keyof NonNullable<T> ? NonNullable<T>[P] : never);
type AtOr<T, P extends string> = [At<T, P>] extends [never] ? unknown : At<T, P>;
type ValidId<T, P extends string> = [At<T, P>] extends [never] ? { notAFieldConfigOption: P } : P;
// The package has no type for the PostgreSQL query model: its DataQuery plus the fields
// Grafana's SQL data sources read.
type SqlTarget = Loose<Omit<S.DataQuery, 'datasource'> & {
  datasource: S.DataSourceRef;
  editorMode: 'code' | 'builder';
  format: 'time_series' | 'table';
  rawQuery: boolean;
  rawSql: string;
}>;
type Override = Loose<S.FieldConfigSource['overrides'][number]>;
type PanelOf<Type extends string, O, F> = Loose<Omit<S.Panel, 'type' | 'options' | 'fieldConfig' | 'targets' | 'datasource'> & {
  type: Type;
  datasource: S.DataSourceRef;
  options: O;
}> & {
  fieldConfig: { defaults: Loose<FieldConfigOf<F>>; overrides: Array<Override> };
  targets?: Array<SqlTarget>;
};
type RowPanel = Loose<Omit<S.RowPanel, 'panels'>> & { panels: Array<unknown> };
type DashboardT = Loose<Omit<S.Dashboard, 'panels'>> & { panels: Array<unknown> };
`);
  for (const [id, info] of Object.entries(tools.panels)) {
    const t = `T_${ident(id)}`;
    const f = info.fieldConfig ? `${t}.FieldConfig` : 'Record<string, never>';
    const o = info.options ? `${t}.Options` : 'Record<string, unknown>';
    lines.push(`type FC_${ident(id)} = FieldConfigOf<${f}>;`);
    lines.push(`type Panel_${ident(id)} = PanelOf<${JSON.stringify(id)}, ${o}, ${f}>;`);
  }
  return lines.join('\n') + '\n';
}

function typeCheck(dashboards, tools) {
  const { ts } = tools;
  const head = header(tools);
  const files = new Map();
  dashboards.forEach(({ file, json }, i) => {
    const { text, spans } = emit(json, tools);
    const prefix = `${head}\nexport const dashboard: DashboardT = `;
    const name = path.join(NODE_CHECK, `__sotp_dashboard_${i}.ts`);
    files.set(name, { file, text: `${prefix}${text};\n`, offset: prefix.length, spans });
  });
  const options = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    types: [],
    lib: ['lib.es2022.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => {
    const f = files.get(path.resolve(name));
    return f ? ts.createSourceFile(name, f.text, lang) : getSourceFile(name, lang, ...rest);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => files.has(path.resolve(name)) || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (files.has(path.resolve(name)) ? files.get(path.resolve(name)).text : readFile(name));
  const program = ts.createProgram([...files.keys()], options, host);
  const diags = ts.getPreEmitDiagnostics(program);
  for (const d of diags) {
    const f = d.file && files.get(path.resolve(d.file.fileName));
    let msg = ts.flattenDiagnosticMessageText(d.messageText, ' ').replace(/\s+/g, ' ');
    if (!f) {
      // Not in a dashboard: the setup is broken (package layout, TypeScript version).
      problems.push(`${d.file ? d.file.fileName : 'typescript'}: ${msg}`);
      continue;
    }
    current = f.file;
    const at = d.start - f.offset;
    if (at < 0) {
      problems.push(`${f.file}: (checker header) ${msg}`);
      continue;
    }
    let best = null;
    for (const s of f.spans) {
      if (s[0] <= at && at < s[1] && (!best || s[1] - s[0] < best[1] - best[0])) best = s;
    }
    const notOption = /notAFieldConfigOption: "([^"]*)"/.exec(msg);
    if (notOption) msg = `'${notOption[1]}' is not a field config option of this panel type`;
    if (msg.length > 600) msg = `${msg.slice(0, 600)}...`;
    problem(best ? best[2] : '$', msg);
  }
}

// ------------------------------------------------------------------ main

function main() {
  const args = process.argv.slice(2);
  const files = args.length
    ? args.map((f) => path.resolve(f))
    : fs.readdirSync(path.join(REPO, 'deploy/grafana/dashboards'))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => path.join(REPO, 'deploy/grafana/dashboards', f));
  if (!files.length) {
    console.error('check-dashboards: no dashboards found');
    process.exit(1);
  }
  const tools = loadTools();
  const dashboards = [];
  const uids = new Map();
  for (const file of files) {
    current = path.relative(process.cwd(), file) || file;
    let json;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      problem('$', `not JSON: ${e.message}`);
      continue;
    }
    checkDashboard(json, current, tools, uids);
    dashboards.push({ file: current, json });
  }
  if (dashboards.length) typeCheck(dashboards, tools);
  if (problems.length) {
    for (const p of problems) console.error(p);
    console.error(`check-dashboards: ${problems.length} problem(s) in ${files.length} dashboard(s) (@grafana/schema ${tools.version})`);
    process.exit(1);
  }
  console.log(`${files.length} dashboards valid`);
}

main();
