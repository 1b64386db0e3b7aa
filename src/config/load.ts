/**
 * Loads a configuration file: YAML parsing, `${VAR}` interpolation and validation, with every
 * problem reported as `FILE:LINE:COL message` so an operator can jump straight to it.
 * @module
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

export type ConfigProblem = { file: string; line: number; col: number; message: string };

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatProblem(problem: ConfigProblem): string {
  return `${problem.file}:${problem.line}:${problem.col} ${problem.message}`;
}

export type LoadedConfig = { config: Config; warnings: ConfigProblem[] };

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([
      { file, line: 1, col: 1, message: `cannot read: ${(error as Error).message}` },
    ]);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv): LoadedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number, message: string): ConfigProblem => {
    const { line, col } = lines.linePos(offset);
    return { file, line, col, message };
  };

  const syntax = [...doc.errors].map((error) => at(error.pos[0], error.message.split('\n')[0]!));
  if (syntax.length) throw new ConfigError(syntax);

  const unset = interpolate(doc, env, at);
  const result = configSchema.safeParse(doc.toJS() ?? {});
  const invalid = result.success
    ? []
    : result.error.issues.flatMap((issue) => locate(doc, issue, at));
  const problems = [...unset, ...invalid].sort((a, b) => a.line - b.line || a.col - b.col);
  if (problems.length || !result.success) throw new ConfigError(problems);

  const config = resolvePaths(result.data, dirname(resolve(file)));
  return { config, warnings: lint(doc, config, at) };
}

type At = (offset: number, message: string) => ConfigProblem;

/** Scalars whose variable was unset: their own validation errors would only repeat the news. */
const unsetNodes = new WeakSet<object>();

function interpolate(doc: Document, env: NodeJS.ProcessEnv, at: At): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return;
      node.value = node.value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => {
        const value = env[name];
        if (value === undefined) {
          problems.push(at(node.range?.[0] ?? 0, `environment variable ${name} is not set`));
          unsetNodes.add(node);
          return '';
        }
        return value;
      });
    },
  });
  return problems;
}

function locate(doc: Document, issue: z.core.$ZodIssue, at: At): ConfigProblem[] {
  const path = issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part));
  const name = path.length ? path.join('.') : '(top level)';

  if (issue.code === 'unrecognized_keys') {
    const parent = doc.getIn(path, true);
    return issue.keys.map((key) => {
      const pair = isMap(parent)
        ? parent.items.find((item) => isScalar(item.key) && item.key.value === key)
        : undefined;
      const keyNode = pair?.key as Node | undefined;
      const where = path.length ? ` in ${name}` : '';
      return at(offset(keyNode ?? (parent as Node)), `unknown key ${key}${where}`);
    });
  }

  const node = nearestNode(doc, path);
  if (node && unsetNodes.has(node)) return [];
  const missing = issue.code === 'invalid_type' && issue.input === undefined;
  const message = missing ? `${name} is required` : `${name}: ${issue.message}`;
  return [at(offset(node), message)];
}

function nearestNode(doc: Document, path: (string | number)[]): Node | undefined {
  for (let length = path.length; length >= 0; length--) {
    const node = doc.getIn(path.slice(0, length), true) as Node | undefined;
    if (node && typeof node === 'object' && 'range' in node) return node;
  }
  return doc.contents ?? undefined;
}

function offset(node: Node | undefined): number {
  return node?.range?.[0] ?? 0;
}

function resolvePaths(config: Config, base: string): Config {
  return {
    ...config,
    session: { ...config.session, sqlite_path: resolve(base, config.session.sqlite_path) },
    applications: config.applications.map((app) =>
      app.internal_host_ca_file
        ? { ...app, internal_host_ca_file: resolve(base, app.internal_host_ca_file) }
        : app,
    ),
  };
}

/** Things that are valid but probably not what the operator meant. */
function lint(doc: Document, config: Config, at: At): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  config.applications.forEach((app, index) => {
    app.skip_path_regex.forEach((pattern, patternIndex) => {
      if (/^\^?https?:|:\/\//.test(pattern)) {
        const node = doc.getIn(
          ['applications', index, 'skip_path_regex', patternIndex],
          true,
        ) as Node;
        warnings.push(
          at(
            offset(node),
            `skip_path_regex is matched against the path only; ${pattern} looks written ` +
              'for a whole URL',
          ),
        );
      }
    });
  });
  return warnings;
}
